-- The ssflua side of tests/bench/run.sh; prints the seconds the work took.
--   ssflua tests/bench/workloads.lua lifecycle ORG TOKEN
--   ssflua tests/bench/workloads.lua gets ORG TOKEN N
--   ssflua tests/bench/workloads.lua fanout ORG TOKEN N P
local ssf = require "ssf"
local now = require("ssf.http").now

local mode, org, token, n, p = ...
local okta <close> = assert(ssf.client { org = org, auth = { type = "bearer", token = token } })
local t0 = now()
if mode == "lifecycle" then
  local cfg = { delivery = { method = ssf.PUSH, endpoint_url = "https://receiver.example.com/ssf" },
                events_requested = { ssf.events.SESSION_REVOKED } }
  assert(okta:metadata())
  assert(okta:streams())
  local s = assert(okta:create_stream(cfg))
  assert(okta:stream(s.stream_id))
  assert(okta:stream_status(s.stream_id))
  cfg.stream_id = s.stream_id
  assert(okta:update_stream(cfg))
  assert(okta:replace_stream(cfg))
  assert(okta:verify_stream(s.stream_id))
  assert(okta:delete_stream(s.stream_id))
elseif mode == "gets" then
  for _ = 1, tonumber(n) do assert(okta:streams()) end
elseif mode == "fanout" then
  local fns = {}
  for i = 1, tonumber(n) do fns[i] = function() return okta:streams() end end
  for _, r in ipairs(ssf.all(fns, { concurrency = tonumber(p) })) do assert(r.ok, r.message) end
else
  error("usage: workloads.lua lifecycle|gets|fanout ORG TOKEN [N [P]]")
end
print(("%.6f"):format(now() - t0))

-- The receiver under attack from tests/c/hostile.c, for the figures in
-- README.md: legitimate pushes accepted during the attack, and how soon
-- after the attacker leaves the receiver serves again.
--   ssflua tests/bench/receiver_hostile.lua partial [RATE [SECONDS]]
--   ssflua tests/bench/receiver_hostile.lua slow [N [SECONDS]]
-- Receiver options come from the environment as Lua, e.g.
--   SSF_RX_OPTS='{per_ip_limit = 16}'
local ssf = require "ssf"
local httpd = require "ssf.httpd"

local mode = arg[1] or "partial"
local amount = tonumber(arg[2]) or (mode == "partial" and 30 or 600)
local seconds = tonumber(arg[3]) or 20
local build = os.getenv("SSF_BUILD_DIR") or "build"
local AUTH = "Bearer bench"

local opts = { authorization = AUTH, verifier = function(jwt) return { claims = { jti = jwt } } end }
local extra = os.getenv("SSF_RX_OPTS")
if extra then
  for k, v in pairs(assert(load("return " .. extra))()) do opts[k] = v end
end
local rx <close> = assert(ssf.receiver(opts))

local out = os.tmpname()
os.execute(("%s/tests/hostile %s %d %s %s '%s' > %s 2>&1 &")
  :format(build, mode, rx.port, amount, seconds, AUTH, out))
local t0, result = httpd.clock(), nil
while httpd.clock() - t0 < seconds + 60 do
  rx:next(0.2)
  local f = io.open(out)
  result = f and f:read("a"):match("legit=[^\n]+")
  if f then f:close() end
  if result then break end
end
os.remove(out)
print(("%s %s for %s s: %s"):format(mode, amount, seconds, result or "no result"))
print("stats", ssf.json.encode(rx:stats()))

-- ssf.nginx.receive: an RFC 8935 push endpoint served by nginx itself,
-- from content_by_lua_block, answering like ssf.receiver: 202 for a
-- verified SET, 400 {err, description} for one that is not, 401 for a
-- wrong Authorization header, 503 with Retry-After when the keys cannot be
-- had (the SET may be valid; the transmitter sends it again).
--
-- The JWKS is fetched through the nginx transport (a subrequest, so the
-- worker keeps serving meanwhile) and cached by ssf.set per worker: every
-- request the worker serves shares it. More capacity is more workers and
-- more nginx machines behind a load balancer.
local errors = require "ssf.errors"
local json = require "ssf.json"
local set = require "ssf.set"
local transport = require "ssf.transport.nginx"

local M = {}

local OPTIONS = { authorization = "string", verify = "table", handler = "function" }

-- SETs acknowledged by this worker, by jti: a transmitter resending one
-- (its 202 got lost) has it acknowledged without calling the handler again.
-- Bounded: the oldest are forgotten first.
local MAX_SEEN = 10000
local seen, seen_order, seen_head = {}, {}, 1
local RETRY_AFTER = "30"
local MAX_BODY = 64 * 1024

local function remember(jti)
  seen[jti] = true
  seen_order[#seen_order + 1] = jti
  if #seen_order - seen_head + 1 > MAX_SEEN then
    seen[seen_order[seen_head]] = nil
    seen_order[seen_head] = nil
    seen_head = seen_head + 1
  end
end

local function answer(status, body, headers)
  ngx.status = status
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  if body then
    ngx.header["Content-Type"] = "application/json"
    ngx.print(body)
  end
  return status
end

local function bad(err, description)
  return answer(400, json.encode { err = err, description = description })
end

local function misuse(msg) error("bad argument #1 to 'receive' (" .. msg .. ")", 3) end

-- Compares two strings in time that does not depend on where they differ.
local function same(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

--- receive{authorization=, verify={...}, handler=function(set) end}:
--- answers the current request and returns the status it sent.
function M.receive(opts)
  if type(opts) ~= "table" then misuse("table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    if not OPTIONS[k] then misuse("unknown option '" .. tostring(k) .. "'") end
    if type(v) ~= OPTIONS[k] then misuse(("option '%s' must be a %s"):format(k, OPTIONS[k])) end
  end
  if not opts.verify then misuse("verify (options for ssf.set.verify) is required") end
  if not opts.handler then misuse("handler (a function) is required") end
  if not transport.available() or ngx.get_phase() ~= "content" then
    return errors.fail("config", "ssf.nginx.receive must run in content_by_lua")
  end

  if ngx.req.get_method() ~= "POST" then
    return answer(405, json.encode { description = "a SET is delivered by POST" }, { Allow = "POST" })
  end
  local headers = ngx.req.get_headers(32)
  if opts.authorization then
    local given = headers["authorization"]
    if type(given) ~= "string" or not same(given, opts.authorization) then
      return answer(401, nil, { ["WWW-Authenticate"] = "Bearer" })
    end
  end
  local ctype = headers["content-type"]
  ctype = type(ctype) == "string" and ctype:match("^%s*([^;%s]+)") or ""
  if ctype:lower() ~= "application/secevent+jwt" then
    return bad("invalid_request", "the Content-Type must be application/secevent+jwt")
  end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    -- nginx spilled it to a file: larger than any SET.
    if ngx.req.get_body_file() then return answer(413, json.encode { description = "the SET is too large" }) end
    return bad("invalid_request", "the request has no body")
  end
  if #body > MAX_BODY then return answer(413, json.encode { description = "the SET is too large" }) end

  -- Age is not checked: a transmitter resends after an outage, and a SET
  -- refused with 400 is never sent again.
  local vopts = { max_age = math.huge }
  for k, v in pairs(opts.verify) do vopts[k] = v end
  local token, message, info = set.verify(body, vopts)
  if not token then
    if type(info) == "table" and info.temporary then
      return answer(503, json.encode { description = message }, { ["Retry-After"] = RETRY_AFTER })
    end
    local err = type(info) == "table" and type(info.err) == "string" and info.err:match("^[%w_]+$")
    return bad(err or "invalid_request", message)
  end
  local jti = token.claims and token.claims.jti
  if type(jti) == "string" and seen[jti] then return answer(202) end
  local ok, failure = pcall(opts.handler, token)
  if not ok then
    ngx.log(ngx.ERR, "ssf.nginx.receive: the handler failed: ", tostring(failure))
    return answer(503, '{"description":"the receiver could not process the SET"}',
      { ["Retry-After"] = RETRY_AFTER })
  end
  if type(jti) == "string" then remember(jti) end
  return answer(202)
end

return M

-- ssf.receiver: an RFC 8935 push endpoint for Security Event Tokens.
-- ssf.httpd (C, libmicrohttpd) refuses what the headers alone condemn
-- (path, method, Authorization, Content-Type, size, a full queue); this side
-- verifies each SET that gets through and answers 202, or 400 with
-- {err, description}. See API.md and README.md.
local config = require "ssf.config"
local errors = require "ssf.errors"
local json = require "ssf.json"
local tasks = require "ssf.tasks"
local text = require "ssf.text"
local httpd = require "ssf.httpd"

local Receiver = { __name = "ssf.receiver" }
Receiver.__index = Receiver

local OPTIONS = {
  listen = "string", path = "string", authorization = "string",
  verify = "table", verifier = "function", max_body = "number", max_pending = "number",
}

-- What ssf.httpd accepts for these options.
local LIMITS = { max_body = 16 * 1024 * 1024, max_pending = 65536 }

local DEFAULT_LISTEN = "127.0.0.1:0"
-- Transmitters retry what they think was lost; this many recent jtis are
-- remembered to drop the repeats.
local MAX_JTIS = 4096
-- rx.rejected keeps this many of the latest rejections.
local MAX_REJECTED = 100
-- One poll waits at most this long, so a long or absent timeout still
-- goes through the C wait in bounded steps.
local MAX_WAIT = 3600
-- Inside a task the wait is polls without waiting, this far apart, with the
-- other tasks running in between.
local TASK_POLL = 0.005

local function misuse(fname, msg)
  error(("bad argument #1 to '%s' (%s)"):format(fname, msg), 3)
end

-- "host:port", "[v6]:port" or ":port" -> host, port; nil, message otherwise.
local function parse_listen(s)
  local host, port = s:match("^%[([%x:%.]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:%[%]]*):(%d+)$") end
  port = tonumber(port)
  if not host or port > 65535 then
    return nil, ("listen must be \"host:port\", \"[v6 address]:port\" or \":port\", got %q"):format(s)
  end
  if host == "" or host == "localhost" then host = "127.0.0.1" end
  return host, port
end

--- ssf.receiver{listen=, path=, authorization=, verify=, verifier=,
--- max_body=, max_pending=}: see API.md. Returns nil, message, info
--- (kind "config") when it cannot listen; raises on misuse.
local function new(opts)
  if type(opts) ~= "table" then misuse("receiver", "table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if want == nil then misuse("receiver", ("unknown option '%s'"):format(tostring(k))) end
    if type(v) ~= want then
      misuse("receiver", ("option '%s' must be a %s, got %s"):format(k, want, type(v)))
    end
  end
  if not opts.verify and not opts.verifier then
    misuse("receiver", "verify (options for ssf.set.verify) or verifier (a function) is required")
  end

  local host, port = parse_listen(opts.listen or DEFAULT_LISTEN)
  if not host then return errors.fail("config", port) end
  local path = opts.path or "/ssf/events"
  -- No '%': libmicrohttpd compares the decoded path.
  if not path:match("^/[%w%-%._~/!$&'()*+,;=:@]*$") then
    return errors.fail("config", "path must start with '/' and hold only URL path characters (no '%', '?' or '#')")
  end
  local auth = opts.authorization
  if auth and (auth == "" or auth:find("[\r\n]")) then
    return errors.fail("config", "authorization must be a non-empty header value on one line")
  end
  for k, max in pairs(LIMITS) do
    local v = opts[k]
    if v and not (v == math.floor(v) and v >= 1 and v <= max) then
      return errors.fail("config", ("option '%s' must be a whole number from 1 to %d"):format(k, max))
    end
  end

  local srv, err = httpd.listen {
    host = host, port = port, path = path, authorization = auth,
    max_body = opts.max_body, max_pending = opts.max_pending,
  }
  if not srv then return errors.fail("config", err) end

  local bound = srv:port()
  local url_host = host:find(":", 1, true) and "[" .. host .. "]" or host
  local verify = opts.verifier
  if not verify then
    local verify_opts = opts.verify
    -- ssf.set is loaded by the first SET, not by the receiver.
    verify = function(jwt) return require("ssf.set").verify(jwt, verify_opts) end
  end
  return setmetatable({
    host = host,
    port = bound,
    path = path,
    endpoint_url = ("http://%s:%d%s"):format(url_host, bound, path),
    -- Off loopback, SETs and the Authorization header cross the network
    -- in plain HTTP unless a proxy in front terminates TLS.
    loopback = config.is_loopback(url_host),
    rejected = {},
    _srv = srv,
    _verify = verify,
    _jtis = {},
    _jti_ring = {},
    _jti_next = 1,
  }, Receiver)
end

function Receiver:__tostring()
  return "ssf.receiver: " .. self.endpoint_url
end

-- True the first time a jti is seen (among the last MAX_JTIS).
function Receiver:_remember(jti)
  if self._jtis[jti] then return false end
  local i = self._jti_next
  local old = self._jti_ring[i]
  if old ~= nil then self._jtis[old] = nil end
  self._jti_ring[i] = jti
  self._jtis[jti] = true
  self._jti_next = i % MAX_JTIS + 1
  return true
end

-- Verifies one request and answers it. Returns the SET when it is new
-- and valid, nil when it was rejected or a repeat.
function Receiver:_handle(req)
  local srv = self._srv
  local ok, set, msg, info = pcall(self._verify, req.body)
  if not ok then
    -- A bug in the verifier: the transmitter may retry later; the script
    -- sees the error.
    srv:respond(req.id, 500, '{"description":"the receiver failed to verify the SET"}')
    error(set, 0)
  end
  if type(set) ~= "table" then
    local err = type(info) == "table" and type(info.err) == "string" and info.err:match("^[%w_]+$")
      or "invalid_request"
    local message = text.one_line(msg or "SET rejected", 200)
    srv:respond(req.id, 400, json.encode { err = err, description = message })
    local rejected = self.rejected
    if #rejected >= MAX_REJECTED then table.remove(rejected, 1) end
    rejected[#rejected + 1] = { err = err, message = message, time = os.time(), remote = req.remote }
    return nil
  end
  srv:respond(req.id, 202)
  local jti = type(set.claims) == "table" and set.claims.jti
  if type(jti) == "string" and not self:_remember(jti) then return nil end
  set.raw = req.body
  return set
end

--- rx:next([timeout]): the next verified SET, or nil, "timeout",
--- {kind = "timeout"} once timeout seconds pass (no timeout: wait on).
function Receiver:next(timeout)
  if not self._srv then error("attempt to use a closed receiver", 2) end
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    misuse("next", "timeout must be a non-negative number of seconds, got " ..
      (type(timeout) == "number" and tostring(timeout) or type(timeout)))
  end
  local deadline = httpd.clock() + (timeout or math.huge)
  local in_task = tasks.running()
  while true do
    local req, why = self._srv:poll(in_task and 0 or math.min(MAX_WAIT, math.max(0, deadline - httpd.clock())))
    if req then
      local set = self:_handle(req)
      if set then return set end
    elseif why == "interrupted" then
      return errors.fail("interrupted", "interrupted")
    end
    -- Checked after a rejection too: a stream of bad SETs must not hold
    -- the caller past its deadline.
    if httpd.clock() >= deadline then return errors.fail("timeout", "timeout") end
    if in_task and not req then tasks.sleep(TASK_POLL) end
  end
end

--- Counts for diagnostics: the requests refused before any Lua saw them,
--- by status ([401] = n, ...), and `waiting`, the SETs not yet answered.
function Receiver:stats()
  if not self._srv then error("attempt to use a closed receiver", 2) end
  return self._srv:stats()
end

--- Stops listening; SETs still waiting get 503. Safe to call more than once.
function Receiver:close()
  if self._srv then
    self._srv:close()
    self._srv = nil
  end
end
Receiver.__close = Receiver.close
Receiver.__gc = Receiver.close

return { new = new, parse_listen = parse_listen }

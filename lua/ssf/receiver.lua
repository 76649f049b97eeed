-- ssf.receiver: an RFC 8935 push endpoint for Security Event Tokens.
-- ssf.httpd (C, libmicrohttpd) refuses what the headers alone condemn
-- (framing, path, method, Authorization, Content-Type, size, a full queue)
-- and holds off hostile peers (connection limits, header deadline); this
-- side verifies each SET that gets through and answers 202, 400 with
-- {err, description}, or 503 when the keys cannot be had just now. See
-- API.md and README.md.
local compat = require "ssf.compat"
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
  max_buffered = "number", answer_timeout = "number", header_timeout = "number",
  idle_timeout = "number", max_connections = "number", per_ip_limit = "number",
}

-- What ssf.httpd accepts for these options: {min, max, whole numbers only}.
local LIMITS = {
  max_body = { 1, 16 * 1024 * 1024, true }, max_pending = { 1, 65536, true },
  max_buffered = { 1, 1024 * 1024 * 1024, true }, answer_timeout = { 0.001, 86400 },
  header_timeout = { 0.001, 3600 }, idle_timeout = { 1, 3600, true },
  max_connections = { 1, 16384, true }, per_ip_limit = { 1, 16384, true },
}

local DEFAULT_LISTEN = "127.0.0.1:0"
-- Transmitters retry what they think was lost; recent jtis are remembered
-- to drop the repeats, in two generations of this many each: when the new
-- one is full it becomes the old one and the old one is dropped whole. Every
-- insert then costs the same however many SETs went by (a ring of single
-- deletes made Lua rehash its table on every insert once it held 4096).
local JTI_GENERATION = 4096
-- A SET issued longer ago than this is flagged late (set.late = true).
local LATE_AFTER = 300
-- Retry-After, in seconds, when the keys to verify a SET cannot be had.
local RETRY_AFTER = "30"
-- rx.rejected keeps this many of the latest rejections.
local MAX_REJECTED = 100
-- One poll waits at most this long, so a long or absent timeout still
-- goes through the C wait in bounded steps.
local MAX_WAIT = 3600
-- Inside a task the wait is polls without waiting, this far apart, with the
-- other tasks running in between.
local TASK_POLL = 0.005
-- rx:next (auto ack) takes up to this many requests from C at once: one
-- hand-off from C per burst instead of one per SET. At most this many
-- accepted SETs then wait in the receiver for rx:next.
local BATCH = 32

-- SETs handed out with ack = "manual" and not yet answered: set ->
-- {rx =, id =, jti =}. They get set:ack() and set:nack() from Unanswered.
local unanswered = setmetatable({}, { __mode = "k" })
local Unanswered = { __index = {} }

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

--- ssf.receiver{listen=, path=, authorization=, verify=, verifier=, and
--- the limits of ssf.httpd (max_body=, max_pending=, max_buffered=,
--- answer_timeout=, header_timeout=, idle_timeout=, max_connections=,
--- per_ip_limit=)}: see API.md and README.md. Returns nil, message, info
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
  local verify
  if opts.verifier then
    local verifier = opts.verifier
    verify = function(_, req) return verifier(req.body) end
  else
    local set = require "ssf.set"
    -- A SET refused for its age alone is lost for good (transmitters do
    -- not resend after a 400), and after an outage the whole backlog is
    -- old: unless max_age is given, age is not a reason to refuse, and
    -- rx:next flags the SET late instead.
    local verify_opts = { max_age = math.huge }
    for k, v in pairs(opts.verify) do verify_opts[k] = v end
    local ok, msg = set.check(verify_opts)
    if not ok then misuse("receiver", "option 'verify': " .. msg) end
    local prove = set._prover(verify_opts)
    verify = function(rx, req)
      local proof = { key = rx:_proved_key(req), alg = req.alg }
      local a, b, c = prove(req.body, proof)
      if proof.jwks and proof.jwks ~= rx._handed_jwks then rx:_hand_keys(proof.jwks) end
      return a, b, c
    end
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
  local limits = {}
  for k, range in pairs(LIMITS) do
    local v, min, max, whole = opts[k], range[1], range[2], range[3]
    if v and not ((not whole or v == math.floor(v)) and v >= min and v <= max) then
      return errors.fail("config", ("option '%s' must be a %s from %g to %d")
        :format(k, whole and "whole number" or "number", min, max))
    end
    limits[k] = v and (whole and compat.tointeger(v) or v)
  end
  if (opts.max_buffered or math.huge) < (opts.max_body or 65536) then
    return errors.fail("config", "option 'max_buffered' must be at least max_body")
  end

  limits.host, limits.port, limits.path, limits.authorization = host, port, path, auth
  local srv, err = httpd.listen(limits)
  if not srv then return errors.fail("config", err) end

  local bound = srv:port()
  local url_host = host:find(":", 1, true) and "[" .. host .. "]" or host
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
    _jtis_old = {},
    _jti_count = 0,
    -- The jtis handed out with ack = "manual" and not yet answered.
    _pending_jtis = {},
    -- Requests taken from C and not yet checked (what a verifier that
    -- raised left of its batch), and SETs answered 202 that rx:next has
    -- not returned yet; each a FIFO: list, index of its first item.
    _taken = {}, _taken_at = 1,
    _ready = {}, _ready_at = 1,
  }, Receiver)
end

function Receiver:__tostring()
  return "ssf.receiver: " .. self.endpoint_url
end

---------------------------------------------------------------- keys for C

local MAX_HANDED_KEYS = 1024

-- The members a key's numbers come from, as they were handed to C, by kty.
local KEY_MEMBERS = { RSA = { "kty", "n", "e" }, EC = { "kty", "crv", "x", "y" } }

-- A JWK's decoded numbers for ssf.httpd's verification threads: rsa, a, b;
-- nil for a key they cannot use (ssf.set then checks it itself).
local function key_numbers(k)
  local jose = require "ssf.jose"
  local rsa = k.kty == "RSA"
  local first, second = k[rsa and "n" or "x"], k[rsa and "e" or "y"]
  if not (rsa or (k.kty == "EC" and k.crv == "P-256")) or type(first) ~= "string"
    or type(second) ~= "string" or (k.kid ~= nil and type(k.kid) ~= "string") then
    return nil
  end
  local a, b = jose.b64url_decode(first), jose.b64url_decode(second)
  if a and b then return rsa, a, b end
end

-- Hands the keys of the JWKS ssf.set has just used to the verification
-- threads, which check each new SET's signature on every core before it
-- reaches Lua; remembers which key each index is, and its members then.
function Receiver:_hand_keys(jwks)
  self._handed_jwks = jwks -- tried once per JWKS, even if it fails below
  local list, handed = {}, {}
  for _, k in ipairs(type(jwks.keys) == "table" and jwks.keys or {}) do
    local rsa, a, b
    if type(k) == "table" then rsa, a, b = key_numbers(k) end
    if a then
      list[#list + 1] = { rsa = rsa, a = a, b = b, kid = k.kid }
      local members = KEY_MEMBERS[k.kty]
      local was = { key = k, members = members }
      for _, m in ipairs(members) do was[m] = k[m] end
      handed[#handed + 1] = was
    end
  end
  -- ssf.httpd takes at most 1,024; a JWKS that large is checked in Lua.
  if #list > MAX_HANDED_KEYS then list, handed = {}, {} end
  local gen = self._srv:keys(list)
  self._handed, self._handed_gen = gen and handed, gen
end

-- The key table whose signature of req.body the threads proved, if it
-- still holds the numbers it was handed with; else nil.
function Receiver:_proved_key(req)
  local was = req.key and req.keyset == self._handed_gen and self._handed and self._handed[req.key]
  if not was then return nil end
  local key = was.key
  for _, m in ipairs(was.members) do
    if key[m] ~= was[m] then return nil end
  end
  return key
end

function Receiver:_seen(jti)
  return self._jtis[jti] or self._jtis_old[jti] or false
end

function Receiver:_remember(jti)
  if self._jti_count >= JTI_GENERATION then
    self._jtis_old, self._jtis, self._jti_count = self._jtis, {}, 0
  end
  self._jtis[jti] = true
  self._jti_count = self._jti_count + 1
end

local function record(self, entry)
  local rejected = self.rejected
  if #rejected >= MAX_REJECTED then table.remove(rejected, 1) end
  rejected[#rejected + 1] = entry
end

-- Takes the first item of a FIFO (see new), or nil. An emptied list is
-- filled again from its start: its array part is kept, not regrown.
local function shift(self, list, at)
  local i = self[at]
  local items = self[list]
  local item = items[i]
  if item == nil then return nil end
  items[i] = nil
  self[at] = items[i + 1] == nil and 1 or i + 1
  return item
end

-- Verifies one request and answers it when it is rejected or a repeat.
-- Returns the SET and its jti (nil if it has none) when it is new and
-- valid, unanswered; nil when answered; false and the error when the
-- verifier raised (answered 500).
function Receiver:_check(req)
  local srv = self._srv
  local ok, set, msg, info = pcall(self._verify, self, req)
  if not ok then
    -- A bug in the verifier: the transmitter may retry later; the script
    -- sees the error.
    srv:respond(req.id, 500, '{"description":"the receiver failed to verify the SET"}')
    return false, set
  end
  if type(set) ~= "table" then
    local message = text.one_line(msg or "SET rejected", 200)
    if type(info) == "table" and info.temporary then
      -- The SET may well be valid (the keys could not be fetched): a 400
      -- would lose it for good, a 503 has the transmitter send it again.
      srv:respond(req.id, 503, json.encode { description = message }, { ["Retry-After"] = RETRY_AFTER })
      record(self, { status = 503, err = "temporarily_unavailable", message = message,
                     time = os.time(), remote = req.remote })
      return nil
    end
    local err = type(info) == "table" and type(info.err) == "string" and info.err:match("^[%w_]+$")
      or "invalid_request"
    srv:respond(req.id, 400, json.encode { err = err, description = message })
    record(self, { status = 400, err = err, message = message, time = os.time(), remote = req.remote })
    return nil
  end
  local jti = type(set.claims) == "table" and set.claims.jti
  if type(jti) ~= "string" then jti = nil end
  if jti and self:_seen(jti) then
    srv:respond(req.id, 202) -- a repeat of what was acknowledged
    return nil
  end
  set.raw = req.body
  local iat = type(set.claims) == "table" and set.claims.iat
  if type(iat) == "number" and os.time() - iat > LATE_AFTER then set.late = true end
  return set, jti
end

local BUSY = '{"description":"this SET is being processed"}'
-- In the SETs rx:next returns: where a verifier raised, {error}.
local Failure = {}

-- ack = "manual": checks one request; returns its SET, unanswered, when it
-- is new and valid.
function Receiver:_take_manual(req)
  local set, jti = self:_check(req)
  if set == false then error(jti, 0) end
  if not set then return nil end
  if jti and self._pending_jtis[jti] then
    -- The same SET again while the script still holds it: not twice.
    self._srv:respond(req.id, 503, BUSY)
    return nil
  end
  unanswered[set] = { rx = self, id = req.id, jti = jti }
  if jti then self._pending_jtis[jti] = true end
  return setmetatable(set, Unanswered)
end

-- ack = "auto": checks the requests taken, in order, and answers each new
-- valid one 202 as soon as it is checked, not once the burst is: its
-- transmitter's connection is then free for the next SET while the rest
-- of the burst is checked (answering the burst together left that many
-- connections idle, which at 16 connections cost a tenth of the rate).
-- A repeat of a SET answered earlier in the burst is then a plain repeat.
-- Those answered in time join the SETs rx:next returns; one answered 503
-- meanwhile (the script took longer than answer_timeout) is not returned:
-- the transmitter sends it again.
function Receiver:_take_batch()
  local srv, ready = self._srv, self._ready
  while true do
    local req = shift(self, "_taken", "_taken_at")
    if not req then return end
    local set, jti = self:_check(req)
    if set == false then
      -- The verifier's error comes out of rx:next after the SETs before
      -- it, as it would one SET at a time; what it left of the burst
      -- stays taken.
      ready[#ready + 1] = setmetatable({ jti }, Failure)
      return
    end
    if set and srv:respond(req.id, 202) then
      if jti then self:_remember(jti) end
      ready[#ready + 1] = set
    end
  end
end

-- Answers a SET handed out with ack = "manual": 202 (ok) or 503.
local function settle(set, ok)
  local p = unanswered[set]
  if not p then
    error(("bad argument #1 to '%s' (a SET from rx:next{ack = \"manual\"} not yet answered expected)")
      :format(ok and "ack" or "nack"), 3)
  end
  unanswered[set] = nil
  -- Accepted by an auto call before this manual one returned it.
  if p.answered then return ok end
  local rx = p.rx
  if p.jti then rx._pending_jtis[p.jti] = nil end
  if not rx._srv then return false end
  if not ok then
    return rx._srv:respond(p.id, 503, '{"description":"the receiver could not process the SET"}')
  end
  local answered = rx._srv:respond(p.id, 202)
  if answered and p.jti then rx:_remember(p.jti) end
  return answered
end

--- set:ack(): answers 202 to a SET that rx:next{ack = "manual"} returned,
--- once the script has processed it. True when answered in time; false
--- when it had already been answered 503 (answer_timeout passed, or the
--- receiver closed): the transmitter then sends it again.
function Unanswered.__index.ack(set)
  return settle(set, true)
end

--- set:nack(): answers 503, so the transmitter sends the SET again.
function Unanswered.__index.nack(set)
  return settle(set, false)
end

-- The next SET already answered 202, or nil; with manual, one whose
-- set:ack() returns true and set:nack() false (it was answered already).
function Receiver:_shift_ready(manual)
  local set = shift(self, "_ready", "_ready_at")
  if getmetatable(set) == Failure then error(set[1], 0) end
  if set and manual then
    unanswered[set] = { answered = true }
    setmetatable(set, Unanswered)
  end
  return set
end

--- rx:next([timeout]) or rx:next{timeout =, ack = "auto" | "manual"}: the
--- next verified SET, or nil, "timeout", {kind = "timeout"} once timeout
--- seconds pass (no timeout: wait on). SETs come out in arrival order,
--- each once.
--- ack = "auto" (the default) takes a burst of up to BATCH (32) waiting
--- requests at once and answers each valid one 202 as soon as it is
--- checked; it returns the first once the whole burst is checked: the
--- others wait in the receiver, answered, for the next calls (which
--- return them without polling), and rx:next still returns them after
--- rx:close(). A script that stops calling rx:next
--- therefore holds at most BATCH SETs its transmitter thinks delivered;
--- ack = "manual" holds none.
--- With ack = "manual" the SET is not answered yet: set:ack() answers 202
--- once the script has processed it, set:nack() 503; unanswered, it gets
--- 503 after answer_timeout or on close, and the transmitter sends it
--- again. (SETs an auto call accepted come out first, already answered:
--- their set:ack() returns true.)
function Receiver:next(timeout)
  local manual = false
  if type(timeout) == "table" then
    local o = timeout
    for k in pairs(o) do
      if k ~= "timeout" and k ~= "ack" then misuse("next", ("unknown option '%s'"):format(tostring(k))) end
    end
    if o.ack ~= nil and o.ack ~= "auto" and o.ack ~= "manual" then
      misuse("next", "ack must be \"auto\" or \"manual\"")
    end
    manual, timeout = o.ack == "manual", o.timeout
  end
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    misuse("next", "timeout must be a non-negative number of seconds, got " ..
      (type(timeout) == "number" and tostring(timeout) or type(timeout)))
  end
  local ready = self:_shift_ready(manual)
  if ready then return ready end
  if not self._srv then error("attempt to use a closed receiver", 2) end
  local deadline = httpd.clock() + (timeout or math.huge)
  local in_task = tasks.running()
  while true do
    local got = self._taken[self._taken_at] ~= nil
    if not got then
      local reqs, why = self._srv:poll(in_task and 0 or math.min(MAX_WAIT, math.max(0, deadline - httpd.clock())),
        manual and 1 or BATCH)
      if reqs then
        self._taken, self._taken_at, got = reqs, 1, true
      elseif why == "interrupted" then
        return errors.fail("interrupted", "interrupted")
      end
    end
    if got then
      local set
      if manual then
        set = self:_take_manual(shift(self, "_taken", "_taken_at"))
      else
        self:_take_batch()
        set = self:_shift_ready(false)
      end
      if set then return set end
    end
    -- Checked after a rejection too: a stream of bad SETs must not hold
    -- the caller past its deadline.
    if httpd.clock() >= deadline then return errors.fail("timeout", "timeout") end
    if in_task and not got then tasks.sleep(TASK_POLL) end
  end
end

--- Counts for diagnostics: the requests answered before any Lua saw them,
--- by status ([401] = n, ...), `waiting` (SETs not yet answered),
--- `connections` (open now), `buffered` (request body bytes held in C),
--- `refused` (connections refused by
--- max_connections or per_ip_limit) and `dropped` (connections cut: headers
--- not in by header_timeout, idle past idle_timeout, a body over its limit)
--- and `verified` (signatures checked on the verification threads).
function Receiver:stats()
  if not self._srv then error("attempt to use a closed receiver", 2) end
  return self._srv:stats()
end

--- Stops listening; SETs still waiting get 503 (those rx:next accepted
--- already it still returns). Safe to call more than once.
function Receiver:close()
  if self._srv then
    self._srv:close()
    self._srv = nil
    self._taken, self._taken_at = {}, 1
  end
end
Receiver.__close = Receiver.close
Receiver.__gc = Receiver.close

return { new = new, parse_listen = parse_listen }

-- ssf.emulator: an Okta-like SSF transmitter on loopback, for trying ssflua
-- out and for developing scripts and receivers without an org (API.md, "The
-- embedded default"). This file is the object a script holds; Okta's rules
-- are in routes.lua and store.lua.
--
-- Why threads. A client call blocks the calling Lua thread inside libcurl,
-- rx:next blocks it inside ssf.httpd, os.execute blocks it in waitpid. An
-- emulator served by that same thread would stall every call made to it
-- from the script. So it runs beside the script, in the same process:
--   server.lua  on its own thread and lua_State (ssf.thread), serving HTTP
--               with ssf.httpd and answering with the routes;
--   pusher.lua  on a second thread and state, delivering the SETs the
--               routes queue (verification, emit) with its own libcurl
--               session, and reporting each receiver's answer back.
-- Pushes never run on the serving loop: a script's own ssf.receiver only
-- answers while the script waits in rx:next, so a push made there could
-- hold up the API call the script is making meanwhile. Likewise emit()
-- returns the deliveries it queued at once, without their answers (a
-- receiver in this same script could not answer before emit returned);
-- deliveries() shows each answer once it came.
-- The states share nothing but string channels (JSON messages), and the
-- threads stop when those close: close(), __close, __gc, and at exit.
local errors = require "ssf.errors"
local json = require "ssf.json"
local jws = require "ssf.jws"

local Emulator = { __name = "ssf.emulator" }
Emulator.__index = Emulator

local OPTIONS = { listen = "string" }
local SCOPES = { "ssf.read", "ssf.manage" }
-- How long start and each command may take: generous, for valgrind runs.
local REPLY_WAIT = 120

local function misuse(fname, n, msg)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), 3)
end

-- The emulator speaks plain HTTP, so it listens on loopback only.
local function parse_listen(s)
  local host, port = s:match("^(127%.%d+%.%d+%.%d+):(%d+)$")
  if not host then
    host, port = s:match("^%[(::1)%]:(%d+)$")
    if not host then
      port = s:match("^localhost:(%d+)$") or s:match("^:(%d+)$")
      host = port and "127.0.0.1"
    end
  end
  port = tonumber(port)
  if not host or port > 65535 then
    return nil, ("listen must be a loopback address such as \"127.0.0.1:0\" or \"[::1]:8443\", got %q"):format(s)
  end
  return host, port
end

-- Okta's client ids: "0oa" and 17 more characters.
local function client_id()
  return "0oa" .. jws.random_id():sub(1, 17)
end

-- One request to the serving thread and its answer. Requests are numbered:
-- the answer to one whose wait was interrupted (Ctrl-C) comes late, and is
-- skipped by the next request.
function Emulator:_call(op, args)
  if not self._server then error("attempt to use a closed emulator", 3) end
  self._seq = self._seq + 1
  local msg = args or {}
  msg.op, msg.seq = op, self._seq
  self._control:push(json.encode(msg))
  while true do
    local reply, why = self._replies:pop(REPLY_WAIT)
    if not reply then
      if why == "interrupted" then return errors.fail("interrupted", "interrupted") end
      local _, err = self._server:join()
      self._server = nil
      self:close()
      error("the emulator stopped: " .. tostring(err or why), 3)
    end
    reply = json.decode(reply)
    if reply.seq == self._seq then
      if not reply.ok then return nil, reply.message end
      return reply.result
    end
  end
end

-- The transmitter's RS256 signing key and its client's private_key_jwt
-- key (RSA: Okta's SDKs sign DPoP proofs with RS256 whatever the key).
-- Made when the first emulator of a process starts and kept for the ones
-- it starts later: RSA key generation is the bulk of a start (about half a
-- second each, minutes under valgrind), and a stand-in org gains nothing
-- from fresh keys. Ids, key ids and tokens are new for every emulator.
local made_keys
local function keys()
  if not made_keys then
    local jose = jws.lib()
    local signing, client_key = jose.generate_key("RS256"), jose.generate_key("RS256")
    made_keys = { signing_pem = signing:private_pem(), client_pem = client_key:private_pem(),
                  client_jwk = client_key:public_jwk() }
    signing:close()
    client_key:close()
  end
  return made_keys
end

local function start(opts)
  local host, port = parse_listen(opts.listen or "127.0.0.1:0")
  if not host then return errors.fail("config", port) end

  local k = keys()
  local self = setmetatable({
    _client_id = client_id(), _key_id = jws.random_id(), _token = jws.random_id() .. jws.random_id(),
    _private_pem = k.client_pem, _seq = 0,
  }, Emulator)
  local public_jwk = {}
  for name, v in pairs(k.client_jwk) do public_jwk[name] = v end
  public_jwk.kid = self._key_id
  local cfg = json.encode {
    host = host, port = port,
    signing_key = k.signing_pem, signing_kid = jws.random_id(),
    clients = json.array { { client_id = self._client_id, public_jwk = public_jwk } },
    bearer_tokens = { [self._token] = { client_id = self._client_id, scopes = json.array(SCOPES) } },
  }

  local thread = require "ssf.thread"
  self._control, self._replies = thread.channel(), thread.channel()
  local jobs, results = thread.channel(), thread.channel()
  local err
  self._server, err = thread.start("ssf.emulator.server", self._control, self._replies, jobs, results, cfg)
  if self._server then self._pusher, err = thread.start("ssf.emulator.pusher", jobs, results, self._replies) end
  if not self._pusher then
    self:close()
    return errors.fail("config", "the emulator did not start: " .. err)
  end
  -- Both threads say when they are ready (the server with its URL); until
  -- then they may still be loading modules.
  for _ = 1, 2 do
    local ready, why = self._replies:pop(REPLY_WAIT)
    if not ready then
      local _, raised = self._server:join()
      if not raised then _, raised = self._pusher:join() end
      self._server = nil
      self:close()
      return errors.fail("config", "the emulator did not start: " .. tostring(raised or why))
    end
    ready = json.decode(ready)
    if not ready.ok then
      self:close()
      return errors.fail("config", ready.message)
    end
    self.org = self.org or ready.result.org
  end
  return self
end

--- ssf.emulator{listen = "127.0.0.1:0"} -> emulator | nil, message, info
function Emulator.new(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then misuse("emulator", 1, "table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if want == nil then misuse("emulator", 1, ("unknown option '%s'"):format(tostring(k))) end
    if type(v) ~= want then misuse("emulator", 1, ("option '%s' must be a %s, got %s"):format(k, want, type(v))) end
  end
  return start(opts)
end

--- {client_id=, private_key= (PEM), key_id=, token=}: what another tool
--- needs to talk to this emulator as its registered client.
function Emulator:credentials()
  if not self._server then error("attempt to use a closed emulator", 2) end
  return { client_id = self._client_id, private_key = self._private_pem, key_id = self._key_id,
           token = self._token }
end

--- A client of this emulator (private_key_jwt, as Okta's service apps),
--- with any other client options given.
function Emulator:client(opts)
  if opts ~= nil and type(opts) ~= "table" then misuse("client", 1, "table expected, got " .. type(opts)) end
  local c = self:credentials()
  local o = { org = self.org, auth = { type = "private_key_jwt", client_id = c.client_id,
                                       private_key = c.private_key, key_id = c.key_id } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("ssf.streams").new(o)
end

local function as_deliveries(jobs)
  local out = {}
  for i, j in ipairs(jobs) do
    out[i] = { stream_id = j.stream_id, jti = j.jti, event_type = j.event_type, endpoint_url = j.url }
  end
  return out
end

--- Pushes a SET of event_type about subject to stream_id's receiver (every
--- stream that requested it, without stream_id). Returns the deliveries
--- it queued, at once; their answers show in deliveries().
function Emulator:emit(event_type, subject, stream_id)
  if type(event_type) ~= "string" or event_type == "" then
    misuse("emit", 1, "event_type must be an event-type URI, got " .. type(event_type))
  end
  if type(subject) ~= "table" then misuse("emit", 2, "subject must be a table, got " .. type(subject)) end
  if stream_id ~= nil and (type(stream_id) ~= "string" or stream_id == "") then
    misuse("emit", 3, "stream_id must be a non-empty string")
  end
  local jobs, err, info = self:_call("emit", { event_type = event_type, subject = subject, stream_id = stream_id })
  if not jobs then
    if info then return nil, err, info end
    -- The routes' own misuse message ("bad argument #n to 'emit' (...)"),
    -- raised here at the caller's line.
    error((err:gsub("^[^\n]-:%d+: ", "")), 2)
  end
  return as_deliveries(jobs)
end

--- Every push so far and the receiver's answer: {stream_id=, jti=,
--- event_type=, endpoint_url=, status=, err=, time=}, oldest first.
function Emulator:deliveries()
  return self:_call("deliveries")
end

--- Holds a stream for this emulator's client, as in an org where a
--- receiver was set up already (ssflua --emulate).
function Emulator:_seed()
  return assert(self:_call("seed", { client_id = self._client_id }))
end

--- Stops serving and pushing, and waits for both threads. Idempotent.
function Emulator:close()
  if self._server then
    self._server:close() -- closes every channel: the pusher stops too
    self._server = nil
  end
  if self._pusher then
    self._pusher:close()
    self._pusher = nil
  end
end
Emulator.__close = Emulator.close
Emulator.__gc = Emulator.close

--- For `ssflua --emulate`: an emulator holding one stream for its client,
--- and the OKTA_CLIENT_* settings that make it the configured org.
function Emulator.host()
  local emu, err = Emulator.new { listen = "127.0.0.1:0" }
  if not emu then error("cannot start the emulator: " .. err, 0) end
  emu:_seed()
  local c = emu:credentials()
  return emu, {
    OKTA_CLIENT_ORGURL = emu.org, OKTA_CLIENT_AUTHORIZATIONMODE = "PrivateKey",
    OKTA_CLIENT_CLIENTID = c.client_id, OKTA_CLIENT_PRIVATEKEY = c.private_key,
    OKTA_CLIENT_PRIVATEKEYID = c.key_id, OKTA_CLIENT_SCOPES = table.concat(SCOPES, ","),
    OKTA_CLIENT_TOKEN = c.token,
  }
end

return Emulator

-- The emulated Okta org as a pure request -> response function: no
-- sockets, no threads. The host (ssf.emulator) feeds it the requests
-- ssf.httpd parks, sends back what handle returns, and delivers the SET
-- pushes it queues (take_pushes / record). What every Okta answer shares
-- lives here: X-Okta-Request-Id, the X-Rate-Limit-* headers and the 429
-- past the limit, Okta's error bodies, 404 and 405. The rules for streams
-- are in store.lua, tokens in tokens.lua, SET shapes in sets.lua.
local E = require "ssf.emulator.okta_errors"
local compat = require "ssf.compat"
local events = require "ssf.events"
local form = require "ssf.emulator.form"
local ids = require "ssf.emulator.ids"
local json = require "ssf.json"
local jws = require "ssf.jws"
local sets = require "ssf.emulator.sets"
local store = require "ssf.emulator.store"
local tokens = require "ssf.emulator.tokens"

local routes = {}
local App = { __name = "ssf.emulator.app" }
App.__index = App

local KEYS_PATH = "/oauth2/v1/keys"
local DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW = 600, 60
-- deliveries() keeps this many of the latest pushes.
local MAX_DELIVERIES = 10000

-- Which handler serves which path and method, and the scope it needs
-- (none: no token). `body`: the request must carry a JSON object.
local ROUTES = {
  ["/.well-known/ssf-configuration"] = { GET = { op = "metadata" } },
  [KEYS_PATH] = { GET = { op = "keys" } },
  [tokens.PATH] = { POST = { op = "token" } },
  ["/api/v1/ssf/stream"] = {
    GET = { op = "get_streams", scope = "ssf.read" },
    POST = { op = "create_stream", scope = "ssf.manage", body = true },
    PUT = { op = "replace_stream", scope = "ssf.manage", body = true },
    PATCH = { op = "update_stream", scope = "ssf.manage", body = true },
    DELETE = { op = "delete_stream", scope = "ssf.manage" },
  },
  ["/api/v1/ssf/stream/status"] = { GET = { op = "stream_status", scope = "ssf.read" } },
  ["/api/v1/ssf/stream/verification"] = { POST = { op = "verify_stream", scope = "ssf.manage", body = true } },
}

local function misuse(fname, n, msg)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), 3)
end

local function check_cfg(cfg)
  local function bad(msg) misuse("new", 1, msg) end
  if type(cfg) ~= "table" then bad("cfg table expected, got " .. type(cfg)) end
  if type(cfg.org) ~= "string" or not cfg.org:match("^https?://[^/]+$") then
    bad("cfg.org must be the org's base URL, like http://127.0.0.1:8080")
  end
  if type(cfg.signing_key) ~= "string" then bad("cfg.signing_key must be a PEM string") end
  if type(cfg.signing_kid) ~= "string" or cfg.signing_kid == "" then bad("cfg.signing_kid must be a non-empty string") end
  if cfg.now ~= nil and type(cfg.now) ~= "function" then bad("cfg.now must be a function") end
  for i, c in ipairs(cfg.clients or {}) do
    if type(c) ~= "table" or type(c.client_id) ~= "string" or type(c.public_jwk) ~= "table" then
      bad(("cfg.clients[%d] must be {client_id = string, public_jwk = table}"):format(i))
    end
    if c.dpop ~= nil and c.dpop ~= "optional" and c.dpop ~= "required" then
      bad(("cfg.clients[%d].dpop must be \"optional\" or \"required\""):format(i))
    end
  end
  if cfg.bearer_tokens ~= nil and type(cfg.bearer_tokens) ~= "table" then bad("cfg.bearer_tokens must be a table") end
  for token, p in pairs(cfg.bearer_tokens or {}) do
    if type(token) ~= "string" or type(p) ~= "table" or type(p.client_id) ~= "string" or type(p.scopes) ~= "table" then
      bad("cfg.bearer_tokens must map tokens to {client_id = string, scopes = {...}}")
    end
  end
  -- Whole numbers, also when they come as floats from decoded JSON.
  local limits = {}
  for _, k in ipairs { "rate_limit", "rate_window", "max_streams", "token_ttl", "min_verification_interval" } do
    local v = cfg[k]
    local nullable = k == "min_verification_interval"
    if v ~= nil and not (nullable and v == json.null) then
      local least = (k == "rate_limit" or nullable) and 0 or 1
      v = type(v) == "number" and compat.tointeger(v)
      if not v or v < least then
        bad(("cfg.%s must be a whole number%s"):format(k, least == 0 and " (0 or more)" or " above 0")
          .. (nullable and " of seconds or ssf.null" or ""))
      end
    end
    limits[k] = v
  end
  return limits
end

--- routes.new(cfg): see contract §3 (org, signing_key, signing_kid,
--- clients, bearer_tokens, now) plus the limits rate_limit (requests per
--- window and bucket, 600), rate_window (seconds, 60), max_streams (10),
--- min_verification_interval (0) and token_ttl (3600). Raises on misuse.
function routes.new(cfg)
  local limits = check_cfg(cfg)
  local key, msg = jws.lib().load_key(cfg.signing_key)
  if not key then misuse("new", 1, "cfg.signing_key: " .. msg) end
  if key:alg() ~= "RS256" then misuse("new", 1, "cfg.signing_key must be an RSA key (SETs are signed RS256)") end
  local now = cfg.now or os.time
  local jwk = key:public_jwk()
  jwk.kid, jwk.alg, jwk.use = cfg.signing_kid, "RS256", "sig"
  return setmetatable({
    org = cfg.org, now = now, jwk = jwk,
    rate_limit = limits.rate_limit or DEFAULT_RATE_LIMIT,
    rate_window = limits.rate_window or DEFAULT_RATE_WINDOW,
    windows = {},
    tokens = tokens.new { org = cfg.org, now = now, clients = cfg.clients,
                          bearer_tokens = cfg.bearer_tokens, token_ttl = limits.token_ttl },
    store = store.new { org = cfg.org, now = now, max_streams = limits.max_streams,
                        min_verification_interval = limits.min_verification_interval },
    sets = sets.new { org = cfg.org, key = key, kid = cfg.signing_kid, now = now },
    pending = {}, log = {}, by_job = {}, last_job = 0,
  }, App)
end

---------------------------------------------------------------- rate limits

-- Fixed windows aligned to the epoch, one counter per bucket (a client id;
-- the token endpoint and callers without a known token have their own),
-- like Okta's per-minute limits.
function App:take(bucket)
  local start = math.floor(self.now() / self.rate_window) * self.rate_window
  local w = self.windows[bucket]
  if not w or w.start ~= start then
    -- A new window: forget the buckets whose window has passed.
    for b, old in pairs(self.windows) do
      if old.start ~= start then self.windows[b] = nil end
    end
    w = { start = start, used = 0 }
    self.windows[bucket] = w
  end
  w.used = w.used + 1
  return {
    ["X-Rate-Limit-Limit"] = ("%d"):format(self.rate_limit),
    ["X-Rate-Limit-Remaining"] = ("%d"):format(math.max(0, self.rate_limit - w.used)),
    ["X-Rate-Limit-Reset"] = ("%d"):format(start + self.rate_window),
  }, w.used > self.rate_limit
end

---------------------------------------------------------------- pushes

-- Queues the push of jwt to stream s and logs it as a delivery.
function App:queue(s, jwt, jti, event_type)
  self.last_job = self.last_job + 1
  local auth = s.delivery.authorization_header
  local job = {
    id = self.last_job, stream_id = s.stream_id, url = s.delivery.endpoint_url,
    authorization = type(auth) == "string" and auth or nil,
    body = jwt, jti = jti, event_type = event_type,
  }
  self.pending[#self.pending + 1] = job
  local d = { stream_id = s.stream_id, jti = jti, event_type = event_type,
              endpoint_url = job.url, time = self.now() }
  self.log[#self.log + 1] = d
  self.by_job[job.id] = d
  if #self.log > MAX_DELIVERIES then
    table.remove(self.log, 1)
    self.by_job[job.id - MAX_DELIVERIES] = nil
  end
  return job
end

--- The pushes queued since the last call, oldest first.
function App:take_pushes()
  local jobs = self.pending
  self.pending = {}
  return jobs
end

--- The host's report on a push: the receiver's HTTP status, or nil and why
--- the push failed. Returns false for a job it no longer knows.
function App:record(job_id, status, err)
  if not compat.is_integer(job_id) then misuse("record", 1, "job id expected") end
  if status ~= nil and not compat.is_integer(status) then misuse("record", 2, "HTTP status or nil expected") end
  if err ~= nil and type(err) ~= "string" then misuse("record", 3, "message string or nil expected") end
  local d = self.by_job[job_id]
  if not d then return false end
  d.status, d.err = status, err
  return true
end

--- Every push so far (the latest MAX_DELIVERIES), as copies.
function App:deliveries()
  local out = {}
  for i, d in ipairs(self.log) do
    out[i] = { stream_id = d.stream_id, jti = d.jti, event_type = d.event_type,
               endpoint_url = d.endpoint_url, status = d.status, err = d.err, time = d.time }
  end
  return out
end

--- Pushes a CAEP SET of event_type about subject to stream_id, or to every
--- enabled stream that has it in events_delivered; returns the jobs queued.
function App:emit(event_type, subject, stream_id)
  if not sets.emits(event_type) then
    misuse("emit", 1, ("event type %s is not one the emulator transmits (%s)")
      :format(tostring(event_type), table.concat(store.EVENTS_SUPPORTED, ", ")))
  end
  local sub, why = sets.subject(subject, self.org)
  if not sub then misuse("emit", 2, why) end
  local targets
  if stream_id ~= nil then
    local s = type(stream_id) == "string" and self.store:find(stream_id)
    if not s then misuse("emit", 3, "no stream " .. tostring(stream_id)) end
    local delivers = false
    for _, e in ipairs(s.events_delivered) do delivers = delivers or e == event_type end
    if not delivers then misuse("emit", 3, ("stream %s does not deliver %s"):format(stream_id, event_type)) end
    targets = { s }
  else
    targets = {}
    for _, s in ipairs(self.store:all()) do
      for _, e in ipairs(s.events_delivered) do
        if e == event_type then targets[#targets + 1] = s end
      end
    end
  end
  local jobs = {}
  for _, s in ipairs(targets) do
    -- A disabled stream transmits nothing and holds nothing (SSF §8.1.2).
    if s.status == "enabled" then
      local jwt, jti = self.sets:event(event_type, s, sub)
      jobs[#jobs + 1] = self:queue(s, jwt, jti, event_type)
    end
  end
  return jobs
end

--- A stream for client_id set up outside the API, as in an org where a
--- receiver was already configured. config: {delivery = {...},
--- events_requested = {...} (default: both event types), format =,
--- status = "enabled" | "disabled"}. Returns its public view.
function App:seed_stream(client_id, config)
  if type(client_id) ~= "string" or client_id == "" then misuse("seed_stream", 1, "client id expected") end
  if type(config) ~= "table" then misuse("seed_stream", 2, "stream configuration table expected") end
  if config.status ~= nil and config.status ~= "enabled" and config.status ~= "disabled" then
    misuse("seed_stream", 2, "status must be \"enabled\" or \"disabled\"")
  end
  local body = {}
  for k, v in pairs(config) do body[k] = v end
  local requested = json.array()
  for i, e in ipairs(config.events_requested or store.EVENTS_SUPPORTED) do requested[i] = e end
  body.events_requested = requested
  local view, msg = self.store:seed(client_id, body)
  if not view then misuse("seed_stream", 2, msg) end
  return view
end

---------------------------------------------------------------- operations

-- Each takes (app, req, principal, query, body) and returns status, body
-- (a table, or nil for none) and extra headers, or nil and an Okta error.
local OPS = {}

function OPS.metadata(app)
  local o = app.org
  return 200, {
    issuer = o,
    jwks_uri = o .. KEYS_PATH,
    configuration_endpoint = o .. "/api/v1/ssf/stream",
    verification_endpoint = o .. "/api/v1/ssf/stream/verification",
    delivery_methods_supported = json.array { store.PUSH_METHODS[1], store.PUSH_METHODS[2] },
    spec_version = "1_0-ID3",
    authorization_schemes = json.array { { spec_urn = "urn:ietf:rfc:6749" } },
    default_subjects = "ALL",
  }
end

function OPS.keys(app)
  return 200, { keys = json.array { app.jwk } }
end

function OPS.token(app, req)
  return app.tokens:token(req)
end

local function answer(status)
  return function(result, err)
    if result == nil then return nil, err end
    return status, result
  end
end

function OPS.get_streams(app, _, p, query)
  return answer(200)(app.store:get(p.client_id, query.stream_id))
end

function OPS.create_stream(app, _, p, _, body)
  return answer(201)(app.store:create(p.client_id, body))
end

function OPS.replace_stream(app, _, p, _, body)
  return answer(200)(app.store:replace(p.client_id, body))
end

function OPS.update_stream(app, _, p, _, body)
  return answer(200)(app.store:update(p.client_id, body))
end

function OPS.delete_stream(app, _, p, query)
  local ok, err = app.store:delete(p.client_id, query.stream_id)
  if not ok then return nil, err end
  return 204
end

function OPS.stream_status(app, _, p, query)
  return answer(200)(app.store:status(p.client_id, query.stream_id))
end

-- 204 only means queued, as at Okta; a disabled stream transmits nothing.
function OPS.verify_stream(app, _, p, _, body)
  local s, state = app.store:verify(p.client_id, body)
  if not s then return nil, state end
  if s.status == "enabled" then
    local jwt, jti = app.sets:verification(s, state)
    app:queue(s, jwt, jti, events.VERIFICATION)
  end
  return 204
end

---------------------------------------------------------------- dispatch

local function json_body(req)
  local ctype = (req.headers["content-type"] or ""):match("^[^;]*"):gsub("%s", ""):lower()
  if ctype ~= "application/json" then return nil, E.malformed() end
  local v = json.decode(req.body or "")
  if type(v) ~= "table" or json.is_array(v) then return nil, E.malformed() end
  return v
end

local function allowed(methods)
  local out = {}
  for m in pairs(methods) do out[#out + 1] = m end
  table.sort(out)
  return out
end

-- status, body, headers of the request, or nil and an Okta error.
function App:dispatch(req)
  local methods = ROUTES[req.path]
  if not methods then return nil, E.not_found(req.path, "Resource") end
  local route = methods[req.method]
  if not route then return nil, E.method_not_allowed(allowed(methods)) end
  local principal, err
  if route.scope then
    principal, err = self.tokens:authorize(req, route.scope)
    if not principal then return nil, err end
  end
  -- A query parameter given twice names no one stream: the first counts.
  local query = {}
  for _, kv in ipairs(form.pairs(req.query)) do
    if query[kv[1]] == nil and kv[2] ~= "" then query[kv[1]] = kv[2] end
  end
  local body
  if route.body then
    body, err = json_body(req)
    if not body then return nil, err end
  end
  return OPS[route.op](self, req, principal, query, body)
end

--- app:handle(req) with req as ssf.httpd's server:poll returns it ({method=,
--- path=, query=, headers = {lower-case name = value}, body=}) ->
--- status, headers, body (a string, possibly ""). Bad input from the peer
--- is an answer, never an error.
function App:handle(req)
  req = {
    method = req.method, path = req.path, query = req.query,
    headers = req.headers or {}, body = req.body or "",
  }
  local bucket = req.path == tokens.PATH and tokens.PATH
    or self.tokens:client_of(req.headers.authorization) or "anonymous"
  local headers, exceeded = self:take(bucket)
  headers["X-Okta-Request-Id"] = ids.alnum(20)
  local status, body, extra
  if exceeded then
    status, body = nil, E.too_many_requests()
  else
    status, body, extra = self:dispatch(req)
  end
  if status == nil then
    local err = body
    status, body, extra = err.status, E.body(err), err.headers
  end
  for k, v in pairs(extra or {}) do headers[k] = v end
  if body == nil then return status, headers, "" end
  headers["Content-Type"] = "application/json"
  return status, headers, json.encode(body)
end

return routes

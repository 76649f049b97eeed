-- The stream operations: one method per Okta SSF operation (API.md table),
-- plus the request{} escape hatch. Arguments are checked before anything is
-- sent; misuse raises naming the argument.
local Client = require "ssf.client"
local compat = require "ssf.compat"
local errors = require "ssf.errors"
local json = require "ssf.json"

local STREAM = "/api/v1/ssf/stream"

-- level: 3 when called from a method itself, 4 from a helper of one, so
-- the error points at the caller's line.
local function arg_error(fname, n, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), level or 3)
end

local function check_id(fname, n, id, optional)
  if id == nil and optional then return end
  if type(id) ~= "string" or id == "" then
    arg_error(fname, n, "stream_id must be a non-empty string, got " ..
      (id == "" and "an empty string" or type(id)), 4)
  end
end

-- Fields the schema declares as arrays: a plain Lua list given for them is
-- sent as a JSON array even when empty.
local ARRAY_FIELDS = { "events_requested", "events_supported", "events_delivered", "aud" }

local function is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- Checks a StreamConfiguration and returns its JSON text and the secrets in
-- it (the receiver's authorization_header), which must never be echoed.
local function stream_body(fname, cfg)
  if type(cfg) ~= "table" then
    arg_error(fname, 1, "stream configuration table expected, got " .. type(cfg), 4)
  end
  if type(cfg.delivery) ~= "table" then
    arg_error(fname, 1, "cfg.delivery is required (a table with method and endpoint_url)", 4)
  end
  if type(cfg.events_requested) ~= "table" then
    arg_error(fname, 1, "cfg.events_requested is required (a list of event-type URIs)", 4)
  end
  local body = {}
  for k, v in pairs(cfg) do body[k] = v end
  for _, k in ipairs(ARRAY_FIELDS) do
    local v = body[k]
    if type(v) == "table" and not json.is_array(v) and is_list(v) then
      body[k] = json.array(compat.move(v, 1, #v, 1, {}))
    end
  end
  local secrets = {}
  local header = cfg.delivery.authorization_header
  if type(header) == "string" then
    secrets[1] = header
    -- A server may echo only the credential after the scheme name.
    secrets[2] = header:match("^%S+%s+(.+)$")
  end
  local text, err = json.try_encode(body)
  if not text then arg_error(fname, 1, "cfg cannot be encoded as JSON: " .. err, 4) end
  return text, secrets
end

--- GET /.well-known/ssf-configuration (no credentials are sent).
function Client:metadata()
  return self:_send("GET", "/.well-known/ssf-configuration", nil, nil, nil, nil, true)
end

--- GET /api/v1/ssf/stream: always an array, even if a server answers with
--- a single object.
function Client:streams()
  local v, meta, info = self:_send("GET", STREAM)
  if v == nil then return nil, meta, info end
  if type(v) ~= "table" then
    return errors.fail("decode", "expected a list of streams", { status = meta.status })
  end
  if not json.is_array(v) and next(v) ~= nil then v = json.array { v } end
  return json.array(v), meta
end

--- GET /api/v1/ssf/stream?stream_id=...
function Client:stream(stream_id)
  check_id("stream", 1, stream_id)
  local v, meta, info = self:_send("GET", STREAM, { stream_id = stream_id })
  if v == nil then return nil, meta, info end
  if json.is_array(v) then -- a list where one stream was asked for: pick it
    for _, s in ipairs(v) do
      if type(s) == "table" and s.stream_id == stream_id then return s, meta end
    end
    return errors.fail("decode", "the answer does not contain stream " .. stream_id,
      { status = meta.status, request_id = meta.request_id })
  end
  if type(v) ~= "table" then
    return errors.fail("decode", "expected a stream object", { status = meta.status })
  end
  return v, meta
end

--- POST /api/v1/ssf/stream
function Client:create_stream(cfg)
  local body, secrets = stream_body("create_stream", cfg)
  return self:_send("POST", STREAM, nil, body, secrets)
end

--- PATCH /api/v1/ssf/stream
function Client:update_stream(cfg)
  local body, secrets = stream_body("update_stream", cfg)
  return self:_send("PATCH", STREAM, nil, body, secrets)
end

--- PUT /api/v1/ssf/stream
function Client:replace_stream(cfg)
  local body, secrets = stream_body("replace_stream", cfg)
  return self:_send("PUT", STREAM, nil, body, secrets)
end

--- DELETE /api/v1/ssf/stream[?stream_id=]; without an id Okta deletes the
--- stream of the token's client.
function Client:delete_stream(stream_id)
  check_id("delete_stream", 1, stream_id, true)
  return self:_send("DELETE", STREAM, stream_id and { stream_id = stream_id })
end

--- GET /api/v1/ssf/stream/status?stream_id=
function Client:stream_status(stream_id)
  check_id("stream_status", 1, stream_id)
  return self:_send("GET", STREAM .. "/status", { stream_id = stream_id })
end

--- POST /api/v1/ssf/stream/verification. A 204 only means Okta queued the
--- verification SET; it does not prove the receiver got it.
function Client:verify_stream(stream_id, state)
  check_id("verify_stream", 1, stream_id)
  if state ~= nil and type(state) ~= "string" then
    arg_error("verify_stream", 2, "state must be a string, got " .. type(state))
  end
  -- A repeat only asks for one more verification event, so an answer
  -- saying the transmitter could not take the request now (503, 504) is
  -- retried as an idempotent call would be, waiting what Retry-After asks.
  local body = json.encode { stream_id = stream_id, state = state }
  local attempt = 1
  while true do
    local ok, msg, info = self:_send("POST", STREAM .. "/verification", nil, body)
    local status = not ok and info and info.status
    if ok or (status ~= 503 and status ~= 504) or attempt > self.retries then return ok, msg, info end
    local after = tonumber(info.headers and info.headers["retry-after"])
    require("ssf.tasks").sleep(math.min(self.max_backoff, after or 0.5 * attempt)) -- cooperative in a task
    attempt = attempt + 1
  end
end

--- Proof of delivery through a receiver (lua/ssf/confirm.lua, loaded on
--- first use).
function Client:confirm_stream(stream_id, rx, opts)
  return require("ssf.confirm")(self, stream_id, rx, opts)
end

local REQUEST_FIELDS = { method = "string", path = "string", query = "table",
                         json = true, headers = "table" }

--- The escape hatch: any method and path on the org, with the client's
--- credentials, retries and error handling.
function Client:request(req)
  if type(req) ~= "table" then arg_error("request", 1, "table expected, got " .. type(req)) end
  for k, v in pairs(req) do
    local want = REQUEST_FIELDS[k]
    if not want then arg_error("request", 1, "unknown field '" .. tostring(k) .. "'") end
    if want ~= true and type(v) ~= want then
      arg_error("request", 1, ("field '%s' must be a %s, got %s"):format(k, want, type(v)))
    end
  end
  local method = (req.method or "GET"):upper()
  if not method:match("^%u+$") then arg_error("request", 1, "field 'method' must be an HTTP method name") end
  if type(req.path) ~= "string" or req.path:sub(1, 1) ~= "/" or req.path:find("[%s%c#?]") then
    arg_error("request", 1, "field 'path' must be an absolute path such as '/api/v1/ssf/stream' (put the query in 'query')")
  end
  local extra = {}
  for name, value in pairs(req.headers or {}) do
    if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+%-.^_`|~]+$")
      or type(value) ~= "string" or value:find("[\r\n]") then
      arg_error("request", 1, "field 'headers' must map header names to single-line strings")
    end
    extra[#extra + 1] = name .. ": " .. value
  end
  local body
  if req.json ~= nil then
    local err
    body, err = json.try_encode(req.json)
    if not body then arg_error("request", 1, "field 'json' cannot be encoded: " .. err) end
  end
  return self:_send(method, req.path, req.query, body, nil, extra)
end

return Client

-- The streams and Okta's rules for them, in one place to compare with
-- CONTRACT.md line by line: required fields, enums, URIs and lengths
-- (400 E0000001), one stream per client id and ten per org (409 E0000195),
-- a client sees only its own stream (404 E0000007 for any other), read-only
-- fields that must match when sent, PUT against PATCH, status, and
-- min_verification_interval (429). Methods take the caller's client id and
-- the decoded request; they return a result, or nil and an Okta error.
local E = require "ssf.emulator.okta_errors"
local events = require "ssf.events"
local ids = require "ssf.emulator.ids"
local json = require "ssf.json"

local store = {}
local Store = {}
Store.__index = Store

local PUSH_METHODS = { "https://schemas.openid.net/secevent/risc/delivery-method/push", "urn:ietf:rfc:8935" }
store.PUSH_METHODS = PUSH_METHODS
-- The two event types Okta transmits.
local EVENTS_SUPPORTED = { events.SESSION_REVOKED, events.CREDENTIAL_CHANGE }
store.EVENTS_SUPPORTED = EVENTS_SUPPORTED

local MAX_EVENTS, MAX_EVENT_URI = 50, 256
local MAX_ENDPOINT_URL, MAX_AUTHORIZATION = 2048, 8192
-- Fields the transmitter sets; a PUT or PATCH may send them only unchanged.
local READ_ONLY = { "iss", "aud", "events_supported", "events_delivered", "min_verification_interval" }

local function is_object(v)
  return type(v) == "table" and not json.is_array(v)
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

-- JSON equality (arrays in order), for the read-only fields.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if json.is_array(a) ~= json.is_array(b) then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function copy_array(t)
  local out = json.array()
  for i, v in ipairs(t) do out[i] = v end
  return out
end

---------------------------------------------------------------- validation

-- An absolute URI (RFC 3986): a scheme, a colon, something after it, and no
-- white space or control characters; http(s) URIs also need a host.
local function is_absolute_uri(s)
  local scheme, rest = s:match("^(%a[%w+.-]*):(.+)$")
  if not scheme or rest:find("[%s%c]") then return false end
  scheme = scheme:lower()
  if scheme == "http" or scheme == "https" then return rest:match("^//[^/?#@]*[^/?#@:]") ~= nil end
  return true
end

local function problem(problems, field, message)
  problems[#problems + 1] = { field = field, message = message }
end

local function check_uri(problems, field, v, max)
  if type(v) ~= "string" then
    problem(problems, field, E.quote(v) .. " must be a string")
  elseif #v > max then
    problem(problems, field, ("%s exceeds the maximum length of %d"):format(E.quote(v), max))
  elseif not is_absolute_uri(v) then
    problem(problems, field, E.quote(v) .. " is not a valid absolute URI")
  end
end

local function check_delivery(problems, d)
  if d == nil then return problem(problems, "delivery", "is required") end
  if not is_object(d) then return problem(problems, "delivery", E.quote(d) .. " must be an object") end
  if d.method == nil then
    problem(problems, "delivery.method", "is required")
  elseif not contains(PUSH_METHODS, d.method) then
    problem(problems, "delivery.method",
      ("%s is not one of [%s]"):format(E.quote(d.method), table.concat(PUSH_METHODS, ", ")))
  end
  if d.endpoint_url == nil then
    problem(problems, "delivery.endpoint_url", "is required")
  else
    check_uri(problems, "delivery.endpoint_url", d.endpoint_url, MAX_ENDPOINT_URL)
  end
  -- The value is a secret: messages describe it, never quote it.
  local auth = d.authorization_header
  if auth ~= nil and auth ~= json.null then
    if type(auth) ~= "string" then
      problem(problems, "delivery.authorization_header", "must be a string or null")
    elseif #auth > MAX_AUTHORIZATION then
      problem(problems, "delivery.authorization_header",
        ("exceeds the maximum length of %d"):format(MAX_AUTHORIZATION))
    end
  end
end

local function check_events(problems, list)
  if list == nil then return problem(problems, "events_requested", "is required") end
  if not json.is_array(list) then
    return problem(problems, "events_requested", E.quote(list) .. " must be an array")
  end
  if #list > MAX_EVENTS then
    return problem(problems, "events_requested",
      ("must contain at most %d items, got %d"):format(MAX_EVENTS, #list))
  end
  for i, e in ipairs(list) do
    check_uri(problems, ("events_requested[%d]"):format(i - 1), e, MAX_EVENT_URI)
  end
end

-- The checks every body that configures a stream gets (POST, PUT, PATCH).
local function check_config(body)
  local problems = {}
  check_delivery(problems, body.delivery)
  check_events(problems, body.events_requested)
  if body.format ~= nil and body.format ~= "iss_sub" then
    problem(problems, "format", E.quote(body.format) .. " is not one of [iss_sub]")
  end
  return problems
end

---------------------------------------------------------------- the store

--- opts: org (the issuer), now (clock), max_streams (10),
--- min_verification_interval (0, or a number of seconds, or json.null).
function store.new(opts)
  return setmetatable({
    org = opts.org, now = opts.now,
    max_streams = opts.max_streams or 10,
    min_verification_interval = opts.min_verification_interval or 0,
    by_id = {}, order = {},
  }, Store)
end

local function delivered(requested)
  local out = json.array()
  for _, e in ipairs(requested) do
    if contains(EVENTS_SUPPORTED, e) and not contains(out, e) then out[#out + 1] = e end
  end
  return out
end

-- Only the delivery members the transmitter knows are kept.
local function pick_delivery(d)
  return { method = d.method, endpoint_url = d.endpoint_url, authorization_header = d.authorization_header }
end

--- The public view of a stream: no bookkeeping and, like Okta, never the
--- receiver's authorization_header.
function store.render(s)
  return {
    stream_id = s.stream_id, iss = s.iss, aud = s.aud,
    delivery = { method = s.delivery.method, endpoint_url = s.delivery.endpoint_url },
    events_requested = copy_array(s.events_requested),
    events_supported = copy_array(s.events_supported),
    events_delivered = copy_array(s.events_delivered),
    format = s.format,
    min_verification_interval = s.min_verification_interval,
  }
end

--- Streams in the order they were created.
function Store:all()
  local out = {}
  for i, id in ipairs(self.order) do out[i] = self.by_id[id] end
  return out
end

function Store:find(stream_id)
  return self.by_id[stream_id]
end

function Store:of_client(client_id)
  for _, id in ipairs(self.order) do
    local s = self.by_id[id]
    if s.client_id == client_id then return s end
  end
end

-- Another client's stream is reported exactly like an unknown one.
function Store:owned(client_id, stream_id)
  local s = self.by_id[stream_id]
  if not s or s.client_id ~= client_id then return nil, E.not_found(stream_id) end
  return s
end

-- The stream a PUT, PATCH or DELETE without stream_id means: the caller's.
function Store:callers(client_id)
  local s = self:of_client(client_id)
  if not s then return nil, E.not_found("stream of client " .. client_id) end
  return s
end

--- GET /api/v1/ssf/stream[?stream_id=]: a list without stream_id (only the
--- caller's stream), the one stream with it.
function Store:get(client_id, stream_id)
  if stream_id == nil then
    local own = self:of_client(client_id)
    return json.array { own and store.render(own) or nil }
  end
  local s, err = self:owned(client_id, stream_id)
  if not s then return nil, err end
  return store.render(s)
end

-- The aud Okta sets: the origin of the receiver's endpoint at creation,
-- as in Okta's own examples (aud and endpoint_url both https://example.com).
-- It never changes afterwards (SSF: aud is not updatable).
local function audience(endpoint_url)
  return endpoint_url:match("^(%a[%w+.-]*://[^/?#]+)") or endpoint_url
end

--- POST /api/v1/ssf/stream: the new stream's public view, or nil, err.
function Store:create(client_id, body)
  local problems = check_config(body)
  if #problems > 0 then return nil, E.validation(problems) end
  if self:of_client(client_id) then
    return nil, E.conflict("An SSF stream already exists for client ID " .. client_id)
  end
  if #self.order >= self.max_streams then
    return nil, E.conflict(("The org already has the maximum of %d SSF streams"):format(self.max_streams))
  end
  local s = {
    stream_id = "esc" .. ids.alnum(17),
    client_id = client_id,
    iss = self.org,
    aud = audience(body.delivery.endpoint_url),
    delivery = pick_delivery(body.delivery),
    events_requested = copy_array(body.events_requested),
    events_supported = copy_array(EVENTS_SUPPORTED),
    events_delivered = delivered(body.events_requested),
    format = body.format,
    min_verification_interval = self.min_verification_interval,
    status = "enabled",
    last_verification = nil,
  }
  self.by_id[s.stream_id] = s
  self.order[#self.order + 1] = s.stream_id
  return store.render(s), s
end

-- PUT and PATCH take the same full StreamConfiguration. PUT drops the
-- optional fields it does not send (format, delivery.authorization_header);
-- PATCH keeps their current values.
function Store:modify(client_id, body, merge)
  local problems = check_config(body)
  if body.stream_id ~= nil and type(body.stream_id) ~= "string" then
    problem(problems, "stream_id", E.quote(body.stream_id) .. " must be a string")
  end
  if #problems > 0 then return nil, E.validation(problems) end
  local s, err
  if body.stream_id ~= nil then
    s, err = self:owned(client_id, body.stream_id)
  else
    s, err = self:callers(client_id)
  end
  if not s then return nil, err end
  for _, field in ipairs(READ_ONLY) do
    if body[field] ~= nil and not same(body[field], s[field]) then
      problem(problems, field, E.quote(body[field]) .. " does not match the value set by the transmitter")
    end
  end
  if #problems > 0 then return nil, E.validation(problems) end

  local d = pick_delivery(body.delivery)
  if merge and body.delivery.authorization_header == nil then
    d.authorization_header = s.delivery.authorization_header
  end
  s.delivery = d
  s.events_requested = copy_array(body.events_requested)
  s.events_delivered = delivered(body.events_requested)
  if not merge or body.format ~= nil then s.format = body.format end
  return store.render(s)
end

function Store:replace(client_id, body) return self:modify(client_id, body, false) end
function Store:update(client_id, body) return self:modify(client_id, body, true) end

--- DELETE /api/v1/ssf/stream[?stream_id=]: true, or nil, err.
function Store:delete(client_id, stream_id)
  local s, err
  if stream_id ~= nil then
    s, err = self:owned(client_id, stream_id)
  else
    s, err = self:callers(client_id)
  end
  if not s then return nil, err end
  self.by_id[s.stream_id] = nil
  for i, id in ipairs(self.order) do
    if id == s.stream_id then
      table.remove(self.order, i)
      break
    end
  end
  return true
end

--- GET /api/v1/ssf/stream/status?stream_id= (required).
function Store:status(client_id, stream_id)
  if stream_id == nil then return nil, E.validation { { field = "stream_id", message = "is required" } } end
  local s, err = self:owned(client_id, stream_id)
  if not s then return nil, err end
  return { stream_id = s.stream_id, status = s.status }
end

--- POST /api/v1/ssf/stream/verification {stream_id, state?}: the stream to
--- verify and the state to echo, or nil, err. Okta allows one verification
--- per min_verification_interval seconds; a request sooner gets 429, with
--- X-Rate-Limit-Reset at the time the next one is allowed.
function Store:verify(client_id, body)
  local problems = {}
  if body.stream_id == nil then
    problem(problems, "stream_id", "is required")
  elseif type(body.stream_id) ~= "string" then
    problem(problems, "stream_id", E.quote(body.stream_id) .. " must be a string")
  end
  if body.state ~= nil and type(body.state) ~= "string" then
    problem(problems, "state", E.quote(body.state) .. " must be a string")
  end
  if #problems > 0 then return nil, E.validation(problems) end
  local s, err = self:owned(client_id, body.stream_id)
  if not s then return nil, err end
  local now, interval = self.now(), tonumber(s.min_verification_interval) or 0
  if interval > 0 and s.last_verification and now - s.last_verification < interval then
    return nil, E.too_many_requests {
      ["X-Rate-Limit-Remaining"] = "0",
      ["X-Rate-Limit-Reset"] = ("%d"):format(math.ceil(s.last_verification + interval)),
    }
  end
  s.last_verification = now
  return s, body.state
end

--- A stream set up outside the API (seed_stream): the same checks as POST,
--- with failures raised for the caller to word.
function Store:seed(client_id, config)
  local view, s = self:create(client_id, config)
  if not view then
    local causes = s.causes[1] and (": " .. table.concat(s.causes, "; ")) or ""
    return nil, s.summary .. causes
  end
  if config.status ~= nil then s.status = config.status end
  return view
end

return store

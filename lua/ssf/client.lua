-- The client: one connection pool, one credential, and the request path
-- shared by every stream operation (send, retry, interpret the answer).
local auth = require "ssf.auth"
local config = require "ssf.config"
local errors = require "ssf.errors"
local json = require "ssf.json"
local text = require "ssf.text"

local VERSION = require "ssf.version"

local Client = { __name = "ssf.client" }
Client.__index = Client

-- libcurl costs ~10 ms to load, so the transport (ssf.http) is loaded by
-- the first client, not by `require "ssf"`: scripts that only print help or
-- decode SETs never pay for it. Inside an nginx worker the default
-- is nginx's own HTTP client (transport/nginx.lua), which never blocks the
-- worker.
local transport = require "ssf.transport"

-- An nginx worker has no environment of its own to read settings from.
local function no_env() return nil end

--- ssf.client{...}: see API.md. Returns nil, message, info on a bad
--- configuration; raises on misuse.
function Client.new(opts)
  local name = type(opts) == "table" and opts.transport or nil
  if name ~= nil and name ~= "curl" and name ~= "nginx" then
    error("bad argument #1 to 'client' (option 'transport' must be \"curl\" or \"nginx\")", 2)
  end
  local mod
  mod, name = transport.module(name)
  local settings, msg, info = config.resolve(opts, require("ssf.transport.curl").parse_url,
    name == "nginx" and no_env or os.getenv, 3)
  if not settings then return nil, msg, info end
  local t, terr, tinfo = mod.new(settings.given)
  if not t then return nil, terr, tinfo end

  local self = setmetatable({
    org = settings.org,
    timeout = settings.timeout,
    connect_timeout = settings.connect_timeout,
    retries = settings.retries,
    max_body = settings.max_body,
    max_backoff = settings.max_backoff,
    user_agent = settings.user_agent or ("ssflua/" .. VERSION),
    ca_file = settings.ca_file,
    proxy = settings.proxy,
    debug = settings.debug,
    _transport = t,
  }, Client)
  -- Credentials live only in the provider's closures, so printing or
  -- walking the client table cannot reveal them.
  local provider
  -- Receiver credentials this client has sent: a server may echo one in
  -- the answer to a later request, not just the one that carried it.
  local sent = {}
  self._remember = function(secrets)
    for _, v in ipairs(secrets or {}) do
      if not sent[v] and #sent < 64 then
        sent[v] = true
        sent[#sent + 1] = v
      end
    end
  end
  self._redact = function(s, extra)
    local secrets = provider and provider.secrets() or {}
    for _, list in ipairs { extra or {}, sent } do
      for _, v in ipairs(list) do secrets[#secrets + 1] = v end
    end
    return errors.redact(s, secrets)
  end
  local err, einfo
  provider, err, einfo = auth.provider(self, settings.auth)
  if not provider then
    self:close()
    return nil, err, einfo
  end
  self._auth = provider
  return self
end

function Client:__tostring()
  return "ssf.client: " .. self.org
end

--- Releases the connection pool. Safe to call more than once.
function Client:close()
  if self._transport then
    self._transport:close()
    self._transport = nil
  end
end
Client.__close = Client.close

local function encode_query(query)
  if not query then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  if #keys == 0 then return "" end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = text.escape(k) .. "=" .. text.escape(query[k]) end
  return "?" .. table.concat(parts, "&")
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                 Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since the epoch for an HTTP-date (IMF-fixdate, what servers
-- send), independent of the local time zone; nil if it is not one.
local function http_date(s)
  local d, mon, y, h, mi, sec = (s or ""):match(
    "^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  local m = MONTHS[mon]
  if not m then return nil end
  y = tonumber(y) - (m <= 2 and 1 or 0)
  local floor = math.floor
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + tonumber(d) - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

-- Okta's rule (as its Go SDK applies it): wait until X-Rate-Limit-Reset by
-- the server's clock, plus one second. nil when the answer gives no reset.
local function rate_limit_wait(headers)
  local reset = tonumber(headers["x-rate-limit-reset"])
  if not reset then return nil end
  local now = http_date(headers.date) or os.time()
  return math.max(0, reset - now + 1)
end

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, PATCH = true }

local function backoff(self, attempt)
  local base = math.min(self.max_backoff, 0.25 * 2 ^ (attempt - 1))
  return base * (0.5 + math.random())
end

local function is_json(content_type)
  local mime = (content_type or ""):match("^%s*([^;%s]+)")
  mime = mime and mime:lower() or ""
  return mime == "application/json" or mime:match("^application/[%w%.%-]+%+json$") ~= nil
end

-- Turns a non-2xx answer into nil, message, info.
local function http_failure(self, status, headers, body, attempts, secrets)
  -- A server may echo a credential in any header (a Location, a challenge).
  local scrubbed = {}
  for k, v in pairs(headers) do scrubbed[k] = self._redact(v, secrets) end
  local info = {
    status = status,
    headers = scrubbed,
    request_id = headers["x-okta-request-id"],
    attempts = attempts,
  }
  if status == 429 then info.retry_after = rate_limit_wait(headers) end
  local err = is_json(headers["content-type"]) and json.decode(body)
  local summary
  if type(err) == "table" and not json.is_array(err) then
    info.code = type(err.errorCode) == "string" and err.errorCode or nil
    info.summary = type(err.errorSummary) == "string" and self._redact(err.errorSummary, secrets) or nil
    local causes = {}
    for _, c in ipairs(type(err.errorCauses) == "table" and err.errorCauses or {}) do
      if type(c) == "table" and type(c.errorSummary) == "string" then
        causes[#causes + 1] = self._redact(c.errorSummary, secrets)
      end
    end
    info.causes = causes
    summary = (info.code and info.code .. ": " or "") .. (info.summary or "")
    if #causes > 0 then summary = summary .. " (" .. table.concat(causes, "; ") .. ")" end
  end
  if not summary or summary == "" then
    summary = body ~= "" and self._redact(body, secrets) or "no error details in the response"
  end
  local msg
  -- A redirect's body is the server's HTML; where it points is what matters.
  if status >= 300 and status < 400 and scrubbed.location then
    msg = ("HTTP %d redirect to %s (not followed)"):format(status, text.one_line(scrubbed.location, 400))
  else
    msg = ("HTTP %d %s"):format(status, text.one_line(summary, 400))
  end
  if info.request_id then msg = msg .. " (request " .. info.request_id .. ")" end
  return errors.fail("http", msg, info)
end

-- One exchange with the retries API.md describes. prepare() builds each
-- attempt's headers and body afresh (a DPoP proof or a client assertion is
-- single-use) and may fail with nil, message, info. Returns status, headers,
-- body, attempts, or nil, message, info. `repeatable` makes a POST retried
-- like an idempotent call: true when repeating it is harmless whatever the
-- server did with it; "unprocessed" when only an answer saying the server
-- did not act on it (503) may be followed by a repeat.
function Client:_exchange(method, url, prepare, secrets, repeatable)
  local transport = self._transport
  if not transport then error("attempt to use a closed client", 4) end
  local request = {
    method = method, url = url, timeout = self.timeout, connect_timeout = self.connect_timeout,
    max_body = self.max_body, ca_file = self.ca_file, proxy = self.proxy,
    user_agent = self.user_agent,
  }
  local idempotent = IDEMPOTENT[method] or repeatable == true
  local retry_headers = {}
  local attempt = 0
  while true do
    attempt = attempt + 1
    local headers, body, info = prepare()
    if not headers then
      info.attempts = attempt
      return nil, body, info
    end
    for _, h in ipairs(retry_headers) do headers[#headers + 1] = h end
    request.headers, request.body = headers, body
    local started = self.debug and transport:now()
    local answer, message, failure = transport:perform(request)
    if started then
      -- Method, URL, outcome and timing only: headers and bodies, where
      -- credentials travel, are never written.
      io.stderr:write(self._redact(("ssf: %s %s -> %s in %.1f ms (attempt %d)\n"):format(method, url,
        answer and tostring(answer.status) or (failure.kind .. ": " .. message),
        (transport:now() - started) * 1000, attempt), secrets))
    end
    if answer then
      local status, rheaders = answer.status, answer.headers
      local wait
      if attempt <= self.retries then
        if status == 429 then
          wait = rate_limit_wait(rheaders)
          wait = wait and math.min(wait, self.max_backoff)
        elseif (status == 503 or status == 504) and idempotent
            or status == 503 and repeatable == "unprocessed" then
          wait = backoff(self, attempt)
        end
      end
      if not wait then return status, rheaders, answer.body, attempt end
      if self.debug then io.stderr:write(("ssf: HTTP %d, waiting %.2f s to retry\n"):format(status, wait)) end
      -- Okta's retry headers say which rate-limited request this repeats.
      retry_headers = {}
      if status == 429 then
        if rheaders["x-okta-request-id"] then
          retry_headers[1] = "X-Okta-Retry-For: " .. rheaders["x-okta-request-id"]
        end
        retry_headers[#retry_headers + 1] = "X-Okta-Retry-Count: " .. attempt
      end
      transport:sleep(wait)
    else
      -- A POST that may have reached the server is never repeated, nor is
      -- what cannot succeed (a certificate that does not verify, a proxy
      -- refusing the tunnel).
      local kind = failure.kind
      local retry = not failure.final and attempt <= self.retries and (kind == "transport" or kind == "timeout")
        and (idempotent or not failure.reached)
      if not retry then
        return errors.fail(kind, text.one_line(self._redact(message, secrets), 400),
          { attempts = attempt, code = failure.code })
      end
      local wait = backoff(self, attempt)
      if self.debug then io.stderr:write(("ssf: %s, waiting %.2f s to retry\n"):format(kind, wait)) end
      transport:sleep(wait)
    end
  end
end

-- Sends one API request. Returns the decoded body (true when there is
-- none) and meta, or nil, message, info. `secrets` are extra strings (e.g.
-- an authorization_header being set) to scrub from anything the server
-- echoes back.
function Client:_send(method, path, query, body, secrets, extra_headers, anonymous)
  if secrets then self._remember(secrets) end
  local url = self.org .. path .. encode_query(query)
  local provider = not anonymous and self._auth
  local used -- the credential the last attempt carried, for provider:renew
  local function prepare()
    local headers = { "Accept: application/json" }
    if body then headers[#headers + 1] = "Content-Type: application/json" end
    if extra_headers then
      for _, h in ipairs(extra_headers) do headers[#headers + 1] = h end
    end
    if provider then
      local ok, msg, info = provider:sign(headers, method, url)
      if not ok then return nil, msg, info end
      used = msg
    end
    return headers, body
  end
  local status, rheaders, rbody, attempt = self:_exchange(method, url, prepare, secrets)
  -- One renewal for a 401: a new token, or the DPoP nonce asked for.
  if status == 401 and provider and provider:renew(rheaders, used) then
    status, rheaders, rbody, attempt = self:_exchange(method, url, prepare, secrets)
  end
  if not status then return nil, rheaders, rbody end

  local meta = { status = status, headers = rheaders, request_id = rheaders["x-okta-request-id"] }
  if status < 200 or status > 299 then
    return http_failure(self, status, rheaders, rbody, attempt, secrets)
  end
  if rbody == "" then return true, meta end
  if not is_json(rheaders["content-type"]) then
    return errors.fail("decode", ("expected a JSON response, got content type '%s'")
      :format(text.one_line(rheaders["content-type"] or "none", 100)),
      { status = status, request_id = meta.request_id })
  end
  local value, err = json.decode(rbody)
  if value == nil then
    return errors.fail("decode", "response is not valid JSON: " .. err,
      { status = status, request_id = meta.request_id })
  end
  return value, meta
end

return Client

-- Credentials for the SSF endpoints: a static bearer token, or OAuth 2.0
-- client credentials with private_key_jwt (optionally DPoP-bound), or a
-- refresh token with a client secret. A provider adds the Authorization
-- (and DPoP) headers to each attempt, fetching and caching tokens from
-- {org}/oauth2/v1/token, and decides whether a 401 is worth one renewal.
local errors = require "ssf.errors"
local json = require "ssf.json"
local jws = require "ssf.jws"
local secretfile = require "ssf.secretfile"
local tasks = require "ssf.tasks"
local text = require "ssf.text"

local auth = {}

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
-- How long before expires_in a cached token is replaced: a call must not
-- reach Okta with a token that expires on the way.
local EARLY = 30

local function form(fields)
  local parts = {}
  for _, kv in ipairs(fields) do
    if kv[2] ~= nil then parts[#parts + 1] = text.escape(kv[1]) .. "=" .. text.escape(kv[2]) end
  end
  return table.concat(parts, "&")
end

local function base64(s) -- standard alphabet with padding, for HTTP Basic
  local b = jws.lib().b64url_encode(s):gsub("[-_]", { ["-"] = "+", ["_"] = "/" })
  return b .. ("="):rep((4 - #b % 4) % 4)
end

-- WWW-Authenticate (resource) or the OAuth error body (token endpoint)
-- asking for a DPoP nonce.
local function wants_nonce(text)
  return text and text:find("use_dpop_nonce", 1, true) ~= nil
end

--- A ready access token; nothing to renew.
function auth.bearer(token)
  local header = "Authorization: Bearer " .. token -- built once, not per request
  return {
    sign = function(_, headers)
      headers[#headers + 1] = header
      return true
    end,
    renew = function() return false end,
    secrets = function() return { token } end,
  }
end

-- Shared by the OAuth grants: token cache, DPoP, and the token request.
-- grant() returns the form fields and extra headers of one token request;
-- each attempt builds a new one (an assertion's jti is single-use).
-- `repeatable` says when a token request may be sent again (see
-- Client:_exchange).
local function oauth(client, a, grant, repeatable)
  local self = {
    token = nil, token_type = nil, expires_at = 0,
    dpop = a.dpop == true, dpop_auto = a.dpop == "auto",
    token_nonce = nil, resource_nonce = nil,
    secret_list = {},
  }
  local token_url = client.org .. "/oauth2/v1/token"
  local dpop_key, dpop_header

  local function dpop_proof(htm, htu, nonce, token)
    if not dpop_key then
      -- One key per client, generated once: a proof then costs one ES256
      -- signature and no key parsing.
      dpop_key = jws.lib().generate_key("ES256")
      dpop_header = jws.encode_part { typ = "dpop+jwt", alg = "ES256", jwk = dpop_key:public_jwk() }
    end
    return jws.sign_encoded(dpop_key, dpop_header, {
      htm = htm, htu = htu:match("^[^?#]*"), iat = os.time(), jti = jws.random_id(),
      nonce = nonce, ath = token and jws.lib().b64url_encode(jws.lib().sha256(token)) or nil,
    })
  end

  local function fail(msg, info)
    info = info or {}
    return errors.fail("auth", client._redact("token request failed: " .. msg), info)
  end

  local function fetch()
    -- At most: one switch to DPoP, one nonce, and the request itself.
    for _ = 1, 3 do
      local status, rheaders, body, attempts = client:_exchange("POST", token_url, function()
        local fields, headers = grant()
        headers[#headers + 1] = "Accept: application/json"
        headers[#headers + 1] = "Content-Type: application/x-www-form-urlencoded"
        if self.dpop then headers[#headers + 1] = "DPoP: " .. dpop_proof("POST", token_url, self.token_nonce) end
        return headers, form(fields)
      end, nil, repeatable)
      if not status then
        return fail(rheaders, body)
      end
      local t = json.decode(body)
      if type(t) ~= "table" then t = {} end
      if status == 200 and type(t.access_token) == "string" and t.access_token ~= "" then
        self.token = t.access_token
        self.token_type = type(t.token_type) == "string" and t.token_type or "Bearer"
        local ttl = tonumber(t.expires_in) or 3600
        self.expires_at = os.time() + ttl - math.min(EARLY, ttl / 10)
        if type(t.refresh_token) == "string" and t.refresh_token ~= a.refresh_token then
          a.refresh_token = t.refresh_token
          local saved, serr = a.save_refresh and a.save_refresh(t.refresh_token)
          if a.save_refresh and not saved then
            return fail("the rotated refresh token could not be saved (" .. tostring(serr) ..
              "); it is kept in memory for this process only")
          end
        end
        return true
      end
      local err = type(t.error) == "string" and t.error or nil
      if err == "invalid_dpop_proof" and not self.dpop and self.dpop_auto then
        self.dpop = true
      elseif err == "use_dpop_nonce" and rheaders["dpop-nonce"] and self.token_nonce ~= rheaders["dpop-nonce"] then
        self.token_nonce = rheaders["dpop-nonce"]
      else
        local desc = type(t.error_description) == "string" and t.error_description or nil
        local msg = ("HTTP %d %s%s"):format(status, err or "error",
          desc and (": " .. desc) or (err and "" or " (no OAuth error in the response)"))
        if rheaders["x-okta-request-id"] then msg = msg .. " (request " .. rheaders["x-okta-request-id"] .. ")" end
        return fail(msg, { status = status, code = err, summary = desc and client._redact(desc),
                           request_id = rheaders["x-okta-request-id"], attempts = attempts })
      end
    end
    return fail("the token endpoint kept asking for another DPoP attempt")
  end

  -- Tasks that need a token while one is being fetched wait for that
  -- fetch and share its outcome instead of each fetching their own.
  local function fetch_shared()
    if self.fetching then return self.fetching.wait() end
    local ev = tasks.event()
    self.fetching = ev
    local done, ok, msg, info = pcall(fetch)
    self.fetching = nil
    if not done then
      ev.set(nil, "token request failed", { kind = "error" })
      error(ok, 0)
    end
    ev.set(ok, msg, info)
    return ok, msg, info
  end

  function self.sign(_, headers, method, url)
    if not self.token or os.time() >= self.expires_at then
      local ok, msg, info = fetch_shared()
      if not ok then return nil, msg, info end
    end
    headers[#headers + 1] = "Authorization: " .. self.token_type .. " " .. self.token
    if self.token_type:lower() == "dpop" then
      headers[#headers + 1] = "DPoP: " .. dpop_proof(method, url, self.resource_nonce, self.token)
    end
    return true, self.token
  end

  -- A 401 is renewed once: with the nonce the server asked for, or with a
  -- new token when the old one is expired or invalid. `used` is the token
  -- the rejected request carried (sign's second result): when concurrent
  -- tasks were all sent with it, only the first 401 fetches a new one.
  function self.renew(_, rheaders, used)
    local challenge = rheaders["www-authenticate"]
    if wants_nonce(challenge) and rheaders["dpop-nonce"] then
      self.resource_nonce = rheaders["dpop-nonce"]
      return true
    end
    if self.fetching then
      self.fetching.wait()
    elseif used == nil or used == self.token then
      self.token = nil
    end
    return true
  end

  function self.secrets()
    local out = {}
    for _, s in pairs { self.token, a.refresh_token, a.client_secret, a.assertion } do
      out[#out + 1] = s
    end
    return out
  end

  return self
end

--- Client credentials with a signed client assertion (RFC 7523), as
--- Okta's SDKs do it: iss = sub = client_id, aud = the token URL. Each
--- attempt has a new assertion and asks for a new token, so a request is
--- safe to repeat whatever became of the one before.
function auth.private_key_jwt(client, a, key)
  local header = jws.encode_part { typ = "JWT", alg = key:alg(), kid = a.key_id }
  local token_url = client.org .. "/oauth2/v1/token"
  return oauth(client, a, function()
    local now = os.time()
    local assertion = jws.sign_encoded(key, header, {
      iss = a.client_id, sub = a.client_id, aud = token_url,
      iat = now, exp = now + 300, jti = jws.random_id(),
    })
    a.assertion = assertion -- kept only to scrub it from error messages
    return {
      { "grant_type", "client_credentials" },
      { "scope", table.concat(a.scopes, " ") },
      { "client_assertion_type", ASSERTION_TYPE },
      { "client_assertion", assertion },
    }, {}
  end, true)
end

--- The OIDC web-app setup: a refresh token and a client secret. A rotated
--- refresh token replaces the old one in memory, in refresh_token_file
--- (rewritten atomically, mode 0600) and through on_refresh(token).
--- With rotation, a refresh request that reached the server may have used
--- the token up: it is repeated only after a 503 (the server did not act
--- on it), never after a timeout or a lost connection, where a repeat could
--- present a token the server has just replaced.
function auth.refresh_token(client, a)
  if a.refresh_token_file then
    local saved, err = secretfile.read(a.refresh_token_file)
    if saved and saved ~= "" then
      a.refresh_token = saved
    elseif not a.refresh_token or a.refresh_token == "" then
      return errors.fail("auth", "cannot read refresh_token_file: " .. (err or (a.refresh_token_file .. " is empty")))
    end
  end
  if a.refresh_token_file or a.on_refresh then
    local file, callback = a.refresh_token_file, a.on_refresh
    a.save_refresh = function(token)
      if file then
        local ok, err = secretfile.write(file, token)
        if not ok then return nil, err end
      end
      if callback then callback(token) end
      return true
    end
  end
  return oauth(client, a, function()
    local fields = {
      { "grant_type", "refresh_token" },
      { "refresh_token", a.refresh_token },
      { "scope", table.concat(a.scopes, " ") },
    }
    local headers = {}
    if a.client_auth == "post" then
      fields[#fields + 1] = { "client_id", a.client_id }
      fields[#fields + 1] = { "client_secret", a.client_secret }
    else
      headers[1] = "Authorization: Basic " .. base64(text.escape(a.client_id) .. ":" .. text.escape(a.client_secret))
    end
    return fields, headers
  end, "unprocessed")
end

--- The provider for resolved auth settings (see ssf.config), or nil,
--- message, {kind = "auth"} when a private key cannot be read or parsed.
function auth.provider(client, a)
  if a.type == "bearer" then return auth.bearer(a.token) end
  if a.type == "refresh_token" then return auth.refresh_token(client, a) end
  local pem = a.private_key
  if not pem then
    local f, err = io.open(a.key_file, "rb")
    if not f then return errors.fail("auth", "cannot read key_file: " .. err) end
    pem = f:read("a")
    f:close()
  elseif not pem:find("\n", 1, true) and pem:find("\\n", 1, true) then
    -- A PEM kept in a CI variable often has literal \n for its newlines.
    pem = pem:gsub("\\n", "\n")
  end
  local key, err = jws.lib().load_key(pem, a.passphrase)
  -- The parsed key lives in C; the PEM text and passphrase are let go.
  a.private_key, a.passphrase = nil, nil
  if not key then return errors.fail("auth", "cannot load the private key: " .. err) end
  return auth.private_key_jwt(client, a, key)
end

return auth

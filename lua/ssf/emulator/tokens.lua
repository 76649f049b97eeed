-- The org authorization server as far as an SSF client meets it: the token
-- endpoint (client_credentials with private_key_jwt, DPoP-bound when the
-- client sends a proof) and the check of access tokens on the SSF
-- endpoints (401 E0000011, 403 E0000006). Error descriptions follow the
-- ones Okta sends ("The client_assertion JWT kid is invalid.").
local E = require "ssf.emulator.okta_errors"
local compat = require "ssf.compat"
local form = require "ssf.emulator.form"
local ids = require "ssf.emulator.ids"
local json = require "ssf.json"
local jws = require "ssf.jws"

local tokens = {}
local Tokens = {}
Tokens.__index = Tokens

local jose = jws.lib()

tokens.PATH = "/oauth2/v1/token"
local JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local DEFAULT_SCOPES = { "ssf.read", "ssf.manage" }
local ALGS = { RS256 = "RSA", ES256 = "EC" }
local MAX_ASSERTION_LIFETIME = 3600
local CLOCK_SKEW = 5 -- how far in the future an assertion's iat may be
local DPOP_IAT_WINDOW = 60
-- A DPoP nonce serves this many seconds (windows aligned to the epoch);
-- then, as at Okta, a client's cached nonce goes stale and it is handed
-- a new one.
local NONCE_LIFETIME = 300
local DEFAULT_TTL = 3600
-- Bounds on what a flood of requests can make the server remember.
local MAX_ISSUED, MAX_JTIS = 10000, 100000
-- Token answers must not be cached (RFC 6749 §5.1).
local NO_STORE = { ["Cache-Control"] = "no-store", Pragma = "no-cache" }

local function is_object(v)
  return type(v) == "table" and not json.is_array(v)
end

local function nonempty(v)
  return type(v) == "string" and v ~= ""
end

---------------------------------------------------------------- bounded memory

-- Remembers keys until a deadline, oldest first; past `max` entries the
-- oldest go even if still live, so memory stays bounded under a flood.
local Expiring = {}
Expiring.__index = Expiring

local function expiring(max, now)
  return setmetatable({ max = max, now = now, values = {}, queue = {}, head = 1, size = 0 }, Expiring)
end

function Expiring:get(key)
  local e = self.values[key]
  if e and e.untl > self.now() then return e.value end
end

--- The value and deadline of key, even past the deadline (until forgotten).
function Expiring:entry(key)
  local e = self.values[key]
  if e then return e.value, e.untl end
end

function Expiring:put(key, value, untl)
  local now = self.now()
  while self.head <= #self.queue do
    local key0 = self.queue[self.head]
    local e = self.values[key0]
    if e and e.untl > now and self.size < self.max then break end
    self.queue[self.head] = nil
    self.head = self.head + 1
    if e then
      self.values[key0] = nil
      self.size = self.size - 1
    end
  end
  if self.head > 1024 and self.head > #self.queue / 2 then -- drop the spent front of the queue
    self.queue = compat.move(self.queue, self.head, #self.queue, 1, {})
    self.head = 1
  end
  if not self.values[key] then
    self.size = self.size + 1
    self.queue[#self.queue + 1] = key
  end
  self.values[key] = { value = value, untl = untl }
end

---------------------------------------------------------------- JWTs

-- {header, claims, input, signature} of a compact JWS, or nil.
local function decode(jwt)
  if type(jwt) ~= "string" then return nil end
  local h, p, s = jwt:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$")
  if not h then return nil end
  local header = json.decode(jose.b64url_decode(h) or "")
  local claims = json.decode(jose.b64url_decode(p) or "")
  local signature = jose.b64url_decode(s)
  if not (is_object(header) and is_object(claims) and signature) then return nil end
  return { header = header, claims = claims, input = h .. "." .. p, signature = signature }
end

local PRIVATE_MEMBERS = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" }

-- Whether jwk is a public key for alg.
local function public_key_for(jwk, alg)
  if not is_object(jwk) or ALGS[alg] == nil or jwk.kty ~= ALGS[alg] then return false end
  for _, m in ipairs(PRIVATE_MEMBERS) do
    if jwk[m] ~= nil then return false end
  end
  return true
end

--- The RFC 7638 thumbprint of a public JWK (RSA or EC), base64url.
function tokens.thumbprint(jwk)
  local members = jwk.kty == "EC"
    and ('{"crv":%s,"kty":"EC","x":%s,"y":%s}'):format(json.encode(jwk.crv), json.encode(jwk.x), json.encode(jwk.y))
    or ('{"e":%s,"kty":"RSA","n":%s}'):format(json.encode(jwk.e), json.encode(jwk.n))
  return jose.b64url_encode(jose.sha256(members))
end

-- scheme://host[:port]/path of a URL, scheme and host lower-cased: what
-- DPoP's htu is compared by (RFC 9449 §4.3). nil when it is not a URL.
local function htu_form(url)
  if type(url) ~= "string" or url:find("[?#]") then return nil end
  local scheme, host, path = url:match("^(%a[%w+.-]*)://([^/]+)(.*)$")
  if not scheme then return nil end
  scheme, host = scheme:lower(), host:lower()
  if (scheme == "http" and host:match(":80$")) or (scheme == "https" and host:match(":443$")) then
    host = host:gsub(":%d+$", "")
  end
  return scheme .. "://" .. host .. (path == "" and "/" or path)
end

---------------------------------------------------------------- the server

--- opts: org, now, clients ({client_id=, public_jwk=, scopes=?, dpop=?
--- ("optional" | "required"), resource_nonce=?}), bearer_tokens
--- ({[token] = {client_id=, scopes=}}), token_ttl (seconds).
function tokens.new(opts)
  local self = setmetatable({
    org = opts.org, now = opts.now,
    token_url = opts.org .. tokens.PATH,
    clients = {}, bearer = opts.bearer_tokens or {},
    ttl = opts.token_ttl or DEFAULT_TTL,
  }, Tokens)
  for _, c in ipairs(opts.clients or {}) do self.clients[c.client_id] = c end
  self.issued = expiring(MAX_ISSUED, opts.now)
  self.assertion_jtis = expiring(MAX_JTIS, opts.now)
  self.proof_jtis = expiring(MAX_JTIS, opts.now)
  return self
end

--- The DPoP nonce of the current window.
function Tokens:dpop_nonce()
  local window = math.floor(self.now() / NONCE_LIFETIME)
  if window ~= self.nonce_window then self.nonce_window, self.nonce = window, ids.token() end
  return self.nonce
end

local function oauth_error(status, err, description, headers)
  return { status = status, error = err, description = description, headers = headers }
end

local function invalid_client(description)
  return oauth_error(401, "invalid_client", description)
end

-- Checks a DPoP proof (RFC 9449 §4.3): returns the key's thumbprint, or
-- nil, description, use_nonce (true when only the nonce was wrong).
function Tokens:check_proof(proof, htm, htu, access_token, nonce)
  if proof == nil then return nil, "DPoP proof JWT header is missing." end
  local t = decode(proof)
  if not t then return nil, "DPoP proof JWT cannot be parsed." end
  local h, c = t.header, t.claims
  if h.typ ~= "dpop+jwt" then return nil, "'typ' header in the DPoP proof JWT is invalid." end
  if ALGS[h.alg] == nil then return nil, "'alg' header in the DPoP proof JWT is invalid." end
  if not public_key_for(h.jwk, h.alg) then return nil, "'jwk' header in the DPoP proof JWT is invalid." end
  if not jose.verify(h.jwk, h.alg, t.input, t.signature) then
    return nil, "DPoP proof JWT signature is invalid."
  end
  local function invalid(claim) return nil, ("'%s' claim in the DPoP proof JWT is invalid."):format(claim) end
  if not nonempty(c.jti) then return invalid("jti") end
  if c.htm ~= htm then return invalid("htm") end
  if htu_form(c.htu) ~= htu_form(htu) then return invalid("htu") end
  local now = self.now()
  if type(c.iat) ~= "number" or math.abs(c.iat - now) > DPOP_IAT_WINDOW then return invalid("iat") end
  if access_token and c.ath ~= jose.b64url_encode(jose.sha256(access_token)) then return invalid("ath") end
  -- A missing and a stale nonce get the same answer: here is the current one.
  if nonce and c.nonce ~= nonce then return nil, "nonce", true end
  if self.proof_jtis:get(c.jti) then return nil, "'jti' claim in the DPoP proof JWT has already been used." end
  self.proof_jtis:put(c.jti, true, c.iat + DPOP_IAT_WINDOW + 1)
  return tokens.thumbprint(h.jwk)
end

-- The client a private_key_jwt assertion authenticates, or nil, oauth error.
function Tokens:check_assertion(f)
  if f.client_assertion_type ~= JWT_BEARER then
    return nil, oauth_error(400, "invalid_request", ("The 'client_assertion_type' parameter must be %s."):format(JWT_BEARER))
  end
  local t = decode(f.client_assertion)
  if not t then return nil, invalid_client("The client_assertion token is malformed.") end
  local unknown = invalid_client("Invalid value for 'client_id' parameter.")
  local client_id = t.claims.sub
  if type(client_id) ~= "string" or (f.client_id ~= nil and f.client_id ~= client_id) then return nil, unknown end
  local client = self.clients[client_id]
  if not client then return nil, unknown end
  local jwk = client.public_jwk
  -- With a kid, it must name the client's key.
  if t.header.kid ~= nil and t.header.kid ~= jwk.kid then
    return nil, invalid_client("The client_assertion JWT kid is invalid.")
  end
  if not public_key_for(jwk, t.header.alg) or not jose.verify(jwk, t.header.alg, t.input, t.signature) then
    return nil, invalid_client("The client_assertion signature is invalid.")
  end
  local c, now = t.claims, self.now()
  if c.iss ~= client_id or c.sub ~= client_id then
    return nil, invalid_client("The client_assertion token's 'iss' and 'sub' claims must both be the client_id.")
  end
  local aud_ok = c.aud == self.token_url
  if json.is_array(c.aud) then
    for _, a in ipairs(c.aud) do aud_ok = aud_ok or a == self.token_url end
  end
  if not aud_ok then
    return nil, invalid_client("The audience claim for client_assertion must be the endpoint invoked for the request.")
  end
  if type(c.exp) ~= "number" then return nil, invalid_client("The client_assertion token must contain an 'exp' claim.") end
  if type(c.iat) ~= "number" then return nil, invalid_client("The client_assertion token must contain an 'iat' claim.") end
  if c.exp <= now then return nil, invalid_client("The client_assertion token is expired.") end
  if c.iat > now + CLOCK_SKEW then return nil, invalid_client("The client_assertion token was issued in the future.") end
  if c.exp - c.iat > MAX_ASSERTION_LIFETIME then
    return nil, invalid_client("The client_assertion token has an expiration too far into the future.")
  end
  if not nonempty(c.jti) then return nil, invalid_client("The client_assertion token must contain a 'jti' claim.") end
  local key = client_id .. "\n" .. c.jti
  if self.assertion_jtis:get(key) then
    return nil, invalid_client("The client_assertion token's 'jti' has already been used.")
  end
  self.assertion_jtis:put(key, true, c.exp)
  return client
end

-- The scopes to grant: each requested one must be allowed.
local function granted_scopes(param, allowed)
  local requested, seen = {}, {}
  for s in (param or ""):gmatch("%S+") do
    if not seen[s] then
      seen[s] = true
      requested[#requested + 1] = s
    end
  end
  if #requested == 0 then return nil, oauth_error(400, "invalid_scope", "The 'scope' parameter is required.") end
  local refused = {}
  for _, s in ipairs(requested) do
    local ok = false
    for _, a in ipairs(allowed) do ok = ok or a == s end
    if not ok then refused[#refused + 1] = s end
  end
  if #refused > 0 then
    return nil, oauth_error(400, "invalid_scope", ("The following requested scopes are not allowed for this client: %s.")
      :format(table.concat(refused, ", ")))
  end
  return requested
end

-- The grant itself: the issued token's answer, or nil, oauth error.
function Tokens:grant(req)
  local ctype = (req.headers["content-type"] or ""):match("^[^;]*"):gsub("%s", ""):lower()
  if ctype ~= "application/x-www-form-urlencoded" then
    return nil, oauth_error(400, "invalid_request", "The request must be sent as application/x-www-form-urlencoded.")
  end
  local f, twice = form.parse(req.body)
  if not f then
    return nil, oauth_error(400, "invalid_request", ("The '%s' parameter was specified more than once."):format(twice))
  end
  if f.grant_type == nil then return nil, oauth_error(400, "invalid_request", "The 'grant_type' parameter is required.") end
  if f.grant_type ~= "client_credentials" then
    return nil, oauth_error(400, "unsupported_grant_type",
      "The authorization grant type is not supported by the authorization server.")
  end
  local others = f.client_secret ~= nil or (req.headers.authorization or ""):match("^[Bb][Aa][Ss][Ii][Cc]%s") ~= nil
  if f.client_assertion == nil and f.client_assertion_type == nil then
    return nil, invalid_client(others
      and "Client Credentials requests to the Org Authorization Server must use the private_key_jwt token_endpoint_auth_method."
      or "Client authentication failed: no client credentials were sent.")
  end
  if others then
    return nil, oauth_error(400, "invalid_request", "Cannot supply multiple client credentials. Use one of the following: "
      .. "credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.")
  end
  local client, err = self:check_assertion(f)
  if not client then return nil, err end
  local scopes
  scopes, err = granted_scopes(f.scope, client.scopes or DEFAULT_SCOPES)
  if not scopes then return nil, err end

  -- DPoP when the client sends a proof, or always for a client that
  -- requires it; at the token endpoint the proof must carry the nonce.
  local proof, jkt = req.headers.dpop, nil
  if proof ~= nil or client.dpop == "required" then
    local why, use_nonce
    local nonce = self:dpop_nonce()
    jkt, why, use_nonce = self:check_proof(proof, "POST", self.token_url, nil, nonce)
    if use_nonce then
      return nil, oauth_error(400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.",
        { ["DPoP-Nonce"] = nonce })
    end
    if not jkt then return nil, oauth_error(400, "invalid_dpop_proof", why) end
  end

  local token = ids.token()
  self.issued:put(token, { client_id = client.client_id, scopes = scopes, jkt = jkt,
                           resource_nonce = client.resource_nonce }, self.now() + self.ttl)
  return {
    token_type = jkt and "DPoP" or "Bearer", expires_in = self.ttl,
    access_token = token, scope = table.concat(scopes, " "),
  }
end

--- POST /oauth2/v1/token: status, body (a table), headers.
function Tokens:token(req)
  local answer, err = self:grant(req)
  local headers = {}
  for k, v in pairs(NO_STORE) do headers[k] = v end
  if answer then return 200, answer, headers end
  for k, v in pairs(err.headers or {}) do headers[k] = v end
  return err.status, { error = err.error, error_description = err.description }, headers
end

---------------------------------------------------------------- the resource side

local function credential(value)
  local scheme, token = (value or ""):match("^(%a+) +(%S+) *$")
  scheme = scheme and scheme:lower()
  if scheme ~= "bearer" and scheme ~= "dpop" then return nil end
  return scheme, token
end

--- The client id an Authorization header names, without checking it (for
--- rate-limit buckets), or nil.
function Tokens:client_of(authorization)
  local _, token = credential(authorization)
  if not token then return nil end
  local p = self.bearer[token] or self.issued:get(token)
  return p and p.client_id
end

--- Whether the request may use a route that needs `scope`: the principal
--- {client_id=, scopes=}, or nil and the Okta error (401 with Okta's
--- WWW-Authenticate, or 403 for a missing scope).
function Tokens:authorize(req, scope)
  local org, path = self.org, req.path
  local params = ('authorization_uri="%s/oauth2/v1/authorize", realm="%s", scope="%s"'):format(org, org, scope)
  local function detail(err, description)
    return (', error="%s", error_description="%s", resource="%s"'):format(err, description, path)
  end
  local dpop_scheme = 'DPoP algs="RS256 ES256", ' .. params
  local function bearer_fail(err, description) return E.invalid_token("Bearer " .. params .. detail(err, description)) end
  local function dpop_fail(err, description, headers)
    return E.invalid_token(dpop_scheme .. detail(err, description), headers)
  end

  local scheme, token = credential(req.headers.authorization)
  if not scheme then return nil, E.invalid_token("Bearer " .. params) end
  local static = scheme == "bearer" and self.bearer[token] or nil
  local issued, expires
  if not static then issued, expires = self.issued:entry(token) end
  local fail = scheme == "dpop" and dpop_fail or bearer_fail
  if not static and not issued then return nil, fail("invalid_token", "The access token is invalid.") end
  local bound = issued and issued.jkt
  if issued and expires <= self.now() then
    return nil, (bound and dpop_fail or bearer_fail)("invalid_token", "The access token is expired.")
  end
  local principal = static or issued
  if not bound and scheme == "dpop" then return nil, dpop_fail("invalid_token", "The access token is not DPoP-bound.") end
  if bound then
    if scheme ~= "dpop" then
      return nil, dpop_fail("invalid_dpop_proof", "A DPoP-bound access token must be sent with the DPoP scheme.")
    end
    local nonce = principal.resource_nonce and self:dpop_nonce() or nil
    local jkt, why, use_nonce = self:check_proof(req.headers.dpop, req.method, org .. path, token, nonce)
    if use_nonce then
      return nil, dpop_fail("use_dpop_nonce", "Resource server requires nonce in DPoP proof.", { ["DPoP-Nonce"] = nonce })
    end
    if not jkt then return nil, dpop_fail("invalid_dpop_proof", why) end
    if jkt ~= bound then
      return nil, dpop_fail("invalid_dpop_proof", "The DPoP proof JWT 'jwk' does not match the access token.")
    end
  end
  local has = false
  for _, s in ipairs(principal.scopes or {}) do has = has or s == scope end
  if not has then
    return nil, E.access_denied((bound and dpop_scheme or "Bearer " .. params)
      .. detail("insufficient_scope", "The access token provided does not contain the required scopes."))
  end
  return principal
end

return tokens

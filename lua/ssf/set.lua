-- Security Event Tokens (RFC 8417) as SSF profiles them: decode without
-- checks, or verify signature, key, issuer, audience, age and shape.
-- Rejections are nil, message, {kind = "set", err = <RFC 8935 code>}; the
-- message says why in one line and quotes sender-chosen values only after
-- stripping control bytes and cutting them short. When the keys cannot be
-- had (the JWKS or metadata endpoint is down), info.temporary is true: the
-- SET may be valid, and a receiver should have it sent again.
--
-- libcrypto (ssf.jose) and libcurl (ssf.http) are loaded on first use, so
-- `require "ssf"` stays cheap.
local Client = require "ssf.client"
local config = require "ssf.config"
local errors = require "ssf.errors"
local json = require "ssf.json"

local set = {}

-- A SET is a few hundred bytes to a few KiB; anything far larger is refused
-- before any decoding work.
local MAX_TOKEN = 64 * 1024

-- What each accepted alg needs as kty. Everything else is refused,
-- including "none" and the HMAC algs: with an RSA or EC public key, HS*
-- would let anyone who knows that public key forge SETs.
local KEY_TYPE = { RS256 = "RSA", RS384 = "RSA", RS512 = "RSA", PS256 = "RSA", ES256 = "EC" }

local DEFAULTS = { max_age = 300, skew = 60 }

-- Fetched JWKS are kept this long; a refetch after it drops keys the
-- transmitter has since withdrawn.
local JWKS_TTL = 3600
local FETCH = { timeout = 10, connect_timeout = 5, max_body = 256 * 1024 }
local URL_CACHE_MAX = 32

local jose
local function crypto()
  if not jose then jose = require "ssf.jose" end
  return jose
end

local function reject(err, message)
  return errors.fail("set", message, { err = err })
end

local function unavailable(err, message)
  return errors.fail("set", message, { err = err, temporary = true })
end

-- A sender-chosen value, fit for a one-line message.
local function show(v)
  if v == nil then return "none" end
  if v == json.null then return "null" end
  if type(v) == "number" then return ("%.14g"):format(v) end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then return json.is_array(v) and "a JSON array" or "a JSON object" end
  local s = v:gsub("[%c\128-\255]", "?")
  if #s > 64 then s = s:sub(1, 61) .. "..." end
  return '"' .. s .. '"'
end

-- What json.array marks decoded arrays with, compared here directly: this
-- test runs several times for every SET a receiver takes.
local ARRAY = getmetatable(json.array())

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= ARRAY
end

local function json_object(part, what)
  local text, plain = crypto().b64url_json(part)
  if not text then return nil, what .. " is not valid base64url" end
  local v = (plain and json._decode_plain or json.decode)(text)
  if not is_object(v) then return nil, what .. " is not a JSON object" end
  return v
end

-- The decoded JOSE headers of recent SETs, by their base64url text: a
-- transmitter signs every SET with the same few headers, and decoding one
-- cost as much as decoding the claims. Bounded: past HEADERS_MAX it starts
-- over; headers longer than HEADER_MAX are not kept. Each SET gets a copy
-- of its own, which the script may change.
local headers, header_count = {}, 0
local HEADERS_MAX, HEADER_MAX = 16, 512

local function decode_header(h)
  local kept = headers[h]
  if kept then return json.copy(kept) end
  local header, msg = json_object(h, "the JOSE header")
  if header and #h <= HEADER_MAX then
    if header_count >= HEADERS_MAX then headers, header_count = {}, 0 end
    headers[h], header_count = json.copy(header), header_count + 1
  end
  return header, msg
end

-- Splits a compact JWS and decodes its parts; nil, message if it is not one.
-- With `proved` (ssf.receiver's threads proved a signature over these very
-- bytes, so it is valid base64url), the signature and the signing input
-- are left for signature_of: with the proof they are seldom needed.
local function parse(jwt, proved)
  if #jwt > MAX_TOKEN then
    return nil, ("the SET is %d bytes, more than the %d accepted"):format(#jwt, MAX_TOKEN)
  end
  -- Plain finds, not a pattern: a pattern tests every byte of the token
  -- against a class, which cost more than the rest of the split.
  local d1 = jwt:find(".", 1, true)
  local d2 = d1 and jwt:find(".", d1 + 1, true)
  if not d2 or jwt:find(".", d2 + 1, true) then
    if select(2, jwt:gsub("%.", "")) == 4 then
      return nil, "the SET is encrypted (JWE), which is not supported"
    end
    return nil, "the SET is not a JWT (three base64url parts separated by dots)"
  end
  local header, msg = decode_header(jwt:sub(1, d1 - 1))
  if not header then return nil, msg end
  local claims
  claims, msg = json_object(jwt:sub(d1 + 1, d2 - 1), "the claims")
  if not claims then return nil, msg end
  local t = { header = header, claims = claims, jwt = jwt, last_dot = d2 }
  if not proved then
    t.signature = crypto().b64url_decode(jwt:sub(d2 + 1))
    if not t.signature then return nil, "the signature is not valid base64url" end
  end
  return t
end

-- The signing input and the decoded signature of a parsed JWS.
local function signature_of(t)
  local jwt, d2 = t.jwt, t.last_dot
  return jwt:sub(1, d2 - 1), t.signature or crypto().b64url_decode(jwt:sub(d2 + 1))
end

--- ssf.set.decode(jwt) -> {header=, claims=, events=}: no signature or
--- claim checks. Not a JWT: nil, message, {kind = "set", err = "invalid_request"}.
function set.decode(jwt)
  if type(jwt) ~= "string" then
    error(("bad argument #1 to 'decode' (string expected, got %s)"):format(type(jwt)), 2)
  end
  local t, msg = parse(jwt)
  if not t then return reject("invalid_request", msg) end
  return { header = t.header, claims = t.claims, events = t.claims.events }
end

---------------------------------------------------------------- key sources

-- Checks a key source's URL; nil, message when it cannot be used.
local function check_url(url, what)
  local http = require "ssf.http"
  local u, err = http.parse_url(url)
  if not u then return nil, ("the %s URL is not valid (%s)"):format(what, err) end
  -- Not echoed: the URL holds credentials.
  if u.userinfo then return nil, ("the %s URL must not contain a user name or password"):format(what) end
  if u.scheme ~= "https" and not (u.scheme == "http" and config.is_loopback(u.host)) then
    return nil, ("the %s URL must use https (plain http only for loopback hosts): %s"):format(what, url)
  end
  return true
end

-- GETs a public JSON document (a JWKS or the transmitter metadata), with
-- the client's transport settings when there is one; returns the decoded
-- body. On failure: nil, message, and true when it may pass (no answer,
-- 408, 429, 5xx).
local function fetch_json(url, client, what, accept)
  local ok, err = check_url(url, what)
  if not ok then return nil, err end
  -- Through the transport: nginx's inside an nginx worker (the worker
  -- keeps serving), and inside a task the others run meanwhile.
  local transport, terr = require("ssf.transport").new()
  if not transport then return nil, terr end
  local answer, failure = transport:perform {
    url = url,
    headers = { "Accept: " .. accept },
    timeout = client and math.min(client.timeout, FETCH.timeout) or FETCH.timeout,
    connect_timeout = client and math.min(client.connect_timeout, FETCH.connect_timeout)
      or FETCH.connect_timeout,
    max_body = FETCH.max_body,
    ca_file = client and client.ca_file, proxy = client and client.proxy,
    user_agent = client and client.user_agent,
  }
  transport:close()
  if not answer then
    return nil, ("cannot fetch the %s from %s: %s"):format(what, url, errors.redact(failure)), true
  end
  local status, body = answer.status, answer.body
  if status ~= 200 then
    return nil, ("the %s endpoint %s answered HTTP %d"):format(what, url, status),
      status == 408 or status == 429 or status >= 500
  end
  -- false for a body that is not JSON: the caller says what was expected.
  return json.decode(body) or false
end

local function fetch_jwks(url, client)
  local jwks, err, temporary = fetch_json(url, client, "JWKS", "application/jwk-set+json, application/json")
  if jwks == nil then return nil, err, temporary end
  if not is_object(jwks) or type(jwks.keys) ~= "table" then
    return nil, ("the JWKS from %s is not a JSON object with a keys array"):format(url)
  end
  return jwks
end

-- Per client: the metadata's issuer and jwks_uri, and the last JWKS fetched.
-- Weak keys: a client that is dropped takes its cache with it.
local client_cache = setmetatable({}, { __mode = "k" })
-- Per metadata URL: the same, for sources that need no credentials.
local metadata_cache = {}
-- Per URL: the last JWKS fetched.
local url_cache, url_count = {}, 0

local function fresh(entry)
  return entry and entry.jwks and os.time() - entry.at < JWKS_TTL
end

-- A key source: keys(refetch) returns the JWKS (from the cache unless
-- refetch is true or it expired) and whether it was fetched just now;
-- on failure nil, message, and whether the failure may pass.
-- A key source that reads the transmitter metadata (issuer, jwks_uri) with
-- get_metadata() and caches it in cache[key].
local function metadata_source(cache, key, get_metadata, client)
  local src = { refreshable = true }
  function src.keys(refetch)
    local c = cache[key]
    if not c then
      local meta, msg, temporary = get_metadata()
      if not meta then return nil, "cannot read the transmitter metadata: " .. msg, temporary end
      if type(meta.jwks_uri) ~= "string" then
        return nil, "the transmitter metadata has no jwks_uri"
      end
      c = { jwks_uri = meta.jwks_uri, issuer = type(meta.issuer) == "string" and meta.issuer or nil }
      cache[key] = c
    end
    src.issuer = c.issuer
    if not refetch and fresh(c) then return c.jwks, false end
    local jwks, msg, temporary = fetch_jwks(c.jwks_uri, client)
    if not jwks then return nil, msg, temporary end
    c.jwks, c.at = jwks, os.time()
    return jwks, true
  end
  return src
end

local function client_source(client)
  return metadata_source(client_cache, client, function() return client:metadata() end, client)
end

-- The metadata document at url, read without credentials (it is public).
local function public_metadata_source(url)
  return metadata_source(metadata_cache, url, function()
    local meta, err, temporary = fetch_json(url, nil, "transmitter metadata", "application/json")
    if meta == nil then return nil, err, temporary end
    if not is_object(meta) then return nil, "it is not a JSON object" end
    return meta
  end)
end

local function url_source(url)
  local src = { refreshable = true }
  function src.keys(refetch)
    local c = url_cache[url]
    if not refetch and fresh(c) then return c.jwks, false end
    local jwks, msg, temporary = fetch_jwks(url)
    if not jwks then return nil, msg, temporary end
    if not c then
      -- Bounded: a program that verifies against ever new URLs starts over.
      if url_count >= URL_CACHE_MAX then url_cache, url_count = {}, 0 end
      url_count = url_count + 1
    end
    url_cache[url] = { jwks = jwks, at = os.time() }
    return jwks, true
  end
  return src
end

local function table_source(jwks)
  return { keys = function() return jwks, false end }
end

---------------------------------------------------------------- options

local function opt_error(msg)
  error("bad argument #2 to 'verify' (" .. msg .. ")", 4)
end



local OPTIONS = { jwks = true, metadata = true, issuer = true, audience = true, max_age = true, skew = true }

local function check_options(opts)
  if type(opts) ~= "table" then opt_error("options table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then opt_error("unknown option '" .. tostring(k) .. "'") end
  end
  local jwks, src = opts.jwks, nil
  if opts.metadata ~= nil then
    if jwks ~= nil then opt_error("give opts.jwks or opts.metadata, not both") end
    if type(opts.metadata) ~= "string" then opt_error("opts.metadata must be the transmitter metadata URL") end
    src = public_metadata_source(opts.metadata)
  elseif getmetatable(jwks) == Client then
    src = client_source(jwks)
  elseif type(jwks) == "string" then
    src = url_source(jwks)
  elseif type(jwks) == "table" and type(jwks.keys) == "table" then
    src = table_source(jwks)
  else
    opt_error("opts.jwks must be an ssf client, a JWKS URL or a JWKS table {keys = {...}}")
  end
  if opts.issuer ~= nil and (type(opts.issuer) ~= "string" or opts.issuer == "") then
    opt_error("opts.issuer must be a non-empty string")
  end
  if opts.issuer == nil and getmetatable(jwks) ~= Client and opts.metadata == nil then
    opt_error("opts.issuer is required unless opts.jwks is a client or opts.metadata is given")
  end
  -- aud is checked when an audience is configured (SSF leaves it to the
  -- receiver; a receiver that knows its audience should give it).
  local aud = opts.audience
  if type(aud) == "string" then aud = { aud } end
  if aud ~= nil and (type(aud) ~= "table" or #aud == 0) then
    opt_error("opts.audience must be a string or a non-empty list of strings")
  end
  local wanted = aud and {}
  for _, a in ipairs(aud or {}) do
    if type(a) ~= "string" then opt_error("opts.audience must hold only strings") end
    wanted[a] = true
  end
  local limits = {}
  for k, default in pairs(DEFAULTS) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v < 0 or v ~= v) then
      opt_error("opts." .. k .. " must be a non-negative number of seconds")
    end
    limits[k] = v or default
  end
  return src, wanted, limits
end

---------------------------------------------------------------- checks

-- The media type "secevent+jwt", compared without regard to case and with
-- or without its "application/" prefix, as RFC 7515 §4.1.9 and RFC 8725
-- §3.11 describe typ.
local function typ_ok(typ)
  if typ == "secevent+jwt" then return true end
  if type(typ) ~= "string" then return false end
  typ = typ:lower()
  return typ == "secevent+jwt" or typ == "application/secevent+jwt"
end

-- The key the header names: by kid, or the only key when it names none.
-- Returns key or nil, message.
local function find_key(jwks, alg, kid)
  local keys = jwks.keys
  if kid == nil then
    if #keys == 1 and type(keys[1]) == "table" then return keys[1] end
    return nil, ("the SET has no kid and the JWKS has %d keys"):format(#keys)
  end
  local first
  for _, k in ipairs(keys) do
    if type(k) == "table" and k.kid == kid then
      if k.kty == KEY_TYPE[alg] then return k end
      first = first or k
    end
  end
  if first then return first end
  return nil, ("no key with kid %s in the JWKS"):format(show(kid))
end

local function key_name(key)
  return key.kid and "key " .. show(key.kid) or "the key"
end

local function key_usable(key, alg)
  if key.use ~= nil and key.use ~= "sig" then
    return nil, ("%s is for use %s, not sig"):format(key_name(key), show(key.use))
  end
  if key.alg ~= nil and key.alg ~= alg then
    return nil, ("%s is for alg %s, not %s"):format(key_name(key), show(key.alg), alg)
  end
  return true
end

-- Checks the header and the signature. Returns nothing on success, else the
-- rejection triple. src.keys is called again, refetching, at most once.
-- proof (ssf.receiver's): proof.jwks gets the JWKS used; when proof.key is
-- the very key table picked here and proof.alg the header's alg, the
-- signature was already checked with that key's numbers (on the
-- receiver's verification threads) and is not checked again.
local function check_signature(t, src, proof)
  local header = t.header
  if not typ_ok(header.typ) then
    return reject("invalid_request", ("typ is %s, not secevent+jwt"):format(show(header.typ)))
  end
  if header.crit ~= nil then
    return reject("invalid_request", "the header has crit, and no extension is supported")
  end
  local alg = header.alg
  if not KEY_TYPE[alg] then
    return reject("invalid_key", ("alg %s is not accepted (RS256, RS384, RS512, PS256 or ES256)")
      :format(show(alg)))
  end
  local kid = header.kid
  if kid ~= nil and type(kid) ~= "string" then
    return reject("invalid_key", "kid is " .. show(kid) .. ", not a string")
  end
  local jwks, fetched, temporary = src.keys(false)
  if not jwks then return (temporary and unavailable or reject)("invalid_key", fetched) end
  if proof then proof.jwks = jwks end
  local key, msg = find_key(jwks, alg, kid)
  -- A kid never seen may be a key the transmitter has just rotated in.
  if not key and src.refreshable and not fetched then
    jwks, fetched, temporary = src.keys(true)
    if not jwks then return (temporary and unavailable or reject)("invalid_key", fetched) end
    if proof then proof.jwks = jwks end
    key, msg = find_key(jwks, alg, kid)
  end
  if not key then return reject("invalid_key", msg) end
  local ok
  ok, msg = key_usable(key, alg)
  if not ok then return reject("invalid_key", msg) end
  if proof and proof.key == key and proof.alg == alg then return end
  local input, signature = signature_of(t)
  if not signature then return reject("invalid_request", "the signature is not valid base64url") end
  ok, msg = crypto().verify(key, alg, input, signature)
  if not ok then
    return reject("invalid_key", msg .. (kid and " (key " .. show(kid) .. ")" or ""))
  end
end

-- wanted: the configured audiences as a set (check_options).
local function audience_ok(aud, wanted)
  if type(aud) == "string" then return wanted[aud] == true end
  if getmetatable(aud) ~= ARRAY then return false end
  for _, a in ipairs(aud) do
    if type(a) == "string" and wanted[a] then return true end
  end
  return false
end

-- The one event: its type URI and payload, or nil, message.
local function the_event(events)
  if not is_object(events) then return nil, "events is missing or not a JSON object" end
  local n, event_type, event = 0, nil, nil
  for k, v in pairs(events) do
    n, event_type, event = n + 1, k, v
  end
  if n ~= 1 then return nil, ("events has %d members; an SSF SET carries exactly one"):format(n) end
  if not is_object(event) then return nil, "the event payload is not a JSON object" end
  return event_type, event
end

-- Checks the claims once the signature holds; returns the verified SET or
-- the rejection triple.
local function check_claims(t, issuer, audience, limits)
  local claims = t.claims
  if issuer == nil then
    return reject("invalid_issuer", "the transmitter metadata has no issuer to compare iss with")
  end
  if claims.iss ~= issuer then
    return reject("invalid_issuer", ("iss is %s, not %s"):format(show(claims.iss), show(issuer)))
  end
  if audience and not audience_ok(claims.aud, audience) then
    return reject("invalid_audience", ("aud %s does not name this receiver")
      :format(type(claims.aud) == "string" and show(claims.aud) or "(a list)"))
  end
  local iat, now = claims.iat, os.time()
  if type(iat) ~= "number" then
    return reject("invalid_request", "iat is " .. show(iat) .. ", not a number")
  end
  if iat > now + limits.skew then
    return reject("invalid_request", ("iat is %.0f s in the future"):format(iat - now))
  end
  if now - iat > limits.max_age then
    return reject("invalid_request", ("the SET was issued %.0f s ago; max_age is %g s")
      :format(now - iat, limits.max_age))
  end
  if claims.exp ~= nil then
    return reject("invalid_request", "the SET has exp, which SSF forbids")
  end
  if type(claims.jti) ~= "string" or claims.jti == "" then
    return reject("invalid_request", "jti is " .. show(claims.jti) .. ", not a non-empty string")
  end
  local event_type, event = the_event(claims.events)
  if not event_type then return reject("invalid_request", event) end
  -- SSF puts the subject in sub_id; Okta and older CAEP/RISC transmitters
  -- put it in the event.
  local subject = claims.sub_id
  if subject == nil then subject = event.subject end
  if not is_object(subject) then
    return reject("invalid_request", "the SET has no subject (sub_id or the event's subject)")
  end
  return {
    header = t.header, claims = claims, events = claims.events,
    event_type = event_type, event = event, subject = subject,
  }
end

--- ssf.set.check(opts) -> true | false, message: whether verify would
--- accept these options.
function set.check(opts)
  local ok, err = pcall(check_options, opts)
  if ok then return true end
  return false, (tostring(err):gsub("^.-bad argument #2 to 'verify' %((.*)%)$", "%1"))
end

-- Verifies jwt with options check_options has read.
local function verify_checked(jwt, issuer, src, audience, limits, proof)
  local t, msg = parse(jwt, proof ~= nil and proof.key ~= nil)
  if not t then return reject("invalid_request", msg) end
  local _, err, info = check_signature(t, src, proof)
  if err then return nil, err, info end
  return check_claims(t, issuer or src.issuer, audience, limits)
end

--- ssf.set.verify(jwt, opts): see API.md and README.md.
function set.verify(jwt, opts)
  if type(jwt) ~= "string" then
    error(("bad argument #1 to 'verify' (string expected, got %s)"):format(type(jwt)), 2)
  end
  local src, audience, limits = check_options(opts)
  return verify_checked(jwt, opts.issuer, src, audience, limits)
end

-- ssf.receiver's: opts read once, for a receiver's every SET (it keeps its
-- own copy of them, unchanged), and a function(jwt, proof) that verifies
-- with a proof (see check_signature). Raises as verify on bad options.
-- Not API.
function set._prover(opts)
  local src, audience, limits = check_options(opts)
  local issuer = opts.issuer
  return function(jwt, proof)
    return verify_checked(jwt, issuer, src, audience, limits, proof)
  end
end

return set

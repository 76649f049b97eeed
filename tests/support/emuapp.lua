-- Drives the emulator's logic (ssf.emulator.routes) request by request,
-- with no sockets: an app on a clock the spec moves, crafted requests, and
-- the client side of OAuth (assertions, DPoP proofs) signed with ssf.jose.
local ssf = require "ssf"
local jose = require "ssf.jose"
local json = require "ssf.json"
local jws = require "ssf.jws"
local routes = require "ssf.emulator.routes"

local emuapp = {}

emuapp.ORG = "http://127.0.0.1:9"
emuapp.TOKEN_URL = emuapp.ORG .. "/oauth2/v1/token"
emuapp.RX = "https://receiver.example.com/events"
emuapp.CLIENT = "0oaEmuClient1"
-- In a claims override: leave this claim out.
emuapp.REMOVE = {}

-- Keys are generated once per spec file, by name. RSA generation and
-- signing are slow under valgrind, so only the transmitter's key (SETs are
-- RS256) is RSA unless a spec asks for another.
local ALGS = { signing = "RS256" }
local keys = {}
function emuapp.key(name, alg)
  if not keys[name] then keys[name] = jose.generate_key(alg or ALGS[name] or "ES256") end
  return keys[name]
end

--- The clock every app made here reads; specs move it.
emuapp.clock = { t = os.time() }

--- A new app: the cfg members in `over` replace the defaults (a private_key_jwt
--- client, bearer tokens rw / ro / none of client A and rwb of client B).
function emuapp.new(over)
  local cfg = {
    org = emuapp.ORG,
    signing_key = emuapp.key("signing"):private_pem(),
    signing_kid = "emu-key-1",
    now = function() return emuapp.clock.t end,
    clients = { { client_id = emuapp.CLIENT, public_jwk = emuapp.key("client"):public_jwk() } },
    bearer_tokens = {
      rw = { client_id = "0oaA", scopes = { "ssf.read", "ssf.manage" } },
      ro = { client_id = "0oaA", scopes = { "ssf.read" } },
      rwb = { client_id = "0oaB", scopes = { "ssf.read", "ssf.manage" } },
      none = { client_id = "0oaC", scopes = {} },
    },
  }
  for k, v in pairs(over or {}) do cfg[k] = v end
  return routes.new(cfg)
end

--- app:handle on a request from method, path and opts {token= (Bearer),
--- auth= (the whole Authorization value), dpop=, query=, json= (a table,
--- encoded), body=, headers=}: status, headers, decoded body (nil when
--- empty), raw body.
function emuapp.call(app, method, path, opts)
  opts = opts or {}
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if opts.token then headers.authorization = "Bearer " .. opts.token end
  if opts.auth then headers.authorization = opts.auth end
  if opts.dpop then headers.dpop = opts.dpop end
  local body = opts.body or ""
  if opts.json then
    body = json.encode(opts.json)
    headers["content-type"] = headers["content-type"] or "application/json"
  end
  local status, rheaders, rbody = app:handle { id = 1, method = method, path = path, query = opts.query,
                                               headers = headers, body = body, remote = "127.0.0.1" }
  assert(type(rbody) == "string", "handle must answer a string body")
  return status, rheaders, rbody ~= "" and assert(json.decode(rbody)) or nil, rbody
end

local function apply(t, over)
  for k, v in pairs(over or {}) do
    if v == emuapp.REMOVE then t[k] = nil else t[k] = v end
  end
  return t
end

--- A stream creation body; `over` replaces (or with REMOVE, drops) members.
function emuapp.stream_body(over)
  return apply({
    delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX, authorization_header = "Bearer rx-secret-canary" },
    events_requested = ssf.array { ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE },
    format = "iss_sub",
  }, over)
end

--- A client assertion (RFC 7523) for the client, signed with `key`;
--- `claims` and `header` override members.
function emuapp.assertion(key, claims, header)
  local t = emuapp.clock.t
  local c = apply({ iss = emuapp.CLIENT, sub = emuapp.CLIENT, aud = emuapp.TOKEN_URL,
                    iat = t, exp = t + 300, jti = jws.random_id() }, claims)
  local h = apply({ typ = "JWT", alg = key:alg() }, header)
  return jws.sign_encoded(key, jws.encode_part(h), c)
end

--- A DPoP proof by `key` for htm and htu; opts {nonce=, token= (for ath),
--- claims=, header=} override.
function emuapp.proof(key, htm, htu, opts)
  opts = opts or {}
  local c = apply({ htm = htm, htu = htu, iat = emuapp.clock.t, jti = jws.random_id(), nonce = opts.nonce,
                    ath = opts.token and jose.b64url_encode(jose.sha256(opts.token)) or nil }, opts.claims)
  local h = apply({ typ = "dpop+jwt", alg = key:alg(), jwk = key:public_jwk() }, opts.header)
  return jws.sign_encoded(key, jws.encode_part(h), c)
end

--- POST /oauth2/v1/token with the given form fields (a list of {name,
--- value}; defaults: client_credentials with `assertion` and both ssf scopes).
function emuapp.token_request(app, assertion, opts)
  opts = opts or {}
  local fields = opts.fields or {
    { "grant_type", "client_credentials" },
    { "scope", opts.scope or "ssf.read ssf.manage" },
    { "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
    { "client_assertion", assertion },
  }
  local parts = {}
  for _, kv in ipairs(fields) do parts[#parts + 1] = kv[1] .. "=" .. require("ssf.text").escape(kv[2]) end
  return emuapp.call(app, "POST", "/oauth2/v1/token", {
    headers = { ["content-type"] = opts.content_type or "application/x-www-form-urlencoded" },
    dpop = opts.dpop, body = table.concat(parts, "&"),
  })
end

--- The app's JWKS as its /oauth2/v1/keys serves it.
function emuapp.jwks(app)
  local status, _, body = emuapp.call(app, "GET", "/oauth2/v1/keys")
  assert(status == 200)
  return body
end

return emuapp

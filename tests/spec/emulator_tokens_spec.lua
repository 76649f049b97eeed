-- The emulator's token endpoint and the check of issued tokens
-- (ssf.emulator.tokens), through app:handle: client_credentials with
-- private_key_jwt (signature, iss/sub, aud, exp, jti replay), scopes, DPoP
-- (nonce, binding, proofs on the SSF calls), and Okta's OAuth error form.
-- One assertion is signed by npm jose (tests/fake/jose-peer.mjs), which
-- shares no code with ssf.jose.
local ssf = require "ssf"
local emuapp = require "emuapp"
local fake = require "fake"

local call = emuapp.call
local REMOVE = emuapp.REMOVE
local STREAM = "/api/v1/ssf/stream"

local function oauth_error(status, body, want_status, err)
  assert.are.equal(want_status, status)
  assert.are.equal(err, body.error)
  assert.is_string(body.error_description)
end

-- A token for the client, from a fresh assertion: the token response.
local function token(app, opts)
  local status, headers, body = emuapp.token_request(app, emuapp.assertion(emuapp.key("client")), opts)
  assert.are.equal(200, status, body and body.error_description)
  assert.are.equal("no-store", headers["Cache-Control"])
  return body
end

describe("the token endpoint", function()
  local app, client_key
  before_each(function()
    app = emuapp.new()
    client_key = emuapp.key("client")
  end)

  it("issues a Bearer token for a valid private_key_jwt assertion", function()
    local t = token(app)
    assert.are.equal("Bearer", t.token_type)
    assert.are.equal(3600, t.expires_in)
    assert.are.equal("ssf.read ssf.manage", t.scope)
    assert.matches("^[%w_-]+$", t.access_token)
    assert.is_true(#t.access_token >= 40)
    local status = call(app, "GET", STREAM, { token = t.access_token })
    assert.are.equal(200, status)
    -- The stream belongs to the token's client id.
    status = call(app, "POST", STREAM, { token = t.access_token, json = emuapp.stream_body() })
    assert.are.equal(201, status)
    assert.are.equal(1, #app.store:all())
    assert.are.equal(emuapp.CLIENT, app.store:all()[1].client_id)
  end)

  it("takes RS256 assertions as well as ES256 ones", function()
    assert.are.equal("ES256", client_key:alg())
    -- Any RSA key will do; the transmitter's saves generating another.
    local rsa = emuapp.key("signing")
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = rsa:public_jwk() } } }
    assert.are.equal(200, (emuapp.token_request(app, emuapp.assertion(rsa))))
    -- The alg must fit the key.
    local status, _, body = emuapp.token_request(app, emuapp.assertion(client_key))
    oauth_error(status, body, 401, "invalid_client")
  end)

  it("takes an assertion signed by npm jose with the client's registered key", function()
    local t = emuapp.clock.t
    local peer = fake.jose_peer {
      keys = { { name = "c1", alg = "RS256", kid = "c1" } },
      sets = { { key = "c1", header = { typ = "JWT" }, claims = {
        iss = emuapp.CLIENT, sub = emuapp.CLIENT, aud = emuapp.TOKEN_URL, iat = t, exp = t + 300, jti = "peer-1" } } },
    }
    local jwk = peer.public.c1
    jwk.use, jwk.alg = nil, nil
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = jwk } } }
    local status, _, body = emuapp.token_request(app, peer.sets[1])
    assert.are.equal(200, status)
    assert.are.equal("Bearer", body.token_type)
  end)

  it("refuses assertions Okta refuses: 401 invalid_client", function()
    local cases = {
      ["The audience claim"] = { aud = emuapp.ORG .. "/oauth2/default/v1/token" },
      ["is expired"] = { exp = emuapp.clock.t - 1 },
      ["too far into the future"] = { exp = emuapp.clock.t + 3601 },
      ["issued in the future"] = { iat = emuapp.clock.t + 60 },
      ["'exp' claim"] = { exp = REMOVE },
      ["'iat' claim"] = { iat = REMOVE },
      ["'jti' claim"] = { jti = REMOVE },
      ["'iss' and 'sub'"] = { iss = "0oaSomeoneElse" },
      ["'client_id' parameter"] = { sub = "0oaUnknown", iss = "0oaUnknown" },
    }
    for want, claims in pairs(cases) do
      local status, _, body = emuapp.token_request(app, emuapp.assertion(client_key, claims))
      oauth_error(status, body, 401, "invalid_client")
      assert.matches(want, body.error_description, 1, true)
    end
    -- An audience list that names the token URL is fine.
    local status = emuapp.token_request(app, emuapp.assertion(client_key,
      { aud = ssf.array { "https://other.example.com", emuapp.TOKEN_URL } }))
    assert.are.equal(200, status)
  end)

  it("checks the signature against the client's public key", function()
    local status, _, body = emuapp.token_request(app, emuapp.assertion(emuapp.key("stranger")))
    oauth_error(status, body, 401, "invalid_client")
    assert.matches("signature is invalid", body.error_description)
    -- A forged signature on genuine claims.
    local good = emuapp.assertion(client_key)
    local forged = good:gsub("%.[^.]+$", "." .. ("A"):rep(86))
    status, _, body = emuapp.token_request(app, forged)
    oauth_error(status, body, 401, "invalid_client")
    -- alg none, and HS256 keyed with public data.
    status, _, body = emuapp.token_request(app, emuapp.assertion(client_key, nil, { alg = "none" }))
    oauth_error(status, body, 401, "invalid_client")
    status, _, body = emuapp.token_request(app, "not.a-jwt")
    oauth_error(status, body, 401, "invalid_client")
    assert.matches("malformed", body.error_description)
  end)

  it("refuses a kid that does not name the client's key", function()
    local jwk = client_key:public_jwk()
    jwk.kid = "key-1"
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = jwk } } }
    local status, _, body = emuapp.token_request(app, emuapp.assertion(client_key, nil, { kid = "key-2" }))
    oauth_error(status, body, 401, "invalid_client")
    assert.matches("kid is invalid", body.error_description)
    assert.are.equal(200, (emuapp.token_request(app, emuapp.assertion(client_key, nil, { kid = "key-1" }))))
  end)

  it("rejects a replayed assertion jti", function()
    local assertion = emuapp.assertion(client_key)
    assert.are.equal(200, (emuapp.token_request(app, assertion)))
    local status, _, body = emuapp.token_request(app, assertion)
    oauth_error(status, body, 401, "invalid_client")
    assert.matches("already been used", body.error_description)
    -- Another client may use the same jti value.
    local other = emuapp.key("stranger")
    app.tokens.clients["0oaOther"] = { client_id = "0oaOther", public_jwk = other:public_jwk() }
    local jti = "shared-jti"
    assert.are.equal(200, (emuapp.token_request(app, emuapp.assertion(client_key, { jti = jti }))))
    assert.are.equal(200, (emuapp.token_request(app, emuapp.assertion(other,
      { jti = jti, iss = "0oaOther", sub = "0oaOther" }))))
  end)

  it("grants only the scopes the client is allowed: 400 invalid_scope", function()
    local status, _, body = emuapp.token_request(app, emuapp.assertion(client_key), { scope = "ssf.read okta.users.read" })
    oauth_error(status, body, 400, "invalid_scope")
    assert.matches("okta.users.read", body.error_description)
    status, _, body = emuapp.token_request(app, emuapp.assertion(client_key), { fields = {
      { "grant_type", "client_credentials" },
      { "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
      { "client_assertion", emuapp.assertion(client_key) } } })
    oauth_error(status, body, 400, "invalid_scope")
    -- A read-only client gets read-only tokens, which cannot write.
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = client_key:public_jwk(),
                                     scopes = { "ssf.read" } } } }
    status, _, body = emuapp.token_request(app, emuapp.assertion(client_key))
    oauth_error(status, body, 400, "invalid_scope")
    local t = token(app, { scope = "ssf.read" })
    assert.are.equal("ssf.read", t.scope)
    status, _, body = call(app, "POST", STREAM, { token = t.access_token, json = emuapp.stream_body() })
    assert.are.equal(403, status)
    assert.are.equal("E0000006", body.errorCode)
  end)

  it("answers malformed requests in the OAuth error form", function()
    local a = emuapp.assertion(client_key)
    local status, _, body = emuapp.token_request(app, a, { fields = { { "grant_type", "password" } } })
    oauth_error(status, body, 400, "unsupported_grant_type")
    status, _, body = emuapp.token_request(app, a, { fields = { { "scope", "ssf.read" } } })
    oauth_error(status, body, 400, "invalid_request")
    status, _, body = emuapp.token_request(app, a, { content_type = "application/json" })
    oauth_error(status, body, 400, "invalid_request")
    status, _, body = emuapp.token_request(app, a, { fields = {
      { "grant_type", "client_credentials" }, { "grant_type", "client_credentials" } } })
    oauth_error(status, body, 400, "invalid_request")
    assert.matches("more than once", body.error_description)
    -- A client secret is not how the org authorization server takes client_credentials.
    status, _, body = emuapp.token_request(app, a, { fields = {
      { "grant_type", "client_credentials" }, { "scope", "ssf.read" },
      { "client_id", emuapp.CLIENT }, { "client_secret", "s3cret-value" } } })
    oauth_error(status, body, 401, "invalid_client")
    assert.matches("private_key_jwt", body.error_description)
    -- Nor may it come with an assertion.
    status, _, body = emuapp.token_request(app, a, { fields = {
      { "grant_type", "client_credentials" }, { "scope", "ssf.read" }, { "client_secret", "s3cret-value" },
      { "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" }, { "client_assertion", a } } })
    oauth_error(status, body, 400, "invalid_request")
    assert.matches("multiple client credentials", body.error_description)
    status, _, body = emuapp.token_request(app, a, { fields = {
      { "grant_type", "client_credentials" }, { "client_assertion_type", "urn:other" },
      { "client_assertion", a }, { "scope", "ssf.read" } } })
    oauth_error(status, body, 400, "invalid_request")
    -- No assertion, no secret or key text ever comes back.
    assert.not_matches(a:sub(-40), select(4, emuapp.token_request(app, a, { fields = {
      { "grant_type", "client_credentials" }, { "client_assertion", a } } })), 1, true)
  end)

  it("lets issued tokens expire", function()
    app = emuapp.new { token_ttl = 60 }
    local t = token(app)
    assert.are.equal(60, t.expires_in)
    local t0 = emuapp.clock.t
    emuapp.clock.t = t0 + 59
    assert.are.equal(200, (call(app, "GET", STREAM, { token = t.access_token })))
    emuapp.clock.t = t0 + 60
    local status, headers, body = call(app, "GET", STREAM, { token = t.access_token })
    emuapp.clock.t = t0
    assert.are.equal(401, status)
    assert.are.equal("E0000011", body.errorCode)
    assert.matches("expired", headers["WWW-Authenticate"])
  end)
end)

describe("DPoP", function()
  local app, client_key, dpop_key
  before_each(function()
    app = emuapp.new()
    client_key = emuapp.key("client")
    dpop_key = emuapp.key("dpop", "ES256")
  end)

  -- A DPoP-bound token, after the use_dpop_nonce round Okta demands.
  local function dpop_token()
    local status, headers, body = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.TOKEN_URL) })
    oauth_error(status, body, 400, "use_dpop_nonce")
    local nonce = headers["DPoP-Nonce"]
    assert.is_string(nonce)
    status, _, body = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.TOKEN_URL, { nonce = nonce }) })
    assert.are.equal(200, status)
    assert.are.equal("DPoP", body.token_type)
    return body.access_token, nonce
  end

  local function resource(tok, proof_opts, method, path)
    method, path = method or "GET", path or STREAM
    proof_opts = proof_opts or {}
    if proof_opts.token == nil then proof_opts.token = tok end
    local key = proof_opts.key or dpop_key
    return call(app, method, path, { auth = "DPoP " .. tok,
      dpop = emuapp.proof(key, proof_opts.htm or method, proof_opts.htu or emuapp.ORG .. path, proof_opts) })
  end

  it("binds the token to the proof's key, after a nonce round", function()
    local tok = dpop_token()
    assert.are.equal(200, (resource(tok)))
    assert.are.equal(201, (call(app, "POST", STREAM, { auth = "DPoP " .. tok, json = emuapp.stream_body(),
      dpop = emuapp.proof(dpop_key, "POST", emuapp.ORG .. STREAM, { token = tok }) })))
  end)

  it("refuses a bound token without its proof, or as a Bearer token", function()
    local tok = dpop_token()
    local status, headers, body = call(app, "GET", STREAM, { auth = "DPoP " .. tok })
    assert.are.equal(401, status)
    assert.are.equal("E0000011", body.errorCode)
    assert.matches("^DPoP ", headers["WWW-Authenticate"])
    assert.matches("invalid_dpop_proof", headers["WWW-Authenticate"])
    status = call(app, "GET", STREAM, { token = tok })
    assert.are.equal(401, status)
    -- Even with a good proof, a bound token is not a Bearer token.
    status, headers = call(app, "GET", STREAM, { token = tok,
      dpop = emuapp.proof(dpop_key, "GET", emuapp.ORG .. STREAM, { token = tok }) })
    assert.are.equal(401, status)
    assert.matches("must be sent with the DPoP scheme", headers["WWW-Authenticate"])
    -- And a Bearer token sent with the DPoP scheme.
    local bearer = token(app).access_token
    status, headers = resource(bearer)
    assert.are.equal(401, status)
    assert.matches("not DPoP%-bound", headers["WWW-Authenticate"])
  end)

  it("checks every part of the proof on the SSF calls", function()
    local tok = dpop_token()
    local cases = {
      { { htm = "POST" }, "'htm'" },
      { { htu = emuapp.ORG .. "/api/v1/ssf/stream/status" }, "'htu'" },
      { { claims = { iat = emuapp.clock.t - 120 } }, "'iat'" },
      { { token = "another-token" }, "'ath'" },
      { { claims = { jti = REMOVE } }, "'jti'" },
      { { header = { typ = "JWT" } }, "'typ'" },
      { { header = { jwk = REMOVE } }, "'jwk'" },
      { { key = emuapp.key("dpop2", "ES256") }, "does not match the access token" },
    }
    for i, c in ipairs(cases) do
      local status, headers = resource(tok, c[1])
      assert.are.equal(401, status, "case " .. i)
      assert.matches(c[2], headers["WWW-Authenticate"], 1, true)
    end
    -- A proof signed by another key than the one it carries.
    local proof = emuapp.proof(dpop_key, "GET", emuapp.ORG .. STREAM, { token = tok })
    local other = emuapp.proof(emuapp.key("dpop2", "ES256"), "GET", emuapp.ORG .. STREAM, { token = tok })
    local spliced = proof:match("^[^.]+%.[^.]+") .. other:match("%.[^.]+$")
    local status, headers = call(app, "GET", STREAM, { auth = "DPoP " .. tok, dpop = spliced })
    assert.are.equal(401, status)
    assert.matches("signature is invalid", headers["WWW-Authenticate"])
    -- The htu is compared without the query, case of scheme and host aside.
    assert.are.equal(200, (resource(tok, { htu = "HTTP://127.0.0.1:9" .. STREAM })))
  end)

  it("refuses a replayed proof", function()
    local tok = dpop_token()
    local proof = emuapp.proof(dpop_key, "GET", emuapp.ORG .. STREAM, { token = tok })
    assert.are.equal(200, (call(app, "GET", STREAM, { auth = "DPoP " .. tok, dpop = proof })))
    local status, headers = call(app, "GET", STREAM, { auth = "DPoP " .. tok, dpop = proof })
    assert.are.equal(401, status)
    assert.matches("already been used", headers["WWW-Authenticate"])
  end)

  it("checks the proof at the token endpoint, nonce included", function()
    local status, headers, body = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.ORG .. "/oauth2/v1/keys") })
    oauth_error(status, body, 400, "invalid_dpop_proof")
    assert.matches("'htu'", body.error_description)
    status, headers, body = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.TOKEN_URL, { nonce = "stale" }) })
    oauth_error(status, body, 400, "use_dpop_nonce")
    local nonce = headers["DPoP-Nonce"]
    -- Nonces go stale after five minutes.
    local t0 = emuapp.clock.t
    emuapp.clock.t = (math.floor(t0 / 300) + 1) * 300
    status, headers, body = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.TOKEN_URL, { nonce = nonce }) })
    oauth_error(status, body, 400, "use_dpop_nonce")
    assert.are_not.equal(nonce, headers["DPoP-Nonce"])
    status = emuapp.token_request(app, emuapp.assertion(client_key),
      { dpop = emuapp.proof(dpop_key, "POST", emuapp.TOKEN_URL, { nonce = headers["DPoP-Nonce"] }) })
    emuapp.clock.t = t0
    assert.are.equal(200, status)
  end)

  it("demands a proof from a client that requires DPoP", function()
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = client_key:public_jwk(), dpop = "required" } } }
    local status, _, body = emuapp.token_request(app, emuapp.assertion(client_key))
    oauth_error(status, body, 400, "invalid_dpop_proof")
    dpop_token()
  end)

  it("asks for a nonce on the SSF calls of a client configured so", function()
    app = emuapp.new { clients = { { client_id = emuapp.CLIENT, public_jwk = client_key:public_jwk(),
                                     resource_nonce = true } } }
    local tok, nonce = dpop_token()
    local status, headers = resource(tok)
    assert.are.equal(401, status)
    assert.matches("use_dpop_nonce", headers["WWW-Authenticate"])
    assert.are.equal(nonce, headers["DPoP-Nonce"])
    assert.are.equal(200, (resource(tok, { nonce = nonce })))
  end)
end)

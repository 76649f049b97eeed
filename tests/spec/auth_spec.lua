-- OAuth for machines against the fake's authorization server, whose token
-- endpoint checks assertions and DPoP proofs with npm jose.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local keys = require "keys"

local E = ssf.events

local function cfg()
  return { delivery = { method = ssf.PUSH, endpoint_url = "https://receiver.example.com/events" },
           events_requested = { E.SESSION_REVOKED } }
end

describe("OAuth", function()
  local f, dir, rsa, ec, rsa2, enc
  local PASS = "pass-CANARY-5b7"

  setup(function()
    f = fake.start()
    dir = env.tmpdir()
    rsa = keys.make(dir, "rsa", "rsa.pem")
    ec = keys.make(dir, "ec", "ec.pem")
    rsa2 = keys.make(dir, "rsa", "other.pem")
    enc = keys.make(dir, "rsa", "enc.pem", PASS)
  end)
  teardown(function()
    f:stop()
    env.rmdir(dir)
  end)
  before_each(function() f:reset() end)

  local function register(client_id, key_path, o)
    o = o or {}
    f:call("POST", "clients", {
      client_id = client_id, jwks = { keys = { keys.jwk(key_path, o.kid or "k1", o.passphrase) } },
      scopes = o.scopes or { "ssf.read", "ssf.manage" }, dpop = o.dpop or "off",
      token_ttl = o.ttl, resource_nonce = o.resource_nonce,
    })
  end

  local function client(client_id, key_path, a, opts)
    local auth = { type = "private_key_jwt", client_id = client_id, key_file = key_path, key_id = "k1" }
    for k, v in pairs(a or {}) do auth[k] = v end
    local o = { org = f.url, auth = auth, retries = 0 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return ssf.client(o)
  end

  local function token_requests() return f:call("GET", "token_requests") end

  -- The requests to the SSF endpoints (the log also holds token requests).
  local function api_requests()
    local out = {}
    for _, r in ipairs(f:requests()) do
      if r.path:find("^/api/") then out[#out + 1] = r end
    end
    return out
  end

  local function lifecycle(c)
    local s = assert(c:create_stream(cfg()))
    assert.are.equal(1, #assert(c:streams()))
    local got = assert(c:stream(s.stream_id))
    got.delivery.endpoint_url = "https://receiver.example.com/v2"
    assert(c:update_stream(got))
    assert(c:replace_stream(got))
    assert.are.equal("enabled", assert(c:stream_status(s.stream_id)).status)
    assert.is_true(c:verify_stream(s.stream_id, "st"))
    assert.is_true(c:delete_stream(s.stream_id))
    return 8
  end

  for _, case in ipairs { { "RS256", "rsa" }, { "ES256", "ec" } } do
    local alg, which = case[1], case[2]

    it(alg .. ": runs the lifecycle on one cached token", function()
      local path = which == "rsa" and rsa or ec
      register("0oa" .. alg, path)
      local c = assert(client("0oa" .. alg, path))
      lifecycle(c)
      c:close()
      local tr = token_requests()
      assert.are.equal(1, #tr)
      assert.are.equal(200, tr[1].status)
      assert.are.equal("client_credentials", tr[1].grant_type)
      assert.are.equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", tr[1].client_assertion_type)
      assert.are.equal("ssf.read ssf.manage", tr[1].scope)
      local a = tr[1].assertion
      assert.are.equal(alg, a.header.alg)
      assert.are.equal("k1", a.header.kid)
      assert.are.equal("0oa" .. alg, a.claims.iss)
      assert.are.equal(a.claims.iss, a.claims.sub)
      assert.are.equal(f.url .. "/oauth2/v1/token", a.claims.aud)
      assert.is_true(a.claims.exp > a.claims.iat)
    end)

    it(alg .. ": follows the server into DPoP (auto) and binds every call", function()
      local path = which == "rsa" and rsa or ec
      register("0oadpop" .. alg, path, { dpop = "required" })
      local c = assert(client("0oadpop" .. alg, path))
      lifecycle(c)
      c:close()
      local tr = token_requests()
      -- invalid_dpop_proof, then use_dpop_nonce, then the token.
      assert.are.equal(3, #tr)
      assert.are.same({ "invalid_dpop_proof", "use_dpop_nonce" }, { tr[1].error, tr[2].error })
      assert.are.equal("DPoP", tr[3].token_type)
      local jtis = {}
      for _, t in ipairs(tr) do
        assert.is_nil(jtis[t.assertion.claims.jti], "an assertion was reused")
        jtis[t.assertion.claims.jti] = true
      end
      for _, r in ipairs(api_requests()) do
        assert.matches("^DPoP ", r.headers.authorization)
        assert.is_string(r.headers.dpop)
      end
    end)
  end

  it("sends proofs from the start with dpop = true, and none with dpop = false", function()
    register("0oaeager", ec, { dpop = "optional" })
    local c = assert(client("0oaeager", ec, { dpop = true }))
    assert(c:streams())
    c:close()
    local tr = token_requests()
    assert.is_true(tr[1].dpop)
    f:reset()
    register("0oastrict", ec, { dpop = "required" })
    local c2 = assert(client("0oastrict", ec, { dpop = false }))
    local v, msg, info = c2:streams()
    c2:close()
    assert.is_nil(v)
    assert.are.equal("auth", info.kind)
    assert.are.equal("invalid_dpop_proof", info.code)
    assert.matches("invalid_dpop_proof", msg)
  end)

  it("answers a resource server's use_dpop_nonce with one retry", function()
    register("0oarn", ec, { dpop = "required", resource_nonce = true })
    local c = assert(client("0oarn", ec))
    assert(c:streams())
    assert(c:streams())
    c:close()
    local seen = api_requests()
    assert.are.equal(401, seen[1].status)
    assert.are.equal(200, seen[2].status)
    assert.are.equal(200, seen[3].status)
  end)

  it("fetches a new token when a call is refused for an expired token, and retries once", function()
    register("0oaexp", rsa)
    local c = assert(client("0oaexp", rsa))
    assert(c:streams())
    f:faults { { match = { method = "GET" }, status = 401,
                 headers = { ["WWW-Authenticate"] = 'Bearer error="invalid_token", error_description="The access token is expired."' },
                 body = { errorCode = "E0000011", errorSummary = "Invalid token provided" } } }
    assert(c:streams())
    c:close()
    assert.are.equal(2, #token_requests())
  end)

  it("fetches a new token once the old one expires", function()
    register("0oattl", rsa, { ttl = 1 })
    local c = assert(client("0oattl", rsa))
    assert(c:streams())
    require("ssf.http").sleep(1.1)
    assert(c:streams())
    c:close()
    local tr = token_requests()
    assert.are.equal(2, #tr)
    for _, r in ipairs(api_requests()) do assert.are.equal(200, r.status) end
  end)

  it("reads an encrypted key with its passphrase", function()
    register("0oaenc", enc, { passphrase = PASS })
    local c = assert(client("0oaenc", enc, { passphrase = PASS }))
    assert(c:streams())
    c:close()
  end)

  describe("failures of kind auth", function()
    local function fails(c, code)
      local v, msg, info = c:streams()
      c:close()
      assert.is_nil(v)
      assert.are.equal("auth", info.kind, msg)
      if code then assert.are.equal(code, info.code, msg) end
      return msg, info
    end

    it("wrong key", function()
      register("0oawk", rsa)
      fails(assert(client("0oawk", rsa2)), "invalid_client")
    end)

    it("wrong kid", function()
      f:call("POST", "clients", { client_id = "0oakid", scopes = { "ssf.read" },
        jwks = { keys = { keys.jwk(rsa, "k1"), keys.jwk(rsa2, "k2") } } })
      fails(assert(client("0oakid", rsa, { key_id = "nope", scopes = { "ssf.read" } })), "invalid_client")
    end)

    it("unknown client", function()
      fails(assert(client("0oanobody", rsa)), "invalid_client")
    end)

    it("a scope the client may not have (invalid_scope)", function()
      register("0oasc", rsa, { scopes = { "ssf.read" } })
      fails(assert(client("0oasc", rsa)), "invalid_scope")
    end)

    it("an unreadable key file, and an encrypted key without its passphrase", function()
      local c, msg, info = client("0oa1", dir .. "/missing.pem")
      assert.is_nil(c)
      assert.are.equal("auth", info.kind)
      assert.matches("cannot read key_file", msg)
      c, msg, info = client("0oa1", enc)
      assert.is_nil(c)
      assert.are.equal("auth", info.kind)
      assert.matches("encrypted and no passphrase", msg)
    end)
  end)

  it("gets 403 from the SSF endpoint for a token without ssf.manage", function()
    register("0oaro", rsa, { scopes = { "ssf.read" } })
    local c = assert(client("0oaro", rsa, { scopes = { "ssf.read" } }))
    assert(c:streams())
    local v, _, info = c:create_stream(cfg())
    c:close()
    assert.is_nil(v)
    assert.are.equal("http", info.kind)
    assert.are.equal(403, info.status)
    assert.are.equal("E0000006", info.code)
  end)

  describe("refresh_token", function()
    for _, how in ipairs { "basic", "post" } do
      it("authenticates with client_secret_" .. how .. " and keeps the rotated refresh token", function()
        f:call("POST", "clients", { client_id = "0oaweb", client_secret = "sec-CANARY-0c4d",
          refresh_token = "rt-CANARY-first", scopes = { "ssf.read", "ssf.manage" } })
        local c = assert(ssf.client { org = f.url, retries = 0, auth = { type = "refresh_token",
          client_id = "0oaweb", client_secret = "sec-CANARY-0c4d", refresh_token = "rt-CANARY-first",
          client_auth = how } })
        assert(c:streams())
        -- Force a second refresh: it must use the rotated token.
        f:faults { { match = { method = "GET" }, status = 401,
                     body = { errorCode = "E0000011", errorSummary = "Invalid token provided" } } }
        assert(c:streams())
        c:close()
        local tr = token_requests()
        assert.are.equal(2, #tr)
        assert.are.equal("client_secret_" .. how, tr[1].client_auth)
        assert.are.equal(200, tr[2].status)
      end)
    end
  end)

  it("never shows a secret, key or assertion, even in debug output and on failures", function()
    register("0oacanary", rsa)
    local script = ([[
      local ssf = require "ssf"
      local out = {}
      local function try(auth)
        local c, msg, info = ssf.client { org = %q, auth = auth, retries = 0, debug = true }
        if c then local _; _, msg, info = c:streams() c:close() end
        out[#out + 1] = tostring(msg) .. " " .. ssf.json.encode(info or {})
      end
      try { type = "private_key_jwt", client_id = "0oacanary", key_file = %q, key_id = "k1" }
      try { type = "private_key_jwt", client_id = "0oacanary", key_file = %q, key_id = "k1" }
      try { type = "private_key_jwt", client_id = "0oacanary", private_key = io.open(%q):read("a"), key_id = "zz" }
      try { type = "private_key_jwt", client_id = "0oacanary", key_file = %q, passphrase = "wrong-CANARY" }
      try { type = "refresh_token", client_id = "0oaweb", client_secret = "sec-CANARY-1", refresh_token = "rt-CANARY-2" }
      print(table.concat(out, "\n"))
      error("a traceback after all that")
    ]]):format(f.url, rsa, rsa2, rsa2, enc)
    local _, out, err = env.ssflua("-e " .. env.q(script))
    local all = out .. err
    assert.matches("a traceback after all that", all)
    assert.matches("ssf: POST " .. f.url:gsub("%p", "%%%0") .. "/oauth2/v1/token", err)
    assert.is_nil(all:find("CANARY", 1, true), all)
    assert.is_nil(all:find("PRIVATE KEY", 1, true), all)
    assert.is_nil(all:find("eyJ", 1, true), all) -- no JWT: assertion, proof or token
    assert.is_nil(all:find(env.read(rsa2):match("\n(.-)\n"), 1, true))
  end)

  it("runs the lifecycle with only OKTA_CLIENT_* set, through private_key_jwt with DPoP", function()
    register("0oaenv", ec, { dpop = "required" })
    local script = [[
      local ssf = require "ssf"
      local c = assert(ssf.client())
      local s = assert(c:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://r.example.com/x" },
                                         events_requested = { ssf.events.SESSION_REVOKED } })
      assert(c:stream(s.stream_id)); assert(c:stream_status(s.stream_id))
      assert(c:verify_stream(s.stream_id)); assert(c:delete_stream(s.stream_id))
      print("lifecycle ok")
    ]]
    local code, out, err = env.ssflua("-e " .. env.q(script), {
      OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_AUTHORIZATIONMODE = "PrivateKey",
      OKTA_CLIENT_CLIENTID = "0oaenv", OKTA_CLIENT_PRIVATEKEY = ec, OKTA_CLIENT_KEYID = "k1",
      OKTA_CLIENT_SCOPES = "ssf.read,ssf.manage", HOME = dir })
    assert.are.equal(0, code, err)
    assert.are.equal("lifecycle ok\n", out)
    local tr = token_requests()
    assert.are.equal("DPoP", tr[#tr].token_type)
  end)
  describe("refresh tokens across processes", function()
    -- Each process lists the streams with only the environment to go on.
    local function run_once(file)
      return env.ssflua("-e " .. env.q([[assert(require("ssf").client():streams()) print("ok")]]), {
        OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_CLIENTID = "0oaweb", OKTA_CLIENT_CLIENTSECRET = "sec-CANARY-9",
        OKTA_CLIENT_REFRESHTOKEN = "rt-CANARY-seed", OKTA_CLIENT_REFRESHTOKENFILE = file, HOME = dir })
    end

    it("keeps the rotated token in refresh_token_file (0600), so the next run works", function()
      f:call("POST", "clients", { client_id = "0oaweb", client_secret = "sec-CANARY-9",
        refresh_token = "rt-CANARY-seed", scopes = { "ssf.read", "ssf.manage" } })
      local file = dir .. "/refresh-token"
      os.remove(file)
      for run = 1, 3 do
        local code, out, err = run_once(file)
        assert.are.equal(0, code, "run " .. run .. ": " .. err)
        assert.are.equal("ok\n", out)
        assert.is_nil((out .. err):find("CANARY", 1, true))
      end
      local rotated = assert(env.read(file)):match("^(%S+)\n$")
      assert.truthy(rotated)
      assert.are_not.equal("rt-CANARY-seed", rotated)
      local _, mode = env.run("stat -c %a " .. env.q(file))
      assert.are.equal("600\n", mode)
      local tr = token_requests()
      assert.are.equal(3, #tr)
      for _, r in ipairs(tr) do assert.are.equal(200, r.status) end
      -- Without the file the seed token is spent: what used to happen.
      local code, _, err = env.ssflua("-e " .. env.q([[local c = require("ssf").client()
        local ok, msg = c:streams() io.stderr:write(tostring(msg)) os.exit(ok and 0 or 1)]]), {
        OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_CLIENTID = "0oaweb", OKTA_CLIENT_CLIENTSECRET = "sec-CANARY-9",
        OKTA_CLIENT_REFRESHTOKEN = "rt-CANARY-seed", HOME = dir })
      assert.are.equal(1, code)
      assert.matches("invalid_grant", err)
    end)

    it("hands each rotated token to on_refresh", function()
      f:call("POST", "clients", { client_id = "0oaweb", client_secret = "sec-CANARY-9",
        refresh_token = "rt-CANARY-cb", scopes = { "ssf.read", "ssf.manage" } })
      local seen = {}
      local c = assert(ssf.client { org = f.url, retries = 0, auth = { type = "refresh_token",
        client_id = "0oaweb", client_secret = "sec-CANARY-9", refresh_token = "rt-CANARY-cb",
        on_refresh = function(t) seen[#seen + 1] = t end } })
      assert(c:streams())
      c:close()
      assert.are.equal(1, #seen)
      assert.are_not.equal("rt-CANARY-cb", seen[1])
    end)
  end)

  describe("a token endpoint answering 503", function()
    local TOKEN_503 = { match = { method = "POST", path = "/oauth2/v1/token" }, status = 503,
                        headers = { ["Content-Type"] = "application/json" },
                        body = { error = "temporarily_unavailable" } }
    local function token_posts()
      local n = 0
      for _, r in ipairs(f:requests()) do
        if r.path == "/oauth2/v1/token" then n = n + 1 end
      end
      return n
    end

    it("is retried for client credentials, and for a refresh (the server did not act on it)", function()
      register("0oa503", rsa)
      f:faults { TOKEN_503 }
      local c = assert(client("0oa503", rsa, nil, { retries = 2 }))
      assert(c:streams())
      c:close()
      assert.are.equal(2, token_posts())

      f:reset()
      f:call("POST", "clients", { client_id = "0oaweb", client_secret = "sec-CANARY-9",
        refresh_token = "rt-CANARY-503", scopes = { "ssf.read", "ssf.manage" } })
      f:faults { TOKEN_503 }
      local r = assert(ssf.client { org = f.url, retries = 2, auth = { type = "refresh_token",
        client_id = "0oaweb", client_secret = "sec-CANARY-9", refresh_token = "rt-CANARY-503" } })
      assert(r:streams())
      r:close()
      assert.are.equal(2, token_posts())
    end)

    it("a refresh whose connection broke after sending is not repeated; client credentials are", function()
      f:call("POST", "clients", { client_id = "0oaweb", client_secret = "sec-CANARY-9",
        refresh_token = "rt-CANARY-rst", scopes = { "ssf.read", "ssf.manage" } })
      f:faults { { match = { method = "POST", path = "/oauth2/v1/token" }, action = "reset" } }
      local r = assert(ssf.client { org = f.url, retries = 2, auth = { type = "refresh_token",
        client_id = "0oaweb", client_secret = "sec-CANARY-9", refresh_token = "rt-CANARY-rst" } })
      local v, _, info = r:streams()
      r:close()
      assert.is_nil(v)
      assert.are.equal("auth", info.kind)
      assert.are.equal(1, token_posts())

      f:reset()
      register("0oarst", rsa)
      f:faults { { match = { method = "POST", path = "/oauth2/v1/token" }, action = "reset" } }
      local c = assert(client("0oarst", rsa, nil, { retries = 2 }))
      assert(c:streams())
      c:close()
      assert.are.equal(2, token_posts())
    end)
  end)

  it("scripts read an encrypted PEM with literal \\n escapes and its passphrase from the environment", function()
    register("0oapem", enc, { passphrase = PASS })
    local pem = assert(env.read(enc)):gsub("\n", "\\n")
    assert.is_nil(pem:find("\n", 1, true))
    local code, out, err = env.ssflua(env.q(env.root .. "/scripts/streams.lua"), {
      OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_AUTHORIZATIONMODE = "PrivateKey", OKTA_CLIENT_CLIENTID = "0oapem",
      OKTA_CLIENT_PRIVATEKEY = pem, OKTA_CLIENT_PRIVATEKEYID = "k1", OKTA_CLIENT_PRIVATEKEYPASSPHRASE = PASS,
      HOME = dir })
    assert.are.equal(0, code, err)
    assert.matches("no streams", out)
    assert.is_nil((out .. err):find("CANARY", 1, true))
    assert.are.equal(200, token_requests()[1].status)
  end)
end)

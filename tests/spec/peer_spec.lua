-- Differential check: Okta's official Node SDK (tests/peer) and ssf talk
-- to the same fake in PrivateKey mode with DPoP; both must be accepted, and
-- their token requests must have the same shape.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local keys = require "keys"

describe("ssf next to Okta's Node SDK", function()
  local f, dir, key

  setup(function()
    f = fake.start()
    dir = env.tmpdir()
    key = keys.make(dir, "rsa", "peer.pem")
  end)
  teardown(function()
    f:stop()
    env.rmdir(dir)
  end)

  local function register()
    f:reset()
    f:call("POST", "clients", { client_id = "0oaSdkPeer", jwks = { keys = { keys.jwk(key, "peer-key-1") } },
                                scopes = { "ssf.read", "ssf.manage" }, dpop = "required" })
  end

  -- The accepted token request, reduced to what both clients should agree on.
  local function shape()
    local tr = f:call("GET", "token_requests")
    local ok = tr[#tr]
    assert.are.equal(200, ok.status)
    local claim_names = {}
    for k in pairs(ok.assertion.claims) do claim_names[#claim_names + 1] = k end
    table.sort(claim_names)
    local c = ok.assertion.claims
    return {
      grant_type = ok.grant_type, client_assertion_type = ok.client_assertion_type, scope = ok.scope,
      client_auth = ok.client_auth, dpop = ok.dpop, token_type = ok.token_type,
      header = { typ = ok.assertion.header.typ, alg = ok.assertion.header.alg, kid = ok.assertion.header.kid },
      claims = table.concat(claim_names, ","), aud = c.aud, iss = c.iss, sub = c.sub,
      lifetime = c.exp - c.iat, proof_typ = ok.dpop_proof and ok.dpop_proof.header.typ,
    }
  end

  it("both are accepted, with the same token-request shape", function()
    register()
    local code, out, err = env.run(("node %s --org %s --client-id 0oaSdkPeer --key-file %s --key-id peer-key-1 --scopes %s")
      :format(env.q(env.root .. "/tests/peer/okta-sdk-peer.mjs"), env.q(f.url), env.q(key), env.q("ssf.read ssf.manage")))
    assert.are.equal(0, code, err)
    local report = ssf.json.decode(out)
    assert.is_true(report.ok, out)
    local sdk = shape()

    register()
    local c = assert(ssf.client { org = f.url, auth = { type = "private_key_jwt", client_id = "0oaSdkPeer",
      key_file = key, key_id = "peer-key-1" } })
    local s = assert(c:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://r.example.com/x" },
                                       events_requested = { ssf.events.SESSION_REVOKED } })
    assert(c:stream(s.stream_id))
    assert(c:verify_stream(s.stream_id))
    assert(c:delete_stream(s.stream_id))
    c:close()
    local ours = shape()

    assert.are.same(sdk, ours)
    assert.are.equal("DPoP", ours.token_type)
  end)
end)

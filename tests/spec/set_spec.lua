-- ssf.set: SETs signed by npm jose (tests/fake/jose-peer.mjs), which shares
-- no code with ssf.jose, must verify; each defect must be refused with its
-- RFC 8935 code. Keys come from a JWKS table, from a loopback JWKS URL
-- (tests/fake/set-stub.mjs, which counts fetches) and, through a client,
-- from the fake transmitter, whose own pushed verification SET must verify.
local ssf = require "ssf"
local jose = require "ssf.jose"
local env = require "env"
local fake = require "fake"
local q = env.q

local ISS = "https://transmitter.example.com"
local AUD = "https://receiver.example.com/aud"
local VERIFICATION = ssf.events.VERIFICATION
local REMOVE = {} -- in a claims override: leave this claim out

-- What jose-peer signs, by name: the signing key (or "none", "hmac:<key>"),
-- header members over {alg, typ, kid} (ssf.null removes one) and claim
-- overrides.
local function cases(now)
  return {
    rs256 = { key = "r1" },
    es256 = { key = "e1" },
    ps256 = { key = "p1" },
    rs384 = { key = "r384" },
    rs512 = { key = "r512" },
    -- Okta's shape: subject inside the event, no sub_id; here aud is a list.
    okta = { key = "r1", claims = { sub_id = REMOVE, aud = { "https://other.example.com", AUD },
      events = { [ssf.events.SESSION_REVOKED] = {
        subject = { format = "iss_sub", iss = ISS, sub = "00u1abcd" },
        initiating_entity = "policy", event_timestamp = now * 1000 } } } },
    typ_variant = { key = "e1", header = { typ = "application/Secevent+JWT" } },
    no_use = { key = "nouse" },
    no_kid = { key = "e1", header = { kid = ssf.null } },
    rotated = { key = "new" },
    -- Each of these is refused.
    rogue = { key = "rogue" },
    unknown_kid = { key = "r1", header = { kid = "nope" } },
    none = { key = "none", header = { kid = "r1" } },
    hmac = { key = "hmac:r1" },
    wrong_typ = { key = "r1", header = { typ = "JWT" } },
    no_typ = { key = "r1", header = { typ = ssf.null } },
    crit = { key = "r1", header = { crit = { "b64" }, b64 = true } },
    enc_key = { key = "enc" },
    alg_mismatch = { key = "mis" },
    wrong_iss = { key = "r1", claims = { iss = "https://evil.example.com" } },
    iss_slash = { key = "r1", claims = { iss = ISS .. "/" } },
    wrong_aud = { key = "r1", claims = { aud = "https://other.example.com" } },
    wrong_aud_list = { key = "r1", claims = { aud = { "https://a.example.com", "https://b.example.com" } } },
    no_aud = { key = "r1", claims = { aud = REMOVE } },
    stale = { key = "r1", claims = { iat = now - 1000 } },
    future = { key = "r1", claims = { iat = now + 1000 } },
    no_iat = { key = "r1", claims = { iat = REMOVE } },
    iat_string = { key = "r1", claims = { iat = tostring(now) } },
    exp = { key = "r1", claims = { exp = now + 600 } },
    no_jti = { key = "r1", claims = { jti = REMOVE } },
    two_events = { key = "r1", claims = { events = { [VERIFICATION] = {}, [ssf.events.SESSION_REVOKED] = {} } } },
    no_events = { key = "r1", claims = { events = REMOVE } },
    zero_events = { key = "r1", claims = { events = {} } },
    event_not_object = { key = "r1", claims = { events = { [VERIFICATION] = "yes" } } },
    no_subject = { key = "r1", claims = { sub_id = REMOVE } },
  }
end

-- Refusals: case, RFC 8935 code, a piece of the message.
local REFUSED = {
  { "rogue", "invalid_key", 'signature does not verify (key "r1")' },
  { "none", "invalid_key", 'alg "none" is not accepted' },
  { "hmac", "invalid_key", 'alg "HS256" is not accepted' },
  { "enc_key", "invalid_key", 'key "enc" is for use "enc", not sig' },
  { "alg_mismatch", "invalid_key", 'key "mis" is for alg "RS512", not RS256' },
  { "unknown_kid", "invalid_key", 'no key with kid "nope" in the JWKS' },
  { "no_kid", "invalid_key", "the SET has no kid and the JWKS has 8 keys" },
  { "wrong_typ", "invalid_request", 'typ is "JWT", not secevent+jwt' },
  { "no_typ", "invalid_request", "typ is none, not secevent+jwt" },
  { "crit", "invalid_request", "crit" },
  { "wrong_iss", "invalid_issuer", 'iss is "https://evil.example.com", not "https://transmitter.example.com"' },
  { "iss_slash", "invalid_issuer", 'iss is "https://transmitter.example.com/"' },
  { "wrong_aud", "invalid_audience", 'aud "https://other.example.com" does not name this receiver' },
  { "wrong_aud_list", "invalid_audience", "does not name this receiver" },
  { "no_aud", "invalid_audience", "does not name this receiver" },
  -- (the seconds depend on how long the setup took)
  { "stale", "invalid_request", " s ago; max_age is 300 s" },
  { "future", "invalid_request", " s in the future" },
  { "no_iat", "invalid_request", "iat is none, not a number" },
  { "iat_string", "invalid_request", "not a number" },
  { "exp", "invalid_request", "the SET has exp, which SSF forbids" },
  { "no_jti", "invalid_request", "jti is none" },
  { "two_events", "invalid_request", "events has 2 members; an SSF SET carries exactly one" },
  { "no_events", "invalid_request", "events is missing or not a JSON object" },
  { "zero_events", "invalid_request", "events has 0 members" },
  { "event_not_object", "invalid_request", "the event payload is not a JSON object" },
  { "no_subject", "invalid_request", "the SET has no subject" },
}

local function claims_for(now, over, n)
  local c = {
    iss = ISS, aud = AUD, iat = now, jti = "jti-" .. n,
    sub_id = { format = "opaque", id = "stream-1" },
    events = { [VERIFICATION] = { state = "s1" } },
  }
  for k, v in pairs(over or {}) do
    if v == REMOVE then c[k] = nil else c[k] = v end
  end
  return c
end

-- Replaces part i (1 header, 2 claims) of a compact JWS with edit(decoded).
local function tamper(jwt, i, edit)
  local parts = {}
  for p in (jwt .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = p end
  local t = ssf.json.decode(jose.b64url_decode(parts[i]))
  edit(t)
  parts[i] = jose.b64url_encode(ssf.json.encode(t))
  return table.concat(parts, ".")
end

describe("ssf.set", function()
  local sets, peer, opts

  setup(function()
    local now = os.time()
    local spec = { keys = {
      { name = "r1", alg = "RS256" }, { name = "e1", alg = "ES256" }, { name = "p1", alg = "PS256" },
      { name = "r384", alg = "RS384" }, { name = "r512", alg = "RS512" },
      { name = "nouse", alg = "ES256", jwk = { use = ssf.null } },
      { name = "enc", alg = "RS256", jwk = { use = "enc" } },
      { name = "mis", alg = "RS256", jwk = { alg = "RS512" } },
      -- Not in the JWKS: a forger's key under a published kid, and a key
      -- the transmitter rotates in later.
      { name = "rogue", alg = "RS256", kid = "r1", publish = false },
      { name = "new", alg = "ES256", publish = false },
    }, sets = {} }
    local names = {}
    for name, c in pairs(cases(now)) do
      names[#names + 1] = name
      spec.sets[#names] = { key = c.key, header = c.header, claims = claims_for(now, c.claims, #names) }
    end
    peer = fake.jose_peer(spec)
    sets = {}
    for i, name in ipairs(names) do sets[name] = peer.sets[i] end
    opts = { jwks = peer.jwks, issuer = ISS, audience = AUD }
  end)

  it("decodes without checking anything", function()
    local t = assert(ssf.set.decode(sets.stale))
    assert.are.equal("RS256", t.header.alg)
    assert.are.equal("r1", t.header.kid)
    assert.are.equal(ISS, t.claims.iss)
    assert.are.equal("s1", t.events[VERIFICATION].state)
    assert.is_truthy(ssf.set.decode(sets.none))
  end)

  it("decodes claims as ssf.json.decode does, whether or not they need its bridge", function()
    local header = jose.b64url_encode('{"alg":"none"}')
    for _, text in ipairs {
      '{"jti":"plain","iat":1796056736,"aud":"https://r.example.com","sub_id":{"format":"opaque","id":"é"}}',
      '{"aud":["a","b"],"none":[],"nested":{"list":[[],{"x":[1]}]}}',
      '{"big":12345678901234567,"neg":-9223372036854775807,"edge":9007199254740993}',
      '{"s":"[] and 1234567890123456 inside strings only"}',
      '{"float":1.5e300,"small":123456789012345}',
    } do
      local t = assert(ssf.set.decode(header .. "." .. jose.b64url_encode(text) .. "."))
      local want = ssf.json.decode(text)
      assert.are.same(want, t.claims)
      assert.are.equal(ssf.json.encode(want), ssf.json.encode(t.claims))
      if type(want.aud) == "table" then assert.is_true(require("ssf.json").is_array(t.claims.aud)) end
    end
    assert.are.equal("12345678901234567", ssf.json.encode(
      ssf.set.decode(header .. "." .. jose.b64url_encode('{"big":12345678901234567}') .. ".").claims.big))
    -- Claims that are not UTF-8 are refused either way.
    assert.is_nil(ssf.set.decode(header .. "." .. jose.b64url_encode('{"s":"\xc0\xaf"}') .. "."))
  end)

  it("decode refuses what is not a JWT with invalid_request, and raises on a non-string", function()
    for _, bad in ipairs { "", "hello", "a.b", "a.b.c.d", "a.b.c.d.e", "e30.e30", "!!!.e30.", "e30.W10.", "bm90IGpzb24.e30." } do
      local v, msg, info = ssf.set.decode(bad)
      assert.is_nil(v, bad)
      assert.is_string(msg)
      assert.are.same({ kind = "set", err = "invalid_request" }, info)
    end
    assert.matches("JWE", select(2, ssf.set.decode("a.b.c.d.e")))
    assert.has_error(function() ssf.set.decode(nil) end, "bad argument #1 to 'decode' (string expected, got nil)")
  end)

  it("verifies RS256, ES256, PS256, RS384 and RS512 SETs signed by npm jose", function()
    for _, name in ipairs { "rs256", "es256", "ps256", "rs384", "rs512" } do
      local r, msg, info = ssf.set.verify(sets[name], opts)
      assert(r, name .. ": " .. tostring(msg) .. " " .. tostring(info and info.err))
      assert.are.equal(VERIFICATION, r.event_type)
      assert.are.same({ state = "s1" }, r.event)
      assert.are.same({ format = "opaque", id = "stream-1" }, r.subject)
      assert.are.equal(ISS, r.claims.iss)
      assert.are.equal(r.claims.events, r.events)
      assert.is_string(r.header.alg)
    end
  end)

  it("takes Okta's shape: the subject inside the event and aud as a list", function()
    -- Without a configured audience, aud is not checked.
    assert(ssf.set.verify(sets.wrong_aud, { jwks = peer.jwks, issuer = ISS }))
    local r = assert(ssf.set.verify(sets.okta, { jwks = peer.jwks, issuer = ISS, audience = { "x", AUD } }))
    assert.are.equal(ssf.events.SESSION_REVOKED, r.event_type)
    assert.are.same({ format = "iss_sub", iss = ISS, sub = "00u1abcd" }, r.subject)
    assert.are.equal("policy", r.event.initiating_entity)
  end)

  it("matches typ as a case-insensitive media type, and takes keys without use", function()
    assert(ssf.set.verify(sets.typ_variant, opts))
    assert(ssf.set.verify(sets.no_use, opts))
  end)

  it("uses the only key of a JWKS for a SET without kid", function()
    local solo = { keys = { peer.public.e1 } }
    assert(ssf.set.verify(sets.no_kid, { jwks = solo, issuer = ISS, audience = AUD }))
  end)

  it("refuses each defect with its RFC 8935 code", function()
    for _, c in ipairs(REFUSED) do
      local name, err, text = c[1], c[2], c[3]
      local r, msg, info = ssf.set.verify(sets[name], opts)
      assert.is_nil(r, name)
      assert.are.same({ kind = "set", err = err }, info, name)
      assert.is_truthy(msg:find(text, 1, true), name .. ": " .. msg)
    end
  end)

  it("refuses tampered claims, header and signature with invalid_key", function()
    local forged = {
      tamper(sets.rs256, 2, function(c) c.events[VERIFICATION].state = "s2" end),
      tamper(sets.rs256, 2, function(c) c.iat = c.iat + 1 end),
      tamper(sets.es256, 1, function(h) h.x5u = "https://evil.example.com" end),
      tamper(sets.rs256, 1, function(h) h.typ = "SECEVENT+JWT" end),
      sets.es256:gsub("[^.]+$", function(s) return jose.b64url_encode(jose.b64url_decode(s):reverse()) end),
      -- A valid signature moved onto other claims.
      sets.rs256:match("^(.*)%.") .. "." .. sets.stale:match("[^.]*$"),
    }
    for i, jwt in ipairs(forged) do
      local r, msg, info = ssf.set.verify(jwt, opts)
      assert.is_nil(r, i)
      assert.are.equal("invalid_key", info.err, i .. ": " .. msg)
      assert.matches("signature does not verify", msg)
    end
  end)

  it("refuses what is not a JWT, and an oversized token, with invalid_request", function()
    for _, bad in ipairs { "not a jwt", sets.rs256 .. ".x", "a.b.c.d.e", sets.rs256 .. "=" } do
      local r, _, info = ssf.set.verify(bad, opts)
      assert.is_nil(r)
      assert.are.equal("invalid_request", info.err)
    end
    local big = sets.rs256:gsub("^[^.]*", ("A"):rep(64 * 1024))
    local r, msg, info = ssf.set.verify(big, opts)
    assert.is_nil(r)
    assert.are.equal("invalid_request", info.err)
    assert.matches("more than the 65536 accepted", msg)
  end)

  it("max_age and skew widen the iat window", function()
    assert(ssf.set.verify(sets.stale, { jwks = peer.jwks, issuer = ISS, audience = AUD, max_age = 2000 }))
    assert(ssf.set.verify(sets.future, { jwks = peer.jwks, issuer = ISS, audience = AUD, skew = 2000 }))
  end)

  it("keeps control bytes and long values out of messages", function()
    local jwt = sets.rs256:gsub("^[^.]*", jose.b64url_encode(ssf.json.encode {
      alg = "HS256\r\nX-Injected: 1" .. ("z"):rep(200), typ = "secevent+jwt" }))
    local _, msg = ssf.set.verify(jwt, opts)
    assert.is_nil(msg:find("[\r\n]"))
    assert.is_true(#msg < 160, msg)
  end)

  it("raises on misuse, naming the option", function()
    local function raises(o, text)
      local ok, err = pcall(ssf.set.verify, sets.rs256, o)
      assert.is_false(ok)
      assert.is_truthy(err:find(text, 1, true), err)
    end
    raises(nil, "bad argument #2 to 'verify' (options table expected, got nil)")
    raises({ issuer = ISS, audience = AUD }, "opts.jwks must be")
    raises({ jwks = {}, issuer = ISS, audience = AUD }, "opts.jwks must be")
    raises({ jwks = peer.jwks, audience = AUD }, "opts.issuer is required unless opts.jwks is a client")
    raises({ jwks = peer.jwks, issuer = ISS, audience = {} }, "opts.audience must be")
    raises({ jwks = peer.jwks, issuer = ISS, audience = { 1 } }, "opts.audience must hold only strings")
    raises({ jwks = peer.jwks, issuer = ISS, audience = AUD, max_age = -1 }, "opts.max_age must be")
    raises({ jwks = peer.jwks, issuer = ISS, audience = AUD, leeway = 1 }, "unknown option 'leeway'")
    assert.has_error(function() ssf.set.verify(42, opts) end, "bad argument #1 to 'verify' (string expected, got number)")
  end)

  it("require 'ssf' loads neither libcrypto nor libcurl; decoding loads ssf.jose only", function()
    local code, out = env.ssflua("-e " .. q([[
      local ssf = require "ssf"
      print(package.loaded["ssf.jose"], package.loaded["ssf.http"])
      ssf.set.decode("e30.e30.")
      print(type(package.loaded["ssf.jose"]), package.loaded["ssf.http"])]]))
    assert.are.equal(0, code)
    assert.are.equal("nil\tnil\ntable\tnil\n", out)
    local _, _, libs = env.run(("LD_DEBUG=libs %s -e %s"):format(q(env.ssflua_bin), q('require "ssf"')))
    assert.is_nil(libs:find("libcrypto", 1, true))
    assert.is_nil(libs:find("libcurl", 1, true))
  end)

  describe("with a JWKS URL", function()
    local stub

    setup(function() stub = fake.set_stub(peer.jwks) end)
    teardown(function() stub.stop() end)

    local function url_opts(case)
      return { jwks = stub.url .. "/jwks?case=" .. case, issuer = ISS, audience = AUD }
    end

    it("fetches once, then refreshes once per verify on an unknown kid", function()
      local o = url_opts("refresh")
      local base = stub.count().jwks
      assert(ssf.set.verify(sets.rs256, o))
      assert.are.equal(base + 1, stub.count().jwks)
      assert(ssf.set.verify(sets.es256, o))
      assert.are.equal(base + 1, stub.count().jwks) -- from the cache
      for i = 1, 2 do
        local r, msg, info = ssf.set.verify(sets.unknown_kid, o)
        assert.is_nil(r)
        assert.are.equal("invalid_key", info.err)
        assert.matches('no key with kid "nope"', msg)
        assert.are.equal(base + 1 + i, stub.count().jwks)
      end
    end)

    it("does not fetch twice when the first fetch lacks the kid", function()
      local base = stub.count().jwks
      local _, _, info = ssf.set.verify(sets.unknown_kid, url_opts("first"))
      assert.are.equal("invalid_key", info.err)
      assert.are.equal(base + 1, stub.count().jwks)
    end)

    it("finds a key rotated in after the JWKS was cached", function()
      local o = url_opts("rotation")
      assert(ssf.set.verify(sets.rs256, o))
      local rotated = { keys = { peer.public.new } }
      for _, k in ipairs(peer.jwks.keys) do rotated.keys[#rotated.keys + 1] = k end
      stub.publish(rotated)
      local base = stub.count().jwks
      local r, msg = ssf.set.verify(sets.rotated, o)
      stub.publish(peer.jwks)
      assert(r, msg)
      assert.are.equal(base + 1, stub.count().jwks)
    end)

    it("reports fetch failures as invalid_key with the cause", function()
      -- temporary: the endpoint did not answer (the SET may be valid).
      local function fails(url, text, temporary)
        local r, msg, info = ssf.set.verify(sets.rs256, { jwks = url, issuer = ISS, audience = AUD })
        assert.is_nil(r, url)
        assert.are.same({ kind = "set", err = "invalid_key", temporary = temporary }, info)
        assert.is_truthy(msg:find(text, 1, true), msg)
        return msg
      end
      fails(stub.url .. "/missing", "answered HTTP 404")
      fails(stub.url .. "/not-json", "is not a JSON object with a keys array")
      fails("http://jwks.example.com/keys", "must use https (plain http only for loopback hosts)")
      fails("ftp://127.0.0.1/keys", "must use https")
      fails("not a url", "the JWKS URL is not valid")
      local msg = fails("https://user:s3cret-pw@127.0.0.1/keys", "must not contain a user name or password")
      assert.is_nil(msg:find("s3cret", 1, true))
      fails("http://127.0.0.1:1/jwks", "cannot fetch the JWKS from http://127.0.0.1:1/jwks", true)
    end)
  end)

  describe("with a client of the fake transmitter", function()
    local f, stub, okta

    setup(function()
      f = fake.start()
      stub = fake.set_stub { keys = {} }
      okta = f:client()
    end)
    teardown(function()
      okta:close()
      f:stop()
      stub.stop()
    end)

    local function fetches()
      local n = { meta = 0, keys = 0 }
      for _, r in ipairs(f:requests()) do
        if r.path == "/.well-known/ssf-configuration" then n.meta = n.meta + 1 end
        if r.path == "/oauth2/v1/keys" then n.keys = n.keys + 1 end
      end
      return n
    end

    it("verifies the verification SET it pushed, with issuer and keys from its metadata", function()
      local s = assert(okta:create_stream {
        delivery = { method = ssf.PUSH, endpoint_url = stub.url .. "/events" },
        events_requested = { ssf.events.SESSION_REVOKED },
      })
      assert(okta:verify_stream(s.stream_id, "state-42"))
      local pushed
      for _ = 1, 100 do -- the push is asynchronous: up to 5 s
        for _, d in ipairs(f:deliveries()) do
          if d.state == "state-42" then pushed = d end
        end
        if pushed then break end
        require("ssf.http").sleep(0.05)
      end
      assert(pushed, "no verification SET was pushed")
      assert.are.equal(202, pushed.status)
      assert.are.equal(1, stub.count().events)

      local r, msg = ssf.set.verify(pushed.set, { jwks = okta, audience = s.aud })
      assert(r, msg)
      assert.are.equal(VERIFICATION, r.event_type)
      assert.are.equal("state-42", r.event.state)
      assert.are.same({ format = "opaque", id = s.stream_id }, r.subject)
      assert.are.equal(f.url, r.claims.iss)
      assert.are.same({ meta = 1, keys = 1 }, fetches())

      -- The client's metadata and JWKS are cached.
      assert(ssf.set.verify(pushed.set, { jwks = okta, audience = s.aud }))
      assert.are.same({ meta = 1, keys = 1 }, fetches())

      local _, _, info = ssf.set.verify(pushed.set, { jwks = okta, audience = "https://someone.else" })
      assert.are.equal("invalid_audience", info.err)
      _, msg, info = ssf.set.verify(pushed.set, { jwks = okta, audience = s.aud, issuer = f.url .. "/" })
      assert.are.equal("invalid_issuer", info.err)
      assert.matches("iss is", msg)
    end)

    it("reports a transmitter without reachable metadata as invalid_key", function()
      local c = ssf.client { org = "http://127.0.0.1:1", auth = { type = "bearer", token = "t" }, retries = 0 }
      local r, msg, info = ssf.set.verify(sets.rs256, { jwks = c, audience = AUD })
      c:close()
      assert.is_nil(r)
      assert.are.equal("invalid_key", info.err)
      assert.matches("^cannot read the transmitter metadata: ", msg)
    end)
  end)
end)

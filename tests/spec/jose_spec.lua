-- ssf.jose: base64url, digests, randomness, private keys from PEM or
-- generated, and signature checks against JWKs, cross-checked with npm jose.
-- Test keys are made at test time in a temporary directory.
local jose = require "ssf.jose"
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local q = env.q

local PASSPHRASE = "correct horse 7 battery"

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- A compact JWS over `payload` signed by ssf.jose, for npm jose to check.
local function jws(key, payload)
  local input = jose.b64url_encode(ssf.json.encode { alg = key:alg() }) .. "." .. jose.b64url_encode(payload)
  return input .. "." .. jose.b64url_encode(key:sign(input))
end

describe("ssf.jose", function()
  local dir

  -- openssl commands that write the test keys, by file name (OUT: where;
  -- "-out OUT" is appended when absent).
  local KEYS = {
    ["rsa.pem"] = "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048",
    ["rsa3072.pem"] = "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072",
    ["pkcs1.pem"] = "genrsa -traditional -out OUT 2048",
    ["ec.pem"] = "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
    ["sec1.pem"] = "ecparam -name prime256v1 -genkey -noout",
    ["enc-pkcs8.pem"] = "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -pass env:PASS",
    ["enc-pkcs1.pem"] = "genrsa -traditional -aes128 -passout env:PASS -out OUT 2048",
    ["rsa1024.pem"] = "genrsa -out OUT 1024",
    ["p384.pem"] = "ecparam -name secp384r1 -genkey -noout",
    ["ed25519.pem"] = "genpkey -algorithm ed25519",
    ["rsa-pss.pem"] = "genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048",
  }

  local function pem(name) return assert(env.read(dir .. "/" .. name)) end

  setup(function()
    dir = env.tmpdir()
    for name, cmd in pairs(KEYS) do
      if not cmd:find("OUT", 1, true) then cmd = cmd .. " -out OUT" end
      cmd = cmd:gsub("OUT", q(dir .. "/" .. name))
      local code, _, err = env.run(("PASS=%s openssl %s"):format(q(PASSPHRASE), cmd))
      assert(code == 0, name .. ": " .. err)
    end
    -- SEC1 with the legacy PEM encryption header, and a public key.
    assert(env.run(("PASS=%s openssl ec -in %s -aes128 -passout env:PASS -out %s"):format(
      q(PASSPHRASE), q(dir .. "/sec1.pem"), q(dir .. "/enc-sec1.pem"))) == 0)
    assert(env.run(("openssl pkey -in %s -pubout -out %s"):format(q(dir .. "/rsa.pem"), q(dir .. "/pub.pem"))) == 0)
  end)
  teardown(function() env.rmdir(dir) end)

  describe("base64url", function()
    it("encodes without padding in the URL-safe alphabet", function()
      assert.are.equal("", jose.b64url_encode(""))
      assert.are.equal("Zg", jose.b64url_encode("f"))
      assert.are.equal("Zm8", jose.b64url_encode("fo"))
      assert.are.equal("Zm9v", jose.b64url_encode("foo"))
      assert.are.equal("-_-_", jose.b64url_encode("\xfb\xff\xbf"))
    end)

    it("round-trips every byte value and long strings", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      local bytes = table.concat(all)
      for n = 0, 256 do
        local s = bytes:sub(1, n)
        assert.are.equal(s, jose.b64url_decode(jose.b64url_encode(s)))
      end
      local big = bytes:rep(4096)
      assert.are.equal(big, jose.b64url_decode(jose.b64url_encode(big)))
    end)

    it("rejects padding, other alphabets, impossible lengths and non-canonical bits", function()
      for _, bad in ipairs { "Zg==", "Zm8=", "+/+/", "Zm9v\n", " Zm9v", "Zm\0v", "Z", "Zm9vY", "Zh", "Zm9", "é" } do
        local v, msg = jose.b64url_decode(bad)
        assert.is_nil(v, bad)
        assert.are.equal("invalid base64url", msg)
      end
      assert.are.equal("", jose.b64url_decode(""))
    end)

    it("b64url_json decodes a JSON part and says whether ssf.json may take it as it is", function()
      local cases = {
        { '{"jti":"a","iat":1796056736,"aud":"https://r.example.com"}', true },
        { '{"n":123456789012345}', true },
        { '{"n":1234567890123456}', false },
        { '{"aud":["x"]}', false },
        { '{"s":"["}', false },
        { '{"s":"\0"}', false },
        { '{"s":"\xc3\xa9 \xf0\x9f\x98\x80"}', true },
        { '{"s":"\xc0\xaf"}', false },
        { '{"s":"\xed\xa0\x80"}', false },
        { '{"s":"\xc3"}', false },
      }
      for _, c in ipairs(cases) do
        local bytes, plain = jose.b64url_json(jose.b64url_encode(c[1]))
        assert.are.equal(c[1], bytes)
        assert.are.equal(c[2], plain, c[1])
      end
      local v, msg = jose.b64url_json("Zg==")
      assert.is_nil(v)
      assert.are.equal("invalid base64url", msg)
    end)

    it("raises on a non-string", function()
      assert.has_error(function() jose.b64url_json({}) end)
      assert.has_error(function() jose.b64url_decode({}) end)
      assert.has_error(function() jose.b64url_encode(nil) end)
    end)
  end)

  it("sha256 gives the 32 raw bytes of the digest", function()
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex(jose.sha256("abc")))
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex(jose.sha256("")))
  end)

  it("random gives n fresh bytes for 1..1024 and raises otherwise", function()
    assert.are.equal(1, #jose.random(1))
    assert.are.equal(1024, #jose.random(1024))
    assert.are_not.equal(jose.random(32), jose.random(32))
    for _, n in ipairs { 0, -1, 1025, 1.5 } do
      assert.has_error(function() jose.random(n) end)
    end
  end)

  it("reports the OpenSSL version", function()
    assert.matches("^OpenSSL 3%.", jose.openssl_version())
  end)

  describe("keys", function()
    local function round_trip(key, alg)
      assert.are.equal(alg, key:alg())
      local sig = key:sign("signing input")
      if alg == "ES256" then assert.are.equal(64, #sig) end
      local jwk = key:public_jwk()
      assert.is_true(jose.verify(jwk, alg, "signing input", sig))
      local ok, msg = jose.verify(jwk, alg, "signing inpuT", sig)
      assert.is_nil(ok)
      assert.are.equal("signature does not verify", msg)
      return jwk
    end

    it("generates ES256 and RS256 keys whose JWKs hold only public members", function()
      local es = jose.generate_key("ES256")
      local jwk = round_trip(es, "ES256")
      assert.are.same({ "crv", "kty", "x", "y" }, (function()
        local k = {}
        for name in pairs(jwk) do k[#k + 1] = name end
        table.sort(k)
        return k
      end)())
      assert.are.equal("EC", jwk.kty)
      assert.are.equal("P-256", jwk.crv)
      assert.are.equal(43, #jwk.x)
      assert.are.equal(43, #jwk.y)

      local rs = jose.generate_key("RS256")
      jwk = round_trip(rs, "RS256")
      assert.are.equal(256, #rs:sign("x"))
      assert.are.equal("RSA", jwk.kty)
      assert.are.equal("AQAB", jwk.e)
      assert.are.equal(342, #jwk.n)
      assert.is_nil(jwk.d)
      assert.is_nil(jwk.p)
      assert.has_error(function() jose.generate_key("HS256") end)
    end)

    it("ES256 signatures differ every time and all verify", function()
      local k = jose.generate_key("ES256")
      local a, b = k:sign("m"), k:sign("m")
      assert.are_not.equal(a, b)
      assert.is_true(jose.verify(k:public_jwk(), "ES256", "m", a))
      assert.is_true(jose.verify(k:public_jwk(), "ES256", "m", b))
    end)

    it("loads PKCS#8, PKCS#1 and SEC1 keys, plain and encrypted", function()
      for name, alg in pairs { ["rsa.pem"] = "RS256", ["rsa3072.pem"] = "RS256", ["pkcs1.pem"] = "RS256",
                               ["ec.pem"] = "ES256", ["sec1.pem"] = "ES256" } do
        round_trip(assert(jose.load_key(pem(name))), alg)
        -- A passphrase for a key that needs none is ignored.
        assert.is_truthy(jose.load_key(pem(name), "unused"))
      end
      for name, alg in pairs { ["enc-pkcs8.pem"] = "ES256", ["enc-pkcs1.pem"] = "RS256", ["enc-sec1.pem"] = "ES256" } do
        round_trip(assert(jose.load_key(pem(name), PASSPHRASE)), alg)
      end
    end)

    it("signatures of generated and loaded keys verify with npm jose", function()
      local keys = {
        jose.generate_key("ES256"), jose.generate_key("RS256"),
        assert(jose.load_key(pem("sec1.pem"))), assert(jose.load_key(pem("pkcs1.pem"))),
        assert(jose.load_key(pem("enc-pkcs8.pem"), PASSPHRASE)),
      }
      local checks = {}
      for i, k in ipairs(keys) do
        checks[i] = { jwk = k:public_jwk(), alg = k:alg(), jws = jws(k, '{"n":' .. i .. '}') }
      end
      -- And one that must fail: a signature over other bytes.
      local bad = jws(keys[1], "x"):gsub("%.[^.]*$", "." .. jose.b64url_encode(keys[1]:sign("y")))
      checks[#checks + 1] = { jwk = keys[1]:public_jwk(), alg = "ES256", jws = bad }
      local result = fake.jose_peer { verify = checks }
      for i = 1, #keys do assert.are.equal(true, result.verified[i], "key " .. i) end
      assert.is_string(result.verified[#checks])
    end)

    local function assert_no_secret(msg, text)
      assert.is_nil(msg:find(PASSPHRASE, 1, true), msg)
      -- No run of 12 characters of the PEM's base64 body.
      local body = text:gsub("%-%-%-%-%-[^\n]*%-%-%-%-%-", ""):gsub("%s", "")
      for i = 1, #body - 12, 6 do
        assert.is_nil(msg:find(body:sub(i, i + 11), 1, true), msg)
      end
    end

    it("says why a key cannot be loaded, never echoing it or the passphrase", function()
      local cases = {
        { "enc-pkcs8.pem", nil, "the private key is encrypted and no passphrase was given" },
        { "enc-pkcs1.pem", nil, "the private key is encrypted and no passphrase was given" },
        { "enc-sec1.pem", nil, "the private key is encrypted and no passphrase was given" },
        { "enc-pkcs8.pem", PASSPHRASE .. "x", "cannot decrypt the private key (wrong passphrase?)" },
        { "enc-pkcs1.pem", "wrong " .. PASSPHRASE, "cannot decrypt the private key (wrong passphrase?)" },
        { "enc-sec1.pem", "", "cannot decrypt the private key (wrong passphrase?)" },
        { "rsa1024.pem", nil, "the RSA key has 1024 bits; from 2048 to 16384 are supported" },
        { "p384.pem", nil, "the EC key is not on curve P-256 (ES256 needs P-256)" },
        { "ed25519.pem", nil, "unsupported key type ED25519: use an RSA (2048 bits or more) or EC P-256 key" },
        { "rsa-pss.pem", nil, "unsupported key type RSA-PSS: use an RSA (2048 bits or more) or EC P-256 key" },
        { "pub.pem", nil, "no private key found: expected a PEM PKCS#8, PKCS#1 RSA or SEC1 EC private key" },
      }
      for _, c in ipairs(cases) do
        local text = pem(c[1])
        local key, msg = jose.load_key(text, c[2])
        assert.is_nil(key, c[1])
        assert.are.equal(c[3], msg, c[1])
        assert_no_secret(msg, text)
      end
      -- A PEM cut short, DER bytes, nothing at all.
      local text = pem("rsa.pem")
      for _, junk in ipairs { text:sub(1, 200), "", "\48\130\4\189", text:gsub("BEGIN PRIVATE", "BEGIN PUBLIC") } do
        local key, msg = jose.load_key(junk)
        assert.is_nil(key)
        assert.matches("^no private key found", msg)
        assert_no_secret(msg, text)
      end
    end)

    it("never prompts for a passphrase, even with a terminal", function()
      -- script(1) gives the program a terminal of its own, where OpenSSL's
      -- default callback would prompt and wait until the timeout.
      local lua = ("print(select(2, require('ssf.jose').load_key(io.open(%q):read('a'))))")
        :format(dir .. "/enc-pkcs8.pem")
      local cmd = ("%s -e %s"):format(q(env.ssflua_bin), q(lua))
      local code, out = env.run(("timeout 20 script -qec %s /dev/null"):format(q(cmd)))
      assert.are.equal(0, code)
      assert.are.equal("the private key is encrypted and no passphrase was given", out:match("^[^\r\n]*"))
    end)

    it("close is idempotent, <close> and __gc release the key, use after close raises", function()
      local k = jose.generate_key("ES256")
      k:close()
      k:close()
      assert.has_error(function() k:sign("x") end, "attempt to use a closed key")
      assert.has_error(function() k:public_jwk() end, "attempt to use a closed key")
      assert.has_error(function() k:alg() end, "attempt to use a closed key")
      local scoped = jose.generate_key("ES256")
      env.scoped(scoped, function() assert.are.equal(64, #scoped:sign("x")) end)
      assert.has_error(function() scoped:sign("x") end, "attempt to use a closed key")
      for _ = 1, 50 do jose.generate_key("ES256") end
      collectgarbage()
      collectgarbage()
      assert.has_error(function() jose.load_key({}) end)
    end)
  end)

  describe("verify", function()
    local rs, es

    setup(function()
      rs = jose.generate_key("RS256")
      es = jose.generate_key("ES256")
    end)

    it("checks RS384, RS512 and PS256 signatures made by npm jose", function()
      local peer = fake.jose_peer {
        keys = { { name = "r384", alg = "RS384" }, { name = "r512", alg = "RS512" }, { name = "ps", alg = "PS256" } },
        sets = { { key = "r384", claims = { n = 1 } }, { key = "r512", claims = { n = 2 } }, { key = "ps", claims = { n = 3 } } },
      }
      for i, alg in ipairs { "RS384", "RS512", "PS256" } do
        local jwk = peer.jwks.keys[i]
        local input, sig = peer.sets[i]:match("^(.*)%.([^.]*)$")
        sig = jose.b64url_decode(sig)
        assert.is_true(jose.verify(jwk, alg, input, sig), alg)
        assert.is_nil(jose.verify(jwk, alg, input .. "x", sig), alg)
        -- The same key and bytes under a sibling alg do not pass.
        local other = alg == "PS256" and "RS256" or "PS256"
        assert.is_nil(jose.verify(jwk, other, input, sig), alg .. " as " .. other)
        -- Each alg keeps its own context for the key, unchanged by the others.
        assert.is_true(jose.verify(jwk, alg, input, sig), alg .. " again")
      end
    end)

    it("refuses algs outside the allowlist, whatever the key", function()
      local sig = rs:sign("m")
      for _, alg in ipairs { "none", "HS256", "HS512", "RS256\0", "rs256", "ES384", "EdDSA", "" } do
        local ok, msg = jose.verify(rs:public_jwk(), alg, "m", sig)
        assert.is_nil(ok, alg)
        assert.are.equal("unsupported alg: only RS256, RS384, RS512, PS256 and ES256 are accepted", msg)
      end
    end)

    it("needs a key that fits the alg", function()
      local function fails(jwk, alg, sig, want)
        local ok, msg = jose.verify(jwk, alg, "m", sig)
        assert.is_nil(ok)
        assert.are.equal(want, msg)
      end
      fails(es:public_jwk(), "RS256", rs:sign("m"), 'RS256 needs a JWK with kty "RSA"')
      fails(rs:public_jwk(), "ES256", es:sign("m"), 'ES256 needs a JWK with kty "EC"')
      local jwk = es:public_jwk()
      jwk.crv = "P-384"
      fails(jwk, "ES256", es:sign("m"), 'ES256 needs a JWK with crv "P-256"')
      jwk = es:public_jwk()
      jwk.x = jose.b64url_encode(jose.b64url_decode(jwk.x):sub(2))
      fails(jwk, "ES256", es:sign("m"), "the JWK member x has the wrong length")
      jwk.x = "AAAA="
      fails(jwk, "ES256", es:sign("m"), "the JWK member x is not valid base64url")
      jwk = es:public_jwk()
      jwk.y = jose.b64url_encode(("\1"):rep(32))
      fails(jwk, "ES256", es:sign("m"), "the EC JWK is not a point on P-256")
      jwk = rs:public_jwk()
      jwk.n = nil
      fails(jwk, "RS256", rs:sign("m"), "the JWK member n is missing or not a string")
      jwk = rs:public_jwk()
      jwk.e = jose.b64url_encode("\1\0\0\0\0\0\0\0\1")
      fails(jwk, "RS256", rs:sign("m"), "the JWK member e is too long")
      jwk.e = "Ag" -- 2: even
      fails(jwk, "RS256", rs:sign("m"), "the RSA exponent e is not an odd number above 1")
      fails(es:public_jwk(), "ES256", es:sign("m") .. "\0", "an ES256 signature must be 64 bytes (R || S)")
      fails(es:public_jwk(), "ES256", ("\0"):rep(64), "signature does not verify")
      fails(rs:public_jwk(), "RS256", rs:sign("m"):sub(2), "signature does not verify")
    end)

    it("reuses an imported key only for the very same numbers, through more keys than it keeps", function()
      -- Keys are imported once and kept, keyed by their decoded numbers:
      -- twelve keys cycle the cache; each must still verify its own
      -- signatures and no other key's, on every round.
      local keys, sigs = {}, {}
      for i = 1, 12 do
        keys[i] = jose.generate_key("ES256")
        sigs[i] = keys[i]:sign("m" .. i)
      end
      for _ = 1, 2 do
        for i = 1, 12 do
          assert.is_true(jose.verify(keys[i]:public_jwk(), "ES256", "m" .. i, sigs[i]), i)
          local j = i % 12 + 1
          assert.is_nil(jose.verify(keys[j]:public_jwk(), "ES256", "m" .. i, sigs[i]), i)
        end
      end
      -- Same modulus, other exponent: another key, whatever was cached.
      local sig = rs:sign("m")
      assert.is_true(jose.verify(rs:public_jwk(), "RS256", "m", sig))
      local jwk = rs:public_jwk()
      jwk.e = "Aw" -- 3
      local ok, msg = jose.verify(jwk, "RS256", "m", sig)
      assert.is_nil(ok)
      assert.are.equal("signature does not verify", msg)
      -- A PS256 check with the cached RSA key still insists on PSS padding.
      assert.is_nil(jose.verify(rs:public_jwk(), "PS256", "m", sig))
      assert.is_true(jose.verify(rs:public_jwk(), "RS256", "m", sig))
      for _, k in ipairs(keys) do k:close() end
    end)

    it("refuses RSA moduli under 2048 bits", function()
      local code, out = env.run(("openssl rsa -in %s -modulus -noout"):format(q(dir .. "/rsa1024.pem")))
      assert.are.equal(0, code)
      local n = out:match("Modulus=(%x+)"):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
      local ok, msg = jose.verify({ kty = "RSA", n = jose.b64url_encode(n), e = "AQAB" }, "RS256", "m", ("\0"):rep(128))
      assert.is_nil(ok)
      assert.are.equal("the RSA key is shorter than 2048 bits", msg)
    end)

    it("raises on misuse", function()
      assert.has_error(function() jose.verify("jwk", "RS256", "m", "s") end)
      assert.has_error(function() jose.verify({}, nil, "m", "s") end)
      assert.has_error(function() jose.verify({}, "RS256", nil, "s") end)
    end)
  end)
end)

-- ssf.receiver with ssf.set.verify, whose signature checks run on the
-- receiver's verification threads (ssf.httpd, C) before Lua takes a SET:
-- every SET still comes out of rx:next once and in arrival order, and
-- every refusal is the one ssf.set.verify gives. curl plays the
-- transmitter, several requests in a row on one connection (--next).
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http"
local jose = require "ssf.jose"
local jws = require "ssf.jws"
local keys = require "keys"

local ISS = "https://t.example.com"
local SET_TYPE = "application/secevent+jwt"
local VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"

describe("ssf.receiver's verification threads", function()
  local dir, rsa, rsa2, ec, forger, jwks

  -- Keys made by the openssl CLI: generating them in-process is slow under
  -- valgrind.
  local function load(kind, name)
    return assert(jose.load_key(assert(env.read(keys.make(dir, kind, name)))))
  end

  setup(function()
    dir = env.tmpdir()
    rsa, rsa2, ec, forger = load("rsa", "r.pem"), load("rsa", "r2.pem"), load("ec", "e.pem"), load("rsa", "f.pem")
    jwks = { keys = {} }
    for kid, key in pairs { r = rsa, r2 = rsa2, e = ec } do
      local jwk = key:public_jwk()
      jwk.kid = kid
      jwks[kid] = jwk
    end
    jwks.keys = { jwks.r, jwks.e, jwks.r2 }
  end)

  teardown(function()
    env.rmdir(dir)
    rsa:close()
    rsa2:close()
    ec:close()
    forger:close()
  end)

  local function claims(jti)
    return { iss = ISS, iat = os.time(), jti = jti, sub_id = { format = "opaque", id = "s" },
             events = { [VERIFICATION] = { state = "x" } } }
  end

  -- A SET signed by key under the header given (a table, or raw JSON text).
  local function signed(key, header, jti)
    local part = type(header) == "string" and jose.b64url_encode(header) or jws.encode_part(header)
    return jws.sign_encoded(key, part, claims(jti))
  end

  local function set_for(key, kid, jti)
    return signed(key, { alg = key:alg(), kid = kid, typ = "secevent+jwt" }, jti)
  end

  -- Sends bodies one after another on one connection, in the background.
  -- Returns a function that waits (bounded) for curl to end and returns
  -- the statuses and the answers' bodies, in order.
  local function send(url, bodies)
    local tag, args = jws.random_id(), {}
    for i, body in ipairs(bodies) do
      local f = ("%s/%s-%d"):format(dir, tag, i)
      env.write(f .. ".in", body)
      args[i] = ("-s -H %s --data-binary @%s -o %s -w '%%{http_code}\\n' %s")
        :format(env.q("Content-Type: " .. SET_TYPE), env.q(f .. ".in"), env.q(f .. ".out"), env.q(url))
    end
    local done = env.q(("%s/%s.done"):format(dir, tag))
    os.execute(("(curl %s > %s.part 2>/dev/null; mv %s.part %s) &")
      :format(table.concat(args, " --next "), done, done, done))
    return function()
      local out
      for _ = 1, 3000 do -- up to 60 s
        out = env.read(("%s/%s.done"):format(dir, tag))
        if out then break end
        http.sleep(0.02)
      end
      assert(out, "curl did not finish")
      local statuses, answers = {}, {}
      for s in out:gmatch("%d+") do statuses[#statuses + 1] = tonumber(s) end
      for i = 1, #bodies do answers[i] = env.read(("%s/%s-%d.out"):format(dir, tag, i)) or "" end
      return statuses, answers
    end
  end

  -- Sends one valid SET and takes it: Lua checks that one itself and then
  -- hands the keys to the threads.
  local function warm_up(rx)
    local wait = send(rx.endpoint_url, { set_for(rsa, "r", "warm-up") })
    assert.are.equal("warm-up", assert(rx:next(60)).claims.jti)
    assert.are.same({ 202 }, (wait()))
  end

  it("check signatures, while rx:next hands out every SET once, in arrival order", function()
    local rx = assert(ssf.receiver { verify = { jwks = jwks, issuer = ISS } })
    finally(function() rx:close() end)
    warm_up(rx)
    assert.are.equal(0, rx:stats().verified)
    -- The threads go by their names in top -H (and in the receiver bench,
    -- which reads the checks' CPU time by them): one per core, up to 4.
    local stat = env.read("/proc/self/stat")
    if stat then
      local task = "/proc/" .. stat:match("^%d+") .. "/task/"
      local _, names = env.run("cat " .. task .. "*/comm")
      local _, cores = env.run("getconf _NPROCESSORS_ONLN")
      assert.are.equal(math.min(4, tonumber(cores)), select(2, names:gsub("ssf%-verify\n", "")))
      assert.are.equal(1, select(2, names:gsub("ssf%-reaper\n", "")))
    end
    local conns, per, waits = 3, 12, {}
    for c = 1, conns do
      local bodies = {}
      for i = 1, per do
        local key, kid = rsa, "r"
        if i % 2 == 0 then key, kid = ec, "e" end
        bodies[i] = set_for(key, kid, ("c%d-%d"):format(c, i))
      end
      waits[c] = send(rx.endpoint_url, bodies)
    end
    -- Each connection sends its SETs one after another, so they arrive
    -- in order; rx:next must keep it, and return each one once.
    local last, seen = {}, {}
    for _ = 1, conns * per do
      local set = assert(rx:next(60))
      local jti = set.claims.jti
      assert.is_nil(seen[jti], jti)
      seen[jti] = true
      local c, i = jti:match("^c(%d+)%-(%d+)$")
      c, i = tonumber(c), tonumber(i)
      assert.are.equal((last[c] or 0) + 1, i, jti)
      last[c] = i
    end
    for c = 1, conns do
      local statuses = waits[c]()
      assert.are.equal(per, #statuses)
      for _, s in ipairs(statuses) do assert.are.equal(202, s) end
    end
    assert.is_nil(rx:next(0))
    -- Every SET after the warm-up was checked on the threads.
    assert.are.equal(conns * per, rx:stats().verified)
  end)

  it("refuse forged signatures, wrong kids, alg none and HS256 as ssf.set.verify does", function()
    local verify = { jwks = jwks, issuer = ISS }
    local rx = assert(ssf.receiver { verify = verify })
    finally(function() rx:close() end)
    warm_up(rx)
    local payload = jws.encode_part(claims("bad"))
    local cases = {
      set_for(forger, "r", "forged"),
      set_for(rsa, "nope", "unknown-kid"),
      set_for(ec, "r", "kid-of-another-kty"),
      jose.b64url_encode('{"alg":"none","typ":"secevent+jwt"}') .. "." .. payload .. ".",
      -- HS256 keyed with the RSA public key's bytes: the confusion attack.
      jws.encode_part { alg = "HS256", kid = "r", typ = "secevent+jwt" } .. "." .. payload .. "."
        .. jose.b64url_encode(jose.sha256(jwks.r.n)),
      -- The threads read the first kid, ssf.set the last: a proof for key
      -- r must not pass a SET that ssf.set checks with key r2.
      signed(rsa, '{"alg":"RS256","kid":"r","kid":"r2","typ":"secevent+jwt"}', "two-kids"),
    }
    local wait = send(rx.endpoint_url, cases)
    for _ = 1, 600 do
      if #rx.rejected >= #cases then break end
      assert.is_nil(rx:next(0.1))
    end
    local statuses, answers = wait()
    for i, body in ipairs(cases) do
      local ok, msg, info = ssf.set.verify(body, verify)
      assert.is_nil(ok, i)
      assert.are.equal(400, statuses[i], i)
      assert.are.same({ err = info.err, description = msg }, ssf.json.decode(answers[i]), i)
    end
    assert.are.equal('signature does not verify (key "r2")', ssf.json.decode(answers[#cases]).description)
    -- Of these, only the two-kid SET had a valid signature by a handed key.
    assert.are.equal(1, rx:stats().verified)
  end)

  -- P-256's order n, big-endian.
  local N = ("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"):gsub("..", function(h)
    return string.char(tonumber(h, 16))
  end)

  -- The SET with its ES256 signature R||S changed by f(r, s) -> r, s.
  local function resigned(set, f)
    local head, sig = set:match("^(.*)%.([^.]*)$")
    sig = jose.b64url_decode(sig)
    local r, s = f(sig:sub(1, 32), sig:sub(33))
    return head .. "." .. jose.b64url_encode(r .. s)
  end

  -- n - s, byte by byte with a borrow: the other valid s.
  local function twin(r, s)
    local out, borrow = {}, 0
    for i = 32, 1, -1 do
      local d = N:byte(i) - s:byte(i) - borrow
      borrow = d < 0 and 1 or 0
      out[i] = string.char(d % 256)
    end
    return r, table.concat(out)
  end

  it("check ES256 with the signer's own table, answering as libcrypto does", function()
    local verify = { jwks = jwks, issuer = ISS }
    local rx = assert(ssf.receiver { verify = verify })
    local other = load("ec", "e2.pem")
    finally(function()
      rx:close()
      other:close()
    end)
    warm_up(rx)
    -- The first ES256 SET proved on a thread has it make key e's table;
    -- the SETs after it are checked with the table.
    local wait = send(rx.endpoint_url, { set_for(ec, "e", "first") })
    assert.are.equal("first", assert(rx:next(60)).claims.jti)
    assert.are.same({ 202 }, (wait()))
    local cases = {
      set_for(ec, "e", "valid"),
      resigned(set_for(ec, "e", "high-s"), twin),
      resigned(set_for(ec, "e", "flipped"), function(r, s)
        local last = s:byte(32) -- its lowest bit flipped (no ~ in LuaJIT)
        return r, s:sub(1, 31) .. string.char(last % 2 == 0 and last + 1 or last - 1)
      end),
      resigned(set_for(ec, "e", "r-zero"), function(_, s) return ("\0"):rep(32), s end),
      resigned(set_for(ec, "e", "s-is-n"), function(r) return r, N end),
      set_for(other, "e", "other-key"),
    }
    local accepted = {}
    for i, body in ipairs(cases) do accepted[i] = ssf.set.verify(body, verify) ~= nil end
    assert.are.same({ true, true, false, false, false, false }, accepted)
    wait = send(rx.endpoint_url, cases)
    local got = {}
    for _ = 1, 600 do
      local set = rx:next(0.1)
      if set then got[#got + 1] = set.claims.jti end
      if #got + #rx.rejected >= #cases then break end
    end
    local statuses = wait()
    for i in ipairs(cases) do assert.are.equal(accepted[i] and 202 or 400, statuses[i], i) end
    assert.are.same({ "valid", "high-s" }, got)
    -- first, valid and high-s: each proved on a thread.
    assert.are.equal(3, rx:stats().verified)
  end)

  it("give each SET its own header, though headers are decoded once", function()
    local verify = { jwks = jwks, issuer = ISS }
    local first = assert(ssf.set.verify(set_for(rsa, "r", "h1"), verify))
    first.header.kid = "changed"
    first.header.extra = {}
    local second = assert(ssf.set.verify(set_for(rsa, "r", "h2"), verify))
    assert.are.same({ alg = "RS256", kid = "r", typ = "secevent+jwt" }, second.header)
    assert.are.same(second.header, assert(ssf.set.decode(set_for(rsa, "r", "h3"))).header)
  end)

  it("accept a key rotated in once Lua refetches the JWKS, then check it on the threads", function()
    local stub = fake.set_stub { keys = { jwks.r } }
    local rx
    -- One finally per test: a second one would replace the first.
    finally(function()
      if rx then rx:close() end
      stub.stop()
    end)
    rx = assert(ssf.receiver { verify = { jwks = stub.url .. "/jwks", issuer = ISS } })
    warm_up(rx)
    local function one(key, kid, jti)
      local wait = send(rx.endpoint_url, { set_for(key, kid, jti) })
      assert.are.equal(jti, assert(rx:next(60)).claims.jti)
      assert.are.same({ 202 }, (wait()))
    end
    one(rsa, "r", "before")
    assert.are.equal(1, rx:stats().verified)
    stub.publish { keys = { jwks.r, jwks.r2 } }
    one(rsa2, "r2", "rotated") -- unknown to the threads: Lua refetches
    assert.are.equal(1, rx:stats().verified)
    assert.are.equal(2, stub.count().jwks)
    one(rsa2, "r2", "after")
    assert.are.equal(2, rx:stats().verified)
  end)
end)

-- The SET receiver (ssf.receiver over ssf.httpd) driven over real HTTP:
-- curl plays the transmitter, and the fake transmitter pushes a signed
-- verification SET end to end. Verification is a `verifier` with
-- hand-built rules, so these specs need no ssf.set.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http"
local httpd = require "ssf.httpd"
local keys = require "keys"

local AUTH = "Bearer s3cret"
local SET_TYPE = "application/secevent+jwt"
local VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
local _ -- the discarded values of multiple assignments below

-- Rules instead of signatures: a body "reject:<err>" is refused with that
-- err (none for "reject:"), anything else is a SET whose jti is the body.
local function verifier(jwt)
  local err = jwt:match("^reject:(.*)$")
  if err then
    return nil, "rejected by rule", { kind = "set", err = err ~= "" and err or nil }
  end
  return { claims = { jti = jwt }, events = {} }
end

local function receiver(opts)
  local o = { authorization = AUTH, verifier = verifier }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(ssf.receiver(o))
end

local function curl_args(body, headers)
  local args = { "-s", "-X", "POST" }
  for _, h in ipairs(headers or { "Authorization: " .. AUTH, "Content-Type: " .. SET_TYPE }) do
    args[#args + 1] = "-H"
    args[#args + 1] = env.q(h)
  end
  if body then
    local data = os.tmpname()
    env.write(data, body)
    args[#args + 1] = "--data-binary @" .. env.q(data)
    return table.concat(args, " "), data
  end
  return table.concat(args, " ")
end

-- curl, waited for: for the answers C gives without Lua. Returns the
-- status (0 when there was none), the body and the raw headers.
local function curl(url, opts)
  opts = opts or {}
  local args, data = curl_args(opts.body, opts.headers)
  if opts.get then args = "-s" end
  local hfile = os.tmpname()
  local _, out = env.run(("curl %s %s -D %s -w '\\n%%{http_code}' %s")
    :format(args, opts.extra or "", env.q(hfile), env.q(url)))
  if data then os.remove(data) end
  local head = env.read(hfile) or ""
  os.remove(hfile)
  local body, status = out:match("^(.-)\n(%d+)$")
  return tonumber(status), body, head
end

-- curl in the background, for SETs that Lua answers: returns a function
-- that waits (bounded) for curl to end and returns status, body and the
-- raw headers.
local function push(url, body, headers)
  local args, data = curl_args(body, headers)
  local out, head, done = os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(done)
  -- The rename marks the end, so a half-written status is never read.
  os.execute(("(curl %s -o %s -D %s -w '%%{http_code}' %s > %s.part 2>/dev/null; mv %s.part %s) &")
    :format(args, env.q(out), env.q(head), env.q(url), env.q(done), env.q(done), env.q(done)))
  return function()
    assert(env.eventually(function() return env.read(done) ~= nil end, 15), "curl did not finish")
    local status, answer, headers = tonumber(env.read(done)), env.read(out), env.read(head)
    os.remove(done)
    os.remove(out)
    os.remove(head)
    os.remove(data)
    return status, answer, headers
  end
end

local clock = httpd.clock

describe("ssf.receiver", function()
  local rx

  after_each(function()
    if rx then rx:close() end
    rx = nil
  end)

  it("is loaded only when first used", function()
    local code, out = env.ssflua("-e " .. env.q([[require "ssf"; print(package.loaded["ssf.httpd"], package.loaded["ssf.receiver"])]]))
    assert.are.equal(0, code)
    assert.are.equal("nil\tnil\n", out)
  end)

  it("says where it listens, with an ephemeral port", function()
    rx = receiver()
    assert.matches("^http://127%.0%.0%.1:%d+/ssf/events$", rx.endpoint_url)
    assert.is_true(rx.port > 0)
    assert.are.equal(rx.port, tonumber(rx.endpoint_url:match(":(%d+)/")))
    assert.is_true(rx.loopback)
    assert.matches("^ssf.receiver: http://", tostring(rx))
    local v6 = receiver { listen = "[::1]:0", path = "/hooks/ssf" }
    assert.matches("^http://%[::1%]:%d+/hooks/ssf$", v6.endpoint_url)
    assert.is_true(v6.loopback)
    assert.are.equal(404, (curl("http://[::1]:" .. v6.port .. "/other", { extra = "-g" })))
    v6:close()
    local short = receiver { listen = ":0" }
    assert.matches("^http://127%.0%.0%.1:%d+/ssf/events$", short.endpoint_url)
    short:close()
  end)

  it("refuses in C what the headers condemn, and counts it", function()
    rx = receiver { max_body = 1000 }
    local url = rx.endpoint_url

    local status, body = curl((url:gsub("/ssf/events$", "/other")), { body = "a" })
    assert.are.equal(404, status)
    assert.are.equal("invalid_request", ssf.json.decode(body).err)

    local head
    status, _, head = curl(url, { get = true })
    assert.are.equal(405, status)
    assert.matches("\r\nAllow: POST\r\n", head)

    for _, auth in ipairs { "Bearer s3creX", "Bearer s3cret-and-more", "Bearer", "s3cret" } do
      status, body, head = curl(url, { body = "a", headers = { "Authorization: " .. auth, "Content-Type: " .. SET_TYPE } })
      assert.are.equal(401, status, auth)
      assert.are.equal("authentication_failed", ssf.json.decode(body).err)
      assert.matches("\r\nWWW%-Authenticate: Bearer realm=\"ssf\"\r\n", head)
    end
    status = curl(url, { body = "a", headers = { "Content-Type: " .. SET_TYPE } })
    assert.are.equal(401, status, "missing Authorization")

    status, body = curl(url, { body = "a", headers = { "Authorization: " .. AUTH, "Content-Type: application/json" } })
    assert.are.equal(400, status)
    local err = ssf.json.decode(body)
    assert.are.equal("invalid_request", err.err)
    assert.matches("Content%-Type", err.description)
    status = curl(url, { body = "a", headers = { "Authorization: " .. AUTH } })
    assert.are.equal(400, status, "no Content-Type")

    -- Declared too big: refused before the body is read.
    status, body = curl(url, { body = ("x"):rep(1001) })
    assert.are.equal(413, status)
    assert.are.equal("invalid_request", ssf.json.decode(body).err)
    -- Undeclared (chunked) and too big: the connection is dropped.
    status = curl(url, { body = ("x"):rep(200000), extra = "-H 'Transfer-Encoding: chunked'" })
    assert.are.equal(0, status)

    -- The dropped connection is the chunked upload cut at max_body. The
    -- server notices the last close in its own time.
    assert.is_true(env.eventually(function() return rx:stats().connections == 0 end))
    assert.are.same({ [400] = 2, [401] = 5, [404] = 1, [405] = 1, [413] = 2, [501] = 0, [503] = 0,
                      waiting = 0, connections = 0, buffered = 0, refused = 0, dropped = 1,
                      verified = 0 }, rx:stats())
    local set, msg, info = rx:next(0)
    assert.is_nil(set)
    assert.are.equal("timeout", msg)
    assert.are.same({ kind = "timeout" }, info)
  end)

  it("takes request headers up to about 8 KiB and has libmicrohttpd answer 431 beyond", function()
    rx = receiver()
    local function with_header(n)
      return { "Authorization: " .. AUTH, "Content-Type: " .. SET_TYPE, "X-Padding: " .. ("p"):rep(n) }
    end
    local wait = push(rx.endpoint_url, "jti-wide", with_header(6000))
    assert.are.equal("jti-wide", assert(rx:next(10)).claims.jti)
    assert.are.equal(202, (wait()))
    assert.are.equal(431, (curl(rx.endpoint_url, { body = "jti-too-wide", headers = with_header(9000) })))
    assert.is_nil(rx:next(0))
  end)

  it("answers 202 to a valid SET and returns it with the raw JWT", function()
    rx = receiver()
    local wait = push(rx.endpoint_url, "jti-1")
    local set = assert(rx:next(10))
    assert.are.equal("jti-1", set.claims.jti)
    assert.are.equal("jti-1", set.raw)
    local status, body = wait()
    assert.are.equal(202, status)
    assert.are.equal("", body)
  end)

  it("accepts a Content-Type with parameters, and no Authorization when none is configured", function()
    rx = assert(ssf.receiver { verifier = verifier })
    local wait = push(rx.endpoint_url, "jti-p", { "Content-Type: Application/SecEvent+JWT; charset=utf-8" })
    assert.are.equal("jti-p", assert(rx:next(10)).raw)
    assert.are.equal(202, (wait()))
  end)

  it("answers 400 with the verifier's err to a rejected SET and records it", function()
    rx = receiver()
    local wait = push(rx.endpoint_url, "reject:invalid_issuer")
    local set, msg = rx:next(1)
    assert.is_nil(set)
    assert.are.equal("timeout", msg)
    local status, body = wait()
    assert.are.equal(400, status)
    assert.are.same({ err = "invalid_issuer", description = "rejected by rule" }, ssf.json.decode(body))

    wait = push(rx.endpoint_url, "reject:")
    assert.is_nil(rx:next(1))
    status, body = wait()
    assert.are.equal(400, status)
    assert.are.equal("invalid_request", ssf.json.decode(body).err)

    assert.are.equal(2, #rx.rejected)
    assert.are.equal("invalid_issuer", rx.rejected[1].err)
    assert.are.equal("rejected by rule", rx.rejected[1].message)
    assert.is_true(math.abs(rx.rejected[1].time - os.time()) < 5)
    assert.are.equal("invalid_request", rx.rejected[2].err)
  end)

  it("answers 202 to a repeated jti but returns the SET once", function()
    rx = receiver()
    local wait = push(rx.endpoint_url, "jti-dup")
    assert.are.equal("jti-dup", assert(rx:next(10)).raw)
    assert.are.equal(202, (wait()))
    wait = push(rx.endpoint_url, "jti-dup")
    local set, msg = rx:next(1)
    assert.is_nil(set)
    assert.are.equal("timeout", msg)
    assert.are.equal(202, (wait()))
  end)

  it("returns at its timeout, even while rejecting a stream of bad SETs", function()
    rx = receiver()
    local t0 = clock()
    local set, msg, info = rx:next(0.3)
    local waited = clock() - t0
    assert.is_nil(set)
    assert.are.equal("timeout", msg)
    assert.are.same({ kind = "timeout" }, info)
    assert.is_true(waited >= 0.3 and waited < 2, "waited " .. waited)

    -- One bad SET after another, for longer than the timeout.
    local args, data = curl_args("reject:invalid_key")
    local done = os.tmpname()
    os.remove(done)
    os.execute(("(for i in $(seq 1 100); do curl %s -o /dev/null %s; done; rm -f %s; touch %s) &")
      :format(args, env.q(rx.endpoint_url), env.q(data), env.q(done)))
    assert.is_true(env.eventually(function() return rx:stats().waiting > 0 end))
    t0 = clock()
    set, msg = rx:next(0.5)
    waited = clock() - t0
    assert.is_nil(set)
    assert.are.equal("timeout", msg)
    assert.is_true(waited >= 0.5 and waited < 2, "waited " .. waited)
    assert.is_true(#rx.rejected > 1)
    assert.are.equal("invalid_key", rx.rejected[1].err)
    rx:close() -- the rest of the loop finds the port closed
    assert.is_true(env.eventually(function() return env.read(done) ~= nil end, 15))
    os.remove(done)
  end)

  it("answers 503 to what waits when it closes", function()
    rx = receiver()
    local wait = push(rx.endpoint_url, "jti-late")
    assert.is_true(env.eventually(function() return rx:stats().waiting == 1 end))
    rx:close()
    local status, body = wait()
    assert.are.equal(503, status)
    assert.matches("shutting down", body)
    rx:close() -- idempotent
    assert.has_error(function() rx:next(0) end, "attempt to use a closed receiver")
  end)

  it("answers 503 with Retry-After when too many SETs wait", function()
    rx = receiver { max_pending = 1 }
    local wait = push(rx.endpoint_url, "jti-first")
    assert.is_true(env.eventually(function() return rx:stats().waiting == 1 end))
    local status, _, head = curl(rx.endpoint_url, { body = "jti-second" })
    assert.are.equal(503, status)
    assert.matches("\r\nRetry%-After: %d+\r\n", head)
    assert.are.equal("jti-first", assert(rx:next(10)).raw)
    assert.are.equal(202, (wait()))
  end)

  it("answers 503 itself when Lua does not answer in time", function()
    local srv = assert(httpd.listen { answer_timeout = 1 })
    local url = ("http://127.0.0.1:%d/ssf/events"):format(srv:port())
    local wait = push(url, "jti-slow", { "Content-Type: " .. SET_TYPE })
    local req = assert(srv:poll(10))
    assert.are.equal("jti-slow", req.body)
    assert.are.equal(SET_TYPE, req.content_type)
    assert.matches("^127%.0%.0%.1:%d+$", req.remote)
    local status, body = wait()
    assert.are.equal(503, status)
    assert.matches("did not answer in time", body)
    assert.is_false(srv:respond(req.id, 202))
    assert.are.equal(1, srv:stats()[503])
    srv:close()
  end)

  it("serves many clients at once", function()
    rx = receiver()
    local n, bad = 40, 10
    local script = os.tmpname()
    local lines = {}
    for i = 1, n do
      lines[#lines + 1] = ("curl -s -o /dev/null -w '%%{http_code}\\n' -H %s -H %s --data-binary jti-many-%d %s &")
        :format(env.q("Authorization: " .. AUTH), env.q("Content-Type: " .. SET_TYPE), i, env.q(rx.endpoint_url))
    end
    for _ = 1, bad do
      lines[#lines + 1] = ("curl -s -o /dev/null -w '%%{http_code}\\n' -H %s --data-binary x %s &")
        :format(env.q("Content-Type: " .. SET_TYPE), env.q(rx.endpoint_url))
    end
    lines[#lines + 1] = "wait"
    env.write(script, table.concat(lines, "\n"))
    local out, done = os.tmpname(), os.tmpname()
    os.remove(done)
    os.execute(("(sh %s > %s; touch %s) &"):format(env.q(script), env.q(out), env.q(done)))

    local got, deadline = {}, clock() + 30
    for _ = 1, n do
      local set = rx:next(math.max(0, deadline - clock()))
      if not set then break end
      got[set.raw] = true
    end
    assert.is_true(env.eventually(function() return env.read(done) ~= nil end, 15))
    local statuses = {}
    for s in env.read(out):gmatch("%d+") do statuses[s] = (statuses[s] or 0) + 1 end
    os.remove(script)
    os.remove(out)
    os.remove(done)
    for i = 1, n do assert.is_true(got["jti-many-" .. i], "missing jti-many-" .. i) end
    assert.are.same({ ["202"] = n, ["401"] = bad }, statuses)
    assert.are.equal(bad, rx:stats()[401])
  end)

  it("raises on misuse, naming the argument, and returns config failures", function()
    assert.has_error(function() ssf.receiver("x") end,
      "bad argument #1 to 'receiver' (table expected, got string)")
    assert.has_error(function() ssf.receiver { verifier = verifier, lisen = ":0" } end,
      "bad argument #1 to 'receiver' (unknown option 'lisen')")
    assert.has_error(function() ssf.receiver { verifier = verifier, max_body = "1" } end,
      "bad argument #1 to 'receiver' (option 'max_body' must be a number, got string)")
    assert.has_error(function() ssf.receiver {} end)
    rx = receiver()
    assert.has_error(function() rx:next("soon") end,
      "bad argument #1 to 'next' (timeout must be a non-negative number of seconds, got string)")
    assert.has_error(function() rx:next(-1) end)

    for _, bad in ipairs {
      { listen = "localhost" }, { listen = "127.0.0.1:99999" }, { listen = "::1:80" },
      { listen = "example.com:80" }, { path = "ssf" }, { path = "/a?b" },
      { authorization = "" }, { authorization = "Bearer x\r\nX-Evil: 1" }, { max_body = 0 },
      { max_body = 1e12 }, { max_pending = 1.5 },
    } do
      bad.verifier = verifier
      local r, msg, info = ssf.receiver(bad)
      assert.is_nil(r)
      assert.is_string(msg)
      assert.are.equal("config", info.kind)
    end
    -- A port in use is returned, not raised.
    local r, msg, info = ssf.receiver { verifier = verifier, listen = "127.0.0.1:" .. rx.port }
    assert.is_nil(r)
    assert.matches("cannot listen on 127%.0%.0%.1:" .. rx.port, msg)
    assert.are.equal("config", info.kind)
  end)

  it("never shows the authorization value", function()
    local secret = "Bearer CANARY-7f3a9c"
    rx = receiver { authorization = secret }
    local seen = { tostring(rx), ssf.json.encode(rx.rejected) }
    for k, v in pairs(rx) do seen[#seen + 1] = tostring(k) .. "=" .. tostring(v) end
    local _, body, head = curl(rx.endpoint_url, { body = "a", headers = { "Content-Type: " .. SET_TYPE } })
    seen[#seen + 1] = body .. head
    for _, s in ipairs(seen) do assert.is_nil(s:find("CANARY", 1, true), s) end
  end)

  it("closes with <close> and when collected", function()
    local port
    env.scoped(receiver(), function(r) port = r.port end)
    assert.are.equal(0, (curl(("http://127.0.0.1:%d/ssf/events"):format(port), { body = "a" })))
    local r = receiver()
    port = r.port
    r = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, (curl(("http://127.0.0.1:%d/ssf/events"):format(port), { body = "a" })))
  end)

  describe("with ack = \"manual\"", function()
    it("answers 202 only on set:ack(), and 503 on set:nack() so the SET comes again", function()
      rx = receiver()
      local wait = push(rx.endpoint_url, "jti-ack")
      local set = assert(rx:next { timeout = 10, ack = "manual" })
      assert.are.equal("jti-ack", set.raw)
      assert.are.equal(1, rx:stats().waiting, "answered before set:ack()")
      assert.is_true(set:ack())
      assert.are.equal(202, (wait()))
      assert.has_error(function() set:ack() end)

      wait = push(rx.endpoint_url, "jti-nack")
      set = assert(rx:next { timeout = 10, ack = "manual" })
      assert.is_true(set:nack())
      assert.are.equal(503, (wait()))
      -- Not remembered: sent again, it is returned again.
      wait = push(rx.endpoint_url, "jti-nack")
      assert.are.equal("jti-nack", assert(rx:next(10)).raw)
      assert.are.equal(202, (wait()))
      -- The acknowledged one is a repeat now.
      wait = push(rx.endpoint_url, "jti-ack")
      assert.is_nil(rx:next { timeout = 1, ack = "manual" })
      assert.are.equal(202, (wait()))
    end)

    it("answers 503 to a SET not acknowledged in time, and to its repeats meanwhile", function()
      rx = receiver { answer_timeout = 1 }
      local wait = push(rx.endpoint_url, "jti-slow")
      local set = assert(rx:next { timeout = 10, ack = "manual" })
      local again = push(rx.endpoint_url, "jti-slow")
      assert.is_nil(rx:next { timeout = 0.5, ack = "manual" }, "the same SET twice")
      assert.are.equal(503, (again()))
      assert.are.equal(503, (wait()))
      assert.is_false(set:ack(), "acknowledged after its 503")
      rx:close()
    end)

    it("raises on misuse, naming the argument", function()
      rx = receiver()
      assert.has_error(function() rx:next { ack = "later" } end,
        'bad argument #1 to \'next\' (ack must be "auto" or "manual")')
      assert.has_error(function() rx:next { timout = 1 } end,
        "bad argument #1 to 'next' (unknown option 'timout')")
      assert.has_error(function() rx:next { timeout = -1 } end)
    end)
  end)

  it("answers 503 with Retry-After when the keys cannot be fetched, and records it", function()
    rx = receiver { verifier = function()
      return nil, "cannot fetch the JWKS from http://127.0.0.1:1/keys: refused",
        { kind = "set", err = "invalid_key", temporary = true }
    end }
    local wait = push(rx.endpoint_url, "jti-keys")
    assert.is_nil(rx:next(1))
    local status, body, head = wait()
    assert.are.equal(503, status)
    assert.matches("cannot fetch the JWKS", ssf.json.decode(body).description)
    assert.matches("\r\nRetry%-After: 30\r\n", head)
    assert.are.equal(503, rx.rejected[1].status)
    assert.are.equal("temporarily_unavailable", rx.rejected[1].err)
  end)

  it("accepts an old but valid SET and flags it late, unless max_age is given", function()
    local dir = env.tmpdir()
    local key = assert(require("ssf.jose").load_key(env.read(keys.make(dir, "rsa", "k.pem"))))
    env.rmdir(dir)
    local jws = require "ssf.jws"
    local jwk = key:public_jwk()
    jwk.kid = "k1"
    local function signed(age, jti)
      return jws.sign_encoded(key, jws.encode_part { alg = "RS256", kid = "k1", typ = "secevent+jwt" }, {
        iss = "https://t.example.com", iat = os.time() - age, jti = jti,
        sub_id = { format = "opaque", id = "s" }, events = { [VERIFICATION] = { state = "x" } },
      })
    end
    local verify = { jwks = { keys = { jwk } }, issuer = "https://t.example.com" }
    rx = assert(ssf.receiver { verify = verify })
    local wait = push(rx.endpoint_url, signed(600, "jti-old"))
    local set = assert(rx:next(10))
    assert.are.equal(202, (wait()))
    assert.is_true(set.late)
    wait = push(rx.endpoint_url, signed(0, "jti-new"))
    assert.is_nil(assert(rx:next(10)).late)
    assert.are.equal(202, (wait()))
    rx:close()

    verify.max_age = 300
    rx = assert(ssf.receiver { verify = verify })
    wait = push(rx.endpoint_url, signed(600, "jti-old"))
    assert.is_nil(rx:next(1))
    local status, body = wait()
    assert.are.equal(400, status)
    assert.matches("max_age is 300 s", body)
    key:close()

    -- Options ssf.set.verify would refuse are refused when the receiver starts.
    assert.has_error(function() ssf.receiver { verify = { jwks = "https://t.example.com/keys" } } end,
      "bad argument #1 to 'receiver' (option 'verify': opts.issuer is required unless opts.jwks is a client or opts.metadata is given)")
  end)

  it("stops rx:next on Ctrl-C", function()
    local p = env.spawn([[
      local ssf = require "ssf"
      local rx = assert(ssf.receiver { verifier = function() end })
      io.stdout:write("listening\n"); io.stdout:flush()
      print(rx:next(60))
    ]], env.interpreter)
    assert.is_true(env.eventually(function() return p:output():find("listening") ~= nil end))
    local gone, elapsed, text = p:interrupt(3)
    assert.is_true(gone, "ssflua ignored Ctrl-C: " .. text)
    assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
    assert.matches("interrupted", text)
  end)
end)

-- Reads a JWT's header and claims without checking the signature: that
-- check is ssf.set's, and these specs are about delivery. Kept as source
-- text so that a subprocess (scripts/receive.lua below) can load it too.
local DECODE_ONLY = [==[
local json = require "ssf.json"
local b64url_decode = require("ssf.jose").b64url_decode
return function(jwt)
  local h, p = jwt:match("^([%w_-]+)%.([%w_-]+)%.[%w_-]+$")
  local header = h and json.decode(b64url_decode(h) or "")
  local claims = p and json.decode(b64url_decode(p) or "")
  if type(header) ~= "table" or type(claims) ~= "table" then
    return nil, "not a compact JWS", { kind = "set", err = "invalid_request" }
  end
  return { header = header, claims = claims, events = claims.events }
end
]==]
local decode_only = assert(load(DECODE_ONLY, "=decode_only"))()

describe("ssf.receiver with the fake transmitter", function()
  local f, okta

  setup(function() f = fake.start() end)
  teardown(function() f:stop() end)
  before_each(function()
    f:reset()
    okta = f:client()
  end)
  after_each(function() okta:close() end)

  -- Points a new stream at url with the given authorization_header and
  -- asks the fake for a verification SET carrying state.
  local function verify_at(url, authorization, state)
    local s = assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = url, authorization_header = authorization },
      events_requested = { ssf.events.SESSION_REVOKED },
    })
    assert(okta:verify_stream(s.stream_id, state))
  end

  -- The fake's record of its first push, once that push is over.
  local function first_delivery()
    local d
    assert.is_true(env.eventually(function()
      d = f:deliveries()[1]
      return d ~= nil and (type(d.status) == "number" or type(d.error) == "string")
    end))
    return d
  end

  it("receives the verification SET pushed on verify_stream", function()
    local rx = receiver { verifier = decode_only }
    finally(function() rx:close() end)
    verify_at(rx.endpoint_url, AUTH, "state-e2e")
    local set = assert(rx:next(10))
    assert.are.equal("secevent+jwt", set.header.typ)
    assert.are.equal("state-e2e", set.events[VERIFICATION].state)
    assert.are.equal(f.url, set.claims.iss)
    assert.is_string(set.claims.jti)
    assert.matches("^[%w_-]+%.[%w_-]+%.[%w_-]+$", set.raw)

    local delivered = first_delivery()
    assert.are.equal(202, delivered.status)
    assert.are.equal(set.claims.jti, delivered.jti)
  end)

  it("is refused with 401 when the stream's authorization_header is wrong", function()
    local rx = receiver { verifier = decode_only }
    finally(function() rx:close() end)
    verify_at(rx.endpoint_url, "Bearer wrong", "state-401")
    assert.are.equal(401, first_delivery().status)
    assert.is_nil(rx:next(0))
    assert.are.equal(1, rx:stats()[401])
  end)

  it("answers 503 while the JWKS endpoint is down, and 202 to the next SET once it is back", function()
    local rx = assert(ssf.receiver {
      authorization = AUTH, verify = { jwks = f.url .. "/oauth2/v1/keys", issuer = f.url },
    })
    finally(function() rx:close() end)
    f:config { min_verification_interval = 0 }
    f:faults { { match = { path = "/oauth2/v1/keys" }, action = "reset" } }
    local s = assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = rx.endpoint_url, authorization_header = AUTH },
      events_requested = { ssf.events.SESSION_REVOKED },
    })
    assert(okta:verify_stream(s.stream_id, "state-down"))
    local set, msg = rx:next(5)
    assert.is_nil(set, "a SET verified without keys")
    assert.are.equal("timeout", msg)
    assert.are.equal(503, first_delivery().status, "the transmitter was told to give up (400)")
    assert.are.equal("temporarily_unavailable", rx.rejected[1].err)

    assert(okta:verify_stream(s.stream_id, "state-back"))
    set = assert(rx:next(10))
    assert.are.equal("state-back", set.events[VERIFICATION].state)
    local d
    assert.is_true(env.eventually(function()
      d = f:deliveries()
      return #d == 2 and (type(d[2].status) == "number" or type(d[2].error) == "string")
    end))
    assert.are.equal(202, d[2].status)
  end)

  describe("and scripts/receive.lua", function()
    local RECEIVE = env.q(env.root .. "/scripts/receive.lua")

    it("answers --help and refuses bad usage with status 2", function()
      local code, out = env.ssflua(RECEIVE .. " --help")
      assert.are.equal(0, code)
      for _, flag in ipairs { "--listen", "--path", "--authorization-env", "--issuer", "--audience",
                              "--jwks", "--max-age", "--skew", "--count", "--timeout" } do
        assert.matches(flag, out, 1, true)
      end
      local err
      code, _, err = env.ssflua(RECEIVE .. " --timeout 1")
      assert.are.equal(2, code)
      assert.matches("give %-%-jwks URL", err)
      local jwks = " --jwks http://127.0.0.1:1/keys --issuer https://t.example.com"
      -- Every option is checked before anything listens (exit status 2).
      for _, bad in ipairs {
        { jwks .. " --count 0", "--count must be" },
        { " --jwks http://127.0.0.1:1/keys", "--jwks needs --issuer" },
        { jwks .. " --max-age soon", "--max-age must be a number of seconds" },
        { jwks .. " --skew -1", "--skew must be a number of seconds" },
        { jwks .. " --timeout x", "--timeout must be a number of seconds" },
      } do
        code, _, err = env.ssflua(RECEIVE .. bad[1])
        assert.are.equal(2, code, bad[1])
        assert.matches(bad[2], err, 1, true)
      end
      code, _, err = env.ssflua(RECEIVE .. " --timeout 1", { OKTA_CLIENT_ORGURL = "http://example.com" })
      assert.are.equal(2, code)
      assert.matches("OKTA_CLIENT_ORGURL: org must use https", err, 1, true)
      code, _, err = env.ssflua(RECEIVE .. jwks .. " --authorization-env SSF_TEST_UNSET")
      assert.are.equal(1, code)
      assert.matches("SSF_TEST_UNSET is not set", err)
    end)

    it("stops at --timeout, failing when --count SETs did not come", function()
      local args = " --jwks http://127.0.0.1:1/keys --issuer https://t.example.com --listen 127.0.0.1:0 --timeout 0.3"
      local code, out, err = env.ssflua(RECEIVE .. args)
      assert.are.equal(0, code, err)
      assert.are.equal("", out)
      assert.matches("^receiving SETs at http://127%.0%.0%.1:%d+/ssf/events\n", err)
      code, _, err = env.ssflua(RECEIVE .. args .. " --count 1")
      assert.are.equal(1, code)
      assert.matches("timed out after 0%.3 s with 0 of 1 SETs", err)
    end)

    it("stops with status 1 when its reader goes away, and loses nothing it acknowledged", function()
      f:config { min_verification_interval = 0 }
      local out, err, status = os.tmpname(), os.tmpname(), os.tmpname()
      os.remove(status)
      -- receive.lua | head -n 1
      os.execute(("((SSF_TEST_AUTH=%s %s %s --listen 127.0.0.1:0 --jwks %s --issuer %s"
        .. " --authorization-env SSF_TEST_AUTH --timeout 60 2>%s; echo $? > %s.part; mv %s.part %s)"
        .. " | head -n 1 > %s) &")
        :format(env.q(AUTH), env.q(env.ssflua_bin), RECEIVE, env.q(f.url .. "/oauth2/v1/keys"), env.q(f.url),
                env.q(err), env.q(status), env.q(status), env.q(status), env.q(out)))
      local url
      assert.is_true(env.eventually(function()
        url = (env.read(err) or ""):match("receiving SETs at (%S+)")
        return url ~= nil
      end), env.read(err))
      local s = assert(okta:create_stream {
        delivery = { method = ssf.PUSH, endpoint_url = url, authorization_header = AUTH },
        events_requested = { ssf.events.SESSION_REVOKED },
      })
      assert(okta:verify_stream(s.stream_id, "state-1"))
      assert.is_true(env.eventually(function() return (env.read(out) or ""):find("\n") ~= nil end), env.read(err))
      assert.are.equal(202, first_delivery().status)
      -- head has printed its line and exits; the next SET finds no reader.
      http.sleep(0.5)
      assert(okta:verify_stream(s.stream_id, "state-2"))
      assert.is_true(env.eventually(function() return env.read(status) ~= nil end, 20), "receive.lua kept running")
      local code, notes, printed = tonumber(env.read(status)), env.read(err), env.read(out)
      os.remove(out)
      os.remove(err)
      os.remove(status)
      assert.are.equal(1, code, notes)
      assert.matches("cannot write to stdout", notes)
      -- What the transmitter holds: one SET accepted, and it is the one
      -- printed; the other was answered 503, to be sent again.
      local d
      assert.is_true(env.eventually(function()
        d = f:deliveries()
        return #d == 2 and (type(d[2].status) == "number" or type(d[2].error) == "string")
      end))
      assert.are.equal(202, d[1].status)
      assert.are.equal(503, d[2].status)
      assert.are.equal(d[1].jti, ssf.json.decode(printed).claims.jti)
    end)

    it("needs no API credentials: the keys come from the org's public metadata", function()
      local p = assert(io.popen(("OKTA_CLIENT_ORGURL=%s %s %s --listen 127.0.0.1:0 --count 1 --timeout 30 2>&1")
        :format(env.q(f.url), env.q(env.ssflua_bin), RECEIVE)))
      local first = p:read("l")
      local url = first and first:match("receiving SETs at (%S+)")
      assert.is_string(url, first)
      verify_at(url, nil, "state-meta")
      local rest = p:read("a")
      local ok = p:close()
      assert.is_true(ok, rest)
      local set = ssf.json.decode(rest:match("({.-})\n?$") or "null")
      assert.are.equal("state-meta", set.events[VERIFICATION].state)
      assert.are.equal(f.url, set.claims.iss)
    end)

    it("prints the verified SET the fake transmitter pushes, and reports a rejected one", function()
      -- ssf.set is not on this branch: where it is missing, the decode-only
      -- verifier stands in for it in this one subprocess; where it exists,
      -- the real check runs against the fake's keys.
      local preload = ([[
        if not package.searchpath("ssf.set", package.path) then
          package.preload["ssf.set"] = function() return { verify = load(%q)() } end
        end]]):format(DECODE_ONLY)
      local out, err = os.tmpname(), os.tmpname()
      local p = assert(io.popen(("SSF_TEST_AUTH=%s exec %s -e %s %s --listen 127.0.0.1:0 --jwks %s --issuer %s"
        .. " --authorization-env SSF_TEST_AUTH --count 1 --timeout 30 >%s 2>%s & echo $!")
        :format(env.q(AUTH), env.q(env.ssflua_bin), env.q(preload), RECEIVE, env.q(f.url .. "/oauth2/v1/keys"),
                env.q(f.url), env.q(out), env.q(err))))
      local pid = p:read("l")
      p:close()
      local url
      assert.is_true(env.eventually(function()
        url = (env.read(err) or ""):match("receiving SETs at (%S+)")
        return url ~= nil
      end), env.read(err))

      local status = curl(url, { body = "not-a-jwt" })
      assert.are.equal(400, status)
      verify_at(url, AUTH, "state-script")
      local gone = env.eventually(function() return not env.alive(pid) end, 15)
      if not gone then os.execute("kill " .. pid) end
      local printed, notes = env.read(out), env.read(err)
      os.remove(out)
      os.remove(err)
      assert.is_true(gone, "receive.lua did not exit: " .. notes)
      assert.matches("rejected a SET from 127%.0%.0%.1:%d+: invalid_request", notes)
      local line = printed:match("^([^\n]+)\n$")
      assert.is_string(line, printed)
      local set = ssf.json.decode(line)
      assert.are.equal("state-script", set.events[VERIFICATION].state)
      assert.are.equal(f.url, set.claims.iss)
      assert.is_string(set.raw)
    end)
  end)
end)

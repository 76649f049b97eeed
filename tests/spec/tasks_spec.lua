-- Concurrency on one thread: ssf.spawn, ssf.all and ssf.sleep, with client
-- calls multiplexed on one curl multi handle. Outcomes are checked by
-- counting (the fake's peak of requests in flight, the order tasks finish
-- in, token requests), never by timing.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local keys = require "keys"
local tasks = require "ssf.tasks"

describe("tasks", function()
  local f, dir, rsa

  setup(function()
    f = fake.start()
    dir = env.tmpdir()
    rsa = keys.make(dir, "rsa", "rsa.pem")
  end)
  teardown(function()
    f:stop()
    env.rmdir(dir)
  end)
  before_each(function() f:reset() end)

  local function api_requests(path)
    local n = 0
    for _, r in ipairs(f:requests()) do
      if r.path == (path or "/api/v1/ssf/stream") then n = n + 1 end
    end
    return n
  end

  it("spawns, joins and returns every result; sleep lets the others run", function()
    local order = {}
    local a = ssf.spawn(function(x, y)
      ssf.sleep(0.2)
      order[#order + 1] = "a"
      return x + y, "second", nil, "fourth"
    end, 1, 2)
    local b = ssf.spawn(function()
      order[#order + 1] = "b"
      return "b"
    end)
    local r = table.pack(a:join())
    assert.are.same({ n = 4, 3, "second", nil, "fourth" }, r)
    assert.are.equal("b", b:join())
    assert.are.same({ "b", "a" }, order)
    assert.are.equal("b", b:join()) -- joining again gives the same results
  end)

  it("keeps ssf.all's results in input order with the shape of API.md", function()
    local okta = f:client()
    local fns = {}
    for i = 1, 12 do
      fns[i] = function()
        -- Later entries finish first: the order of results is not the
        -- order of completion.
        ssf.sleep((12 - i) * 0.01)
        if i == 5 then return okta:request { path = "/api/v1/no-such-thing" } end
        local list = assert(okta:streams())
        return { i = i, n = #list }
      end
    end
    local results = ssf.all(fns, { concurrency = 4 })
    okta:close()
    assert.are.equal(12, #results)
    for i, r in ipairs(results) do
      if i == 5 then
        assert.is_false(r.ok)
        assert.are.equal("http", r.info.kind)
        assert.are.equal(404, r.info.status)
        assert.matches("^HTTP 404", r.message)
      else
        assert.is_true(r.ok)
        assert.are.same({ i = i, n = 0 }, r.value)
      end
    end
    assert.are.equal(11, api_requests())
  end)

  it("hands an error to whoever joins, with a traceback, and the others go on", function()
    local okta = f:client()
    local bad = ssf.spawn(function()
      ssf.sleep(0.01)
      local t = nil
      return t.field -- raises
    end)
    local good = ssf.spawn(function()
      ssf.sleep(0.05)
      return assert(okta:streams())
    end)
    local v, msg, info = bad:join()
    assert.is_nil(v)
    assert.are.equal("error", info.kind)
    -- 5.4 says "attempt to index a nil value (local 't')", LuaJIT
    -- "attempt to index local 't' (a nil value)".
    assert.matches("attempt to index ", msg, 1, true)
    assert.matches("local 't'", msg, 1, true)
    assert.matches("a nil value", msg, 1, true)
    assert.matches("stack traceback", msg)
    assert.matches("tasks_spec.lua", msg)
    assert.are.same({}, good:join())

    local results = ssf.all {
      function() error({ code = 1 }) end, -- not a string
      function() return okta:streams() end,
    }
    okta:close()
    assert.is_false(results[1].ok)
    assert.are.equal("error", results[1].info.kind)
    assert.matches("stack traceback", results[1].message)
    assert.is_true(results[2].ok)
  end)

  it("multiplexes transfers on one connection cache, at most per_host at once", function()
    f:config { latency_ms = 1500 }
    local okta = f:client()
    local fns = {}
    for i = 1, 10 do fns[i] = function() return okta:streams() end end
    local results = ssf.all(fns, { concurrency = 10 })
    for i = 1, 10 do assert.is_true(results[i].ok, results[i].message) end
    -- All ten were answered together, each after 1.5 s.
    assert.are.equal(10, f:in_flight().peak)

    f:reset()
    f:config { latency_ms = 300 }
    fns = {}
    for i = 1, 12 do fns[i] = function() return okta:streams() end end
    results = ssf.all(fns, { concurrency = 12, per_host = 3 })
    okta:close()
    for i = 1, 12 do assert.is_true(results[i].ok, results[i].message) end
    assert.are.equal(3, f:in_flight().peak)
    -- The connections were kept and reused.
    local ports = {}
    for _, r in ipairs(f:requests()) do ports[r.remote_port] = true end
    local n = 0
    for _ in pairs(ports) do n = n + 1 end
    assert.is_true(n <= 3, n .. " connections")
  end)

  it("keeps the others going while one task waits out a 429", function()
    f:faults { { match = { path = "/.well-known/ssf-configuration" }, status = 429,
                 headers = { ["X-Rate-Limit-Reset"] = tostring(os.time() + 2) } } }
    local okta = f:client(nil, { retries = 1 })
    local finished = {}
    local fns = { function()
      local meta = assert(okta:metadata())
      finished[#finished + 1] = "limited"
      return meta
    end }
    for i = 2, 6 do
      fns[i] = function()
        for _ = 1, 3 do assert(okta:streams()) end
        finished[#finished + 1] = i
        return true
      end
    end
    local results = ssf.all(fns, { concurrency = 6 })
    okta:close()
    for i = 1, 6 do assert.is_true(results[i].ok, results[i].message) end
    -- The limited task retried after its wait and finished last; the
    -- others did their 15 calls meanwhile.
    assert.are.equal(2, api_requests("/.well-known/ssf-configuration"))
    assert.are.equal(15, api_requests())
    assert.are.equal("limited", finished[6])
  end)

  it("fetches one token for many concurrent calls", function()
    f:call("POST", "clients", {
      client_id = "0oaTASKS", jwks = { keys = { keys.jwk(rsa, "k1") } },
      scopes = { "ssf.read" }, dpop = "off",
    })
    local okta = assert(ssf.client { org = f.url, auth = { type = "private_key_jwt",
      client_id = "0oaTASKS", key_file = rsa, key_id = "k1", scopes = { "ssf.read" } } })
    local fns = {}
    for i = 1, 8 do fns[i] = function() return okta:streams() end end
    local results = ssf.all(fns, { concurrency = 8 })
    for i = 1, 8 do assert.is_true(results[i].ok, results[i].message) end
    assert.are.equal(1, #f:call("GET", "token_requests"))
    assert.are.equal(8, api_requests())
    okta:close()
  end)

  it("shares the refresh of an expired token too", function()
    f:call("POST", "clients", {
      client_id = "0oaTASKS", jwks = { keys = { keys.jwk(rsa, "k1") } },
      scopes = { "ssf.read" }, dpop = "off", token_ttl = 2,
    })
    local okta = assert(ssf.client { org = f.url, auth = { type = "private_key_jwt",
      client_id = "0oaTASKS", key_file = rsa, key_id = "k1", scopes = { "ssf.read" } } })
    local fns = {}
    for i = 1, 5 do
      fns[i] = function()
        assert(okta:streams())
        ssf.sleep(3) -- past the token's 2 s
        return okta:streams()
      end
    end
    local results = ssf.all(fns, { concurrency = 5 })
    okta:close()
    for i = 1, 5 do assert.is_true(results[i].ok, results[i].message) end
    assert.are.equal(2, #f:call("GET", "token_requests"))
    assert.are.equal(10, api_requests())
  end)

  it("renews a rejected token once, also for the 401s that come back later", function()
    local function register()
      f:call("POST", "clients", {
        client_id = "0oaTASKS", jwks = { keys = { keys.jwk(rsa, "k1") } },
        scopes = { "ssf.read" }, dpop = "off",
      })
    end
    register()
    local okta = assert(ssf.client { org = f.url, auth = { type = "private_key_jwt",
      client_id = "0oaTASKS", key_file = rsa, key_id = "k1", scopes = { "ssf.read" } } })
    assert(okta:streams())
    -- The fake forgets the token it issued, and answers the next three
    -- calls' 401s 0, 0.4 and 0.8 s apart: the later two were sent with the
    -- old token and come back after the new one is in place.
    f:reset()
    register()
    f:faults { { match = { path = "/api/v1/ssf/stream" }, delay_ms = 0 },
               { match = { path = "/api/v1/ssf/stream" }, delay_ms = 400 },
               { match = { path = "/api/v1/ssf/stream" }, delay_ms = 800 } }
    local fns = {}
    for i = 1, 3 do fns[i] = function() return okta:streams() end end
    local results = ssf.all(fns, { concurrency = 3 })
    okta:close()
    for i = 1, 3 do assert.is_true(results[i].ok, results[i].message) end
    assert.are.equal(1, #f:call("GET", "token_requests"))
  end)

  it("shares a failed token fetch too, and each caller gets the failure", function()
    local okta = assert(ssf.client { org = f.url, auth = { type = "private_key_jwt",
      client_id = "0oaUNKNOWN", key_file = rsa, key_id = "k1", scopes = { "ssf.read" } }, retries = 0 })
    local fns = {}
    for i = 1, 5 do fns[i] = function() return okta:streams() end end
    local results = ssf.all(fns, { concurrency = 5 })
    okta:close()
    for i = 1, 5 do
      assert.is_false(results[i].ok)
      assert.are.equal("auth", results[i].info.kind)
    end
    assert.are.equal(1, #f:call("GET", "token_requests"))
  end)

  it("lets the other tasks run while one waits in rx:next", function()
    local got = {}
    local rx = assert(ssf.receiver { verifier = function(jwt)
      got[#got + 1] = jwt
      return { claims = { jti = jwt } }
    end })
    local okta = f:client()
    local finished = {}
    local waiter = ssf.spawn(function()
      local set, msg = rx:next(30)
      finished[#finished + 1] = "waiter"
      return set, msg
    end)
    local worker = ssf.spawn(function()
      for _ = 1, 5 do assert(okta:streams()) end
      finished[#finished + 1] = "worker"
      -- Then it delivers the SET the waiter waits for.
      local status = tasks.transfer { method = "POST", url = rx.endpoint_url, body = "a.b.c",
        headers = { "Content-Type: application/secevent+jwt" } }
      return status
    end)
    assert.are.equal(202, worker:join())
    local set = waiter:join()
    rx:close()
    okta:close()
    assert.are.equal("a.b.c", set.raw)
    assert.are.same({ "worker", "waiter" }, finished)
    assert.are.equal(5, api_requests())
  end)

  it("fetches a JWKS inside a task without holding up the others", function()
    f:faults { { match = { path = "/oauth2/v1/keys" }, delay_ms = 1500 } }
    local b64 = require("ssf.jws").lib().b64url_encode
    local jwt = b64(ssf.json.encode { alg = "RS256", kid = "no-such-key", typ = "secevent+jwt" }) .. "." ..
      b64(ssf.json.encode { iss = f.url }) .. "." .. b64("not a signature")
    local okta = f:client()
    local finished = {}
    local verifier = ssf.spawn(function()
      local set, msg = ssf.set.verify(jwt, { jwks = f.url .. "/oauth2/v1/keys", issuer = f.url, audience = "aud" })
      finished[#finished + 1] = "verify"
      return set, msg
    end)
    local worker = ssf.spawn(function()
      for _ = 1, 5 do assert(okta:streams()) end
      finished[#finished + 1] = "worker"
      return true
    end)
    local set, msg = verifier:join()
    assert.is_nil(set)
    assert.matches("no%-such%-key", msg)
    assert.is_true(worker:join())
    okta:close()
    assert.are.same({ "worker", "verify" }, finished)
  end)

  it("blocks as before outside tasks, and nests ssf.all and join inside tasks", function()
    local okta = f:client()
    assert.is_nil(tasks.running())
    assert(okta:streams())
    local outer = ssf.spawn(function()
      local inner = ssf.spawn(function() return okta:streams() end)
      local r = ssf.all { function() return okta:streams() end, function() return 7 end }
      return #inner:join(), r[1].ok, r[2].value
    end)
    assert.are.same({ 0, true, 7 }, { outer:join() })
    okta:close()
    assert.are.equal(3, api_requests())
  end)

  it("rejects misuse naming the argument", function()
    assert.has_error(function() ssf.spawn(42) end, "bad argument #1 to 'spawn' (function expected, got number)")
    assert.has_error(function() ssf.all { 1 } end, "bad argument #1 to 'all' (entry 1 is a number, not a function)")
    assert.has_error(function() ssf.all({}, { concurrency = 0 }) end,
      "bad argument #2 to 'all' (concurrency must be a positive integer)")
    assert.has_error(function() ssf.all({}, { concurency = 2 }) end, "bad argument #2 to 'all' (unknown option 'concurency')")
    assert.has_error(function() ssf.sleep(-1) end, "bad argument #1 to 'sleep' (non-negative number expected)")
    local t
    t = ssf.spawn(function() return t:join() end)
    local v, msg = t:join()
    assert.is_nil(v)
    assert.matches("a task cannot join itself", msg)
    -- Two tasks waiting for each other: the joiner gets an error, not a hang.
    local a, b
    a = ssf.spawn(function() ssf.sleep(0.01) return b:join() end)
    b = ssf.spawn(function() ssf.sleep(0.01) return a:join() end)
    assert.has_error(function() a:join() end, "ssf: deadlock: every task waits for another task")
  end)

  it("keeps 200 requests with 50 in flight correct (also under sanitizers and valgrind)", function()
    f:config { latency_ms = 1000 }
    local okta = f:client()
    local fns = {}
    for i = 1, 200 do
      fns[i] = function()
        local list, msg = okta:streams()
        if not list then return nil, msg end
        return i
      end
    end
    local results = ssf.all(fns, { concurrency = 50 })
    okta:close()
    for i = 1, 200 do assert.are.same({ ok = true, value = i }, results[i]) end
    assert.are.equal(200, api_requests())
    assert.are.equal(50, f:in_flight().peak)
  end)

  it("ssf.http.multi: ids, cancel, misuse and close with transfers in flight", function()
    local http = require "ssf.http"
    f:config { latency_ms = 300 }
    local m = http.multi { max_host_connections = 4 }
    local req = { url = f.url .. "/api/v1/ssf/stream", headers = { "Authorization: Bearer tok-rw" } }
    assert.has_error(function() m:start { url = 42 } end, "bad request option 'url' (string expected, got number)")
    assert.has_error(function() m:start { url = "http://x", headers = { "a\r\nb" } } end,
      "bad request option 'headers' (entry 1 is not a header line)")
    assert.are.equal(0, m:count())
    local a, b, c = m:start(req), m:start(req), m:start(req)
    assert.are.same({ 1, 2, 3 }, { a, b, c })
    assert.has_error(function() m:result(a) end, "bad argument #1 to 'result' (transfer not finished)")
    m:cancel(b)
    assert.has_error(function() m:cancel(b) end, "bad argument #1 to 'cancel' (unknown transfer id)")
    assert.has_error(function() m:result(9) end, "bad argument #1 to 'result' (unknown transfer id)")
    assert.has_error(function() m:limit(-1) end, "bad argument #1 to 'limit' (connection limit out of range)")
    local done = {}
    for _ = 1, 100 do -- bounded: up to 100 waits of at most 0.1 s
      for _, id in ipairs(assert(m:run(0.1))) do done[#done + 1] = id end
      if #done == 2 then break end
    end
    table.sort(done)
    assert.are.same({ a, c }, done)
    for _, id in ipairs(done) do
      local status, headers, body = m:result(id)
      assert.are.equal(200, status)
      assert.is_string(headers["x-okta-request-id"])
      assert.are.equal("[]", body)
    end
    assert.are.equal(0, m:count())
    -- A freed id is reused, and closing drops a transfer still in flight.
    assert.are.equal(1, m:start(req))
    m:close()
    m:close()
    assert.has_error(function() m:count() end, "attempt to use a closed multi")
  end)

  it("stops everything on Ctrl-C", function()
    f:config { latency_ms = 60000 }
    local p = env.spawn(([[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %q, auth = { type = "bearer", token = "tok-rw" }, timeout = 120 })
      local fns = {}
      for i = 1, 5 do fns[i] = function() return c:streams() end end
      fns[6] = function() ssf.sleep(120) end
      ssf.all(fns)
      print("not interrupted")
    ]]):format(f.url))
    local sent = false
    for _ = 1, 200 do -- up to 10 s for the requests to reach the fake
      if f:in_flight().now == 5 then sent = true break end
      require("ssf.http").sleep(0.05)
    end
    assert.is_true(sent)
    local gone, elapsed, text = p:interrupt(5)
    assert.is_true(gone, "ssflua ignored Ctrl-C: " .. text)
    assert.is_true(elapsed < 4, "took " .. elapsed .. " s")
    assert.matches("interrupted", text)
    assert.not_matches("not interrupted", text)
  end)
end)

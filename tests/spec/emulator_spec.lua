-- The built-in emulator as scripts hold it (ssf.emulator{}): served from
-- threads of its own, so it answers while the script blocks in a client
-- call, in rx:next or in os.execute; pushes SETs to receivers (the
-- script's own among them); and stops cleanly on close, at exit and on
-- Ctrl-C.
local ssf = require "ssf"
local env = require "env"
local emu = require "emu"

local E = ssf.events

local function receiver(e, okta, aud)
  return assert(ssf.receiver { listen = "127.0.0.1:0", authorization = "Bearer rx-secret-1",
                               verify = { jwks = okta, issuer = e.org, audience = aud } })
end

local function stream_to(okta, rx)
  return assert(okta:create_stream {
    delivery = { method = ssf.PUSH, endpoint_url = rx.endpoint_url, authorization_header = "Bearer rx-secret-1" },
    events_requested = { E.SESSION_REVOKED, E.CREDENTIAL_CHANGE },
  })
end

describe("ssf.emulator", function()
  local e, okta

  setup(function()
    e = assert(ssf.emulator { listen = "127.0.0.1:0" })
    okta = e:client()
  end)
  teardown(function()
    okta:close()
    e:close()
  end)

  it("serves Okta's metadata with itself as issuer, and its client runs a lifecycle", function()
    assert.matches("^http://127%.0%.0%.1:%d+$", e.org)
    local m = assert(okta:metadata())
    assert.are.equal(e.org, m.issuer)
    assert.are.equal(e.org .. "/oauth2/v1/keys", m.jwks_uri)
    local s = assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = "https://receiver.example.com/ssf" },
      events_requested = { E.SESSION_REVOKED },
    })
    local list = assert(okta:streams())
    assert.are.equal(1, #list)
    assert.are.equal(s.stream_id, list[1].stream_id)
    assert.are.equal("enabled", assert(okta:stream_status(s.stream_id)).status)
    assert(okta:delete_stream(s.stream_id))
    assert.are.equal(0, #assert(okta:streams()))
  end)

  it("keeps answering while the script is blocked in os.execute of another program", function()
    local url = e.org .. "/.well-known/ssf-configuration"
    local code, body, err = env.run(("curl -sS --max-time 20 %s"):format(env.q(url)))
    assert.are.equal(0, code, err)
    assert.are.equal(e.org, ssf.json.decode(body).issuer)
  end)

  it("pushes the verification SET to a receiver in the same script while it waits in rx:next", function()
    local rx = receiver(e, okta)
    finally(function() rx:close() end)
    local s = stream_to(okta, rx)
    local set, report = okta:confirm_stream(s.stream_id, rx, { timeout = 60 })
    assert.is_table(set, tostring(report))
    assert.are.equal(e.org, set.claims.iss)
    assert.is_table(set.events[E.VERIFICATION])
    assert(okta:delete_stream(s.stream_id))
  end)

  it("emit queues signed SETs at once; the receiver verifies them and deliveries() shows its answer", function()
    local rx = receiver(e, okta)
    finally(function() rx:close() end)
    local s = stream_to(okta, rx)
    local before = #e:deliveries()
    local queued = e:emit(E.SESSION_REVOKED, { format = "email", email = "user@example.com" }, s.stream_id)
    assert.are.equal(1, #queued)
    local d = queued[1]
    assert.are.equal(s.stream_id, d.stream_id)
    assert.are.equal(E.SESSION_REVOKED, d.event_type)
    assert.are.equal(rx.endpoint_url, d.endpoint_url)
    assert.is_nil(d.status) -- returned before any answer: the receiver is this script
    assert.is_string(d.jti)
    -- The push now waits for this script's rx:next; the API answers meanwhile.
    assert.are.equal(1, #assert(okta:streams()))

    local set = assert(rx:next(60))
    assert.are.equal(d.jti, set.claims.jti)
    assert.are.equal("secevent+jwt", set.header.typ)
    assert.are.equal(e.org, set.claims.iss)
    assert.is_table(set.events[E.SESSION_REVOKED])

    local answered = emu.answered(e, d.jti)
    assert.is_table(answered, "no answer recorded")
    assert.are.equal(202, answered.status)
    assert.are.equal(before + 1, #e:deliveries())

    -- Without a stream id: every stream that takes the event.
    local all = e:emit(E.CREDENTIAL_CHANGE, { format = "email", email = "user@example.com" })
    assert.are.equal(1, #all)
    assert(rx:next(60))
    assert(okta:delete_stream(s.stream_id))
  end)

  it("keeps serving through hostile connections (raw sockets, each bounded in time)", function()
    local port = e.org:match(":(%d+)$")
    -- bash's /dev/tcp: send, then read one byte of whatever answer comes.
    local function raw(send, seconds)
      return ("timeout %d bash -c %s >/dev/null 2>&1"):format(seconds or 10, env.q(
        ("exec 3<>/dev/tcp/127.0.0.1/%s; %s; head -c 1 <&3"):format(port, send)))
    end
    -- A client that sends half a request and goes quiet, held open meanwhile.
    local idle = io.popen(raw([[printf 'GET /api/v1/ssf/stream HTTP/1.1\r\nHost: x\r\n' >&3; sleep 8]], 10) .. " & echo $!")
    local idle_pid = idle:read("l")
    idle:close()
    os.execute(raw([[printf 'NOT HTTP AT ALL\r\n\r\n' >&3]]))
    os.execute(raw([[printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$(head -c 200000 /dev/zero | tr '\0' a)" >&3]]))
    os.execute(raw([[printf 'POST /api/v1/ssf/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n' >&3; head -c 2000000 /dev/zero >&3]]))
    os.execute(raw([[printf 'GET /api/v1/ssf/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \001\r\n\r\n' >&3]]))
    -- All the while, and after, the API answers.
    assert.are.equal(e.org, assert(okta:metadata()).issuer)
    assert(okta:streams())
    assert.is_table(e:deliveries())
    os.execute("kill " .. idle_pid .. " 2>/dev/null")
  end)

  it("records a failed push with the reason, and never blocks the API meanwhile", function()
    local s = assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = "http://127.0.0.1:1/nobody" },
      events_requested = { E.SESSION_REVOKED },
    })
    local d = e:emit(E.SESSION_REVOKED, { format = "email", email = "a@example.com" }, s.stream_id)[1]
    assert(okta:streams())
    local answered = emu.answered(e, d.jti)
    assert.is_table(answered)
    assert.is_nil(answered.status)
    assert.matches("transport", answered.err)
    assert(okta:delete_stream(s.stream_id))
  end)

  it("hands its credentials to other tools: the key signs for the client, the token is a bearer token", function()
    local c = e:credentials()
    assert.matches("^0oa", c.client_id)
    assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-", c.private_key)
    assert.is_string(c.key_id)
    local bearer = assert(ssf.client { org = e.org, auth = { type = "bearer", token = c.token } })
    local wrong = assert(ssf.client { org = e.org, auth = { type = "bearer", token = "not-" .. c.token },
                                      retries = 0 })
    finally(function()
      bearer:close()
      wrong:close()
    end)
    assert.are.equal(0, #assert(bearer:streams()))
    local v, _, info = wrong:streams()
    assert.is_nil(v)
    assert.are.equal(401, info.status)
    assert.are.equal("E0000011", info.code)
  end)

  it("raises on misuse and fails cleanly on an address it cannot use", function()
    assert.has_error(function() ssf.emulator("x") end, "bad argument #1 to 'emulator' (table expected, got string)")
    assert.has_error(function() ssf.emulator { port = 1 } end, "bad argument #1 to 'emulator' (unknown option 'port')")
    assert.has_error(function() ssf.emulator { listen = 1 } end)
    assert.has_error(function() e:emit(1, {}) end)
    assert.has_error(function() e:emit(E.SESSION_REVOKED, "user") end)
    assert.has_error(function() e:emit(E.SESSION_REVOKED, { format = "email", email = "a@b.c" }, "nosuchstream") end)
    local v, msg, info = ssf.emulator { listen = "0.0.0.0:0" }
    assert.is_nil(v)
    assert.are.equal("config", info.kind)
    assert.matches("loopback", msg)
    local port = e.org:match(":(%d+)$")
    v, msg, info = ssf.emulator { listen = "127.0.0.1:" .. port }
    assert.is_nil(v, "a second emulator on a busy port")
    assert.are.equal("config", info.kind)
    assert.matches("cannot listen", msg)
  end)

  it("stops on close (idempotent), with <close> and when collected, leaving no thread and a free port", function()
    -- Two cycles, as at the end: under LuaJIT what an earlier test dropped
    -- may need a second one before its threads are stopped.
    collectgarbage()
    collectgarbage()
    local threads = emu.threads()
    local org
    env.scoped(assert(ssf.emulator {}), function(scoped)
      org = scoped.org
      assert.is_true(emu.threads() > threads)
    end)
    local gone = assert(ssf.client { org = org, auth = { type = "bearer", token = "t" }, retries = 0,
                                     connect_timeout = 5 })
    finally(function() gone:close() end)
    local v, _, info = gone:metadata()
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
    assert.are.equal(threads, emu.threads())

    local closed = assert(ssf.emulator {})
    closed:close()
    closed:close()
    assert.has_error(function() closed:deliveries() end, "attempt to use a closed emulator")
    assert.has_error(function() closed:credentials() end, "attempt to use a closed emulator")
    assert.are.equal(threads, emu.threads())

    for _ = 1, 3 do assert(ssf.emulator {}) end -- dropped: the collector stops them
    collectgarbage()
    collectgarbage()
    assert.are.equal(threads, emu.threads())
  end)

  it("draws its ids, tokens, jtis and keys afresh, in this process and in another (LuaJIT seeds nothing)", function()
    -- An emulator's identity, as JSON; run here and in fresh processes.
    local IDENTITY = [[
      local ssf = require "ssf"
      local e = assert(ssf.emulator {})
      local okta = e:client()
      local s = assert(okta:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "http://127.0.0.1:1/x" },
                                            events_requested = { ssf.events.SESSION_REVOKED } })
      local d = e:emit(ssf.events.SESSION_REVOKED, { format = "email", email = "a@example.com" }, s.stream_id)[1]
      local c = e:credentials()
      okta:close()
      e:close()
      return ssf.json.encode { client_id = c.client_id, key_id = c.key_id, token = c.token, key = c.private_key,
                               stream_id = s.stream_id, jti = d.jti }]]
    -- Another process of the engine running this spec.
    local function elsewhere()
      local code, out, err = env.lua("-e " .. env.q("io.stdout:write((function() " .. IDENTITY .. " end)())"))
      assert.are.equal(0, code, err)
      return ssf.json.decode(out)
    end
    local here = { ssf.json.decode(assert(load(IDENTITY))()), ssf.json.decode(assert(load(IDENTITY))()) }
    local there = { elsewhere(), elsewhere() }
    for _, pair in ipairs { here, there, { here[1], there[1] } } do
      local a, b = pair[1], pair[2]
      for _, name in ipairs { "client_id", "key_id", "token", "stream_id", "jti" } do
        assert.is_string(a[name])
        assert.are_not.equal(a[name], b[name])
      end
    end
    -- Keys are made once per process (an emulator start is mostly RSA
    -- key generation), so only other processes have other keys.
    assert.is_true(here[1].key == here[2].key)
    assert.is_true(there[1].key ~= there[2].key and here[1].key ~= there[1].key, "the same private key twice")
  end)

  it("runs in stock lua5.4 as well", function()
    local code, out, err = env.run(("%sLUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      env.ld_preload and ("LD_PRELOAD=" .. env.q(env.ld_preload) .. " ") or "",
      env.q(env.root .. "/lua/?.lua;" .. env.root .. "/lua/?/init.lua;;"),
      env.q(env.build .. "/lib/lua/5.4/?.so;;"),
      env.q([[
        local ssf = require "ssf"
        local e <close> = assert(ssf.emulator {})
        local c <close> = e:client()
        local s = assert(c:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://r.example.com/x" },
                                           events_requested = { ssf.events.SESSION_REVOKED } })
        print(#assert(c:streams()), s.stream_id ~= nil)]])))
    assert.are.equal(0, code, err)
    assert.are.equal("1\ttrue\n", out)
  end)
end)

describe("a script holding an emulator", function()
  it("exits without closing it (os.exit skips finalizers) and leaves nothing running", function()
    local code, out, err = env.lua("-e " .. env.q([[
      local ssf = require "ssf"
      local e = assert(ssf.emulator {})
      local c = e:client()
      assert(c:streams())
      print(e.org)
      os.exit(3)]]))
    assert.are.equal(3, code, err)
    assert.matches("^http://127", out)
  end)

  it("stops on Ctrl-C while the script waits in rx:next", function()
    local p = env.spawn([[
      local ssf = require "ssf"
      local e = assert(ssf.emulator {})
      local okta = e:client()
      local rx = assert(ssf.receiver { listen = "127.0.0.1:0", verify = { jwks = okta } })
      assert(okta:streams())
      print("waiting") io.stdout:flush()
      rx:next(600)]], env.interpreter)
    assert.is_truthy(emu.wait(120, function() return p:output():find("waiting", 1, true) end), p:output())
    local gone, elapsed, text = p:interrupt(30)
    assert.is_true(gone, "still running after Ctrl-C: " .. text)
    assert.matches("interrupted", text)
    print(("# stopped %.2f s after Ctrl-C"):format(elapsed))
  end)
end)

-- rotate_receiver.lua on its failing paths, run as an operator runs it
-- (environment, real signals, a second run after kill -9), each time
-- checking what the fake transmitter holds for the stream afterwards.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local sleep = require("ssf.http").sleep

local ROTATE = env.root .. "/scripts/rotate_receiver.lua"
local OLD_URL, OLD_HDR = "https://old.example.com/events", "Bearer CANARY-old-7f1"
local NEW_URL, NEW_HDR = "https://new.example.com/events", "Bearer CANARY-new-3a9"

describe("rotate_receiver.lua", function()
  local f, okta, dir

  local VARS = { NEW_HDR = NEW_HDR, OLD_HDR = OLD_HDR }

  local function vars(extra)
    local all = { OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_TOKEN = "tok-rw" }
    for k, v in pairs(VARS) do all[k] = v end
    for k, v in pairs(extra or {}) do all[k] = v end
    return all
  end

  -- Runs the script to its end, in dir (where its default files go).
  local function run(args, extra)
    local prefix = ""
    for k, v in pairs(vars(extra)) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
    return env.run(("cd %s && env %s%s %s %s"):format(env.q(dir), prefix, env.q(env.ssflua_bin), env.q(ROTATE), args))
  end

  -- Starts the script in the background; returns {pid=, wait=, output=}.
  local function start(args)
    local out, code, pidf = dir .. "/bg.out", dir .. "/bg.code", dir .. "/bg.pid"
    os.remove(code)
    local prefix = ""
    for k, v in pairs(vars()) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
    local inner = ("cd %s && env %s%s %s %s & echo $! >%s; wait $!; echo $? >%s"):format(
      env.q(dir), prefix, env.q(env.ssflua_bin), env.q(ROTATE), args, env.q(pidf), env.q(code))
    assert(os.execute(("sh -c %s >%s 2>&1 </dev/null &"):format(env.q(inner), env.q(out))))
    local p = {}
    for _ = 1, 200 do -- up to 10 s
      p.pid = (env.read(pidf) or ""):match("%d+")
      if p.pid then break end
      sleep(0.05)
    end
    assert(p.pid, "the script did not start")
    function p.output() return env.read(out) or "" end
    -- Waits (bounded) until the output matches pattern.
    function p.until_output(pattern, seconds)
      for _ = 1, (seconds or 30) * 20 do
        if p.output():find(pattern) then return true end
        if env.read(code) then break end
        sleep(0.05)
      end
      error("never printed " .. pattern .. ":\n" .. p.output())
    end
    -- The exit status, once the process is gone (bounded; then killed).
    function p.wait(seconds)
      for _ = 1, (seconds or 30) * 20 do
        local c = tonumber((env.read(code) or ""):match("%d+"))
        if c then return c, p.output() end
        sleep(0.05)
      end
      os.execute("kill -9 " .. p.pid .. " 2>/dev/null")
      error("the script did not exit:\n" .. p.output())
    end
    return p
  end

  local function create()
    return assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = OLD_URL, authorization_header = OLD_HDR },
      events_requested = { ssf.events.SESSION_REVOKED },
    })
  end

  -- What the transmitter holds: endpoint and authorization header.
  local function held(stream_id)
    for _, s in ipairs(f:call("GET", "streams")) do
      if s.stream_id == stream_id then return s.delivery.endpoint_url, s.delivery.authorization_header end
    end
    error("no stream " .. stream_id)
  end

  local function no_secret(text)
    assert.is_nil(text:find("CANARY", 1, true), text)
  end

  setup(function() f = fake.start() end)
  teardown(function() f:stop() end)
  before_each(function()
    f:reset()
    okta = f:client()
    dir = env.tmpdir()
  end)
  after_each(function()
    okta:close()
    env.rmdir(dir)
  end)

  local VERIFY_500 = { match = { method = "POST", path = "/api/v1/ssf/stream/verification" }, status = 500,
                       body = { errorCode = "E0000009", errorSummary = "Internal Server Error" } }

  describe("a rollback", function()
    it("puts back endpoint and header when --old-auth-header-env gives the old header", function()
      local s = create()
      f:faults { VERIFY_500 }
      local code, out, err = run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR --old-auth-header-env OLD_HDR")
      assert.are.equal(1, code, out .. err)
      assert.matches("restored the previous configuration from %S+ %(with the authorization_header from %$OLD_HDR%)", err)
      no_secret(out .. err)
      local url, hdr = held(s.stream_id)
      assert.are.equal(OLD_URL, url)
      assert.are.equal(OLD_HDR, hdr)
    end)

    it("says what it could not restore, and exits 3, without the old header", function()
      local s = create()
      f:faults { VERIFY_500 }
      local code, out, err = run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR")
      assert.are.equal(3, code, out .. err)
      assert.matches("put back delivery%.endpoint_url " .. OLD_URL:gsub("%p", "%%%0") .. " .- but NOT the old", err)
      assert.matches("keeps the new header from %$NEW_HDR, so the receiver at " .. OLD_URL:gsub("%p", "%%%0") ..
        " will refuse every push %(HTTP 401%)", err)
      no_secret(out .. err)
      -- Exactly what the message says: old endpoint, the new header.
      local url, hdr = held(s.stream_id)
      assert.are.equal(OLD_URL, url)
      assert.are.equal(NEW_HDR, hdr)
    end)

    it("leaves the endpoint-only change fully restored with status 1", function()
      local s = create()
      f:faults { VERIFY_500 }
      local code, _, err = run("--endpoint " .. NEW_URL)
      assert.are.equal(1, code, err)
      assert.matches("restored the previous configuration", err)
      local url, hdr = held(s.stream_id)
      assert.are.equal(OLD_URL, url)
      assert.are.equal(OLD_HDR, hdr)
    end)

    it("--restore with --old-auth-header-env puts the header back too", function()
      local s = create()
      assert.are.equal(0, (run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR --backup b.json")))
      assert.are.same({ NEW_URL, NEW_HDR }, { held(s.stream_id) })
      local code, out, err = run("--restore b.json --old-auth-header-env OLD_HDR")
      assert.are.equal(0, code, err)
      assert.matches("authorization_header set again from %$OLD_HDR", out)
      assert.are.same({ OLD_URL, OLD_HDR }, { held(s.stream_id) })
    end)
  end)

  describe("interrupted", function()
    -- drop_deliveries: the verification SET never comes, so the script
    -- waits in rx:next until the signal.
    for _, case in ipairs { { "TERM", 143 }, { "INT", 130 } } do
      local sig, status = case[1], case[2]
      it("by SIG" .. sig .. " while --confirm waits, rolls back endpoint and header and exits " .. status, function()
        local s = create()
        f:config { drop_deliveries = true }
        local p = start("--confirm 127.0.0.1:0 --confirm-timeout 120 --old-auth-header-env OLD_HDR --backup b.json")
        p.until_output("waiting up to")
        assert.matches("^http://127%.0%.0%.1:%d+/ssf/events$", (held(s.stream_id)))
        os.execute("kill -" .. sig .. " " .. p.pid)
        local code, out = p.wait()
        assert.are.equal(status, code, out)
        assert.matches("stopped by SIG" .. sig .. " before the change was proven; rolling back", out)
        assert.matches("restored the previous configuration", out)
        assert.is_nil(out:find("traceback", 1, true), out)
        no_secret(out)
        assert.are.same({ OLD_URL, OLD_HDR }, { held(s.stream_id) })
        assert.is_nil(env.read(dir .. "/ssf-stream-" .. s.stream_id .. ".in-progress"))
      end)
    end

    it("by SIGTERM during a PATCH that hangs, rolls back and exits 143", function()
      local s = create()
      f:faults { { match = { method = "PATCH" }, action = "hang" } }
      local p = start("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR --old-auth-header-env OLD_HDR")
      p.until_output("backup saved to")
      -- Bounded wait until the PATCH has reached the fake.
      for _ = 1, 200 do
        local patched = false
        for _, r in ipairs(f:requests()) do patched = patched or r.method == "PATCH" end
        if patched then break end
        sleep(0.05)
      end
      os.execute("kill -TERM " .. p.pid)
      local code, out = p.wait()
      assert.are.equal(143, code, out)
      assert.matches("stopped by SIGTERM", out)
      assert.are.same({ OLD_URL, OLD_HDR }, { held(s.stream_id) })
    end)

    it("by SIGKILL: the next run finds the backup and prints the exact --restore command", function()
      local s = create()
      f:config { drop_deliveries = true }
      local p = start("--confirm 127.0.0.1:0 --confirm-timeout 120 --old-auth-header-env OLD_HDR --backup b.json")
      p.until_output("waiting up to")
      os.execute("kill -KILL " .. p.pid)
      assert.are.equal(137, (p.wait()))
      local left = held(s.stream_id)
      assert.matches("^http://127%.0%.0%.1:%d+/ssf/events$", left)

      -- Another rotation refuses to save the temporary state as its backup.
      local code, out, err = run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR")
      assert.are.equal(1, code, out .. err)
      assert.matches("left stream " .. s.stream_id .. " delivering to " .. left:gsub("%p", "%%%0"), err)
      local cmd = err:match("\n  (ssflua [^\n]+)")
      assert.are.equal(("ssflua %s --restore b.json --old-auth-header-env OLD_HDR"):format(ROTATE), cmd)
      assert.are.equal(left, (held(s.stream_id)))

      -- The printed command, run as printed, puts everything back.
      local rcode, rout, rerr = run((cmd:gsub("^ssflua %S+ ", "")))
      assert.are.equal(0, rcode, rout .. rerr)
      assert.are.same({ OLD_URL, OLD_HDR }, { held(s.stream_id) })
      -- ...and the next rotation runs.
      assert.are.equal(0, (run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR")))
      assert.are.same({ NEW_URL, NEW_HDR }, { held(s.stream_id) })
    end)
  end)

  describe("--confirm", function()
    it("with --endpoint needs --auth-header-env, and changes nothing without it", function()
      local s = create()
      local code, _, err = run("--confirm 127.0.0.1:0 --endpoint https://proxy.example.com/ssf")
      assert.are.equal(2, code)
      assert.matches("needs %-%-auth%-header%-env", err)
      assert.are.same({ OLD_URL, OLD_HDR }, { held(s.stream_id) })
    end)

    it("to a local receiver leaves a note, and the next run offers the --restore command", function()
      local s = create()
      local code, out, err = run("--confirm 127.0.0.1:0 --confirm-timeout 20 --backup b.json")
      assert.are.equal(0, code, out .. err)
      assert.matches("which stops with this run; put the old configuration back with:\n  ssflua %S+ %-%-restore b%.json", out)
      local rcode, _, rerr = run("--endpoint " .. NEW_URL)
      assert.are.equal(1, rcode)
      assert.matches("%-%-restore b%.json", rerr)
      assert.matches("^http://127%.0%.0%.1:", (held(s.stream_id)))
    end)
  end)

  it("retries a verification request answered 503, and keeps the rotation", function()
    local s = create()
    f:faults { { match = { method = "POST", path = "/api/v1/ssf/stream/verification" }, status = 503,
                 headers = { ["Retry-After"] = "0" } } }
    local code, out, err = run("--endpoint " .. NEW_URL .. " --auth-header-env NEW_HDR")
    assert.are.equal(0, code, out .. err)
    assert.matches("verification requested %(HTTP 204", out)
    local n = 0
    for _, r in ipairs(f:requests()) do
      if r.path == "/api/v1/ssf/stream/verification" then n = n + 1 end
    end
    assert.are.equal(2, n)
    assert.are.same({ NEW_URL, NEW_HDR }, { held(s.stream_id) })
  end)

  it("sends back in its PATCH the numbers GET returned, all their digits included", function()
    local s = create()
    local got = assert(okta:stream(s.stream_id))
    got.x_sequence, got.x_ratio = 1234567890123456000, 0.1234567890123456
    f:faults { { match = { method = "GET", path = "/api/v1/ssf/stream" }, status = 200, body = ssf.array { got } } }
    local code, out, err = run("--endpoint " .. NEW_URL)
    assert.are.equal(0, code, out .. err)
    local patch
    for _, r in ipairs(f:requests()) do
      if r.method == "PATCH" then patch = r.body end
    end
    assert.is_truthy(patch:find('"x_sequence":1234567890123456000', 1, true), patch)
    assert.is_truthy(patch:find('"x_ratio":0.1234567890123456', 1, true), patch)
  end)

  it("--help names every setting of the PrivateKey mode and the exit statuses", function()
    local code, out = run("--help")
    assert.are.equal(0, code)
    for _, name in ipairs { "OKTA_CLIENT_ORGURL", "OKTA_CLIENT_TOKEN", "OKTA_CLIENT_AUTHORIZATIONMODE",
                            "OKTA_CLIENT_CLIENTID", "OKTA_CLIENT_PRIVATEKEY", "OKTA_CLIENT_PRIVATEKEYID",
                            "OKTA_CLIENT_SCOPES", "OKTA_CLIENT_PRIVATEKEYPASSPHRASE", "%-%-old%-auth%-header%-env" } do
      assert.matches(name, out)
    end
    assert.matches("3 rolled back, but the old authorization_header could not be put back", out)
  end)
end)

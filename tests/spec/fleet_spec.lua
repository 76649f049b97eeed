-- scripts/fleet.lua against several fakes on their own ports: credentials
-- from named variables and from a named okta.yaml, one org rejecting the
-- token and one unreachable, which must not stop the others.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"

local CANARY = "tok-CANARY-fleet-7c1e"
local SECRET = "Bearer rx-fleet-secret"

describe("fleet.lua", function()
  local f1, f2, f3, dir, list, vars, port

  local function write(path, text)
    local fh = assert(io.open(path, "w"))
    fh:write(text)
    fh:close()
  end

  setup(function()
    f1, f2, f3 = fake.start(), fake.start(), fake.start()
    dir = env.tmpdir()
    -- A free port for alpha's receiver: bound once, then let go.
    local probe = assert(ssf.receiver { verifier = function() return nil, "unused" end })
    port = probe.port
    probe:close()
    write(dir .. "/beta.yaml", ("okta:\n  client:\n    orgUrl: %s\n    authorizationMode: Bearer\n    token: tok-rw\n")
      :format(f2.url))
    list = dir .. "/orgs.txt"
    write(list, table.concat({
      "# name  where its settings come from",
      ("alpha env=ALPHA_ listen=127.0.0.1:%d rx_auth_env=RX_AUTH"):format(port),
      "beta  yaml=" .. dir .. "/beta.yaml",
      "",
      "gamma env=GAMMA_   # a token the org does not know",
      "delta org=http://127.0.0.1:1 env=ALPHA_",
    }, "\n") .. "\n")
    vars = { ALPHA_ORGURL = f1.url, ALPHA_TOKEN = "tok-rw", GAMMA_ORGURL = f3.url,
             GAMMA_TOKEN = CANARY, RX_AUTH = SECRET }
  end)
  teardown(function()
    f1:stop()
    f2:stop()
    f3:stop()
    env.rmdir(dir)
  end)
  before_each(function()
    for _, f in ipairs { f1, f2, f3 } do
      f:reset()
      f:config { min_verification_interval = 0 }
    end
    local events = { ssf.events.SESSION_REVOKED }
    assert(f1:client():create_stream { events_requested = events, delivery = { method = ssf.PUSH,
      endpoint_url = ("http://127.0.0.1:%d/ssf/events"):format(port), authorization_header = SECRET } })
    local b = assert(f2:client():create_stream { events_requested = events,
      delivery = { method = ssf.PUSH, endpoint_url = "https://receiver.example.com/ssf" } })
    f2:call("POST", "status", { stream_id = b.stream_id, status = "disabled" })
  end)

  local function fleet(args)
    return env.ssflua(env.q(env.root .. "/scripts/fleet.lua") .. " " .. args, vars)
  end

  local function lines(s)
    local out = {}
    for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
    return out
  end

  it("audits every org, reports what looks wrong, and lists the failed ones", function()
    local code, out, err = fleet("audit " .. env.q(list) .. " --json --concurrency 4")
    assert.are.equal(1, code, err)
    local r = {}
    for i, l in ipairs(lines(out)) do r[i] = assert(ssf.json.decode(l)) end
    assert.are.equal(4, #r)
    assert.are.same({ "alpha", "beta", "gamma", "delta" }, { r[1].org, r[2].org, r[3].org, r[4].org })
    assert.is_true(r[1].ok)
    assert.are.equal(1, #r[1].streams)
    assert.are.equal("enabled", r[1].streams[1].status)
    assert.are.same({}, r[1].issues)
    assert.is_true(r[2].ok)
    assert.are.equal(f2.url, r[2].url)
    assert.matches("status is disabled", r[2].issues[1])
    assert.is_false(r[3].ok)
    assert.are.equal("http", r[3].kind)
    assert.matches("HTTP 401", r[3].error)
    assert.is_false(r[4].ok)
    assert.are.equal("transport", r[4].kind)
    assert.matches("2 of 4 orgs failed", err)
    assert.matches("gamma: HTTP 401", err)
    assert.matches("delta: ", err)
    assert.is_nil((out .. err):find(CANARY, 1, true))
    -- The failures did not stop the others: both working orgs were asked.
    for _, f in ipairs { f1, f2 } do
      local asked = 0
      for _, req in ipairs(f:requests()) do
        if req.method == "GET" and req.path == "/api/v1/ssf/stream" then asked = asked + 1 end
      end
      assert.are.equal(1, asked)
    end
  end)

  it("prints a table", function()
    local code, out, err = fleet("audit " .. env.q(list))
    assert.are.equal(1, code, err)
    local l = lines(out)
    assert.matches("^ORG%s+RESULT%s+STREAMS%s+DETAIL", l[1])
    assert.matches("^alpha%s+ok%s+1%s*$", l[2])
    assert.matches("^beta%s+issues%s+1%s+esc%w+: status is disabled", l[3])
    assert.matches("^gamma%s+FAILED%s+%-%s+HTTP 401", l[4])
    assert.matches("^delta%s+FAILED", l[5])
  end)

  it("asks every stream for a verification event", function()
    local code, out, err = fleet("verify " .. env.q(list) .. " --json")
    assert.are.equal(1, code, err)
    local n = 0
    for _, f in ipairs { f1, f2 } do
      for _, req in ipairs(f:requests()) do
        if req.path == "/api/v1/ssf/stream/verification" then n = n + 1 end
      end
    end
    assert.are.equal(2, n)
    assert.matches('"verification":"requested"', out)
  end)

  it("proves delivery where the org has a receiver and skips the others", function()
    local code, out, err = fleet("confirm " .. env.q(list) .. " --timeout 20")
    assert.are.equal(1, code, err)
    local l = lines(out)
    assert.matches("^alpha%s+ok%s+1", l[2])
    assert.matches("^beta%s+skipped%s+0%s+no receiver", l[3])
    assert.matches("^delta%s+FAILED", l[5])
    assert.matches("^gamma%s+FAILED", l[4])
    local pushed = f1:deliveries()
    assert.are.equal(202, pushed[#pushed].status)
  end)

  it("shows progress on stderr only when it is a terminal", function()
    local _, _, err = fleet("audit " .. env.q(list))
    assert.is_nil(err:find("orgs done", 1, true))
    -- script(1) gives the command a terminal; stdout goes to a file.
    local out = dir .. "/table.txt"
    local prefix = ""
    for k, v in pairs(vars) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
    local command = ("env %s%s %s audit %s >%s"):format(prefix, env.q(env.ssflua_bin),
      env.q(env.root .. "/scripts/fleet.lua"), env.q(list), env.q(out))
    local code, tty = env.run("script -qec " .. env.q(command) .. " /dev/null")
    assert.are.equal(1, code)
    assert.matches("4/4 orgs done", tty)
    assert.matches("^ORG", env.read(out))
  end)

  it("exits 0 when every org succeeds, and 1 for a malformed list, naming the line", function()
    local good = dir .. "/good.txt"
    write(good, "alpha env=ALPHA_\nbeta yaml=" .. dir .. "/beta.yaml\n")
    local code, _, err = fleet("audit " .. env.q(good))
    assert.are.equal(0, code, err)

    f1:reset()
    local broken = dir .. "/broken.txt"
    write(broken, "alpha env=ALPHA_\nbeta colour=blue\n")
    code, _, err = fleet("audit " .. env.q(broken))
    assert.are.equal(1, code)
    assert.matches("broken.txt:2: expected key=value with key org, yaml, env, listen or rx_auth_env, got colour", err)
    assert.are.equal(0, #f1:requests())

    code, _, err = fleet("rotate " .. env.q(good))
    assert.are.equal(2, code)
    assert.matches("the sub%-command is audit, verify or confirm", err)
  end)
end)

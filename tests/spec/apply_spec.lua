-- scripts/apply.lua end to end against three fakes on their own ports
-- (credentials from named variables and from a named okta.yaml), with drift
-- and faults injected through the fakes, checking what each fake holds
-- afterwards, authorization_header included; and the desired-state loader
-- and backups it relies on.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local desired = require "ssf.desired"
local backup = require "ssf.backup"

local APPLY = env.root .. "/scripts/apply.lua"
local SR, CC = ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE
local URL = "https://rx.example.com/ssf/events"
local OLD_HDR, NEW_HDR = "Bearer CANARY-old-41d", "Bearer CANARY-new-9e2"
local BAD_TOKEN = "tok-CANARY-apply-0b7"

local function write(path, text)
  local fh = assert(io.open(path, "w"))
  fh:write(text)
  fh:close()
end

local function sorted(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out)
  return out
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

describe("apply.lua", function()
  local fakes, dir, vars, file

  -- What a fake holds for its one stream (nil when it has none).
  local function held(f)
    local all = f:call("GET", "streams")
    assert(#all <= 1, "more than one stream")
    return all[1]
  end

  local function create(f, over)
    local cfg = { delivery = { method = ssf.PUSH, endpoint_url = URL, authorization_header = OLD_HDR },
                  events_requested = { SR, CC }, format = "iss_sub" }
    for k, v in pairs(over or {}) do cfg[k] = v or nil end
    local c = f:client()
    local s = assert(c:create_stream(cfg))
    c:close()
    return s
  end

  -- Writes the desired-state file: alpha, beta and gamma want `stream`
  -- (or their entry in `per`, which may be false).
  local function want(stream, per)
    local function body(name)
      local s = per and per[name]
      if s == nil then s = stream end
      return s
    end
    local entries = {
      ("{ name = 'alpha', org = %q, env = 'ALPHA_', stream = %s }"):format(fakes[1].url, body("alpha")),
      ("{ name = 'beta', yaml = %q, stream = %s }"):format(dir .. "/beta.yaml", body("beta")),
      ("{ name = 'gamma', env = 'GAMMA_', stream = %s }"):format(body("gamma")),
    }
    write(file, "return { orgs = {\n" .. table.concat(entries, ",\n") .. "\n} }\n")
  end

  local STREAM = ("{ delivery = { method = PUSH, endpoint_url = %q }, events_requested = { events.SESSION_REVOKED, " ..
    "events.CREDENTIAL_CHANGE }, format = 'iss_sub', authorization_env = 'RX_NEW' }"):format(URL)

  local function run(args, extra)
    local all = {}
    for k, v in pairs(vars) do all[k] = v end
    for k, v in pairs(extra or {}) do all[k] = v end
    local code, out, err = env.ssflua(env.q(APPLY) .. " " .. args, all)
    assert.is_nil((out .. err):find("CANARY", 1, true), out .. err)
    return code, out, err
  end

  local function writes(f)
    local n = 0
    for _, r in ipairs(f:requests()) do
      if r.method ~= "GET" then n = n + 1 end
    end
    return n
  end

  local function backups()
    local p = assert(io.popen("ls " .. env.q(dir .. "/bk")))
    local names = {}
    for l in p:lines() do names[#names + 1] = dir .. "/bk/" .. l end
    p:close()
    return names
  end

  setup(function()
    fakes = { fake.start(), fake.start(), fake.start() }
    dir = env.tmpdir()
    file = dir .. "/streams.lua"
    write(dir .. "/beta.yaml", ("okta:\n  client:\n    orgUrl: %s\n    authorizationMode: Bearer\n    token: tok-rw\n")
      :format(fakes[2].url))
  end)
  teardown(function()
    for _, f in ipairs(fakes) do f:stop() end
    env.rmdir(dir)
  end)
  before_each(function()
    for _, f in ipairs(fakes) do
      f:reset()
      f:config { min_verification_interval = 0 }
    end
    os.execute("rm -rf " .. env.q(dir .. "/bk") .. " && mkdir -m 700 " .. env.q(dir .. "/bk"))
    vars = { ALPHA_TOKEN = "tok-rw", GAMMA_ORGURL = fakes[3].url, GAMMA_TOKEN = "tok-rw",
             RX_NEW = NEW_HDR, RX_OLD = OLD_HDR }
  end)

  it("finds drift injected through the fake (exit 2), apply fixes it, and a second plan says 0", function()
    for _, f in ipairs(fakes) do create(f) end
    want(STREAM)
    local code, out, err = run("plan " .. env.q(file))
    assert.are.equal(0, code, out .. err)
    assert.matches("Plan: 0 orgs to change, 3 in sync, 0 failed", out)

    -- Someone edits beta's stream behind the file's back.
    local b = fakes[2]:client()
    local s = assert(b:streams())[1]
    s.delivery.endpoint_url = "https://elsewhere.example.com/x"
    s.events_requested = ssf.array { SR }
    assert(b:update_stream(s))
    b:close()

    local written = writes(fakes[2])
    code, out, err = run("plan " .. env.q(file))
    assert.are.equal(2, code, out .. err)
    assert.matches("beta %(" .. fakes[2].url:gsub("%p", "%%%0") .. "%): 1 change", out)
    assert.matches("delivery.endpoint_url: https://elsewhere.example.com/x %-> " .. URL:gsub("%p", "%%%0"), out)
    assert.matches("events_requested: %+%[" .. CC:gsub("%p", "%%%0") .. "%]", out)
    assert.matches("authorization_header cannot be compared", out)
    assert.are.equal(written, writes(fakes[2]), "plan must not write")

    code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(0, code, out .. err)
    assert.matches("beta %(%S+%): applied 1 change", out)
    assert.matches("alpha %(%S+%): in sync", out)
    assert.matches("Apply: 1 org changed, 2 in sync, 0 failed", out)
    local now = held(fakes[2])
    assert.are.equal(URL, now.delivery.endpoint_url)
    assert.are.same(sorted { SR, CC }, sorted(now.events_requested))
    -- A PATCH keeps the header the stream had.
    assert.are.equal(OLD_HDR, now.delivery.authorization_header)
    -- One backup, of beta's stream as it was, mode 0600.
    local files = backups()
    assert.are.equal(1, #files)
    assert.matches("ssf%-stream%-beta%-" .. now.stream_id, files[1])
    assert.are.equal("https://elsewhere.example.com/x", assert(backup.read(files[1])).delivery.endpoint_url)
    assert.are.equal("600", env.run("stat -c %a " .. env.q(files[1])) == 0 and
      select(2, env.run("stat -c %a " .. env.q(files[1]))):match("%d+"))

    code, out = run("plan " .. env.q(file))
    assert.are.equal(0, code, out)
  end)

  it("runs the other orgs when one fails, and says which failed and why (exit 1)", function()
    create(fakes[1], { delivery = { method = ssf.PUSH, endpoint_url = "https://old.example.com/" } })
    create(fakes[2], { format = false })
    create(fakes[3])
    want(STREAM)
    vars.GAMMA_TOKEN = BAD_TOKEN -- the org does not know it
    local code, out, err = run("plan " .. env.q(file))
    assert.are.equal(1, code, out .. err)
    assert.matches("alpha %(%S+%): 1 change", out)
    assert.matches("beta %(%S+%): 1 change", out)
    assert.matches("gamma %(%S+%): FAILED: HTTP 401", out)

    code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(1, code, out .. err)
    assert.matches("Apply: 2 orgs changed, 0 in sync, 1 failed", out)
    assert.matches("gamma %(%S+%): FAILED: HTTP 401", out)
    assert.are.equal(URL, held(fakes[1]).delivery.endpoint_url)
    assert.are.equal("iss_sub", held(fakes[2]).format)
    assert.are.equal(1, writes(fakes[3]), "only the test's own create")
  end)

  describe("a failure halfway through an org", function()
    local PATCH_500 = { match = { method = "PATCH" }, status = 500,
                        body = { errorCode = "E0000009", errorSummary = "Internal Server Error" } }

    -- alpha wants a new endpoint and a new header: an update and a rotate,
    -- two PATCHes. Returns the stream as it was.
    local function rotating(endpoint, extra)
      for _, f in ipairs(fakes) do create(f) end
      want(STREAM, { alpha = ("{ delivery = { method = PUSH, endpoint_url = %q }, events_requested = " ..
        "{ events.SESSION_REVOKED, events.CREDENTIAL_CHANGE }, format = 'iss_sub', authorization_env = 'RX_NEW', " ..
        "rotate = true %s }"):format(endpoint, extra) })
      return held(fakes[1])
    end

    local function free_port()
      local probe = assert(ssf.receiver { verifier = function() return nil, "unused" end })
      local port = probe.port
      probe:close()
      return port
    end

    it("rolls back with the backup restored, header included, and leaves the others applied", function()
      local before = rotating("https://new.example.com/ssf", ", old_authorization_env = 'RX_OLD'")
      -- The first PATCH meets a fault that changes nothing; the second a 500.
      fakes[1]:faults { { match = { method = "PATCH" } }, PATCH_500 }
      local code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir .. "/bk"))
      assert.are.equal(1, code, out .. err)
      assert.matches("alpha %(%S+%): FAILED: rotate " .. before.stream_id .. ": HTTP 500", out)
      assert.matches("done: update " .. before.stream_id, out)
      assert.matches("rollback: restored stream " .. before.stream_id .. " from %S+ with the authorization_header " ..
        "from %$RX_OLD", out)
      local now = held(fakes[1])
      assert.are.equal(URL, now.delivery.endpoint_url)
      assert.are.equal(OLD_HDR, now.delivery.authorization_header)
      assert.are.same(before.events_requested, now.events_requested)
      assert.are.equal(before.format, now.format)
      assert.are.equal(before.stream_id, now.stream_id)
      -- The backup is still there, whole, for a human to compare.
      local files = backups()
      assert.are.equal(1, #files)
      local saved = assert(backup.read(files[1]))
      assert.are.equal(before.stream_id, saved.stream_id)
      assert.are.equal(URL, saved.delivery.endpoint_url)
      -- On the wire: PATCH (done), PATCH (500), PUT (restore), GET (check).
      local order = {}
      for _, r in ipairs(fakes[1]:requests()) do order[#order + 1] = ("%s %d"):format(r.method, r.status) end
      assert.are.same({ "POST 201", "GET 200", "PATCH 200", "PATCH 500", "PUT 200", "GET 200" }, order)
      -- The others are applied: only alpha failed.
      assert.are.equal(1, writes(fakes[2]), "only the test's own create")
      assert.matches("Apply: 0 orgs changed, 2 in sync, 1 failed", out)
    end)

    it("rolls back when delivery is not proven, and exits 3 when the old header is unknown", function()
      local port = free_port()
      local endpoint = ("http://127.0.0.1:%d/ssf/events"):format(port)
      local before = rotating(endpoint, "")
      fakes[1]:config { drop_deliveries = true }
      local code, out, err = run(("apply %s --backup-dir %s --confirm 127.0.0.1:%d --confirm-timeout 1")
        :format(env.q(file), env.q(dir .. "/bk"), port))
      assert.are.equal(3, code, out .. err)
      assert.matches("alpha %(%S+%): FAILED: delivery not proven: no verification SET", out)
      assert.matches("rollback: restored stream " .. before.stream_id, out)
      assert.matches("authorization_header of stream " .. before.stream_id .. " stays the one from %$RX_NEW", out)
      local now = held(fakes[1])
      assert.are.equal(URL, now.delivery.endpoint_url)
      assert.are.equal(NEW_HDR, now.delivery.authorization_header)
    end)

    it("keeps the change once the verification SET arrives at the receiver", function()
      local port = free_port()
      local endpoint = ("http://127.0.0.1:%d/ssf/events"):format(port)
      rotating(endpoint, "")
      local code, out, err = run(("apply %s --backup-dir %s --confirm 127.0.0.1:%d --confirm-timeout 20 --json")
        :format(env.q(file), env.q(dir .. "/bk"), port))
      assert.are.equal(0, code, out .. err)
      local r = assert(ssf.json.decode(lines(out)[1]))
      assert.are.equal("alpha", r.org)
      assert.are.equal("applied", r.status)
      assert.is_string(r.confirm.jti)
      assert.are.same({ "update", "rotate" }, { r.done[1].action, r.done[2].action })
      local now = held(fakes[1])
      assert.are.equal(endpoint, now.delivery.endpoint_url)
      assert.are.equal(NEW_HDR, now.delivery.authorization_header)
      assert.are.equal(1, #fakes[1]:deliveries())
    end)
  end)
end)

-- scripts/apply.lua end to end against three fakes on their own ports
-- (credentials from named variables and from a named okta.yaml), with drift
-- and faults injected through the fakes, checking what each fake holds
-- afterwards, authorization_header included. The files it reads and writes
-- are in apply_files_spec.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local backup = require "ssf.backup"
local sleep = require("ssf.http").sleep

local APPLY = env.root .. "/scripts/apply.lua"
local SR, CC = ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE
local URL = "https://rx.example.com/ssf/events"
local OLD_HDR, NEW_HDR = "Bearer CANARY-old-41d", "Bearer CANARY-new-9e2"
local BAD_TOKEN = "tok-CANARY-apply-0b7"

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
    env.write(file, "return { orgs = {\n" .. table.concat(entries, ",\n") .. "\n} }\n")
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
    env.write(dir .. "/beta.yaml", ("okta:\n  client:\n    orgUrl: %s\n    authorizationMode: Bearer\n    token: tok-rw\n")
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
    local _, mode = env.run("stat -c %a " .. env.q(files[1]))
    assert.are.equal("600", mode:match("%d+"))

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

    -- alpha wants a new endpoint, one more event and a new header: an
    -- update and a rotate, two PATCHes. Returns the stream as it was.
    local function rotating(endpoint, extra)
      create(fakes[1], { events_requested = { SR } })
      create(fakes[2])
      create(fakes[3])
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

    it("exits 4 and names the backup when the rollback fails too", function()
      local before = rotating("https://new.example.com/ssf", ", old_authorization_env = 'RX_OLD'")
      fakes[1]:faults { { match = { method = "PATCH" } }, PATCH_500,
                        { match = { method = "PUT" }, status = 503, body = { errorCode = "E0000010" } },
                        { match = { method = "PUT" }, status = 503, body = { errorCode = "E0000010" } },
                        { match = { method = "PUT" }, status = 503, body = { errorCode = "E0000010" } } }
      local code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir .. "/bk"))
      assert.are.equal(4, code, out .. err)
      local path = backups()[1]
      assert.matches("rollback: could not restore stream " .. before.stream_id .. " from " .. path:gsub("%p", "%%%0") ..
        ": HTTP 503", out)
      -- The stream keeps the update; the backup holds what it was.
      assert.are.equal("https://new.example.com/ssf", held(fakes[1]).delivery.endpoint_url)
      assert.are.equal(URL, assert(backup.read(path)).delivery.endpoint_url)
    end)

    it("rolls back the org under way when SIGTERM comes, and exits 143", function()
      local before = rotating("https://new.example.com/ssf", ", old_authorization_env = 'RX_OLD'")
      fakes[1]:faults { { match = { method = "PATCH" } }, { match = { method = "PATCH" }, action = "hang" } }
      local out, code, pidf = dir .. "/bg.out", dir .. "/bg.code", dir .. "/bg.pid"
      os.remove(code)
      local prefix = ""
      for k, v in pairs(vars) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
      local inner = ("env %s%s %s apply %s --backup-dir %s & echo $! >%s; wait $!; echo $? >%s"):format(prefix,
        env.q(env.ssflua_bin), env.q(APPLY), env.q(file), env.q(dir .. "/bk"), env.q(pidf), env.q(code))
      assert(os.execute(("sh -c %s >%s 2>&1 </dev/null &"):format(env.q(inner), env.q(out))))
      -- Bounded wait until the second PATCH hangs at the fake.
      local patches = 0
      for _ = 1, 400 do
        patches = 0
        for _, r in ipairs(fakes[1]:requests()) do
          if r.method == "PATCH" then patches = patches + 1 end
        end
        if patches == 2 then break end
        sleep(0.05)
      end
      assert.are.equal(2, patches)
      local pid = assert((env.read(pidf) or ""):match("%d+"))
      os.execute("kill -TERM " .. pid)
      local status
      for _ = 1, 600 do -- up to 30 s
        status = tonumber((env.read(code) or ""):match("%d+"))
        if status then break end
        sleep(0.05)
      end
      if not status then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
      local text = env.read(out) or ""
      assert.are.equal(143, status, text)
      assert.matches("alpha %(%S+%): FAILED: stopped by SIGTERM", text)
      assert.matches("rollback: restored stream " .. before.stream_id, text)
      assert.matches("beta %(%S+%): in sync", text)
      assert.is_nil(text:find("CANARY", 1, true))
      local now = held(fakes[1])
      assert.are.equal(URL, now.delivery.endpoint_url)
      assert.are.equal(OLD_HDR, now.delivery.authorization_header)
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

  it("creates, replaces and deletes, each header from its named variable, with a backup first", function()
    create(fakes[2], { format = "iss_sub" })
    create(fakes[3])
    local replacing = ("{ delivery = { method = PUSH, endpoint_url = %q }, events_requested = " ..
      "{ events.SESSION_REVOKED, events.CREDENTIAL_CHANGE }, format = null, authorization_env = 'RX_NEW' }"):format(URL)
    want(STREAM, { beta = replacing, gamma = "false" })
    local code, out, err = run("plan " .. env.q(file))
    assert.are.equal(2, code, out .. err)
    assert.matches("alpha %(%S+%): 1 change\n  %+ create %(new stream%)", out)
    assert.matches("%-/%+ replace esc%w+\n      format: iss_sub %-> %(absent%)", out)
    assert.matches("%- delete esc%w+", out)
    local gamma_id = held(fakes[3]).stream_id

    code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(0, code, out .. err)
    assert.matches("Apply: 3 orgs changed, 0 in sync, 0 failed", out)
    local a, b = held(fakes[1]), held(fakes[2])
    assert.are.equal(NEW_HDR, a.delivery.authorization_header)
    assert.are.equal(URL, a.delivery.endpoint_url)
    -- PUT drops what it is not given: the header comes from $RX_NEW.
    assert.are.equal(NEW_HDR, b.delivery.authorization_header)
    assert.is_nil(b.format)
    assert.is_nil(held(fakes[3]))
    -- Nothing is lost: the deleted stream is in a backup.
    local found
    for _, path in ipairs(backups()) do
      local saved = assert(backup.read(path))
      if saved.stream_id == gamma_id then found = saved end
    end
    assert.are.equal(URL, assert(found, "no backup of the deleted stream").delivery.endpoint_url)
    assert.are.equal(0, (run("plan " .. env.q(file))))
  end)

  it("refuses a replace when the file names no variable for the header it would drop", function()
    create(fakes[1])
    want(STREAM, { alpha = ("{ delivery = { method = PUSH, endpoint_url = %q }, events_requested = " ..
      "{ events.SESSION_REVOKED }, format = null }"):format(URL) })
    local code, out = run("apply " .. env.q(file) .. " --only alpha --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(1, code)
    assert.matches("FAILED: a replace %(PUT%) drops delivery.authorization_header", out)
    assert.matches("nothing was changed in this org", out)
    assert.are.equal(1, writes(fakes[1]), "only the test's own create")
    assert.are.equal(OLD_HDR, held(fakes[1]).delivery.authorization_header)
  end)

  it("deletes a stream it created when delivery to it is not proven", function()
    local probe = assert(ssf.receiver { verifier = function() return nil, "unused" end })
    local port = probe.port
    probe:close()
    want(STREAM, { alpha = ("{ delivery = { method = PUSH, endpoint_url = 'http://127.0.0.1:%d/ssf/events' }, " ..
      "events_requested = { events.SESSION_REVOKED }, authorization_env = 'RX_NEW' }"):format(port) })
    -- The receiver expects $RX_OLD: the stream's pushes are refused.
    local code, out, err = run(("apply %s --only alpha --backup-dir %s --confirm 127.0.0.1:%d --confirm-timeout 1")
      :format(env.q(file), env.q(dir .. "/bk"), port), { RX_NEW = NEW_HDR })
    assert.are.equal(0, code, out .. err)
    assert.is_not_nil(held(fakes[1]))
    fakes[1]:reset()
    fakes[1]:config { drop_deliveries = true, min_verification_interval = 0 }
    code, out, err = run(("apply %s --only alpha --backup-dir %s --confirm 127.0.0.1:%d --confirm-timeout 1")
      :format(env.q(file), env.q(dir .. "/bk"), port))
    assert.are.equal(1, code, out .. err)
    assert.matches("FAILED: delivery not proven", out)
    assert.matches("rollback: deleted stream esc%w+, created by this run", out)
    assert.is_nil(held(fakes[1]))
  end)

  it("acts only on the orgs --only names, and prints JSON lines with --json", function()
    for _, f in ipairs(fakes) do create(f, { format = false }) end
    want(STREAM)
    local before = { writes(fakes[1]), writes(fakes[2]), writes(fakes[3]) }
    local code, out, err = run("plan " .. env.q(file) .. " --only beta,gamma --json")
    assert.are.equal(2, code, out .. err)
    local r = {}
    for i, l in ipairs(lines(out)) do r[i] = assert(ssf.json.decode(l)) end
    assert.are.equal(2, #r)
    assert.are.same({ "beta", "gamma" }, { r[1].org, r[2].org })
    assert.are.equal("drift", r[1].status)
    assert.are.equal("update", r[1].changes[1].action)
    assert.are.same({ field = "format", old = ssf.null, new = "iss_sub" }, r[1].changes[1].fields[1])
    assert.matches("cannot be compared", r[1].notes[1])

    code, out, err = run("apply " .. env.q(file) .. " --only gamma --json --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(0, code, out .. err)
    r = lines(out)
    assert.are.equal(1, #r)
    r = assert(ssf.json.decode(r[1]))
    assert.are.equal("gamma", r.org)
    assert.are.equal("applied", r.status)
    assert.are.equal("update", r.done[1].action)
    assert.are.equal(200, r.done[1].status)
    assert.are.equal(1, #r.backups)
    assert.are.same({ before[1], before[2], before[3] + 1 }, { writes(fakes[1]), writes(fakes[2]), writes(fakes[3]) })
    assert.is_nil(held(fakes[1]).format)
  end)

  it("runs orgs at once, never more than --concurrency", function()
    for _, f in ipairs(fakes) do create(f) end
    want(STREAM)
    -- alpha's and beta's reads are held for a while: two workers busy.
    local SLOW = { match = { method = "GET", path = "/api/v1/ssf/stream" }, delay_ms = 6000 }
    fakes[1]:faults { SLOW }
    fakes[2]:faults { SLOW }
    local out, code = dir .. "/bg.out", dir .. "/bg.code"
    os.remove(code)
    local prefix = ""
    for k, v in pairs(vars) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
    assert(os.execute(("sh -c %s >%s 2>&1 </dev/null &"):format(env.q(("env %s%s %s plan %s --concurrency 2; " ..
      "echo $? >%s"):format(prefix, env.q(env.ssflua_bin), env.q(APPLY), env.q(file), env.q(code))), env.q(out))))
    local function in_flight(f)
      for _, r in ipairs(f:requests()) do
        if r.method == "GET" and r.status == ssf.null then return true end
      end
      return false
    end
    -- Bounded wait until both slow reads are in flight at once...
    local both
    for _ = 1, 200 do
      both = in_flight(fakes[1]) and in_flight(fakes[2])
      if both then break end
      sleep(0.05)
    end
    assert.is_true(both, "alpha and beta were never read at the same time")
    -- ...while gamma, third in line, waits for a free worker.
    local gamma_seen = #fakes[3]:requests()
    local still = in_flight(fakes[1]) and in_flight(fakes[2])
    local status
    for _ = 1, 600 do -- up to 30 s
      status = tonumber((env.read(code) or ""):match("%d+"))
      if status then break end
      sleep(0.05)
    end
    assert.are.equal(0, status, env.read(out))
    if still then assert.are.equal(1, gamma_seen, "gamma read while two orgs were in flight") end
    assert.are.equal(2, #fakes[3]:requests(), "gamma was read in the end")
  end)

  it("exits 1, never 2, on a usage error or a bad file, before any request", function()
    create(fakes[1])
    want(STREAM)
    for args, pattern in pairs {
      ["plan"] = "give one desired%-state FILE",
      ["frob " .. env.q(file)] = "the sub%-command is plan or apply",
      ["plan " .. env.q(file) .. " --bogus"] = "unknown option",
      ["plan " .. env.q(file) .. " --only nosuch"] = "nosuch names no org",
      ["plan " .. env.q(file) .. " --concurrency 0"] = "positive whole number",
      ["plan " .. env.q(dir .. "/missing.lua")] = "cannot read",
    } do
      local code, _, err = run(args)
      assert.are.equal(1, code, args)
      assert.matches(pattern, err)
    end
    env.write(file, "return { orgs = { { name = 'alpha', env = 'ALPHA_', stream = { delivery = { " ..
      "authorization_header = 'Bearer CANARY-in-file' } } } } }")
    local code, _, err = env.ssflua(env.q(APPLY) .. " plan " .. env.q(file), vars)
    assert.are.equal(1, code)
    assert.matches("would put a secret in the file", err)
    assert.is_nil(err:find("CANARY", 1, true))
    assert.are.equal(1, #fakes[1]:requests(), "only the test's own create")
  end)

  it("stops an org whose header variable is unset before changing anything", function()
    create(fakes[1])
    want(STREAM, { alpha = ("{ delivery = { method = PUSH, endpoint_url = 'https://x.example.com/' }, " ..
      "events_requested = { events.SESSION_REVOKED }, authorization_env = 'RX_UNSET_FOR_TEST' }") })
    local code, out = run("apply " .. env.q(file) .. " --only alpha --backup-dir " .. env.q(dir .. "/bk"))
    assert.are.equal(1, code)
    assert.matches("RX_UNSET_FOR_TEST is not set", out)
    assert.are.equal(1, writes(fakes[1]))
    assert.are.same({}, backups())
  end)
end)

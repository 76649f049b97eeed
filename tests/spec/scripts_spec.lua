-- scripts/streams.lua and scripts/rotate_receiver.lua, run as a user would:
-- ssflua, configured only through the environment, against the fake.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"

local ROTATE = env.q(env.root .. "/scripts/rotate_receiver.lua")
local STREAMS = env.q(env.root .. "/scripts/streams.lua")

describe("scripts", function()
  local f, okta, dir

  local function run(script, args, vars)
    local all = { OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_TOKEN = "tok-rw" }
    for k, v in pairs(vars or {}) do all[k] = v end
    return env.ssflua(("%s %s"):format(script, args or ""), all)
  end

  local function create()
    return assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = "https://old.example.com/events",
                   authorization_header = "Bearer old-secret-value" },
      events_requested = { ssf.events.SESSION_REVOKED },
    })
  end

  -- Writes other than the test's own create (the scripts never create).
  local function writes()
    local n = 0
    for _, r in ipairs(f:requests()) do
      if r.method ~= "GET" and not (r.method == "POST" and r.path == "/api/v1/ssf/stream") then n = n + 1 end
    end
    return n
  end

  setup(function()
    f = fake.start()
    dir = env.tmpdir()
  end)
  teardown(function()
    f:stop()
    env.rmdir(dir)
  end)
  before_each(function()
    f:reset()
    okta = f:client()
  end)
  after_each(function() okta:close() end)

  describe("streams.lua", function()
    it("prints a table, or JSON with --json", function()
      local s = create()
      local code, out = run(STREAMS)
      assert.are.equal(0, code)
      assert.matches("STREAM%s+STATUS%s+METHOD%s+ENDPOINT%s+EVENTS", out)
      assert.matches(s.stream_id .. "%s+enabled%s+push%s+https://old%.example%.com/events%s+session%-revoked", out)

      local jcode, jout, jerr = run(STREAMS, "--json")
      assert.are.equal(0, jcode, jerr)
      local list = ssf.json.decode(jout)
      assert.are.equal(s.stream_id, list[1].stream_id)
      assert.are.equal("enabled", list[1].status)

      local one_code, one, one_err = run(STREAMS, "--stream-id " .. s.stream_id .. " --json")
      assert.are.equal(0, one_code, one_err)
      assert.are.equal(1, #ssf.json.decode(one))
    end)

    it("says when there is no stream, and fails cleanly on a bad id", function()
      local code, out = run(STREAMS)
      assert.are.equal(0, code)
      assert.matches("no streams", out)
      local bcode, _, berr = run(STREAMS, "--stream-id escNOPE")
      assert.are.equal(1, bcode)
      assert.matches("^streams%.lua: HTTP 404 E0000007", berr)
    end)

    it("gives --help, and exits 2 on a bad option", function()
      local code, out = run(STREAMS, "--help")
      assert.are.equal(0, code)
      assert.matches("usage: ssflua streams%.lua", out)
      local bcode, _, err = run(STREAMS, "--bogus")
      assert.are.equal(2, bcode)
      assert.matches("unknown option %-%-bogus", err)
    end)

    it("explains a missing configuration", function()
      local code, _, err = env.ssflua(STREAMS)
      assert.are.equal(1, code)
      assert.matches("no Okta org configured", err)
    end)
  end)

  describe("rotate_receiver.lua", function()
    it("backs up, patches, verifies and prints what changed", function()
      local s = create()
      local backup = dir .. "/backup-1.json"
      local code, out, err = run(ROTATE,
        ("--endpoint https://new.example.com/events --auth-header-env NEW_HDR --backup %s"):format(env.q(backup)),
        { NEW_HDR = "Bearer CANARY-new-secret-77" })
      assert.are.equal(0, code, err)
      assert.matches("delivery%.endpoint_url%s+https://old%.example%.com/events %-> https://new%.example%.com/events", out)
      assert.matches("value of %$NEW_HDR %(27 characters%)", out)
      assert.matches("backup saved to", out)
      assert.matches("verification requested %(HTTP 204", out)
      assert.is_nil((out .. err):find("CANARY", 1, true))

      -- The backup holds the configuration from before the change.
      local saved = ssf.json.decode(io.open(backup):read("a"))
      assert.are.equal("https://old.example.com/events", saved.stream.delivery.endpoint_url)
      assert.are.equal(s.stream_id, saved.stream.stream_id)
      -- Configuration is nobody else's business: mode 0600.
      local _, mode = env.run("stat -c %a " .. env.q(backup))
      assert.are.equal("600", mode:match("%d+"))

      -- The order on the wire: read, PATCH, then verification.
      local seen = f:requests()
      local order = {}
      for _, r in ipairs(seen) do order[#order + 1] = r.method .. " " .. r.path end
      assert.are.same({ "POST /api/v1/ssf/stream", "GET /api/v1/ssf/stream",
                        "PATCH /api/v1/ssf/stream", "POST /api/v1/ssf/stream/verification" }, order)
      local now = assert(okta:stream(s.stream_id))
      assert.are.equal("https://new.example.com/events", now.delivery.endpoint_url)
      local stored = f:call("GET", "streams")
      assert.are.equal("Bearer CANARY-new-secret-77", stored[1].delivery.authorization_header)
    end)

    it("sends no write with --dry-run", function()
      create()
      local code, out = run(ROTATE, "--endpoint https://new.example.com/x --dry-run")
      assert.are.equal(0, code)
      assert.matches("dry run: no change sent", out)
      assert.are.equal(0, writes())
    end)

    it("restores the backup when the verification request fails", function()
      local s = create()
      f:faults { { match = { method = "POST", path = "/api/v1/ssf/stream/verification" }, status = 500,
                   body = { errorCode = "E0000009", errorSummary = "Internal Server Error" } } }
      local backup = dir .. "/backup-2.json"
      local code, _, err = run(ROTATE, "--endpoint https://new.example.com/x --backup " .. env.q(backup))
      assert.are.equal(1, code)
      assert.matches("verification request failed: HTTP 500", err)
      assert.matches("restored the previous configuration", err)
      assert.are.equal("https://old.example.com/events", assert(okta:stream(s.stream_id)).delivery.endpoint_url)
      -- PATCH out, POST verification, PATCH back.
      assert.are.equal(3, writes())
    end)

    it("puts a backup back with --restore", function()
      local s = create()
      local backup = dir .. "/backup-3.json"
      assert.are.equal(0, (run(ROTATE, "--endpoint https://new.example.com/y --backup " .. env.q(backup))))
      local code, out = run(ROTATE, "--restore " .. env.q(backup))
      assert.are.equal(0, code)
      assert.matches("restored stream " .. s.stream_id, out)
      assert.are.equal("https://old.example.com/events", assert(okta:stream(s.stream_id)).delivery.endpoint_url)
    end)

    it("never overwrites an existing backup, and then changes nothing", function()
      create()
      local backup = dir .. "/backup-4.json"
      io.open(backup, "w"):close()
      local code, _, err = run(ROTATE, "--endpoint https://new.example.com/z --backup " .. env.q(backup))
      assert.are.equal(1, code)
      assert.matches("already exists", err)
      assert.are.equal(0, writes())
    end)

    it("refuses bad input before touching anything", function()
      create()
      for args, want in pairs {
        [""] = "nothing to change",
        ["--endpoint http://receiver.example.com/x"] = "must be an https URL",
        ["--endpoint"] = "needs a value",
        ["--endpoint https://a.example.com extra"] = "unexpected argument",
      } do
        local code, _, err = run(ROTATE, args)
        assert.are.equal(2, code, args)
        assert.matches(want, err, 1, true)
      end
      local code, _, err = run(ROTATE, "--auth-header-env UNSET_VAR_FOR_TEST")
      assert.are.equal(1, code)
      assert.matches("UNSET_VAR_FOR_TEST is not set", err)
      assert.are.equal(0, writes())
    end)

    it("needs --stream-id when the client sees several streams, and fails without any", function()
      local code, _, err = run(ROTATE, "--endpoint https://new.example.com/x")
      assert.are.equal(1, code)
      assert.matches("has no stream", err)
    end)
  end)
end)

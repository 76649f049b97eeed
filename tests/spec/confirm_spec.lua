-- Proof of delivery: okta:confirm_stream and rotate_receiver.lua --confirm,
-- with the fake transmitter pushing signed verification SETs to a real
-- receiver on loopback.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"

describe("proof of delivery", function()
  local f, okta, dir
  local SECRET = "Bearer rx-secret-8d2f"

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

  -- A receiver checking signatures against the fake's keys, and a stream
  -- pointing at it with the given authorization header.
  local function setup_stream(header)
    local rx = assert(ssf.receiver { authorization = SECRET,
                                     verify = { jwks = okta, audience = "https://receiver.example.com/aud-a" } })
    local s = assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = rx.endpoint_url, authorization_header = header or SECRET },
      events_requested = { ssf.events.SESSION_REVOKED } })
    return rx, s
  end

  it("returns the signed verification SET that echoes a fresh state", function()
    local rx, s = setup_stream()
    local set, report = okta:confirm_stream(s.stream_id, rx, { timeout = 10 })
    rx:close()
    assert.is_table(set, report)
    assert.are.equal(ssf.events.VERIFICATION, set.event_type)
    assert.are.equal(report.state, set.event.state)
    assert.are.equal(32, #report.state)
    assert.are.equal(f.url, set.claims.iss)
    local pushed = f:deliveries()
    assert.are.equal(202, pushed[#pushed].status)
  end)

  it("says why when the transmitter delivers nothing", function()
    local rx, s = setup_stream()
    f:config { drop_deliveries = true }
    local set, msg, info = okta:confirm_stream(s.stream_id, rx, { timeout = 1 })
    rx:close()
    assert.is_nil(set)
    assert.are.equal("timeout", info.kind)
    assert.matches("no verification SET with state %x+ arrived within 1 s", msg)
    assert.matches("stream " .. s.stream_id .. " is enabled", msg)
    assert.matches("Okta delivers to " .. rx.endpoint_url:gsub("%p", "%%%0") .. " by urn:ietf:rfc:8935", msg)
    assert.are.equal("enabled", info.stream_status)
  end)

  it("ignores and reports a SET with the wrong state", function()
    local rx, s = setup_stream()
    f:config { wrong_state = true }
    local set, msg, info = okta:confirm_stream(s.stream_id, rx, { timeout = 1.5 })
    rx:close()
    assert.is_nil(set)
    assert.are.equal(1, #info.unrelated)
    assert.matches("it got other SETs instead: https://schemas%.openid%.net/secevent/ssf/event%-type/verification", msg)
  end)

  it("names a receiver that refuses the stream's authorization header", function()
    local rx, s = setup_stream("Bearer not-the-receivers")
    local set, msg, info = okta:confirm_stream(s.stream_id, rx, { timeout = 1.5 })
    rx:close()
    assert.is_nil(set)
    assert.are.equal(1, info.refused[401])
    assert.matches("1 x HTTP 401 %(wrong authorization header%)", msg)
    assert.is_nil(msg:find("not-the-receivers", 1, true))
  end)

  it("honours min_verification_interval, waiting out a 429 from a recent verification", function()
    f:config { min_verification_interval = 1 }
    local rx, s = setup_stream()
    local c = f:client(nil, { retries = 0 }) -- the 429 is confirm_stream's to handle
    assert(c:verify_stream(s.stream_id)) -- a verification outside confirm_stream
    local set, report = c:confirm_stream(s.stream_id, rx, { timeout = 10 })
    assert.is_table(set, report)
    -- A second one right away waits for the interval instead of failing.
    local again, report2 = c:confirm_stream(s.stream_id, rx, { timeout = 10 })
    rx:close()
    c:close()
    assert.is_table(again, report2)
    assert.is_true(report2.waited >= 0.5, "waited " .. report2.waited)
    local statuses = {}
    for _, r in ipairs(f:requests()) do
      if r.path == "/api/v1/ssf/stream/verification" then statuses[#statuses + 1] = r.status end
    end
    assert.are.same({ 204, 429, 204, 204 }, statuses)
  end)

  it("raises on misuse", function()
    assert.has_error(function() okta:confirm_stream(nil, {}) end)
    assert.has_error(function() okta:confirm_stream("esc1", {}) end,
      "bad argument #2 to 'confirm_stream' (receiver expected (ssf.receiver{...}))")
  end)

  describe("rotate_receiver.lua --confirm", function()
    local ROTATE = env.q(env.root .. "/scripts/rotate_receiver.lua")
    local function run(args)
      return env.ssflua(ROTATE .. " " .. args, { OKTA_CLIENT_ORGURL = f.url, OKTA_CLIENT_TOKEN = "tok-rw" })
    end

    it("rotates to a local receiver and proves delivery", function()
      local s = assert(okta:create_stream {
        delivery = { method = ssf.PUSH, endpoint_url = "https://old.example.com/ssf" },
        events_requested = { ssf.events.SESSION_REVOKED } })
      local code, out, err = run("--confirm 127.0.0.1:0 --confirm-timeout 10 --backup " .. env.q(dir .. "/ok.json"))
      assert.are.equal(0, code, out .. err)
      assert.matches("delivery proven: verification SET %S+ with state %x+ arrived after", out)
      local now = assert(okta:stream(s.stream_id))
      assert.matches("^http://127%.0%.0%.1:%d+/ssf/events$", now.delivery.endpoint_url)
      assert.is_nil((out .. err):find("Bearer ", 1, true))
    end)

    it("restores the backup and says why when delivery is broken", function()
      local s = assert(okta:create_stream {
        delivery = { method = ssf.PUSH, endpoint_url = "https://old.example.com/ssf" },
        events_requested = { ssf.events.SESSION_REVOKED } })
      f:config { drop_deliveries = true }
      local code, _, err = run("--confirm 127.0.0.1:0 --confirm-timeout 1 --backup " .. env.q(dir .. "/broken.json"))
      -- The generated header cannot be taken back without the old one.
      assert.are.equal(3, code)
      assert.matches("delivery not proven: no verification SET", err)
      assert.matches("a random header generated for this run, which nobody has", err)
      assert.are.equal("https://old.example.com/ssf", assert(okta:stream(s.stream_id)).delivery.endpoint_url)
    end)
  end)
end)

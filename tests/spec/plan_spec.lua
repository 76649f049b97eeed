-- ssf.plan: desired state against what the org holds, with no I/O.
local ssf = require "ssf"
local plan = ssf.plan
local describe_changes = require("ssf.plan").describe

local SR, CC = ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE

-- A stream as Okta's GET returns it, read-only fields included.
local function current(over)
  local s = ssf.json.decode([[{
    "stream_id": "esc1", "iss": "https://acme.okta.com", "aud": "https://rx.example.com",
    "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://rx.example.com/ssf"},
    "events_requested": ["]] .. SR .. [[", "]] .. CC .. [["],
    "events_supported": ["]] .. SR .. [[", "]] .. CC .. [["],
    "events_delivered": ["]] .. SR .. [["],
    "format": "iss_sub", "min_verification_interval": 60 }]])
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

local function desired(over)
  local d = { delivery = { method = ssf.PUSH, endpoint_url = "https://rx.example.com/ssf" },
              events_requested = { SR, CC }, format = "iss_sub", authorization_env = "RX_AUTH" }
  for k, v in pairs(over or {}) do d[k] = v end
  return d
end

describe("ssf.plan", function()
  it("plans nothing when the org matches, and says the header cannot be compared", function()
    local changes, notes = plan(desired(), { current() })
    assert.are.same({}, changes)
    assert.are.equal(1, #notes)
    assert.matches("authorization_header cannot be compared", notes[1])
    assert.matches("%$RX_AUTH", notes[1])
  end)

  it("treats events_requested as a set: order and repeats do not count", function()
    local changes = plan(desired { events_requested = { CC, SR, CC } }, { current() })
    assert.are.same({}, changes)
  end)

  it("plans an update field by field, old to new", function()
    local d = desired { events_requested = { SR, ssf.events.CREDENTIAL_COMPROMISE } }
    d.delivery.endpoint_url = "https://rx2.example.com/ssf"
    local changes = plan(d, { current() })
    assert.are.equal(1, #changes)
    local c = changes[1]
    assert.are.equal("update", c.action)
    assert.are.equal("esc1", c.stream_id)
    assert.are.same({ field = "delivery.endpoint_url", old = "https://rx.example.com/ssf",
                      new = "https://rx2.example.com/ssf" }, c.fields[1])
    assert.are.equal("events_requested", c.fields[2].field)
    assert.are.same({ ssf.events.CREDENTIAL_COMPROMISE }, c.fields[2].added)
    assert.are.same({ CC }, c.fields[2].removed)
    -- The body is the stream as read, edited: read-only fields unchanged,
    -- events sent as a JSON array, no secret anywhere.
    assert.are.equal("https://rx2.example.com/ssf", c.config.delivery.endpoint_url)
    assert.are.equal(60, c.config.min_verification_interval)
    assert.is_nil(c.config.delivery.authorization_header)
    assert.matches('"events_requested":%[', ssf.json.encode(c.config))
  end)

  it("compares delivery.method and format like any string field", function()
    local d = desired { format = "email" }
    d.delivery.method = ssf.RISC_PUSH
    local changes = plan(d, { current() })
    local fields = {}
    for _, f in ipairs(changes[1].fields) do fields[f.field] = f end
    assert.are.equal(ssf.RISC_PUSH, fields["delivery.method"].new)
    assert.are.equal("iss_sub", fields.format.old)
    assert.are.equal("email", fields.format.new)
    assert.are.equal("update", changes[1].action)
  end)

  it("leaves a field that the file does not mention alone (absent is not null)", function()
    local changes = plan(desired { format = nil }, { current { format = "iss_sub" } })
    assert.are.same({}, changes)
  end)

  it("plans a replace when the file wants a field gone (null), since PATCH cannot remove one", function()
    local changes = plan(desired { format = ssf.null }, { current() })
    assert.are.equal("replace", changes[1].action)
    assert.are.same({ field = "format", old = "iss_sub", new = ssf.null }, changes[1].fields[1])
    assert.is_nil(changes[1].config.format)
    -- Already absent or null: nothing to do.
    assert.are.same({}, plan(desired { format = ssf.null }, { current { format = ssf.null } }))
  end)

  it("ignores the read-only fields, whatever they hold", function()
    local cur = current { iss = "x", aud = { "a", "b" }, events_supported = {}, events_delivered = { "z" },
                          min_verification_interval = ssf.null }
    assert.are.same({}, plan(desired(), { cur }))
  end)

  it("plans a create when the client has no stream, and a delete when none is wanted", function()
    local changes = plan(desired(), {})
    assert.are.equal("create", changes[1].action)
    assert.are.equal("RX_AUTH", changes[1].authorization_env)
    assert.are.same({ CC, SR }, changes[1].config.events_requested)
    assert.is_nil(changes[1].config.delivery.authorization_header)
    assert.are.same({ { action = "delete", stream_id = "esc1" } }, plan(false, { current() }))
    assert.are.same({}, plan(nil, {}))
  end)

  it("offers rotate as an explicit action for the header it cannot see", function()
    local changes, notes = plan(desired { rotate = true }, { current() })
    assert.are.same({ { action = "rotate", stream_id = "esc1", authorization_env = "RX_AUTH" } }, changes)
    assert.are.same({}, notes)
  end)

  it("refuses to guess between several streams, and finds one by stream_id", function()
    local two = { current(), current { stream_id = "esc2" } }
    local changes, msg, info = plan(desired(), two)
    assert.is_nil(changes)
    assert.matches("2 streams", msg)
    assert.are.equal("config", info.kind)
    local d = desired { stream_id = "esc2" }
    d.delivery.endpoint_url = "https://other.example.com/"
    assert.are.equal("esc2", plan(d, two)[1].stream_id)
  end)

  it("cannot create from a file that lacks what a create needs", function()
    local changes, msg, info = plan({ delivery = { method = ssf.PUSH } }, {})
    assert.is_nil(changes)
    assert.matches("delivery.endpoint_url", msg)
    assert.are.equal("config", info.kind)
  end)

  it("raises on misuse, naming what is wrong", function()
    assert.has_error(function() plan("x", {}) end, "bad argument #1 to 'plan' (desired must be a table, false or nil, got string)")
    assert.has_error(function() plan({ delivery = { authorization_header = "Bearer s" } }, {}) end)
    assert.has_error(function() plan({ rotate = true }, {}) end)
    assert.has_error(function() plan({ events_requested = { 1 } }, {}) end)
  end)

  it("describes an event set by what it gains and loses, leaving out an empty side", function()
    local CC2 = ssf.events.CREDENTIAL_COMPROMISE
    local lines = describe_changes(plan(desired { events_requested = { SR, CC, CC2 } }, { current() }))
    assert.are.same({ "~ update esc1", "    events_requested: +[" .. CC2 .. "]" }, lines)
    lines = describe_changes(plan(desired { events_requested = { CC2 } }, { current() }))
    assert.are.same({ "~ update esc1", ("    events_requested: +[%s] -[%s, %s]"):format(CC2, CC, SR) }, lines)
  end)

  it("plans a field the stream lacks as an update from absent", function()
    local changes = plan(desired(), { current { format = ssf.null } })
    assert.are.equal("update", changes[1].action)
    assert.are.same({ field = "format", old = ssf.null, new = "iss_sub" }, changes[1].fields[1])
    assert.are.equal("iss_sub", changes[1].config.format)
    assert.are.same({ "~ update esc1", "    format: (absent) -> iss_sub" }, describe_changes(changes))
  end)

  it("gives the body to send for a stream: a copy of what a client sets, no read-only field", function()
    local s = current { status = "enabled" }
    local body = require("ssf.plan").body(s)
    assert.are.same({ "delivery", "events_requested", "format", "stream_id" }, (function()
      local keys = {}
      for k in pairs(body) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    body.delivery.endpoint_url = "https://changed.example.com/"
    body.events_requested[1] = "x"
    assert.are.equal("https://rx.example.com/ssf", s.delivery.endpoint_url)
    assert.are.equal(SR, s.events_requested[1])
    assert.matches('"events_requested":%[', ssf.json.encode(body))
    -- A field wanted absent stays absent.
    assert.is_nil(require("ssf.plan").body(current { format = ssf.null }).format)
  end)

  it("describes changes one line per field", function()
    local d = desired()
    d.delivery.endpoint_url = "https://rx2.example.com/ssf"
    local lines = describe_changes(plan(d, { current() }))
    assert.are.same({ "~ update esc1",
      "    delivery.endpoint_url: https://rx.example.com/ssf -> https://rx2.example.com/ssf" }, lines)
  end)
end)

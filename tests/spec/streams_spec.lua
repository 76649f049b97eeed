-- Every stream operation, and every failure path of the contract, against
-- the independent fake transmitter (tests/fake, Node) over real HTTP.
local ssf = require "ssf"
local fake = require "fake"

local E = ssf.events
local PUSH = ssf.PUSH

local function cfg(endpoint, extra)
  local c = {
    delivery = { method = PUSH, endpoint_url = endpoint or "https://receiver.example.com/events" },
    events_requested = { E.SESSION_REVOKED, E.CREDENTIAL_CHANGE },
    format = "iss_sub",
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

describe("stream operations against the fake transmitter", function()
  local f, okta

  setup(function() f = fake.start() end)
  teardown(function() f:stop() end)
  before_each(function()
    f:reset()
    okta = f:client()
  end)
  after_each(function() okta:close() end)

  it("reads the discovery metadata without sending credentials", function()
    local m, meta = assert(okta:metadata())
    assert.are.equal(f.url, m.issuer)
    assert.are.equal(200, meta.status)
    assert.is_true(ssf.array(m.delivery_methods_supported) ~= nil)
    local seen = f:requests()
    assert.is_nil(seen[#seen].headers.authorization)
  end)

  it("runs the whole lifecycle: create, list, get, update, replace, status, verify, delete", function()
    local list = assert(okta:streams())
    assert.are.equal(0, #list)
    assert.are.equal("[]", ssf.json.encode(list))

    local s, meta = assert(okta:create_stream(cfg()))
    assert.are.equal(201, meta.status)
    assert.matches("^esc", s.stream_id)
    assert.are.equal(f.url, s.iss)
    assert.are.equal(meta.headers["x-okta-request-id"], meta.request_id)
    assert.is_truthy(meta.headers["x-rate-limit-remaining"])

    list = assert(okta:streams())
    assert.are.equal(1, #list)
    assert.are.equal(s.stream_id, list[1].stream_id)

    local got = assert(okta:stream(s.stream_id))
    assert.are.equal("https://receiver.example.com/events", got.delivery.endpoint_url)

    got.delivery.endpoint_url = "https://receiver.example.com/v2"
    local updated, umeta = assert(okta:update_stream(got))
    assert.are.equal(200, umeta.status)
    assert.are.equal("https://receiver.example.com/v2", updated.delivery.endpoint_url)

    local replaced = assert(okta:replace_stream(cfg("https://receiver.example.com/v3",
      { stream_id = s.stream_id, format = nil })))
    assert.are.equal("https://receiver.example.com/v3", replaced.delivery.endpoint_url)

    local st = assert(okta:stream_status(s.stream_id))
    assert.are.same({ stream_id = s.stream_id, status = "enabled" }, { stream_id = st.stream_id, status = st.status })

    local ok, vmeta = okta:verify_stream(s.stream_id, "state-1")
    assert.is_true(ok)
    assert.are.equal(204, vmeta.status)
    local seen = f:requests()
    assert.are.equal("/api/v1/ssf/stream/verification", seen[#seen].path)
    assert.are.same({ stream_id = s.stream_id, state = "state-1" }, ssf.json.decode(seen[#seen].body))

    local deleted, dmeta = okta:delete_stream(s.stream_id)
    assert.is_true(deleted)
    assert.are.equal(204, dmeta.status)

    local none, msg, info = okta:stream(s.stream_id)
    assert.is_nil(none)
    assert.are.equal("http", info.kind)
    assert.are.equal(404, info.status)
    assert.are.equal("E0000007", info.code)
    assert.matches("^HTTP 404 E0000007: Not found: .* %(request " .. info.request_id:gsub("%p", "%%%0") .. "%)$", msg)
  end)

  it("deletes the caller's own stream when no id is given", function()
    assert(okta:create_stream(cfg()))
    assert.is_true(okta:delete_stream())
    assert.are.equal(0, #assert(okta:streams()))
    local _, _, info = okta:delete_stream()
    assert.are.equal(404, info.status)
  end)

  it("round-trips GET, edit, PATCH with empty arrays and nulls intact", function()
    -- A RISC event Okta does not deliver: events_delivered comes back [].
    local s = assert(okta:create_stream(cfg(nil, {
      events_requested = { E.ACCOUNT_DISABLED },
    })))
    local got = assert(okta:stream(s.stream_id))
    assert.are.equal(0, #got.events_delivered)
    assert.are.equal(ssf.null, got.min_verification_interval)
    got.delivery.endpoint_url = "https://receiver.example.com/edited"
    got.delivery.authorization_header = ssf.null
    -- The fake rejects read-only fields that differ, so {} for [] would fail.
    local updated = assert(okta:update_stream(got))
    assert.are.equal("https://receiver.example.com/edited", updated.delivery.endpoint_url)
    local seen = f:requests()
    assert.matches('"events_delivered":%[%]', seen[#seen].body)
    assert.matches('"authorization_header":null', seen[#seen].body)
  end)

  it("accepts aud as a string or as an array", function()
    local a = assert(okta:create_stream(cfg()))
    assert.are.equal("string", type(a.aud))
    local b_client = f:client("tok-rw-b")
    local b = assert(b_client:create_stream(cfg()))
    assert.are.equal("table", type(b.aud))
    assert.is_true(#b.aud >= 1)
    -- and the array survives a round trip
    assert(b_client:update_stream(assert(b_client:stream(b.stream_id))))
    b_client:close()
  end)

  it("gets 401 E0000011 for an unknown token", function()
    local c = f:client("tok-unknown")
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("http", info.kind)
    assert.are.equal(401, info.status)
    assert.are.equal("E0000011", info.code)
    assert.matches("^HTTP 401 E0000011", msg)
    c:close()
  end)

  it("gets 403 E0000006 without the needed scope", function()
    local ro = f:client("tok-ro")
    assert(ro:streams()) -- ssf.read is enough to read
    local _, _, info = ro:create_stream(cfg())
    assert.are.equal(403, info.status)
    assert.are.equal("E0000006", info.code)
    local none = f:client("tok-none")
    local _, _, info2 = none:streams()
    assert.are.equal(403, info2.status)
    ro:close()
    none:close()
  end)

  it("gets 409 E0000195 for a second stream of the same client", function()
    assert(okta:create_stream(cfg()))
    local v, msg, info = okta:create_stream(cfg())
    assert.is_nil(v)
    assert.are.equal(409, info.status)
    assert.are.equal("E0000195", info.code)
    assert.matches("^HTTP 409 E0000195", msg)
  end)

  it("gets 409 once the org has 10 streams", function()
    for i = 1, 10 do
      f:call("POST", "tokens", { token = "tok-org-" .. i, client_id = "0oaorg" .. i, scopes = { "ssf.read", "ssf.manage" } })
      local c = f:client("tok-org-" .. i)
      assert(c:create_stream(cfg()))
      c:close()
    end
    local _, _, info = okta:create_stream(cfg())
    assert.are.equal(409, info.status)
    assert.are.equal("E0000195", info.code)
  end)

  it("gets 400 E0000001 with causes for missing fields sent through request{}", function()
    local v, msg, info = okta:request { method = "POST", path = "/api/v1/ssf/stream",
      json = { events_requested = { E.SESSION_REVOKED } } }
    assert.is_nil(v)
    assert.are.equal(400, info.status)
    assert.are.equal("E0000001", info.code)
    assert.is_true(#info.causes >= 1)
    assert.matches("delivery", info.causes[1])
    assert.matches("delivery", msg)
  end)

  it("raises before sending anything when required fields are missing", function()
    local before = #f:requests()
    assert.has_error(function() okta:create_stream { events_requested = { E.SESSION_REVOKED } } end,
      "bad argument #1 to 'create_stream' (cfg.delivery is required (a table with method and endpoint_url))")
    assert.has_error(function() okta:update_stream { delivery = { method = PUSH, endpoint_url = "https://x" } } end,
      "bad argument #1 to 'update_stream' (cfg.events_requested is required (a list of event-type URIs))")
    assert.has_error(function() okta:replace_stream(nil) end)
    assert.has_error(function() okta:stream() end,
      "bad argument #1 to 'stream' (stream_id must be a non-empty string, got nil)")
    assert.has_error(function() okta:stream_status("") end)
    assert.has_error(function() okta:verify_stream("esc1", 42) end,
      "bad argument #2 to 'verify_stream' (state must be a string, got number)")
    assert.has_error(function() okta:request { path = "api" } end)
    assert.has_error(function() okta:request { path = "/x", bogus = 1 } end)
    assert.are.equal(before, #f:requests())
  end)

  it("status needs a stream id the caller owns", function()
    local s = assert(okta:create_stream(cfg()))
    local b = f:client("tok-rw-b")
    local _, _, info = b:stream_status(s.stream_id)
    assert.are.equal(404, info.status)
    local _, _, vinfo = b:verify_stream(s.stream_id)
    assert.are.equal(404, vinfo.status)
    b:close()
    f:call("POST", "status", { stream_id = s.stream_id, status = "disabled" })
    assert.are.equal("disabled", assert(okta:stream_status(s.stream_id)).status)
  end)

  it("reuses one connection across calls", function()
    for _ = 1, 5 do assert(okta:streams()) end
    local seen = f:requests()
    local ports = {}
    for i = #seen - 4, #seen do ports[seen[i].remote_port] = true end
    local n = 0
    for _ in pairs(ports) do n = n + 1 end
    assert.are.equal(1, n)
  end)

  it("never shows the token or an authorization_header, even when the server echoes it", function()
    local token = "tok-CANARY-9f3b2a77c1"
    local header = "Splunk CANARY-HEADER-5e1d9c" -- not a scheme the generic scrubber knows
    f:call("POST", "tokens", { token = token, client_id = "0oacanary", scopes = { "ssf.read", "ssf.manage" } })
    local c = f:client(token)
    local outputs = {}
    -- The fake quotes offending values in its error causes: here both.
    local long = header .. ("x"):rep(8200)
    for _, bad in ipairs {
      cfg("not a uri " .. header, { delivery = { method = PUSH, endpoint_url = "bad", authorization_header = header } }),
      cfg(nil, { delivery = { method = PUSH, endpoint_url = "https://r.example.com", authorization_header = long } }),
    } do
      local v, msg, info = c:create_stream(bad)
      assert.is_nil(v)
      outputs[#outputs + 1] = msg
      for _, cause in ipairs(info.causes or {}) do outputs[#outputs + 1] = cause end
      outputs[#outputs + 1] = info.summary or ""
    end
    local s = assert(c:create_stream(cfg(nil, { delivery = { method = PUSH,
      endpoint_url = "https://r.example.com", authorization_header = header } })))
    outputs[#outputs + 1] = ssf.json.encode(s)
    local all = table.concat(outputs, "\n")
    assert.is_truthy(all:find("REDACTED", 1, true))
    assert.is_nil(all:find("CANARY", 1, true))
    c:close()
  end)
end)

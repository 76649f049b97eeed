-- The emulator's Okta rules for the stream API (ssf.emulator.routes and
-- store), driven directly through app:handle with crafted requests: scopes,
-- one stream per client and ten per org, required fields, enums and URIs,
-- read-only fields, PUT against PATCH, 404, status, the headers every
-- answer carries, rate limits and min_verification_interval.
local ssf = require "ssf"
local json = require "ssf.json"
local emuapp = require "emuapp"
local env = require "env"
local routes = require "ssf.emulator.routes"

local call, stream_body = emuapp.call, emuapp.stream_body
local STREAM = "/api/v1/ssf/stream"
local CANARY = "rx-secret-canary"

local function assert_okta_error(status, body, want_status, code)
  assert.are.equal(want_status, status)
  assert.are.equal(code, body.errorCode)
  assert.are.equal(code, body.errorLink)
  assert.is_string(body.errorSummary)
  assert.matches("^oae%w+$", body.errorId)
  assert.is_table(body.errorCauses)
end

-- The errorSummary of each cause, joined by newlines.
local function causes(body)
  local out = {}
  for i, c in ipairs(body.errorCauses) do out[i] = c.errorSummary end
  return table.concat(out, "\n")
end

local function create(app, token, over)
  local status, _, body = call(app, "POST", STREAM, { token = token or "rw", json = stream_body(over) })
  assert.are.equal(201, status)
  return body
end

describe("the stream endpoint", function()
  local app
  before_each(function() app = emuapp.new() end)

  it("lists nothing before a stream exists, then only the caller's stream", function()
    local status, headers, body = call(app, "GET", STREAM, { token = "rw" })
    assert.are.equal(200, status)
    assert.are.equal("application/json", headers["Content-Type"])
    assert.are.equal("[]", select(4, call(app, "GET", STREAM, { token = "rw" })))
    assert.is_true(json.is_array(body))

    local created = create(app)
    assert.matches("^esc%w+$", created.stream_id)
    assert.are.equal(20, #created.stream_id)
    assert.are.equal(emuapp.ORG, created.iss)
    assert.are.equal("https://receiver.example.com", created.aud)
    assert.are.same({ method = ssf.PUSH, endpoint_url = emuapp.RX }, created.delivery)
    assert.are.same({ ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE }, created.events_supported)
    assert.are.same({ ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE }, created.events_delivered)
    assert.are.equal("iss_sub", created.format)
    assert.are.equal(0, created.min_verification_interval)

    status, _, body = call(app, "GET", STREAM, { token = "rw" })
    assert.are.equal(200, status)
    assert.are.same({ created }, body)
    status, _, body = call(app, "GET", STREAM, { token = "rw", query = "stream_id=" .. created.stream_id })
    assert.are.equal(200, status)
    assert.are.same(created, body)
    -- Client B sees nothing of it, and its id is unknown to B.
    status, _, body = call(app, "GET", STREAM, { token = "rwb" })
    assert.are.same({}, body)
    status, _, body = call(app, "GET", STREAM, { token = "rwb", query = "stream_id=" .. created.stream_id })
    assert_okta_error(status, body, 404, "E0000007")
  end)

  it("delivers only the requested events it supports", function()
    local created = create(app, "rw", { events_requested = ssf.array {
      ssf.events.CREDENTIAL_CHANGE, "https://schemas.openid.net/secevent/risc/event-type/account-disabled" } })
    assert.are.same({ ssf.events.CREDENTIAL_CHANGE }, created.events_delivered)
    assert.are.equal(2, #created.events_requested)
  end)

  it("answers 401 E0000011 with no token, an unknown one or another scheme", function()
    local status, headers, body = call(app, "GET", STREAM)
    assert_okta_error(status, body, 401, "E0000011")
    assert.matches('^Bearer .*scope="ssf.read"', headers["WWW-Authenticate"])
    status, _, body = call(app, "GET", STREAM, { token = "nope" })
    assert_okta_error(status, body, 401, "E0000011")
    status, _, body = call(app, "GET", STREAM, { auth = "SSWS rw" })
    assert_okta_error(status, body, 401, "E0000011")
    status, _, body = call(app, "POST", STREAM, { json = stream_body() })
    assert_okta_error(status, body, 401, "E0000011")
  end)

  it("answers 403 E0000006 when the token lacks the scope", function()
    local status, headers, body = call(app, "POST", STREAM, { token = "ro", json = stream_body() })
    assert_okta_error(status, body, 403, "E0000006")
    assert.matches('error="insufficient_scope"', headers["WWW-Authenticate"])
    assert.matches('scope="ssf.manage"', headers["WWW-Authenticate"])
    status, _, body = call(app, "GET", STREAM, { token = "none" })
    assert_okta_error(status, body, 403, "E0000006")
    -- ssf.read is enough to read.
    assert.are.equal(200, (call(app, "GET", STREAM, { token = "ro" })))
    for _, m in ipairs { "PUT", "PATCH", "DELETE" } do
      status, _, body = call(app, m, STREAM, { token = "ro", json = stream_body() })
      assert_okta_error(status, body, 403, "E0000006")
    end
  end)

  it("allows one stream per client id: 409 E0000195", function()
    create(app)
    local status, _, body = call(app, "POST", STREAM, { token = "rw", json = stream_body() })
    assert_okta_error(status, body, 409, "E0000195")
    assert.matches("0oaA", body.errorSummary)
    -- Another client still may.
    create(app, "rwb")
  end)

  it("allows ten streams per org, and one more once one is deleted", function()
    local tokens = {}
    for i = 1, 11 do tokens["t" .. i] = { client_id = "0oaOrg" .. i, scopes = { "ssf.read", "ssf.manage" } } end
    app = emuapp.new { bearer_tokens = tokens }
    for i = 1, 10 do create(app, "t" .. i) end
    local status, _, body = call(app, "POST", STREAM, { token = "t11", json = stream_body() })
    assert_okta_error(status, body, 409, "E0000195")
    assert.matches("maximum of 10", body.errorSummary)
    assert.are.equal(204, (call(app, "DELETE", STREAM, { token = "t3" })))
    create(app, "t11")
    -- The limit is configurable.
    app = emuapp.new { bearer_tokens = tokens, max_streams = 1 }
    create(app, "t1")
    status, _, body = call(app, "POST", STREAM, { token = "t2", json = stream_body() })
    assert_okta_error(status, body, 409, "E0000195")
  end)

  describe("validates the configuration: 400 E0000001 with errorCauses", function()
    local function rejected(over, field, pattern)
      local status, _, body = call(app, "POST", STREAM, { token = "rw", json = stream_body(over) })
      assert_okta_error(status, body, 400, "E0000001")
      assert.are.equal("Api validation failed: " .. field, body.errorSummary)
      assert.matches(pattern, causes(body), 1, true)
      return body
    end

    it("requires delivery, its method and endpoint_url, and events_requested", function()
      local body = rejected({ delivery = emuapp.REMOVE, events_requested = emuapp.REMOVE }, "delivery", "delivery: is required")
      assert.matches("events_requested: is required", causes(body), 1, true)
      rejected({ delivery = { endpoint_url = emuapp.RX } }, "delivery.method", "delivery.method: is required")
      rejected({ delivery = { method = ssf.PUSH } }, "delivery.endpoint_url", "delivery.endpoint_url: is required")
      rejected({ delivery = "push" }, "delivery", "must be an object")
      rejected({ events_requested = ssf.events.SESSION_REVOKED }, "events_requested", "must be an array")
    end)

    it("takes only the enum values of method and format", function()
      rejected({ delivery = { method = "urn:ietf:rfc:8936", endpoint_url = emuapp.RX } },
        "delivery.method", "'urn:ietf:rfc:8936' is not one of")
      rejected({ format = "email" }, "format", "'email' is not one of [iss_sub]")
      -- The legacy RISC push URI is accepted, and format is optional.
      local created = create(app, "rw", { delivery = { method = ssf.RISC_PUSH, endpoint_url = emuapp.RX },
                                          format = emuapp.REMOVE })
      assert.are.equal(ssf.RISC_PUSH, created.delivery.method)
      assert.is_nil(created.format)
    end)

    it("takes only absolute URIs, within their lengths", function()
      local function with_url(url) return { delivery = { method = ssf.PUSH, endpoint_url = url } } end
      rejected(with_url("not a uri"), "delivery.endpoint_url", "is not a valid absolute URI")
      rejected(with_url("/relative/path"), "delivery.endpoint_url", "is not a valid absolute URI")
      rejected(with_url("https://"), "delivery.endpoint_url", "is not a valid absolute URI")
      rejected(with_url(42), "delivery.endpoint_url", "42 must be a string")
      rejected(with_url("https://r.example.com/" .. ("a"):rep(2048)), "delivery.endpoint_url",
        "exceeds the maximum length of 2048")
      rejected({ events_requested = ssf.array { "session-revoked" } }, "events_requested[0]",
        "is not a valid absolute URI")
      rejected({ events_requested = ssf.array { "https://e.example.com/" .. ("e"):rep(250) } },
        "events_requested[0]", "exceeds the maximum length of 256")
      local many = ssf.array()
      for i = 1, 51 do many[i] = "https://e.example.com/" .. i end
      rejected({ events_requested = many }, "events_requested", "at most 50 items")
    end)

    it("bounds authorization_header without ever quoting it", function()
      local secret = "Bearer " .. CANARY .. ("x"):rep(8192)
      local _, _, _, raw = call(app, "POST", STREAM, { token = "rw",
        json = stream_body { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX, authorization_header = secret } } })
      assert.matches("exceeds the maximum length of 8192", raw, 1, true)
      assert.not_matches(CANARY, raw, 1, true)
      local body = rejected({ delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX, authorization_header = 7 } },
        "delivery.authorization_header", "must be a string or null")
      assert.are.equal(1, #body.errorCauses)
      -- null is allowed.
      create(app, "rw", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX, authorization_header = ssf.null } })
    end)

    it("refuses bodies that are not a JSON object with 400 E0000003", function()
      for _, b in ipairs { "not json", '{"events_requested": [', "[1, 2]", "null", "" } do
        local status, _, body = call(app, "POST", STREAM,
          { token = "rw", body = b, headers = { ["content-type"] = "application/json" } })
        assert_okta_error(status, body, 400, "E0000003")
      end
      local status, _, body = call(app, "POST", STREAM, { token = "rw", json = stream_body(),
                                                          headers = { ["content-type"] = "text/plain" } })
      assert_okta_error(status, body, 400, "E0000003")
      -- With parameters after the media type, JSON is JSON.
      assert.are.equal(201, (call(app, "POST", STREAM, { token = "rw", json = stream_body(),
        headers = { ["content-type"] = "application/json; charset=utf-8" } })))
    end)
  end)

  describe("PUT and PATCH", function()
    local created
    before_each(function() created = create(app) end)

    it("replace the caller's stream when no stream_id is sent, and keep what Okta sets", function()
      local body = stream_body { events_requested = ssf.array { ssf.events.CREDENTIAL_CHANGE } }
      local status, _, updated = call(app, "PATCH", STREAM, { token = "rw", json = body })
      assert.are.equal(200, status)
      assert.are.equal(created.stream_id, updated.stream_id)
      assert.are.same({ ssf.events.CREDENTIAL_CHANGE }, updated.events_delivered)
      assert.are.equal(created.aud, updated.aud)
      -- A client without a stream has nothing to update.
      status, _, body = call(app, "PUT", STREAM, { token = "rwb", json = stream_body() })
      assert_okta_error(status, body, 404, "E0000007")
    end)

    it("take back a stream as GET shows it (read-only fields unchanged)", function()
      local _, _, got = call(app, "GET", STREAM, { token = "rw", query = "stream_id=" .. created.stream_id })
      got.delivery.endpoint_url = "https://new.example.com/events"
      for _, m in ipairs { "PATCH", "PUT" } do
        local status, _, updated = call(app, m, STREAM, { token = "rw", json = got })
        assert.are.equal(200, status)
        assert.are.equal("https://new.example.com/events", updated.delivery.endpoint_url)
        -- aud is not updatable.
        assert.are.equal("https://receiver.example.com", updated.aud)
      end
    end)

    it("refuse read-only fields that differ from the transmitter's values", function()
      local cases = {
        iss = "https://evil.example.com", aud = "https://other.example.com",
        events_supported = ssf.array { ssf.events.SESSION_REVOKED },
        events_delivered = ssf.array(), min_verification_interval = 60,
      }
      for field, value in pairs(cases) do
        local body = stream_body { stream_id = created.stream_id, [field] = value }
        local status, _, err = call(app, "PATCH", STREAM, { token = "rw", json = body })
        assert_okta_error(status, err, 400, "E0000001")
        assert.are.equal("Api validation failed: " .. field, err.errorSummary)
        assert.matches("does not match the value set by the transmitter", causes(err), 1, true)
      end
    end)

    it("PATCH keeps authorization_header and format when absent; PUT drops them", function()
      local function push_authorization()
        app:take_pushes()
        assert.are.equal(204, (call(app, "POST", STREAM .. "/verification",
          { token = "rw", json = { stream_id = created.stream_id } })))
        return app:take_pushes()[1].authorization
      end
      assert.are.equal("Bearer rx-secret-canary", push_authorization())
      local body = stream_body { format = emuapp.REMOVE }
      body.delivery.authorization_header = nil
      local _, _, updated = call(app, "PATCH", STREAM, { token = "rw", json = body })
      assert.are.equal("iss_sub", updated.format)
      assert.are.equal("Bearer rx-secret-canary", push_authorization())
      _, _, updated = call(app, "PUT", STREAM, { token = "rw", json = body })
      assert.is_nil(updated.format)
      assert.is_nil(push_authorization())
      -- Sent as a new value, it replaces the old one.
      body.delivery.authorization_header = "Bearer rotated"
      call(app, "PATCH", STREAM, { token = "rw", json = body })
      assert.are.equal("Bearer rotated", push_authorization())
    end)

    it("answer 404 E0000007 for another client's stream_id, and validate stream_id", function()
      local status, _, body = call(app, "PUT", STREAM,
        { token = "rwb", json = stream_body { stream_id = created.stream_id } })
      assert_okta_error(status, body, 404, "E0000007")
      status, _, body = call(app, "PATCH", STREAM, { token = "rw", json = stream_body { stream_id = 5 } })
      assert_okta_error(status, body, 400, "E0000001")
      -- PATCH takes the full configuration, as in Okta's schema.
      status, _, body = call(app, "PATCH", STREAM,
        { token = "rw", json = { events_requested = ssf.array { ssf.events.SESSION_REVOKED } } })
      assert_okta_error(status, body, 400, "E0000001")
    end)
  end)

  it("never returns authorization_header", function()
    local created = create(app)
    local raws = {}
    raws[1] = select(4, call(app, "GET", STREAM, { token = "rw" }))
    raws[2] = select(4, call(app, "GET", STREAM, { token = "rw", query = "stream_id=" .. created.stream_id }))
    raws[3] = select(4, call(app, "PATCH", STREAM, { token = "rw", json = stream_body() }))
    raws[4] = select(4, call(app, "PUT", STREAM, { token = "rw", json = stream_body() }))
    raws[5] = select(4, call(app, "POST", STREAM, { token = "rw", json = stream_body() })) -- 409
    raws[6] = select(4, call(app, "PATCH", STREAM, { token = "rw", json = stream_body { iss = "x" } })) -- 400
    for i, raw in ipairs(raws) do
      assert.not_matches(CANARY, raw, 1, true)
      assert.not_matches("authorization_header", raw, 1, true, "answer " .. i)
    end
  end)

  it("deletes with or without stream_id: 204 and no body", function()
    local created = create(app)
    local status, headers, body, raw = call(app, "DELETE", STREAM, { token = "rw", query = "stream_id=" .. created.stream_id })
    assert.are.equal(204, status)
    assert.are.equal("", raw)
    assert.is_nil(body)
    assert.is_nil(headers["Content-Type"])
    assert.are.same({}, select(3, call(app, "GET", STREAM, { token = "rw" })))
    status, _, body = call(app, "DELETE", STREAM, { token = "rw", query = "stream_id=" .. created.stream_id })
    assert_okta_error(status, body, 404, "E0000007")
    status, _, body = call(app, "DELETE", STREAM, { token = "rw" })
    assert_okta_error(status, body, 404, "E0000007")
    create(app)
    assert.are.equal(204, (call(app, "DELETE", STREAM, { token = "rw" })))
    -- Another client's stream cannot be deleted by its id.
    local other = create(app, "rwb")
    status, _, body = call(app, "DELETE", STREAM, { token = "rw", query = "stream_id=" .. other.stream_id })
    assert_okta_error(status, body, 404, "E0000007")
  end)

  it("reports status, which needs stream_id", function()
    local created = create(app)
    local status, _, body = call(app, "GET", STREAM .. "/status", { token = "ro", query = "stream_id=" .. created.stream_id })
    assert.are.equal(200, status)
    assert.are.same({ stream_id = created.stream_id, status = "enabled" }, body)
    status, _, body = call(app, "GET", STREAM .. "/status", { token = "ro" })
    assert_okta_error(status, body, 400, "E0000001")
    assert.are.equal("Api validation failed: stream_id", body.errorSummary)
    status, _, body = call(app, "GET", STREAM .. "/status", { token = "rwb", query = "stream_id=" .. created.stream_id })
    assert_okta_error(status, body, 404, "E0000007")
    -- Query values are percent-decoded ("%65" is "e").
    status, _, body = call(app, "GET", STREAM .. "/status",
      { token = "ro", query = "stream_id=%65" .. created.stream_id:sub(2) })
    assert.are.equal(200, status)
    -- A stream an admin disabled says so.
    local seeded = app:seed_stream("0oaB", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX },
                                             status = "disabled" })
    status, _, body = call(app, "GET", STREAM .. "/status", { token = "rwb", query = "stream_id=" .. seeded.stream_id })
    assert.are.equal(200, status)
    assert.are.equal("disabled", body.status)
  end)

  it("answers unknown paths 404 and other methods 405 with Allow", function()
    local status, _, body = call(app, "GET", "/api/v1/ssf/streams", { token = "rw" })
    assert_okta_error(status, body, 404, "E0000007")
    local headers
    status, headers, body = call(app, "DELETE", STREAM .. "/status", { token = "rw" })
    assert_okta_error(status, body, 405, "E0000022")
    assert.are.equal("GET", headers.Allow)
    status, headers = call(app, "GET", "/oauth2/v1/token")
    assert.are.equal(405, status)
    assert.are.equal("POST", headers.Allow)
  end)
end)

describe("every answer", function()
  it("carries a fresh X-Okta-Request-Id and the X-Rate-Limit headers", function()
    local app = emuapp.new()
    local seen = {}
    local requests = {
      { "GET", "/.well-known/ssf-configuration" }, { "GET", "/oauth2/v1/keys" },
      { "GET", STREAM, { token = "rw" } }, { "GET", STREAM }, { "GET", "/nowhere" },
      { "POST", "/oauth2/v1/token", { body = "grant_type=client_credentials" } },
    }
    for _, r in ipairs(requests) do
      local _, headers = call(app, r[1], r[2], r[3])
      local id = headers["X-Okta-Request-Id"]
      assert.matches("^%w+$", id)
      assert.is_nil(seen[id])
      seen[id] = true
      assert.matches("^%d+$", headers["X-Rate-Limit-Limit"])
      assert.matches("^%d+$", headers["X-Rate-Limit-Remaining"])
      assert.matches("^%d+$", headers["X-Rate-Limit-Reset"])
      assert.is_true(tonumber(headers["X-Rate-Limit-Reset"]) > emuapp.clock.t)
    end
  end)

  it("counts against a per-client limit, and past it is 429 E0000047", function()
    local app = emuapp.new { rate_limit = 3, rate_window = 60 }
    local t0 = emuapp.clock.t
    emuapp.clock.t = math.floor(t0 / 60) * 60 + 1 -- the start of a window
    local remaining = {}
    for i = 1, 3 do
      local status, headers = call(app, "GET", STREAM, { token = "rw" })
      assert.are.equal(200, status)
      assert.are.equal("3", headers["X-Rate-Limit-Limit"])
      remaining[i] = headers["X-Rate-Limit-Remaining"]
    end
    assert.are.same({ "2", "1", "0" }, remaining)
    local status, headers, body = call(app, "GET", STREAM, { token = "ro" }) -- same client, other token
    assert_okta_error(status, body, 429, "E0000047")
    assert.are.equal("0", headers["X-Rate-Limit-Remaining"])
    assert.are.equal(("%d"):format(emuapp.clock.t - 1 + 60), headers["X-Rate-Limit-Reset"])
    -- Client B has its own bucket, and so do the token endpoint and the anonymous.
    assert.are.equal(200, (call(app, "GET", STREAM, { token = "rwb" })))
    assert.are.equal(200, (call(app, "GET", "/.well-known/ssf-configuration")))
    -- Their first requests do not reset the count of client A.
    assert.are.equal(429, (call(app, "GET", STREAM, { token = "rw" })))
    -- The next window starts afresh.
    emuapp.clock.t = emuapp.clock.t + 60
    assert.are.equal(200, (call(app, "GET", STREAM, { token = "rw" })))
    emuapp.clock.t = t0
  end)
end)

describe("verification", function()
  it("answers 204 and throttles to one per min_verification_interval: 429", function()
    local app = emuapp.new { min_verification_interval = 30 }
    local t0 = emuapp.clock.t
    local created = create(app)
    assert.are.equal(30, created.min_verification_interval)
    local req = { token = "rw", json = { stream_id = created.stream_id, state = "s1" } }
    local status, _, body, raw = call(app, "POST", STREAM .. "/verification", req)
    assert.are.equal(204, status)
    assert.are.equal("", raw)
    assert.is_nil(body)
    emuapp.clock.t = t0 + 29
    local headers
    status, headers, body = call(app, "POST", STREAM .. "/verification", req)
    assert_okta_error(status, body, 429, "E0000047")
    assert.are.equal("0", headers["X-Rate-Limit-Remaining"])
    assert.are.equal(("%d"):format(t0 + 30), headers["X-Rate-Limit-Reset"])
    emuapp.clock.t = t0 + 30
    assert.are.equal(204, (call(app, "POST", STREAM .. "/verification", req)))
    assert.are.equal(2, #app:take_pushes())
    emuapp.clock.t = t0
  end)

  it("needs a stream_id the caller owns, and a string state", function()
    local app = emuapp.new()
    local created = create(app)
    local status, _, body = call(app, "POST", STREAM .. "/verification", { token = "rw", json = { state = "x" } })
    assert_okta_error(status, body, 400, "E0000001")
    status, _, body = call(app, "POST", STREAM .. "/verification",
      { token = "rw", json = { stream_id = created.stream_id, state = 5 } })
    assert_okta_error(status, body, 400, "E0000001")
    status, _, body = call(app, "POST", STREAM .. "/verification", { token = "rwb", json = { stream_id = created.stream_id } })
    assert_okta_error(status, body, 404, "E0000007")
    status, _, body = call(app, "POST", STREAM .. "/verification", { token = "ro", json = { stream_id = created.stream_id } })
    assert_okta_error(status, body, 403, "E0000006")
    assert.are.same({}, app:take_pushes())
  end)
end)

describe("routes.new", function()
  it("raises on misuse, naming the setting", function()
    local pem = emuapp.key("signing"):private_pem()
    local base = { org = emuapp.ORG, signing_key = pem, signing_kid = "k" }
    local function with(k, v) return env.with(base, k, v) end
    assert.has_error(function() routes.new(nil) end, "bad argument #1 to 'new' (cfg table expected, got nil)")
    assert.error_matches(function() routes.new(with("org", "127.0.0.1:80")) end, "cfg.org")
    assert.error_matches(function() routes.new(with("signing_key", "not a key")) end, "cfg.signing_key: no private key found")
    assert.error_matches(function() routes.new(with("signing_key", emuapp.key("ec", "ES256"):private_pem())) end,
      "cfg.signing_key must be an RSA key")
    assert.error_matches(function() routes.new(with("signing_kid", "")) end, "cfg.signing_kid")
    assert.error_matches(function() routes.new(with("rate_limit", 1.5)) end, "cfg.rate_limit")
    assert.error_matches(function() routes.new(with("rate_limit", "5")) end, "cfg.rate_limit")
    assert.error_matches(function() routes.new(with("rate_window", 0)) end, "cfg.rate_window must be a whole number above 0")
    assert.error_matches(function() routes.new(with("max_streams", ssf.null)) end, "cfg.max_streams")
    assert.error_matches(function() routes.new(with("clients", { { client_id = "x" } })) end, "cfg.clients%[1%]")
    assert.error_matches(function() routes.new(with("bearer_tokens", { t = { client_id = "x" } })) end, "cfg.bearer_tokens")
    assert.error_matches(function() routes.new(with("min_verification_interval", -1)) end, "cfg.min_verification_interval")
    local ok, err = pcall(routes.new, with("signing_key", pem:sub(1, 200)))
    assert.is_false(ok)
    assert.not_matches(pem:sub(30, 90), err, 1, true)
  end)

  it("takes whole-number limits that come as floats from decoded JSON", function()
    local app = emuapp.new { rate_limit = 2.0, min_verification_interval = 5.0 }
    local _, headers = call(app, "GET", STREAM, { token = "rw" })
    assert.are.equal("2", headers["X-Rate-Limit-Limit"])
    local raw = select(4, call(app, "POST", STREAM, { token = "rw", json = stream_body() }))
    assert.matches('"min_verification_interval":5[,}]', raw)
  end)

  it("keeps a null min_verification_interval as null", function()
    local app = emuapp.new { min_verification_interval = ssf.null }
    assert.are.equal(ssf.null, create(app).min_verification_interval)
  end)
end)

-- The client's operations and Okta's rules as one suite, run against any
-- transmitter that needs no controls of its own: the Node fake
-- (tests/fake) and the built-in emulator run it alike (client_suite_spec),
-- so a difference in behaviour between the two fails one of them.
--
-- suite(backend, spec_env): backend = { name =, start = function() -> org,
-- client_factory, stop }, where client_factory(token_or_nil) returns a
-- client with the backend's read-and-manage credentials, or with the given
-- bearer token; spec_env is the spec file's environment (busted's describe,
-- it, assert, ... live there, not in _G; finally() only while a test runs).
local ssf = require "ssf"

local assert, describe, it, setup, teardown, before_each, after_each, finally

local E = ssf.events

local function cfg(endpoint, extra)
  local c = {
    delivery = { method = ssf.PUSH, endpoint_url = endpoint or "https://receiver.example.com/events" },
    events_requested = { E.SESSION_REVOKED, E.CREDENTIAL_CHANGE },
    format = "iss_sub",
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function expect_failure(status, code, v, msg, info)
  assert.is_nil(v, "expected HTTP " .. status)
  assert.are.equal("http", info.kind, msg)
  assert.are.equal(status, info.status, msg)
  assert.are.equal(code, info.code, msg)
  assert.is_string(info.request_id, "no X-Okta-Request-Id")
end

return function(backend, spec_env)
  assert, describe, it = spec_env.assert, spec_env.describe, spec_env.it
  setup, teardown = spec_env.setup, spec_env.teardown
  before_each, after_each = spec_env.before_each, spec_env.after_each
  function finally(fn) spec_env.finally(fn) end
  describe("the client against " .. backend.name, function()
    local org, new_client, stop, okta

    setup(function() org, new_client, stop = backend.start() end)
    teardown(function() stop() end)
    before_each(function()
      okta = new_client()
      -- Each test starts with no stream for this client.
      for _, s in ipairs(assert(okta:streams())) do assert(okta:delete_stream(s.stream_id)) end
    end)
    after_each(function() okta:close() end)

    it("reads the metadata: the org is the issuer and names its endpoints", function()
      local m, meta = assert(okta:metadata())
      assert.are.equal(200, meta.status)
      assert.are.equal(org, m.issuer)
      assert.are.equal(org .. "/api/v1/ssf/stream", m.configuration_endpoint)
      assert.are.equal(org .. "/api/v1/ssf/stream/verification", m.verification_endpoint)
      assert.is_string(m.jwks_uri)
      local found = false
      for _, dm in ipairs(m.delivery_methods_supported) do found = found or dm == ssf.PUSH end
      assert.is_true(found)
    end)

    it("runs the whole lifecycle: create, list, get, update, replace, status, verify, delete", function()
      local s, meta = okta:create_stream(cfg())
      assert.is_table(s, meta)
      assert.are.equal(201, meta.status)
      assert.is_string(meta.request_id)
      assert.is_string(meta.headers["x-rate-limit-limit"])
      assert.is_string(meta.headers["x-rate-limit-remaining"])
      assert.is_string(meta.headers["x-rate-limit-reset"])
      assert.are.equal(org, s.iss)
      assert.are.same({ E.SESSION_REVOKED, E.CREDENTIAL_CHANGE }, s.events_delivered)
      assert.is_nil(s.delivery.authorization_header)

      local list = assert(okta:streams())
      assert.are.equal(1, #list)
      assert.are.equal(s.stream_id, list[1].stream_id)
      local got = assert(okta:stream(s.stream_id))
      assert.are.equal("https://receiver.example.com/events", got.delivery.endpoint_url)

      got.delivery.endpoint_url = "https://receiver.example.com/v2"
      local updated = assert(okta:update_stream(got))
      assert.are.equal("https://receiver.example.com/v2", updated.delivery.endpoint_url)
      local replaced = assert(okta:replace_stream(cfg("https://receiver.example.com/v3", { stream_id = s.stream_id })))
      assert.are.equal("https://receiver.example.com/v3", replaced.delivery.endpoint_url)
      assert.are.equal(s.stream_id, replaced.stream_id)

      local st = assert(okta:stream_status(s.stream_id))
      assert.are.equal("enabled", st.status)
      local ok, vmeta = okta:verify_stream(s.stream_id, "state-1")
      assert.is_true(ok, vmeta)
      assert.are.equal(204, vmeta.status)

      local deleted, dmeta = okta:delete_stream(s.stream_id)
      assert.is_true(deleted, dmeta)
      assert.are.equal(204, dmeta.status)
      assert.are.equal(0, #assert(okta:streams()))
    end)

    it("deletes the caller's own stream when no id is given", function()
      assert(okta:create_stream(cfg()))
      assert(okta:delete_stream())
      assert.are.equal(0, #assert(okta:streams()))
      expect_failure(404, "E0000007", okta:delete_stream())
    end)

    it("round-trips GET, edit, PATCH with empty arrays and nulls intact", function()
      local s = assert(okta:create_stream(cfg(nil, { events_requested = { E.ACCOUNT_DISABLED } })))
      local got = assert(okta:stream(s.stream_id))
      assert.are.equal(0, #got.events_delivered)
      assert.are.equal("[]", ssf.json.encode(got.events_delivered))
      got.delivery.endpoint_url = "https://receiver.example.com/edited"
      got.delivery.authorization_header = ssf.null
      local updated = assert(okta:update_stream(got))
      assert.are.equal("https://receiver.example.com/edited", updated.delivery.endpoint_url)
      assert.are.equal("[]", ssf.json.encode(updated.events_delivered))
    end)

    it("gets 401 E0000011 for an unknown token", function()
      local c = new_client("tok-unknown-to-" .. backend.name:gsub("%W", ""))
      finally(function() c:close() end)
      expect_failure(401, "E0000011", c:streams())
    end)

    it("gets 409 E0000195 for a second stream of the same client", function()
      assert(okta:create_stream(cfg()))
      expect_failure(409, "E0000195", okta:create_stream(cfg()))
    end)

    it("gets 404 E0000007 for a stream that does not exist", function()
      local id = "esc0000000000000none"
      expect_failure(404, "E0000007", okta:stream(id))
      expect_failure(404, "E0000007", okta:stream_status(id))
      expect_failure(404, "E0000007", okta:verify_stream(id))
      expect_failure(404, "E0000007", okta:delete_stream(id))
    end)

    it("gets 400 E0000001 with causes for missing fields sent through request{}", function()
      local v, msg, info = okta:request { method = "POST", path = "/api/v1/ssf/stream",
        json = { events_requested = { E.SESSION_REVOKED } } }
      expect_failure(400, "E0000001", v, msg, info)
      assert.is_true(#info.causes >= 1)
      assert.matches("delivery", table.concat(info.causes, " "))
    end)

    it("gets 400 E0000001 for enum, URI, count and length violations, and creates nothing", function()
      local many = {}
      for i = 1, 51 do many[i] = E.SESSION_REVOKED .. "?" .. i end
      local cases = {
        cfg(nil, { delivery = { method = "urn:ietf:rfc:8936", endpoint_url = "https://r.example.com" } }),
        cfg("not a uri"),
        cfg("https://r.example.com/" .. ("x"):rep(2048)),
        cfg(nil, { format = "email" }),
        cfg(nil, { events_requested = { "https://e.example.com/" .. ("e"):rep(256) } }),
        cfg(nil, { events_requested = many }),
      }
      for i, c in ipairs(cases) do
        local v, msg, info = okta:create_stream(c)
        assert.is_nil(v, "case " .. i)
        assert.are.equal(400, info.status, "case " .. i .. ": " .. msg)
        assert.are.equal("E0000001", info.code, "case " .. i)
      end
      assert.are.equal(0, #assert(okta:streams()))
    end)

    it("proves delivery: a signed verification SET with the state reaches a local receiver", function()
      local rx = assert(ssf.receiver { authorization = "Bearer suite-rx-secret",
                                       verify = { jwks = okta, issuer = org } })
      finally(function() rx:close() end)
      local s = assert(okta:create_stream(cfg(rx.endpoint_url, {
        delivery = { method = ssf.PUSH, endpoint_url = rx.endpoint_url, authorization_header = "Bearer suite-rx-secret" },
      })))
      local set, report = okta:confirm_stream(s.stream_id, rx, { timeout = 60 })
      assert.is_table(set, tostring(report))
      assert.are.equal(report.state, set.events[E.VERIFICATION].state)
      assert.are.equal("secevent+jwt", set.header.typ)
      assert.are.equal(org, set.claims.iss)
      assert.are.same(s.aud, set.claims.aud)
    end)
  end)
end

-- The SETs the emulator pushes (ssf.emulator.sets through routes): the
-- verification SET a verification request queues, CAEP SETs from emit in
-- Okta's shape, the push jobs and the delivery log, and seed_stream. Each
-- SET is verified with ssf.set.verify against the app's own JWKS, and by
-- npm jose (tests/fake/jose-peer.mjs), which shares no code with ssf.jose.
local ssf = require "ssf"
local compat = require "ssf.compat"
local emuapp = require "emuapp"
local fake = require "fake"

local call = emuapp.call
local STREAM = "/api/v1/ssf/stream"

local function create(app, token, over)
  local status, _, body = call(app, "POST", STREAM, { token = token or "rw", json = emuapp.stream_body(over) })
  assert.are.equal(201, status)
  return body
end

local function verify(app, jwt, aud)
  return ssf.set.verify(jwt, { jwks = emuapp.jwks(app), issuer = emuapp.ORG, audience = aud })
end

describe("the verification SET", function()
  local app, stream
  before_each(function()
    app = emuapp.new()
    stream = create(app)
    app:take_pushes()
  end)

  it("is queued as a push to the stream's endpoint with its authorization_header", function()
    assert.are.equal(204, (call(app, "POST", STREAM .. "/verification",
      { token = "rw", json = { stream_id = stream.stream_id, state = "c3RhdGUtMQ" } })))
    local jobs = app:take_pushes()
    assert.are.equal(1, #jobs)
    local job = jobs[1]
    assert.are.equal(stream.stream_id, job.stream_id)
    assert.are.equal(emuapp.RX, job.url)
    assert.are.equal("Bearer rx-secret-canary", job.authorization)
    assert.are.equal(ssf.events.VERIFICATION, job.event_type)
    assert.is_true(compat.is_integer(job.id))
    -- Taken once.
    assert.are.same({}, app:take_pushes())

    local set = assert(verify(app, job.body, stream.aud))
    assert.are.same({ alg = "RS256", kid = "emu-key-1", typ = "secevent+jwt" }, set.header)
    assert.are.equal(emuapp.ORG, set.claims.iss)
    assert.are.equal(stream.aud, set.claims.aud)
    assert.are.equal(emuapp.clock.t, set.claims.iat)
    assert.are.equal(job.jti, set.claims.jti)
    assert.matches("^%x+$", set.claims.jti)
    assert.are.same({ format = "opaque", id = stream.stream_id }, set.claims.sub_id)
    assert.are.equal(ssf.events.VERIFICATION, set.event_type)
    assert.are.same({ state = "c3RhdGUtMQ" }, set.event)
    assert.is_nil(set.claims.exp)
    assert.is_nil(set.claims.sub)
  end)

  it("carries an empty event without a state, and no Authorization without a header", function()
    local body = emuapp.stream_body()
    body.delivery.authorization_header = ssf.null
    assert.are.equal(200, (call(app, "PUT", STREAM, { token = "rw", json = body })))
    call(app, "POST", STREAM .. "/verification", { token = "rw", json = { stream_id = stream.stream_id } })
    local job = app:take_pushes()[1]
    assert.is_nil(job.authorization)
    local set = assert(verify(app, job.body, stream.aud))
    assert.are.same({}, set.event)
    -- An object on the wire, not an array.
    local payload = require("ssf.jose").b64url_decode(job.body:match("^[^.]+%.([^.]+)"))
    assert.matches('/verification":{}', payload, 1, true)
  end)

  it("is logged as a delivery the host reports on", function()
    call(app, "POST", STREAM .. "/verification", { token = "rw", json = { stream_id = stream.stream_id } })
    call(app, "POST", STREAM .. "/verification", { token = "rw", json = { stream_id = stream.stream_id } })
    local jobs = app:take_pushes()
    assert.is_true(app:record(jobs[1].id, 202))
    assert.is_true(app:record(jobs[2].id, nil, "connection refused"))
    assert.is_false(app:record(9999, 202))
    local log = app:deliveries()
    assert.are.equal(2, #log)
    assert.are.same({ stream_id = stream.stream_id, jti = jobs[1].jti, event_type = ssf.events.VERIFICATION,
                      endpoint_url = emuapp.RX, status = 202, time = emuapp.clock.t }, log[1])
    assert.is_nil(log[2].status)
    assert.are.equal("connection refused", log[2].err)
    -- Copies: the log cannot be edited from outside.
    log[1].status = 500
    assert.are.equal(202, app:deliveries()[1].status)
    assert.has_error(function() app:record("1", 202) end, "bad argument #1 to 'record' (job id expected)")
    assert.has_error(function() app:record(1, "202") end)
  end)

  it("is not pushed for a disabled stream", function()
    app.store:find(stream.stream_id).status = "disabled"
    assert.are.equal(204, (call(app, "POST", STREAM .. "/verification",
      { token = "rw", json = { stream_id = stream.stream_id } })))
    assert.are.same({}, app:take_pushes())
    assert.are.same({}, app:deliveries())
  end)

  it("is signed as npm jose verifies it", function()
    call(app, "POST", STREAM .. "/verification", { token = "rw", json = { stream_id = stream.stream_id, state = "x" } })
    local job = app:take_pushes()[1]
    local jwk = emuapp.jwks(app).keys[1]
    local peer = fake.jose_peer { verify = {
      { jwk = jwk, alg = "RS256", jws = job.body },
      { jwk = jwk, alg = "RS256", jws = job.body:sub(1, -3) .. (job.body:sub(-2) == "AA" and "BB" or "AA") },
    } }
    assert.are.equal(true, peer.verified[1])
    assert.are_not.equal(true, peer.verified[2])
  end)
end)

describe("emit", function()
  local app, a, b
  before_each(function()
    app = emuapp.new()
    a = create(app, "rw")
    b = create(app, "rwb", { events_requested = ssf.array { ssf.events.CREDENTIAL_CHANGE },
                             delivery = { method = ssf.PUSH, endpoint_url = "https://b.example.com/ssf" } })
    app:take_pushes()
  end)

  it("pushes session-revoked in Okta's shape to every stream that requested it", function()
    local jobs = app:emit(ssf.events.SESSION_REVOKED, { format = "email", email = "user@example.com" })
    assert.are.equal(1, #jobs)
    assert.are.same(jobs, app:take_pushes())
    local job = jobs[1]
    assert.are.equal(a.stream_id, job.stream_id)
    assert.are.equal(ssf.events.SESSION_REVOKED, job.event_type)
    local set = assert(verify(app, job.body, a.aud))
    assert.is_nil(set.claims.sub_id) -- Okta puts the subject inside the event
    local e = set.event
    assert.are.same({ user = { format = "email", email = "user@example.com" } }, e.subject)
    assert.are.equal(emuapp.clock.t * 1000, e.event_timestamp) -- milliseconds, as Okta's payloads
    assert.is_string(e.reason_admin.en)
    assert.is_string(e.reason_user.en)
    assert.are.equal(1, #app:deliveries())
  end)

  it("pushes credential-change to each stream delivering it, or to the one named", function()
    local jobs = app:emit(ssf.events.CREDENTIAL_CHANGE, "00u1abcd")
    assert.are.equal(2, #jobs)
    local urls = { jobs[1].url, jobs[2].url }
    table.sort(urls)
    assert.are.same({ "https://b.example.com/ssf", emuapp.RX }, urls)
    local set = assert(verify(app, jobs[1].body, "https://receiver.example.com"))
    assert.are.same({ format = "iss_sub", iss = emuapp.ORG, sub = "00u1abcd" }, set.event.subject)
    assert.are.equal("password", set.event.credential_type)
    assert.are.equal("revoke", set.event.change_type)
    assert.are.equal("user", set.event.initiating_entity)
    -- To one stream.
    jobs = app:emit(ssf.events.CREDENTIAL_CHANGE, { format = "opaque", id = "device-7" }, b.stream_id)
    assert.are.equal(1, #jobs)
    assert.are.equal(b.stream_id, jobs[1].stream_id)
    assert.is_nil(jobs[1].authorization)
    assert.is_truthy(verify(app, jobs[1].body, "https://b.example.com"))
  end)

  it("raises on misuse, naming the argument", function()
    assert.has_error(function() app:emit(ssf.events.VERIFICATION, "00u1") end)
    assert.error_matches(function() app:emit("https://example.com/other", "00u1") end,
      "bad argument #1 to 'emit' %(event type https://example.com/other is not one")
    assert.error_matches(function() app:emit(ssf.events.SESSION_REVOKED, nil) end, "bad argument #2 to 'emit'")
    assert.error_matches(function() app:emit(ssf.events.SESSION_REVOKED, { email = "x@example.com" }) end,
      "bad argument #2 to 'emit' %(the subject needs a format")
    assert.error_matches(function() app:emit(ssf.events.SESSION_REVOKED, { format = "email" }) end,
      "format email needs email")
    assert.error_matches(function() app:emit(ssf.events.SESSION_REVOKED, "00u1", "escNope") end,
      "bad argument #3 to 'emit' %(no stream escNope%)")
    assert.error_matches(function() app:emit(ssf.events.SESSION_REVOKED, "00u1", b.stream_id) end,
      "bad argument #3 to 'emit' %(stream " .. b.stream_id .. " does not deliver")
    assert.are.same({}, app:take_pushes())
  end)

  it("skips disabled streams", function()
    app.store:find(a.stream_id).status = "disabled"
    assert.are.same({}, app:emit(ssf.events.SESSION_REVOKED, "00u1"))
    assert.are.same({}, app:emit(ssf.events.SESSION_REVOKED, "00u1", a.stream_id))
  end)

  it("signs what npm jose verifies", function()
    local job = app:emit(ssf.events.SESSION_REVOKED, "00u1", a.stream_id)[1]
    local peer = fake.jose_peer { verify = { { jwk = emuapp.jwks(app).keys[1], alg = "RS256", jws = job.body } } }
    assert.are.equal(true, peer.verified[1])
  end)
end)

describe("seed_stream", function()
  it("sets up a client's stream outside the API, under the same rules", function()
    local app = emuapp.new()
    local s = app:seed_stream("0oaA", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX,
                                                     authorization_header = "Bearer seeded" } })
    assert.matches("^esc", s.stream_id)
    assert.are.same({ ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE }, s.events_requested)
    assert.is_nil(s.delivery.authorization_header)
    local _, _, list = call(app, "GET", STREAM, { token = "rw" })
    assert.are.same({ s }, list)
    -- The client's one stream is taken now.
    assert.are.equal(409, (call(app, "POST", STREAM, { token = "rw", json = emuapp.stream_body() })))
    assert.error_matches(function() app:seed_stream("0oaA", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX } }) end,
      "bad argument #2 to 'seed_stream' %(Api validation failed due to conflict")
    assert.error_matches(function() app:seed_stream("0oaB", { delivery = { method = "poll", endpoint_url = emuapp.RX } }) end,
      "bad argument #2 to 'seed_stream' %(Api validation failed: delivery.method")
    assert.error_matches(function() app:seed_stream("0oaB", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX },
                                                              status = "paused" }) end, "status must be")
    assert.error_matches(function() app:seed_stream(nil, {}) end, "bad argument #1 to 'seed_stream'")
    assert.error_matches(function() app:seed_stream("0oaB") end, "bad argument #2 to 'seed_stream'")
    -- Its verification carries the seeded authorization.
    call(app, "POST", STREAM .. "/verification", { token = "rw", json = { stream_id = s.stream_id } })
    assert.are.equal("Bearer seeded", app:take_pushes()[1].authorization)
  end)
end)

-- The emulator's Okta rules (ssf.emulator.routes), driven directly through
-- app:handle with crafted requests: no sockets. Keys are made at test time.
local ssf = require "ssf"
local env = require "env"
local keys = require "keys"
local json = require "ssf.json"
local routes = require "ssf.emulator.routes"

local ORG = "http://127.0.0.1:9"
local RX = "https://receiver.example.com/events"

local dir, signing_pem

-- A new app with the given cfg members over a default one (two bearer
-- tokens of client A, one of client B, one without scopes).
local function new_app(over)
  local cfg = {
    org = ORG, signing_key = signing_pem, signing_kid = "emu-key-1",
    bearer_tokens = {
      rw = { client_id = "0oaA", scopes = { "ssf.read", "ssf.manage" } },
      ro = { client_id = "0oaA", scopes = { "ssf.read" } },
      rwb = { client_id = "0oaB", scopes = { "ssf.read", "ssf.manage" } },
      none = { client_id = "0oaC", scopes = {} },
    },
  }
  for k, v in pairs(over or {}) do cfg[k] = v end
  return routes.new(cfg)
end

-- app:handle on a request built from method, path and opts {token=,
-- query=, json= (a table, encoded), body=, headers=}: status, headers,
-- decoded body (nil when empty), raw body.
local function call(app, method, path, opts)
  opts = opts or {}
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if opts.token then headers.authorization = "Bearer " .. opts.token end
  local body = opts.body or ""
  if opts.json then
    body = ssf.json.encode(opts.json)
    headers["content-type"] = headers["content-type"] or "application/json"
  end
  local status, rheaders, rbody = app:handle { id = 1, method = method, path = path, query = opts.query,
                                               headers = headers, body = body, remote = "127.0.0.1" }
  assert.is_string(rbody)
  return status, rheaders, rbody ~= "" and assert(ssf.json.decode(rbody)) or nil, rbody
end

local function stream_body(over)
  local b = {
    delivery = { method = ssf.PUSH, endpoint_url = RX, authorization_header = "Bearer rx-secret-1" },
    events_requested = ssf.array { ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE },
    format = "iss_sub",
  }
  for k, v in pairs(over or {}) do b[k] = v end
  return b
end

local function assert_okta_error(status, body, want_status, code)
  assert.are.equal(want_status, status)
  assert.are.equal(code, body.errorCode)
  assert.are.equal(code, body.errorLink)
  assert.is_string(body.errorSummary)
  assert.matches("^oae%w+$", body.errorId)
  assert.is_true(json.is_array(body.errorCauses) or next(body.errorCauses) == nil)
end

setup(function()
  dir = env.tmpdir()
  signing_pem = assert(env.read(keys.make(dir, "rsa", "signing.pem")))
end)
teardown(function() env.rmdir(dir) end)

describe("the stream endpoint", function()
  it("lists nothing before a stream exists, then the caller's stream", function()
    local app = new_app()
    local status, _, body = call(app, "GET", "/api/v1/ssf/stream", { token = "rw" })
    assert.are.equal(200, status)
    assert.is_true(json.is_array(body))
    assert.are.equal(0, #body)

    local created
    status, _, created = call(app, "POST", "/api/v1/ssf/stream", { token = "rw", json = stream_body() })
    assert.are.equal(201, status)
    assert.matches("^esc%w+$", created.stream_id)
    assert.are.equal(ORG, created.iss)
    assert.are.same({ method = ssf.PUSH, endpoint_url = RX }, created.delivery)
    assert.are.same({ ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE }, created.events_delivered)

    status, _, body = call(app, "GET", "/api/v1/ssf/stream", { token = "rw" })
    assert.are.equal(200, status)
    assert.are.equal(1, #body)
    assert.are.equal(created.stream_id, body[1].stream_id)
    -- Client B sees nothing of it.
    status, _, body = call(app, "GET", "/api/v1/ssf/stream", { token = "rwb" })
    assert.are.equal(200, status)
    assert.are.equal(0, #body)
  end)

  it("answers 401 E0000011 with no token or an unknown one", function()
    local app = new_app()
    local status, headers, body = call(app, "GET", "/api/v1/ssf/stream")
    assert_okta_error(status, body, 401, "E0000011")
    assert.matches('^Bearer .*scope="ssf.read"', headers["WWW-Authenticate"])
    status, _, body = call(app, "GET", "/api/v1/ssf/stream", { token = "nope" })
    assert_okta_error(status, body, 401, "E0000011")
    status, _, body = call(app, "GET", "/api/v1/ssf/stream", { headers = { authorization = "SSWS rw" } })
    assert_okta_error(status, body, 401, "E0000011")
  end)
end)

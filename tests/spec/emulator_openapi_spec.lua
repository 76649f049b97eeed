-- Every kind of answer the emulator gives on the documented paths
-- validates against Okta's OpenAPI extract (tests/openapi): Prism runs as a
-- validating proxy in front of the emulator and reports what breaks the
-- schema in an `sl-violations` header; any response-side entry fails.
-- Requests go out raw (ssf.http) so that error answers, headers and all,
-- are checked too, and some are deliberately malformed.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http"

local PRISM = env.root .. "/tests/fake/node_modules/.bin/prism"
local SPEC = env.root .. "/tests/openapi/okta-ssf-openapi.yaml"
local E = ssf.events

describe("the emulator's answers against Okta's OpenAPI extract (Prism proxy)", function()
  local e, url, pid, log, session, token

  setup(function()
    e = assert(ssf.emulator {})
    token = e:credentials().token
    url, pid, log = fake.spawn(("exec %s proxy -h 127.0.0.1 -p 0 %s %s")
      :format(env.q(PRISM), env.q(SPEC), env.q(e.org)), "Prism is listening on (http://127%.0%.0%.1:%d+)", 60)
    session = http.session()
  end)
  teardown(function()
    if session then session:close() end
    if pid then
      os.execute("kill " .. pid .. " 2>/dev/null")
      for _ = 1, 100 do -- at most 5 s
        if not env.alive(pid) then break end
        http.sleep(0.05)
      end
      if env.alive(pid) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
      os.remove(log)
    end
    e:close()
  end)

  -- One request through Prism; fails on a response-side violation and
  -- returns status, decoded body, the request-side violations and headers.
  local function call(method, path, body, opts)
    opts = opts or {}
    local headers = { "Accept: application/json" }
    if opts.token ~= false then headers[#headers + 1] = "Authorization: Bearer " .. (opts.token or token) end
    if body then headers[#headers + 1] = "Content-Type: application/json" end
    local status, h, text = session:perform { method = method, url = url .. path, headers = headers,
      body = body and (type(body) == "string" and body or ssf.json.encode(body)), timeout = 20 }
    assert.is_number(status, tostring(h) .. " " .. tostring(text))
    local raw = h["sl-violations"]
    local list = raw and assert(ssf.json.decode(raw), "unparsable sl-violations: " .. raw) or {}
    local req, resp = {}, {}
    for _, v in ipairs(list) do
      if type(v.location) == "table" and v.location[1] == "response" then resp[#resp + 1] = v else req[#req + 1] = v end
    end
    assert.are.equal(0, #resp, ("%s %s -> %d: the answer violates Okta's schema: %s\n%s")
      :format(method, path, status, raw, text))
    if opts.status then assert.are.equal(opts.status, status, method .. " " .. path .. ": " .. text) end
    if opts.code then assert.are.equal(opts.code, ssf.json.decode(text).errorCode, text) end
    return status, text ~= "" and ssf.json.decode(text) or nil, req, h
  end

  local function cfg(endpoint)
    return { delivery = { method = ssf.PUSH, endpoint_url = endpoint or "https://receiver.example.com/ssf" },
             events_requested = ssf.array { E.SESSION_REVOKED, E.CREDENTIAL_CHANGE }, format = "iss_sub" }
  end

  it("metadata and the stream lifecycle, with their success answers", function()
    local _, m = call("GET", "/.well-known/ssf-configuration", nil, { status = 200, token = false })
    assert.are.equal(e.org, m.issuer)
    local _, list = call("GET", "/api/v1/ssf/stream", nil, { status = 200 })
    assert.are.equal(0, #list)
    local _, s = call("POST", "/api/v1/ssf/stream", cfg(), { status = 201 })
    call("GET", "/api/v1/ssf/stream", nil, { status = 200 })
    call("GET", "/api/v1/ssf/stream?stream_id=" .. s.stream_id, nil, { status = 200 })
    local patch = cfg("https://receiver.example.com/v2")
    patch.stream_id = s.stream_id
    call("PATCH", "/api/v1/ssf/stream", patch, { status = 200 })
    patch.delivery.authorization_header = "Bearer receiver-secret"
    call("PUT", "/api/v1/ssf/stream", patch, { status = 200 })
    call("GET", "/api/v1/ssf/stream/status?stream_id=" .. s.stream_id, nil, { status = 200 })
    call("POST", "/api/v1/ssf/stream/verification", { stream_id = s.stream_id, state = "abc" }, { status = 204 })
    call("DELETE", "/api/v1/ssf/stream?stream_id=" .. s.stream_id, nil, { status = 204 })
  end)

  it("its error answers: 400, 401, 404 and 409 in Okta's form", function()
    call("GET", "/api/v1/ssf/stream", nil, { status = 401, code = "E0000011", token = "not-a-token" })
    call("GET", "/api/v1/ssf/stream", nil, { status = 401, code = "E0000011", token = false })
    call("GET", "/api/v1/ssf/stream?stream_id=esc00000000000000000", nil, { status = 404, code = "E0000007" })
    call("GET", "/api/v1/ssf/stream/status?stream_id=esc00000000000000000", nil, { status = 404, code = "E0000007" })
    call("POST", "/api/v1/ssf/stream/verification", { stream_id = "esc00000000000000000" },
      { status = 404, code = "E0000007" })
    call("DELETE", "/api/v1/ssf/stream?stream_id=esc00000000000000000", nil, { status = 404, code = "E0000007" })
    local _, body, req = call("POST", "/api/v1/ssf/stream", { events_requested = ssf.array { "x" } },
      { status = 400, code = "E0000001" })
    assert.is_true(#body.errorCauses > 0)
    -- The canary: Prism did read and flag the malformed request, so the
    -- header is parsed, and its silence on the answers means something.
    assert.is_true(#req > 0, "Prism flagged nothing in a request without delivery")
    local _, s = call("POST", "/api/v1/ssf/stream", cfg(), { status = 201 })
    call("POST", "/api/v1/ssf/stream", cfg(), { status = 409, code = "E0000195" })
    local bad = cfg("not a URI")
    bad.stream_id = s.stream_id
    call("PATCH", "/api/v1/ssf/stream", bad, { status = 400, code = "E0000001" })
    call("DELETE", "/api/v1/ssf/stream", nil, { status = 204 })
  end)

  it("its 429 once the client's requests of the minute are spent", function()
    -- Spend the window straight at the emulator, then ask through Prism.
    -- A window may turn in between: try again, a bounded number of times.
    for _ = 1, 3 do
      for _ = 1, 700 do
        local status, h = session:perform { method = "GET", url = e.org .. "/api/v1/ssf/stream",
          headers = { "Authorization: Bearer " .. token }, timeout = 20 }
        if status == 429 or h["x-rate-limit-remaining"] == "0" then break end
      end
      local status, body, _, h = call("GET", "/api/v1/ssf/stream")
      if status == 429 then
        assert.are.equal("E0000047", body.errorCode)
        assert.are.equal("0", h["x-rate-limit-remaining"])
        return
      end
    end
    error("no 429 in three windows")
  end)
end)

-- Failures below the API: rate limits, retries, timeouts, broken and hostile
-- answers, and Ctrl-C, driven through the fake's fault controls.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"

local STREAM = "/api/v1/ssf/stream"
local JSON = { ["Content-Type"] = "application/json" }

local clock = env.clock

describe("transport failures", function()
  local f, okta

  setup(function() f = fake.start() end)
  teardown(function() f:stop() end)
  before_each(function()
    f:reset()
    okta = f:client(nil, { retries = 2 })
  end)
  after_each(function() okta:close() end)

  local function attempts(path)
    local n = 0
    for _, r in ipairs(f:requests()) do
      if r.path == (path or STREAM) then n = n + 1 end
    end
    return n
  end

  it("waits for X-Rate-Limit-Reset after a 429, then succeeds and says which request it retries", function()
    f:faults { { match = { path = STREAM }, status = 429,
                 headers = { ["X-Rate-Limit-Reset"] = tostring(os.time() + 1), ["X-Rate-Limit-Remaining"] = "0" },
                 body = { errorCode = "E0000047", errorSummary = "API call exceeded rate limit due to too many requests." } } }
    local t0 = clock()
    local list = assert(okta:streams())
    local waited = clock() - t0
    assert.are.equal(0, #list)
    assert.is_true(waited >= 0.9 and waited < 4, "waited " .. waited .. " s")
    local seen = f:requests()
    assert.are.equal(2, #seen)
    assert.are.equal(seen[1].request_id, seen[2].headers["x-okta-retry-for"])
    assert.are.equal("1", seen[2].headers["x-okta-retry-count"])
  end)

  it("gives up after the retries with kind http, 429, retry_after and the attempt count", function()
    local limited = { match = { path = STREAM }, status = 429,
                      headers = { ["X-Rate-Limit-Reset"] = tostring(os.time()) },
                      body = { errorCode = "E0000047", errorSummary = "rate limited" } }
    f:faults { limited, limited }
    local c = f:client(nil, { retries = 1 })
    local v, msg, info = c:streams()
    c:close()
    assert.is_nil(v)
    assert.are.equal("http", info.kind)
    assert.are.equal(429, info.status)
    assert.are.equal("E0000047", info.code)
    assert.are.equal(2, info.attempts)
    assert.is_number(info.retry_after)
    assert.are.equal(limited.headers["X-Rate-Limit-Reset"], info.headers["x-rate-limit-reset"])
    assert.are.equal(info.request_id, info.headers["x-okta-request-id"])
    assert.matches("^HTTP 429 E0000047", msg)
    assert.are.equal(2, attempts())
  end)

  it("caps the 429 wait at max_backoff", function()
    f:faults { { match = { path = STREAM }, status = 429,
                 headers = { ["X-Rate-Limit-Reset"] = tostring(os.time() + 3600) } } }
    local c = f:client(nil, { max_backoff = 0.2 })
    local t0 = clock()
    assert(c:streams())
    c:close()
    assert.is_true(clock() - t0 < 2)
  end)

  it("retries 503 for GET, but not for a POST", function()
    f:faults { { match = { method = "GET" }, status = 503 } }
    assert(okta:streams())
    assert.are.equal(2, attempts())

    -- (A verification request is the exception: repeating it is harmless.)
    f:reset()
    f:faults { { match = { method = "POST" }, status = 503 } }
    local v, _, info = okta:create_stream { delivery = { method = "urn:ietf:rfc:8935",
      endpoint_url = "https://r.example.com/x" }, events_requested = { "urn:x" } }
    assert.is_nil(v)
    assert.are.equal(503, info.status)
    assert.are.equal(1, attempts(STREAM))
  end)

  it("carries no method, body or connection rule over from one request to the next", function()
    local s = assert(okta:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://r.example.com" },
                                          events_requested = { ssf.events.SESSION_REVOKED } })
    assert(okta:request { method = "DELETE", path = STREAM, query = { stream_id = s.stream_id } })
    okta:request { method = "HEAD", path = STREAM }
    assert.are.equal(0, #assert(okta:streams()))
    assert(okta:stream_status(s.stream_id) == nil)
    local seen = f:requests()
    local methods = {}
    for i, r in ipairs(seen) do methods[i] = r.method end
    assert.are.same({ "POST", "DELETE", "HEAD", "GET", "GET" }, methods)
    assert.are.equal("", seen[2].body)
    assert.is_nil(seen[2].headers["content-length"])
    -- Only the POST gets a connection of its own.
    assert.are.equal(seen[2].remote_port, seen[5].remote_port)
  end)

  it("carries no user agent over to a request that names none", function()
    local s = require("ssf.http").session()
    finally(function() s:close() end)
    for _, ua in ipairs { "ua-first/1", false, "ua-third/3" } do
      assert.are.equal(200, s:perform { url = f.url .. STREAM, user_agent = ua or nil,
                                        headers = { "Authorization: Bearer tok-rw" } })
    end
    local seen = f:requests()
    assert.are.equal("ua-first/1", seen[1].headers["user-agent"])
    assert.is_nil(seen[2].headers["user-agent"])
    assert.are.equal("ua-third/3", seen[3].headers["user-agent"])
  end)

  it("does not retry 500", function()
    f:faults { { status = 500, body = { errorCode = "E0000009", errorSummary = "Internal Server Error" } } }
    local _, msg, info = okta:streams()
    assert.are.equal(500, info.status)
    assert.matches("^HTTP 500 E0000009: Internal Server Error", msg)
    assert.are.equal(1, attempts())
  end)

  it("retries a reset connection for GET, never for a POST that was sent", function()
    f:faults { { match = { method = "GET" }, action = "reset" } }
    assert(okta:streams())
    assert.are.equal(2, attempts())

    f:reset()
    f:faults { { match = { method = "POST" }, action = "reset" } }
    local v, _, info = okta:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://r.example.com" },
                                            events_requested = { ssf.events.SESSION_REVOKED } }
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
    assert.are.equal(1, info.attempts)
    assert.are.equal(1, attempts())
  end)

  it("reports a refused port as transport, retrying even a POST that never connected", function()
    local c = assert(ssf.client { org = "http://127.0.0.1:1", auth = { type = "bearer", token = "tok-rw" },
                                 retries = 1, max_backoff = 0.01 })
    local v, msg, info = c:verify_stream("esc1")
    c:close()
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
    assert.are.equal(2, info.attempts)
    assert.is_nil(info.code)
    -- libcurl's message alone: its error code's text would repeat it.
    assert.matches("^Failed to connect to 127%.0%.0%.1 port 1 after %d+ ms: Couldn't connect to server$", msg)
  end)

  it("says once that a host name does not resolve", function()
    local c = assert(ssf.client { org = "https://nonexistent.invalid", auth = { type = "bearer", token = "tok-rw" },
                                 retries = 0 })
    local v, msg, info = c:streams()
    c:close()
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
    assert.are.equal("Could not resolve host: nonexistent.invalid", msg)
  end)

  it("times out a connect that never completes, retrying even a POST", function()
    local url, pid, log = fake.spawn(env.q(env.build .. "/tests/blackhole") .. " 30", "listening (http://%S+)")
    local c = assert(ssf.client { org = url, auth = { type = "bearer", token = "tok-rw" },
                                 connect_timeout = 0.3, retries = 1, max_backoff = 0.01 })
    local t0 = clock()
    local v, msg, info = c:verify_stream("esc1")
    local elapsed = clock() - t0
    c:close()
    os.execute("kill " .. pid)
    os.remove(log)
    assert.is_nil(v)
    assert.are.equal("timeout", info.kind)
    assert.are.equal(2, info.attempts)
    assert.matches("^connect timeout after 0%.3 s", msg)
    assert.is_true(elapsed < 3, "took " .. elapsed)
  end)

  it("times out a response that never comes, with kind timeout", function()
    f:faults { { action = "hang" } }
    local c = f:client(nil, { timeout = 0.5, retries = 0 })
    local t0 = clock()
    local v, msg, info = c:streams()
    c:close()
    assert.is_nil(v)
    assert.are.equal("timeout", info.kind)
    assert.matches("^timeout after 0%.5 s", msg)
    assert.is_true(clock() - t0 < 3)
  end)

  it("reports a body cut short of its Content-Length as transport", function()
    f:faults { { action = "truncate" } }
    local c = f:client(nil, { retries = 0 })
    local v, _, info = c:streams()
    c:close()
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
  end)

  -- Invalid UTF-8 cannot pass through the fake's JSON control API; json_spec
  -- covers it, and responses are decoded by the same function.
  it("reports malformed JSON and a wrong content type as decode", function()
    f:faults { { status = 200, headers = JSON, body = '{"stream_id": "esc1",' } }
    local v, msg, info = okta:streams()
    assert.is_nil(v)
    assert.are.equal("decode", info.kind)
    assert.matches("not valid JSON", msg)

    f:faults { { status = 200, body = "<html>maintenance</html>", headers = { ["Content-Type"] = "text/html" } } }
    local v2, msg2, info2 = okta:streams()
    assert.is_nil(v2)
    assert.are.equal("decode", info2.kind)
    assert.matches("content type 'text/html'", msg2)
  end)

  it("stops reading a body larger than max_body", function()
    f:faults { { status = 200, headers = JSON, body = '["' .. ("x"):rep(60000) .. '"]' } }
    local c = f:client(nil, { max_body = 1000 })
    local v, msg, info = c:streams()
    c:close()
    assert.is_nil(v)
    assert.are.equal("decode", info.kind)
    assert.matches("exceeds max_body %(1000 bytes%)", msg)
  end)

  it("does not follow a redirect to another host, and says where it pointed", function()
    f:faults { { status = 302, headers = { Location = "http://127.0.0.2:1/steal" },
                 body = "<html><body>Moved</body></html>" } }
    local v, msg, info = okta:streams()
    assert.is_nil(v)
    assert.are.equal("http", info.kind)
    assert.are.equal(302, info.status)
    assert.are.equal(1, attempts())
    assert.are.equal(("HTTP 302 redirect to http://127.0.0.2:1/steal (not followed) (request %s)")
      :format(info.request_id), msg)
  end)

  it("leaves no double space from a body that ends in a newline", function()
    f:faults { { status = 500, headers = { ["Content-Type"] = "text/plain" }, body = "Internal error\r\n" } }
    local _, msg, info = okta:streams()
    assert.are.equal(("HTTP 500 Internal error (request %s)"):format(info.request_id), msg)
  end)

  it("aborts a blocked transfer on Ctrl-C", function()
    f:faults { { action = "hang" } }
    local p = env.spawn(([[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %q, auth = { type = "bearer", token = "tok-rw" }, timeout = 60 })
      io.stdout:write("sending\n"); io.stdout:flush()
      print(c:streams())
    ]]):format(f.url))
    local sent = false
    for _ = 1, 100 do -- up to 5 s for the request to reach the fake
      if attempts() > 0 then sent = true break end
      require("ssf.http").sleep(0.05)
    end
    assert.is_true(sent)
    -- It must exit well before the 60 s timeout.
    local gone, elapsed, text = p:interrupt(3)
    assert.is_true(gone, "ssflua ignored Ctrl-C: " .. text)
    assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
    assert.matches("interrupted", text)
  end)
end)

describe("secrets across the fault matrix", function()
  it("appear in no message, info field or debug line", function()
    local f = fake.start()
    local token = "tok-CANARY-7d1e4b9a02"
    local header = "Splunk CANARY-HDR-44c0e1"
    f:call("POST", "tokens", { token = token, client_id = "0oacanary", scopes = { "ssf.read", "ssf.manage" } })
    local script = ([[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %q, auth = { type = "bearer", token = %q },
                                   retries = 1, max_backoff = 0.05, timeout = 0.5, max_body = 500 })
      local out = {}
      local cfg = { delivery = { method = ssf.PUSH, endpoint_url = "not a uri", authorization_header = %q },
                    events_requested = { ssf.events.SESSION_REVOKED } }
      for i = 1, 12 do
        local v, msg, info
        if i %% 2 == 0 then v, msg, info = c:create_stream(cfg) else v, msg, info = c:streams() end
        out[#out + 1] = tostring(msg) .. " " .. ssf.json.encode(info or {})
      end
      print(table.concat(out, "\n"))
    ]]):format(f.url, token, header)
    local Hdr = { ["Content-Type"] = "application/json" }
    f:faults {
      { status = 429, headers = { ["X-Rate-Limit-Reset"] = "0" }, body = { errorSummary = token } },
      { status = 429, headers = { ["X-Rate-Limit-Reset"] = "0" } },
      { status = 503, body = "Bearer " .. token }, { status = 500, body = { errorSummary = header } },
      { action = "reset" }, { action = "hang" }, { action = "truncate" },
      { status = 200, headers = Hdr, body = '{"a":' }, { status = 200, headers = Hdr, body = ("x"):rep(600) },
      { status = 302, headers = { Location = "http://127.0.0.2:1/?t=" .. token } },
    }
    local code, out, err = env.ssflua("-e " .. env.q(script), { SSF_DEBUG = "1" })
    f:stop()
    assert.are.equal(0, code, err)
    assert.matches("ssf: GET http://127%.0%.0%.1:%d+/api/v1/ssf/stream %-> 429", err)
    assert.matches("waiting", err)
    assert.is_truthy(out:find("REDACTED", 1, true), out)
    assert.is_nil((out .. err):find("CANARY", 1, true), out .. err)
  end)
end)

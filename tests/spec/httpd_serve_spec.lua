-- httpd.serve: the generic HTTP server under ssf.httpd, driven over real
-- HTTP by curl. Every request that passes the HTTP checks reaches Lua with
-- its method, path, raw query and headers, and gets the answer Lua gives.
local env = require "env"
local http = require "ssf.http"
local httpd = require "ssf.httpd"

-- curl in the background; returns a function that waits (bounded) for it
-- and returns the status, the body and the raw response headers.
local function request(args, url)
  local out, head, done = os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(done)
  os.execute(("(curl -s %s -D %s -o %s -w '%%{http_code}' %s > %s.part 2>/dev/null; mv %s.part %s) &")
    :format(args, env.q(head), env.q(out), env.q(url), env.q(done), env.q(done), env.q(done)))
  return function()
    assert(env.eventually(function() return env.read(done) ~= nil end, 20), "curl did not finish")
    local status, body, headers = tonumber(env.read(done)), env.read(out), env.read(head)
    os.remove(done)
    os.remove(out)
    os.remove(head)
    return status, body, headers
  end
end

describe("httpd.serve", function()
  local srv, base

  before_each(function()
    srv = assert(httpd.serve { max_body = 1000, answer_timeout = 20 })
    base = ("http://127.0.0.1:%d"):format(srv:port())
  end)
  after_each(function() srv:close() end)

  it("hands any method and path to Lua, with the raw query and the headers", function()
    local wait = request("-H 'X-Test: One' -H 'x-test: two' -H 'Accept: application/json'",
      base .. "/api/v1/ssf/stream?stream_id=abc%20d&x=1")
    local req = assert(srv:poll(10))
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/ssf/stream", req.path)
    assert.are.equal("stream_id=abc%20d&x=1", req.query)
    assert.are.equal("", req.body)
    assert.are.equal("One, two", req.headers["x-test"])
    assert.are.equal("application/json", req.headers.accept)
    assert.matches("^127%.0%.0%.1:", req.headers.host)
    assert.matches("^127%.0%.0%.1:%d+$", req.remote)
    assert.is_true(srv:respond(req.id, 200, '{"ok":true}',
      { ["Content-Type"] = "application/json; charset=utf-8", ["X-Okta-Request-Id"] = "req-1" }))
    local status, body, head = wait()
    assert.are.equal(200, status)
    assert.are.equal('{"ok":true}', body)
    assert.matches("\r\nContent%-Type: application/json; charset=utf%-8\r\n", head)
    assert.matches("\r\nX%-Okta%-Request%-Id: req%-1\r\n", head)

    wait = request("-X DELETE", base .. "/api/v1/ssf/stream")
    req = assert(srv:poll(10))
    assert.are.equal("DELETE", req.method)
    assert.is_nil(req.query)
    assert.is_true(srv:respond(req.id, 204))
    assert.are.equal(204, (wait()))
    assert.is_false(srv:respond(req.id, 200), "answered twice")
  end)

  it("passes a request body and refuses one over max_body in C", function()
    local wait = request("-X POST -H 'Content-Type: application/json' --data-binary '{\"a\":1}'",
      base .. "/oauth2/v1/token")
    local req = assert(srv:poll(10))
    assert.are.equal("POST", req.method)
    assert.are.equal('{"a":1}', req.body)
    assert.are.equal("application/json", req.headers["content-type"])
    assert.is_true(srv:respond(req.id, 201, "{}"))
    local status, _, head = wait()
    assert.are.equal(201, status)
    assert.matches("\r\nContent%-Type: application/json\r\n", head, 1, false)

    status = request("-X POST --data-binary " .. ("x"):rep(1001), base .. "/big")()
    assert.are.equal(413, status)
    assert.are.equal(1, srv:stats()[413])
    assert.is_nil(srv:poll(0))
  end)

  it("answers 503 with Retry-After itself when Lua does not answer in time", function()
    srv:close()
    srv = assert(httpd.serve { answer_timeout = 0.5 })
    local wait = request("", ("http://127.0.0.1:%d/slow"):format(srv:port()))
    local req = assert(srv:poll(10))
    local status, _, head = wait()
    assert.are.equal(503, status)
    assert.matches("\r\nRetry%-After: %d+\r\n", head)
    assert.is_false(srv:respond(req.id, 200))
  end)

  it("raises on headers that would split the answer, naming the argument", function()
    local wait = request("", base .. "/x")
    local req = assert(srv:poll(10))
    for _, bad in ipairs {
      { ["X-A"] = "a\r\nX-Evil: 1" }, { ["X-A"] = "a\nb" }, { ["X-A"] = "a\0b" },
      { ["X A"] = "a" }, { ["X:A"] = "a" }, { [""] = "a" }, { ["X-A"] = 1 },
    } do
      assert.has_error(function() srv:respond(req.id, 200, "", bad) end)
    end
    local ok, msg = pcall(srv.respond, srv, req.id, 200, "", { ["X-A"] = "a\r\nb" })
    assert.is_false(ok)
    assert.matches("bad argument #5 to 'respond'", msg)
    -- Nothing was answered by the failed calls.
    assert.is_true(srv:respond(req.id, 200, "fine", { ["Content-Type"] = "text/plain" }))
    local status, body = wait()
    assert.are.equal(200, status)
    assert.are.equal("fine", body)
  end)

  it("raises on unknown options and returns a failed bind", function()
    assert.has_error(function() httpd.serve { path = "/x" } end,
      "bad argument #1 to 'serve' (unknown option 'path')")
    assert.has_error(function() httpd.serve { max_body = 0 } end)
    local other, msg = httpd.serve { port = srv:port() }
    assert.is_nil(other)
    assert.matches("cannot listen on 127%.0%.0%.1:" .. srv:port(), msg)
    srv:close()
    srv:close()
    assert.has_error(function() srv:poll(0) end)
  end)
end)

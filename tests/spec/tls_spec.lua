-- TLS against a real server: Debian's nginx on loopback ports with a test CA
-- made at test time. Verification, failures that must not be retried,
-- HTTP/2, compressed answers, redirects, and ca_file checked at config time.
local ssf = require "ssf"
local env = require "env"
local servers = require "servers"
local http = require "ssf.http"

local STREAM = "/api/v1/ssf/stream"
local STREAMS = '[{"stream_id":"esc-nginx","delivery":{"method":"urn:ietf:rfc:8935",'
  .. '"endpoint_url":"https://receiver.example.com/ssf"},"events_requested":[]}]'

-- Port 1: the test CA's certificate for localhost and 127.0.0.1, HTTP/2,
-- gzip for JSON. Port 2: a certificate from the same CA for another name.
-- Port 3: plain HTTP.
local function nginx_conf(pki)
  return function(ports)
    return ([[
  default_type application/json;
  gzip on;
  gzip_types application/json;
  gzip_min_length 1;
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s;
    ssl_certificate_key %s;
    add_header X-Protocol $server_protocol always;
    location = %s { return 200 '%s'; }
    location = /moved { return 302 https://login.example.invalid/next?from=ssflua; }
    location = /bad-gzip { gzip off; add_header Content-Encoding gzip; return 200 'not gzip at all'; }
    location = /odd-encoding { gzip off; add_header Content-Encoding x-snappy; return 200 '[]'; }
    location = /big { return 200 '["%s"]'; }
  }
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    location / { return 200 '[]'; }
  }
  server {
    listen 127.0.0.1:%d;
    location / { return 200 '[]'; }
  }]]):format(ports[1], pki.server, pki.server_key, STREAM, STREAMS, ("x"):rep(3000),
              ports[2], pki.other, pki.other_key, ports[3])
  end
end

describe("TLS against nginx", function()
  local dir, pki, nginx, org, other_org

  setup(function()
    dir = env.tmpdir()
    pki = servers.pki(dir)
    nginx = servers.nginx(dir .. "/nginx", 3, nginx_conf(pki))
    org = "https://127.0.0.1:" .. nginx.ports[1]
    other_org = "https://127.0.0.1:" .. nginx.ports[2]
  end)
  teardown(function()
    servers.stop_all()
    if dir then env.rmdir(dir) end
  end)

  -- ca_file = false: the system's CAs.
  local function client(opts)
    local o = { org = org, ca_file = pki.ca, auth = { type = "bearer", token = "tok-tls" },
                retries = 2, max_backoff = 0.05 }
    for k, v in pairs(opts or {}) do o[k] = v or nil end
    return assert(ssf.client(o))
  end

  -- How many lines of nginx's error log contain `needle`, once it has
  -- logged at least `want` of them (or 10 s have passed) and a moment more
  -- in which more could arrive.
  local function logged(needle, want)
    for _ = 1, 200 do
      if nginx:count("error.log", needle) >= want then break end
      http.sleep(0.05)
    end
    http.sleep(0.3)
    return nginx:count("error.log", needle)
  end

  it("verifies the server with the test CA, over HTTP/2", function()
    local c = client()
    finally(function() c:close() end)
    local list, meta = c:streams()
    assert.are.equal("esc-nginx", list[1].stream_id, tostring(meta))
    assert.are.equal("HTTP/2.0", meta.headers["x-protocol"])
  end)

  it("goes back to the system's CAs for a request that names no ca_file", function()
    local s = http.session()
    finally(function() s:close() end)
    local url = org .. STREAM
    assert.are.equal(200, s:perform { url = url, ca_file = pki.ca })
    local status, kind, msg, _, code = s:perform { url = url }
    assert.is_nil(status)
    assert.are.equal("transport", kind)
    assert.are.equal("tls", code)
    assert.matches("certificate", msg)
    assert.are.equal(200, s:perform { url = url, ca_file = pki.ca })
  end)

  it("fails at once, as tls, without the test CA and with another CA", function()
    for _, ca in ipairs { false, pki.wrong_ca } do
      local before = nginx:count("error.log", "alert unknown ca")
      local c = client { ca_file = ca }
      local v, msg, info = c:streams()
      assert.is_nil(v)
      assert.are.equal("transport", info.kind)
      assert.are.equal("tls", info.code)
      assert.are.equal(1, info.attempts)
      assert.matches("certificate", msg)
      assert.is_nil(msg:find("SSH", 1, true), msg)
      assert.are.equal(before + 1, logged("alert unknown ca", before + 1))
      c:close()
    end
  end)

  it("fails a hostname mismatch in exactly one attempt, even for a POST", function()
    local seen = "server: 127.0.0.1:" .. nginx.ports[2]
    local before = nginx:count("error.log", seen)
    local c = client { org = other_org }
    finally(function() c:close() end)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("tls", info.code)
    assert.are.equal(1, info.attempts)
    assert.are.equal("SSL: no alternative certificate subject name matches target host name '127.0.0.1'", msg)
    assert.are.equal(before + 1, logged(seen, before + 1))

    local ok, _, pinfo = c:verify_stream("esc-nginx")
    assert.is_nil(ok)
    assert.are.equal("tls", pinfo.code)
    assert.are.equal(1, pinfo.attempts)
    assert.are.equal(before + 2, logged(seen, before + 2))
  end)

  it("retries a handshake that fails otherwise, like any failed connect", function()
    local c = client { org = "https://127.0.0.1:" .. nginx.ports[3], max_backoff = 0.01 }
    finally(function() c:close() end)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("tls", info.code)
    assert.are.equal(3, info.attempts)
    assert.matches("^TLS handshake failed: OpenSSL/[%d.]+: error:%x+:SSL routines::wrong version number$", msg)
  end)

  it("fails at once when the CA file has gone since the client was made", function()
    local copy = dir .. "/gone.pem"
    assert(os.execute(("cp %s %s"):format(env.q(pki.ca), env.q(copy))))
    local c = client { ca_file = copy }
    finally(function() c:close() end)
    os.remove(copy)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("tls", info.code)
    assert.are.equal(1, info.attempts)
    assert.is_truthy(msg:find(copy, 1, true), msg)
  end)

  it("rejects a ca_file that is missing, unreadable or not a certificate when the client is made", function()
    local text = dir .. "/notes.txt"
    local f = assert(io.open(text, "w"))
    f:write("not a certificate\n")
    f:close()
    local cases = {
      { "/nonexistent.pem", "cannot read ca_file /nonexistent.pem %(No such file or directory%)" },
      { dir, "cannot read ca_file .* %(Is a directory%)" },
      { text, "holds no PEM certificate" },
      { pki.ca_key, "holds no PEM certificate" },
    }
    for _, case in ipairs(cases) do
      local c, msg, info = ssf.client { org = org, ca_file = case[1], auth = { type = "bearer", token = "t" } }
      assert.is_nil(c, case[1])
      assert.are.equal("config", info.kind)
      assert.matches(case[2], msg)
    end
  end)

  it("asks for compression and decodes a gzip answer", function()
    local c = client()
    finally(function() c:close() end)
    local list, meta = c:streams()
    assert.are.equal("gzip", meta.headers["content-encoding"])
    assert.are.equal("esc-nginx", list[1].stream_id)
  end)

  it("decodes the gzip answer to a script that asked for gzip itself", function()
    local c = client()
    finally(function() c:close() end)
    local list, meta = c:request { path = STREAM, headers = { ["Accept-Encoding"] = "gzip" } }
    assert.are.equal("gzip", meta.headers and meta.headers["content-encoding"], tostring(meta))
    assert.are.equal("esc-nginx", list[1].stream_id)
  end)

  it("counts decoded bytes against max_body", function()
    local c = client { max_body = 1000 }
    finally(function() c:close() end)
    local v, msg, info = c:request { path = "/big" }
    assert.is_nil(v)
    assert.are.equal("decode", info.kind)
    assert.are.equal("response body exceeds max_body (1000 bytes)", msg)
    -- What crossed the wire was compressed, and smaller than max_body
    -- (nginx logs the request once it sees the stream closed).
    local sent
    for _ = 1, 200 do
      sent = nginx:read("access.log"):match('"GET /big HTTP/2%.0" 200 (%d+)')
      if sent then break end
      http.sleep(0.05)
    end
    assert.is_true(tonumber(sent) < 1000, nginx:read("access.log"))
  end)

  it("names the Content-Encoding of a body it cannot decode", function()
    local c = client()
    finally(function() c:close() end)
    local v, msg, info = c:request { path = "/bad-gzip" }
    assert.is_nil(v)
    assert.are.equal("decode", info.kind)
    assert.are.equal(1, info.attempts)
    assert.matches("^cannot decode the response body %(Content%-Encoding: gzip%): ", msg)

    v, msg, info = c:request { path = "/odd-encoding" }
    assert.is_nil(v)
    assert.are.equal("decode", info.kind)
    assert.matches("%(Content%-Encoding: x%-snappy%)", msg)
  end)

  it("reports a redirect with its Location, not followed", function()
    local c = client()
    finally(function() c:close() end)
    local v, msg, info = c:request { path = "/moved" }
    assert.is_nil(v)
    assert.are.equal("http", info.kind)
    assert.are.equal(302, info.status)
    assert.are.equal("HTTP 302 redirect to https://login.example.invalid/next?from=ssflua (not followed)", msg)
  end)
end)

-- Proxies: the proxy option, the standard environment variables, NO_PROXY,
-- and a real CONNECT proxy (Debian's tinyproxy) in front of nginx.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http"
local servers = require "servers"

describe("proxies", function()
  local f, proxy_url, proxy_pid, proxy_log

  setup(function()
    f = fake.start()
    proxy_url, proxy_pid, proxy_log = fake.spawn("exec node " .. env.q(env.root .. "/tests/fake/proxy.mjs"),
      "listening (http://%S+)")
  end)
  teardown(function()
    f:stop()
    os.execute("kill " .. proxy_pid)
    os.remove(proxy_log)
  end)

  local function proxied()
    local c = assert(ssf.client { org = proxy_url, auth = { type = "bearer", token = "x-proxy-log" } })
    local log = assert(c:request { path = "/__proxy/log" })
    c:close()
    return #log
  end

  it("sends requests through the proxy option", function()
    local before = proxied()
    local c = f:client(nil, { proxy = proxy_url })
    assert(c:streams())
    c:close()
    assert.are.equal(before + 1, proxied())
  end)

  it("sends a session's next request without the proxy when it names none", function()
    local before = proxied()
    local s = http.session()
    finally(function() s:close() end)
    local req = { url = f.url .. "/api/v1/ssf/stream", headers = { "Authorization: Bearer tok-rw" } }
    req.proxy = proxy_url
    assert.are.equal(200, s:perform(req))
    req.proxy = nil
    assert.are.equal(200, s:perform(req))
    assert.are.equal(before + 1, proxied())
  end)

  it("honours http_proxy from the environment, and NO_PROXY", function()
    local script = ("local c = assert(require('ssf').client { org = %q, auth = { type = 'bearer', token = 'tok-rw' } }) assert(c:streams())")
      :format(f.url)
    local before = proxied()
    local code, _, err = env.ssflua("-e " .. env.q(script), { http_proxy = proxy_url })
    assert.are.equal(0, code, err)
    assert.are.equal(before + 1, proxied())
    code, _, err = env.ssflua("-e " .. env.q(script), { http_proxy = proxy_url, NO_PROXY = "127.0.0.1" })
    assert.are.equal(0, code, err)
    assert.are.equal(before + 1, proxied())
  end)
end)

describe("a real CONNECT proxy (tinyproxy)", function()
  local dir, pki, nginx, proxy, allowed, refused

  -- nginx on two TLS ports; tinyproxy allows CONNECT to the first (and to
  -- port 1, where nothing listens) and answers 403 for the second.
  setup(function()
    dir = env.tmpdir()
    pki = servers.pki(dir)
    nginx = servers.nginx(dir .. "/nginx", 2, function(ports)
      local block = ""
      for _, port in ipairs(ports) do
        block = block .. ([[
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s;
    ssl_certificate_key %s;
    default_type application/json;
    location / { return 200 '[]'; }
  }
]]):format(port, pki.server, pki.server_key)
      end
      return block
    end)
    allowed, refused = nginx.ports[1], nginx.ports[2]
    proxy = servers.tinyproxy(dir .. "/tinyproxy", { allowed, 1 })
  end)
  teardown(function()
    servers.stop_all()
    if dir then env.rmdir(dir) end
  end)

  local function client(port, opts)
    local o = { org = "https://127.0.0.1:" .. port, ca_file = pki.ca, proxy = "http://127.0.0.1:" .. proxy.port,
                auth = { type = "bearer", token = "tok-proxy" }, retries = 2, max_backoff = 0.05 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(ssf.client(o))
  end

  -- tinyproxy's log lines with `needle`, once there are `want` (or 10 s
  -- have passed) and a moment more in which more could arrive.
  local function logged(needle, want)
    for _ = 1, 200 do
      if proxy:count("tinyproxy.log", needle) >= want then break end
      http.sleep(0.05)
    end
    http.sleep(0.3)
    return proxy:count("tinyproxy.log", needle)
  end

  it("tunnels HTTPS through CONNECT", function()
    local tunnel = "CONNECT 127.0.0.1:" .. allowed
    local before = proxy:count("tinyproxy.log", tunnel)
    local c = client(allowed)
    finally(function() c:close() end)
    local list = assert(c:streams())
    assert.are.equal(0, #list)
    -- At least one: a GET whose first attempt is slow to connect (as under
    -- valgrind on a busy machine) is retried through a second tunnel.
    assert.is_true(logged(tunnel, before + 1) >= before + 1)
  end)

  it("fails in one attempt, with code proxy, when the proxy answers CONNECT with 403", function()
    local refusal = "Refused CONNECT method on port " .. refused
    local before = proxy:count("tinyproxy.log", refusal)
    local c = client(refused)
    finally(function() c:close() end)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("transport", info.kind)
    assert.are.equal("proxy", info.code)
    assert.are.equal(1, info.attempts)
    assert.are.equal("the proxy refused the tunnel: CONNECT answered HTTP 403", msg)
    assert.are.equal(before + 1, logged(refusal, before + 1))
  end)

  it("retries when the proxy cannot open the tunnel (5xx)", function()
    local tunnel = "CONNECT 127.0.0.1:1 "
    local before = proxy:count("tinyproxy.log", tunnel)
    local c = client(1, { max_backoff = 0.01 })
    finally(function() c:close() end)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("proxy", info.code)
    assert.are.equal(3, info.attempts)
    assert.matches("^the proxy could not open the tunnel: CONNECT answered HTTP 5%d%d$", msg)
    assert.are.equal(before + 3, logged(tunnel, before + 3))
  end)

  it("says it was the proxy that refused the connection, from the option or the environment", function()
    local c = client(allowed, { proxy = "http://127.0.0.1:1", max_backoff = 0.01 })
    finally(function() c:close() end)
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("proxy", info.code)
    assert.are.equal(3, info.attempts) -- nothing was sent: worth another try
    assert.matches("^cannot connect to the proxy: Failed to connect to 127%.0%.0%.1 port 1 ", msg)

    local script = ([[
      local c = assert(require("ssf").client { org = %q, ca_file = %q, retries = 0,
                                                auth = { type = "bearer", token = "tok-proxy" } })
      local _, msg, info = c:streams()
      print(info.code, msg)
    ]]):format("https://127.0.0.1:" .. allowed, pki.ca)
    local code, out, err = env.ssflua("-e " .. env.q(script), { https_proxy = "http://127.0.0.1:1" })
    assert.are.equal(0, code, err)
    assert.matches("^proxy\tcannot connect to the proxy: ", out)
  end)
end)

-- Proxies: the proxy option, the standard environment variables, NO_PROXY.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"

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

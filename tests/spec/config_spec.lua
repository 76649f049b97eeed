-- ssf.client{...}: what it accepts, what it refuses, and how.
local ssf = require "ssf"
local env = require "env"

local function client(opts)
  return ssf.client(opts)
end
local auth = { type = "bearer", token = "tok-config-spec" }

describe("ssf.client configuration", function()
  it("accepts https orgs and loopback http, normalizing the base URL", function()
    for url, want in pairs {
      ["https://acme.okta.com"] = "https://acme.okta.com",
      ["https://acme.okta.com/"] = "https://acme.okta.com",
      ["HTTPS://Acme.Okta.com:8443"] = "https://Acme.Okta.com:8443",
      ["http://127.0.0.1:8080"] = "http://127.0.0.1:8080",
      ["http://localhost:1"] = "http://localhost:1",
      ["http://[::1]:9"] = "http://[::1]:9",
    } do
      local c = assert(client { org = url, auth = auth })
      assert.are.equal(want:lower(), c.org:lower(), url)
      c:close()
    end
  end)

  it("builds the org from a subdomain", function()
    local c = assert(client { subdomain = "acme-1", auth = auth })
    assert.are.equal("https://acme-1.okta.com", c.org)
  end)

  it("refuses orgs that are not https, or that carry more than a host", function()
    for _, url in ipairs {
      "http://acme.okta.com", "ftp://acme.okta.com", "https://user:pw@acme.okta.com",
      "https://acme.okta.com/path", "https://acme.okta.com?x=1", "https://acme.okta.com#f",
      "not a url", "http://127.0.0.1.evil.com", "http://localhost.evil.com",
      -- A host that reads as another one the next time ("9", then 0.0.0.9).
      "https:/%39",
    } do
      local c, msg, info = client { org = url, auth = auth }
      assert.is_nil(c, url)
      assert.are.equal("config", info.kind, url)
      assert.is_nil(msg:find("pw", 1, true), "the URL must not be echoed")
    end
  end)

  it("refuses subdomains that could change the host", function()
    for _, sub in ipairs { "a/b", "a@b", "a:1", "a#", "a?", "a.b", "a b", "", "-a", "a-",
                           ("x"):rep(64), "evil.com/", "a\0b" } do
      local c, _, info = client { subdomain = sub, auth = auth }
      assert.is_nil(c, sub)
      assert.are.equal("config", info.kind)
    end
  end)

  it("refuses org and subdomain together, and a missing org", function()
    local c, msg, info = client { org = "https://a.okta.com", subdomain = "a", auth = auth }
    assert.is_nil(c)
    assert.are.equal("config", info.kind)
    assert.matches("either org or subdomain", msg)
  end)

  it("raises on unknown options and wrong types, naming them", function()
    assert.has_error(function() client { org = "https://a.okta.com", auth = auth, tiemout = 1 } end,
      "bad argument #1 to 'client' (unknown option 'tiemout')")
    assert.has_error(function() client { org = 42, auth = auth } end,
      "bad argument #1 to 'client' (option 'org' must be a string, got number)")
    assert.has_error(function() client { org = "https://a.okta.com", auth = { type = "bearer", tok = "x" } } end,
      "bad argument #1 to 'client' (unknown option 'auth.tok')")
    assert.has_error(function() client(42) end, "bad argument #1 to 'client' (table expected, got number)")
  end)

  it("returns config errors for bad values and unsupported auth", function()
    for _, opts in ipairs {
      { org = "https://a.okta.com", auth = auth, timeout = -1 },
      { org = "https://a.okta.com", auth = auth, retries = 1.5 },
      { org = "https://a.okta.com", auth = auth, max_body = 0 },
      { org = "https://a.okta.com", auth = { type = "ssws", token = "x" } },
      { org = "https://a.okta.com", auth = { type = "bearer", token = "" } },
      { org = "https://a.okta.com", auth = { type = "bearer", token = "a b" } },
    } do
      local c, _, info = client(opts)
      assert.is_nil(c)
      assert.are.equal("config", info.kind)
    end
  end)

  it("never shows the token when the client is printed or walked", function()
    local c = assert(client { org = "https://a.okta.com", auth = { type = "bearer", token = "CANARY-tok-123456" } })
    assert.is_nil(tostring(c):find("CANARY", 1, true))
    for k, v in pairs(c) do
      assert.is_nil(tostring(v):find("CANARY", 1, true), k)
    end
  end)

  it("refuses, with transport nginx, the options nginx cannot apply per request", function()
    local base = { org = "https://a.okta.com", auth = auth, transport = "nginx" }
    local function with(k, v) return env.with(base, k, v) end
    for name, value in pairs { timeout = 5, connect_timeout = 30, proxy = "http://127.0.0.1:3128" } do
      local c, msg, info = client(with(name, value))
      assert.is_nil(c, name)
      assert.are.equal("config", info.kind)
      assert.is_truthy(msg:find("option '" .. name .. "' cannot apply with transport \"nginx\": nginx", 1, true), msg)
    end
    -- Outside nginx, a client of the nginx transport is made; its calls fail.
    local c = assert(client(base))
    local v, msg, info = c:streams()
    assert.is_nil(v)
    assert.are.equal("config", info.kind)
    assert.are.equal("transport \"nginx\" can make requests only inside an nginx worker", msg)
    c:close()
    assert.is_truthy(client(with("timeout", 5)) == nil and client { org = base.org, auth = auth, timeout = 5 })
  end)

  it("raises on use after close, and close is idempotent", function()
    local c = assert(client { org = "https://a.okta.com", auth = auth })
    c:close()
    c:close()
    assert.has_error(function() c:streams() end, "attempt to use a closed client")
    local c2 = assert(client { org = "https://a.okta.com", auth = auth })
    env.scoped(c2, function() end)
    assert.has_error(function() c2:streams() end, "attempt to use a closed client")
  end)
end)

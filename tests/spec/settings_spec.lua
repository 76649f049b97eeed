-- Configuration the way Okta's SDKs read it: ~/.okta/okta.yaml, then
-- ./okta.yaml, then OKTA_CLIENT_* variables, then explicit options.
local env = require "env"
local q = env.q

describe("settings from okta.yaml and the environment", function()
  local home, cwd

  local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
  end

  -- Prints the org and the auth type a bare ssf.client() resolves, or the
  -- config failure.
  local PROBE = [[
    local ssf = require "ssf"
    local c, msg, info = ssf.client()
    if c then print("ok", c.org) else print(info.kind, msg) end
  ]]

  -- `env -i` with HOME, keeping the options a sanitizer build runs with
  -- (test.sh's ASAN_OPTIONS avoid a LeakSanitizer crash at exit).
  local function clean_env()
    local prefix = "env -i PATH=\"$PATH\" HOME=" .. q(home)
    for _, k in ipairs { "ASAN_OPTIONS", "UBSAN_OPTIONS" } do
      if os.getenv(k) then prefix = prefix .. " " .. k .. "=" .. q(os.getenv(k)) end
    end
    return prefix
  end

  local function probe(vars)
    local prefix = clean_env()
    for k, v in pairs(vars or {}) do prefix = prefix .. " " .. k .. "=" .. q(v) end
    local code, out, err = env.run(("cd %s && %s %s -e %s"):format(q(cwd), prefix, q(env.ssflua_bin), q(PROBE)))
    assert.are.equal(0, code, err)
    return out
  end

  before_each(function()
    home = env.tmpdir()
    cwd = home .. "/work"
    assert(os.execute("mkdir " .. q(home .. "/.okta") .. " " .. q(cwd)))
  end)
  after_each(function() env.rmdir(home) end)

  it("reads orgUrl and token from ~/.okta/okta.yaml", function()
    write(home .. "/.okta/okta.yaml", "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: tok-home\n")
    assert.are.equal("ok\thttps://home.okta.com\n", probe())
  end)

  it("lets ./okta.yaml override the home file, and the environment override both", function()
    write(home .. "/.okta/okta.yaml", "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: tok-home\n")
    write(cwd .. "/okta.yaml", "okta:\n  client:\n    orgUrl: https://cwd.okta.com\n")
    assert.are.equal("ok\thttps://cwd.okta.com\n", probe())
    assert.are.equal("ok\thttps://env.okta.com\n", probe { OKTA_CLIENT_ORGURL = "https://env.okta.com" })
  end)

  it("names an unknown setting and the file it is in", function()
    write(cwd .. "/okta.yaml", "okta:\n  client:\n    orgUrl: https://a.okta.com\n    tokn: x\n")
    assert.matches("^config\tunknown setting okta%.yaml: okta%.client%.tokn\n", probe())
  end)

  it("reports YAML that does not parse", function()
    write(cwd .. "/okta.yaml", "okta:\n  client: [unclosed\n")
    assert.matches("^config\tokta%.yaml is not valid YAML", probe())
  end)

  it("refuses contradictory or incomplete settings, naming them", function()
    assert.matches("^config\tboth OKTA_CLIENT_TOKEN and OKTA_CLIENT_PRIVATEKEY are set",
      probe { OKTA_CLIENT_ORGURL = "https://a.okta.com", OKTA_CLIENT_TOKEN = "t1",
              OKTA_CLIENT_PRIVATEKEY = "/nonexistent.pem" })
    assert.matches("^config\tPrivateKey mode needs a client id",
      probe { OKTA_CLIENT_ORGURL = "https://a.okta.com", OKTA_CLIENT_AUTHORIZATIONMODE = "PrivateKey",
              OKTA_CLIENT_PRIVATEKEY = "/nonexistent.pem" })
    assert.matches("^config\tOKTA_CLIENT_AUTHORIZATIONMODE: authorization mode 'SSWS' is not supported",
      probe { OKTA_CLIENT_ORGURL = "https://a.okta.com", OKTA_CLIENT_AUTHORIZATIONMODE = "SSWS" })
    assert.matches("^config\tOKTA_CLIENT_ORGURL: org must use https",
      probe { OKTA_CLIENT_ORGURL = "http://a.okta.com", OKTA_CLIENT_TOKEN = "t" })
    assert.matches("^config\tno Okta org configured", probe())
    assert.matches("^config\tno credentials", probe { OKTA_CLIENT_ORGURL = "https://a.okta.com" })
  end)

  it("reports an unreadable key file as an auth failure", function()
    assert.matches("^auth\tcannot read key_file: /nonexistent%.pem",
      probe { OKTA_CLIENT_ORGURL = "https://a.okta.com", OKTA_CLIENT_CLIENTID = "0oa1",
              OKTA_CLIENT_PRIVATEKEY = "/nonexistent.pem" })
  end)
  -- As Okta's SDKs document their okta.yaml (Java, Python, Go): unset
  -- values written as null, and settings for caching and retries.
  local SDK_YAML = [[
okta:
  client:
    connectionTimeout: 7 # seconds
    orgUrl: "https://home.okta.com"
    proxy:
      port: 3128
      host: "127.0.0.1"
      username: null
      password: null
    token: null
    requestTimeout: 45 # seconds
    rateLimit:
      maxRetries: 4
    cache:
      enabled: true
      defaultTtl: 300
      defaultTti: 300
    userAgent: "my-tool/1.0"
  testing:
    disableHttpsCheck: false
]]

  it("runs with a shared okta.yaml of Okta SDK settings, using those that map", function()
    write(home .. "/.okta/okta.yaml", SDK_YAML)
    local SHOW = [[
      local c, msg = require("ssf").client()
      if not c then print("failed", msg) return end
      print(c.org, c.timeout, c.connect_timeout, c.retries, c.proxy)
    ]]
    local function show(vars)
      local prefix = clean_env()
      for k, v in pairs(vars or {}) do prefix = prefix .. " " .. k .. "=" .. q(v) end
      local code, out, err = env.run(("cd %s && %s %s -e %s"):format(q(cwd), prefix, q(env.ssflua_bin), q(SHOW)))
      assert.are.equal(0, code, err)
      return out
    end
    -- The OKTA_CLIENT_* variables supply the credentials; the file the rest.
    assert.are.equal("https://env.okta.com\t45\t7\t4\thttp://127.0.0.1:3128\n",
      show { OKTA_CLIENT_ORGURL = "https://env.okta.com", OKTA_CLIENT_TOKEN = "tok-env" })
    -- The environment spells them as Okta's SDKs do, and wins.
    assert.are.equal("https://env.okta.com\t20\t7\t1\thttp://user:p%40ss@proxy.example:8080\n",
      show { OKTA_CLIENT_ORGURL = "https://env.okta.com", OKTA_CLIENT_TOKEN = "tok-env",
             OKTA_CLIENT_REQUESTTIMEOUT = "20", OKTA_CLIENT_RATELIMIT_MAXRETRIES = "1",
             OKTA_CLIENT_PROXY_HOST = "proxy.example", OKTA_CLIENT_PROXY_PORT = "8080",
             OKTA_CLIENT_PROXY_USERNAME = "user", OKTA_CLIENT_PROXY_PASSWORD = "p@ss" })
    -- requestTimeout: 0 is the SDKs' "no limit": ssflua keeps its own.
    write(home .. "/.okta/okta.yaml", (SDK_YAML:gsub("requestTimeout: 45", "requestTimeout: 0")))
    assert.matches("^https://env%.okta%.com\t30\t", show { OKTA_CLIENT_ORGURL = "https://env.okta.com",
                                                          OKTA_CLIENT_TOKEN = "tok-env" })
  end)

  it("still names a misspelt setting inside a mapped section", function()
    write(cwd .. "/okta.yaml", "okta:\n  client:\n    orgUrl: https://a.okta.com\n    token: t\n    proxy:\n      hots: x\n")
    assert.matches("^config\tunknown setting okta%.yaml: okta%.client%.proxy%.hots\n", probe())
  end)

  it("resolves the RefreshToken mode from the environment", function()
    assert.matches("^ok\thttps://a%.okta%.com\n", probe { OKTA_CLIENT_ORGURL = "https://a.okta.com",
      OKTA_CLIENT_CLIENTID = "0oaweb", OKTA_CLIENT_CLIENTSECRET = "s", OKTA_CLIENT_REFRESHTOKEN = "rt" })
    assert.matches("^auth\tcannot read refresh_token_file: /nonexistent/rt",
      probe { OKTA_CLIENT_ORGURL = "https://a.okta.com", OKTA_CLIENT_AUTHORIZATIONMODE = "RefreshToken",
              OKTA_CLIENT_CLIENTID = "0oaweb", OKTA_CLIENT_CLIENTSECRET = "s",
              OKTA_CLIENT_REFRESHTOKENFILE = "/nonexistent/rt" })
    write(home .. "/.okta/okta.yaml", "okta:\n  client:\n    orgUrl: https://a.okta.com\n    clientId: 0oaweb\n" ..
      "    clientSecret: s\n    refreshTokenFile: /nonexistent/rt-yaml\n")
    assert.matches("^auth\tcannot read refresh_token_file: /nonexistent/rt%-yaml", probe())
  end)
end)

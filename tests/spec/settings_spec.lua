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

  local function probe(vars)
    local prefix = "env -i PATH=\"$PATH\" HOME=" .. q(home)
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
end)

-- The installed tree: ssflua finds ssf with no environment, and stock
-- lua5.4 loads the same module (with Debian's cjson) and makes requests.
local env = require "env"
local fake = require "fake"
local q = env.q

describe("installed ssf", function()
  local prefix, f

  setup(function()
    prefix = os.tmpname()
    os.remove(prefix)
    local code, out, err = env.run(("cmake --install %s --prefix %s"):format(q(env.build), q(prefix)))
    assert(code == 0, out .. err)
    f = fake.start()
  end)
  teardown(function()
    f:stop()
    os.execute("rm -rf " .. q(prefix))
  end)

  it("ssflua from the prefix finds its own module with no LUA_PATH", function()
    local code, out = env.run(("cd / && env -u LUA_PATH -u LUA_CPATH %s/bin/ssflua -e %s")
      :format(q(prefix), q("print(require('ssf')._VERSION, package.searchpath('ssf', package.path))")))
    assert.are.equal(0, code)
    assert.matches("^ssf %S+\t" .. prefix:gsub("%p", "%%%0") .. "/share/lua/5%.4/ssf/init%.lua\n$", out)
  end)

  it("loads in stock lua5.4 and talks to a transmitter", function()
    local script = ([[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %q, auth = { type = "bearer", token = "tok-rw" } })
      local list = assert(c:streams())
      print(ssf._VERSION, #list, ssf.json.encode(list))
      c:close()
    ]]):format(f.url)
    local preload = env.ld_preload and ("LD_PRELOAD=" .. q(env.ld_preload) .. " ") or ""
    local code, out, err = env.run((preload .. "LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      q(prefix .. "/share/lua/5.4/?.lua;" .. prefix .. "/share/lua/5.4/?/init.lua;;"),
      q(prefix .. "/lib/lua/5.4/?.so;;"), q(script)))
    assert.are.equal(0, code, err)
    assert.matches("^ssf %S+\t0\t%[%]\n$", out)
  end)
end)

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

  it("ssflua from the prefix finds its own module with no environment at all", function()
    local preload = env.ld_preload and ("LD_PRELOAD=" .. q(env.ld_preload) .. " ") or ""
    local code, out, err = env.run(("cd / && env -i %s%s/bin/ssflua -e %s"):format(preload, q(prefix),
      q("print(require('ssf')._VERSION, package.searchpath('ssf', package.path), #require('ssf.jose').random(8))")))
    assert.are.equal(0, code, err)
    assert.matches("^ssf %S+\t" .. prefix:gsub("%p", "%%%0") .. "/share/lua/5%.4/ssf/init%.lua\t8\n$", out)
  end)

  it("installs the modules for both engines, the nginx snippet and the man page", function()
    for _, ver in ipairs { "5.4", "5.1" } do
      for _, m in ipairs { "http", "jose", "httpd" } do
        assert.is_truthy(env.read(("%s/lib/lua/%s/ssf/%s.so"):format(prefix, ver, m)), ver .. " " .. m)
      end
      assert.is_truthy(env.read(("%s/share/lua/%s/ssf/transport/nginx.lua"):format(prefix, ver)))
    end
    assert.matches("location ~ %^/_ssf/proxy/", env.read(prefix .. "/share/ssflua/nginx/ssf-locations.conf"))
    -- Rendered by groff with warnings on: a malformed page fails.
    local code, out, err = env.run(("groff -man -Tutf8 -ww -z %s && groff -man -Tascii %s")
      :format(q(prefix .. "/share/man/man1/ssflua.1"), q(prefix .. "/share/man/man1/ssflua.1")))
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    assert.matches("ssflua%s+%-%s+run%s+Lua%s+5%.4%s+scripts", out)
  end)

  it("the rockspec lists every Lua file of the module", function()
    local rockspec = assert(env.read(env.root .. "/scripts/ssflua-dev-1.rockspec"))
    local listed, files = {}, {}
    for path in rockspec:gmatch('"(lua/ssf/[^"]+%.lua)"') do listed[#listed + 1] = path end
    local _, out = env.run("cd " .. q(env.root) .. " && find lua/ssf -name '*.lua'")
    for path in out:gmatch("[^\n]+") do files[#files + 1] = path end
    table.sort(listed)
    table.sort(files)
    assert.are.same(files, listed)
  end)

  it("the rockspec builds the module with luarocks, for lua5.4 and for LuaJIT", function()
    -- luarocks builds in the source directory: a copy of it.
    local dir = env.tmpdir()
    local code, out, err = env.run(("cd %s && cp -r src lua doc scripts %s/"):format(q(env.root), q(dir)))
    assert.are.equal(0, code, err)
    local runs = {
      { ver = "5.4", interp = "lua5.4", extra = "" },
      { ver = "5.1", interp = "luajit", extra = " LUA_INCDIR=/usr/include/luajit-2.1" },
    }
    for _, r in ipairs(runs) do
      local tree = dir .. "/tree" .. r.ver
      code, out, err = env.run(("cd %s && luarocks --lua-version %s make --deps-mode=none --tree %s "
        .. "scripts/ssflua-dev-1.rockspec%s"):format(q(dir), r.ver, q(tree), r.extra))
      assert.are.equal(0, code, out .. err)
      local preload = env.ld_preload and ("LD_PRELOAD=" .. q(env.ld_preload) .. " ") or ""
      code, out, err = env.run((preload .. "LUA_PATH=%s LUA_CPATH=%s %s -e %s"):format(
        q(tree .. "/share/lua/" .. r.ver .. "/?.lua;" .. tree .. "/share/lua/" .. r.ver .. "/?/init.lua;;"),
        q(tree .. "/lib/lua/" .. r.ver .. "/?.so;;"), r.interp,
        q("local ssf = require 'ssf'; print(ssf._VERSION, #require('ssf.jose').random(8), "
          .. "package.searchpath('ssf.http', package.cpath))")))
      assert.are.equal(0, code, err)
      assert.matches("^ssf %S+\t8\t" .. tree:gsub("%p", "%%%0") .. "/lib/lua/", out)
    end
    env.rmdir(dir)
  end)

  it("the README's nginx.conf passes nginx -t against the installed tree", function()
    local readme = assert(env.read(env.root .. "/README.md"))
    local conf = assert(readme:match("\n```nginx\n(.-)\n```\n"), "no nginx block in README.md")
    conf = conf:gsub("/usr/local/", prefix .. "/")
    local dir = env.tmpdir()
    assert(os.execute("mkdir -p " .. q(dir .. "/logs")))
    local file = assert(io.open(dir .. "/nginx.conf", "w"))
    file:write(conf)
    file:close()
    local code, out, err = env.run(("nginx -t -p %s/ -c %s/nginx.conf -e %s/logs/error.log -g %s")
      :format(q(dir), q(dir), q(dir), q("pid " .. dir .. "/nginx.pid;")))
    env.rmdir(dir)
    assert.are.equal(0, code, out .. err)
    assert.matches("test is successful", err)
  end)

  it("loads in luajit with only LUA_PATH and LUA_CPATH and talks to a transmitter", function()
    local script = ([[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %q, auth = { type = "bearer", token = "tok-rw" } })
      local list = assert(c:streams())
      print(ssf._VERSION, #list, ssf.json.encode(list), jit and jit.version)
      c:close()
    ]]):format(f.url)
    local preload = env.ld_preload and ("LD_PRELOAD=" .. q(env.ld_preload) .. " ") or ""
    local code, out, err = env.run((preload .. "LUA_PATH=%s LUA_CPATH=%s luajit -e %s"):format(
      q(prefix .. "/share/lua/5.1/?.lua;" .. prefix .. "/share/lua/5.1/?/init.lua;;"),
      q(prefix .. "/lib/lua/5.1/?.so;;"), q(script)))
    assert.are.equal(0, code, err)
    assert.matches("^ssf %S+\t0\t%[%]\tLuaJIT 2%.1", out)
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

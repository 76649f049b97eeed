-- What differs between Lua 5.4 and LuaJIT and must not show: run under
-- ssflua, stock lua5.4 and luajit (tests/CMakeLists.txt), so each engine
-- checks itself. The random seed is checked across two fresh luajit
-- processes, since it is about how a process starts.
local ssf = require "ssf"
local compat = require "ssf.compat"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http"
local jose = require "ssf.jose"

local q = env.q

describe("one module on Lua 5.4 and LuaJIT", function()
  it("refuses a fractional count where an integer is due (LuaJIT's luaL_checkinteger truncates)", function()
    local ok, err = pcall(jose.random, 1.5)
    assert.is_false(ok)
    assert.matches("bad argument #1 to '.-' %(number has no integer representation%)", err)
    assert.are.equal(16, #jose.random(16))
    assert.are.equal(16, #jose.random(16.0))
  end)

  it("says the limit in the max_body message (LuaJIT's lua_pushfstring has no %I)", function()
    local f = fake.start()
    local s = http.session()
    local status, kind, msg = s:perform { url = f.url .. "/.well-known/ssf-configuration", max_body = 10 }
    s:close()
    f:stop()
    assert.is_nil(status)
    assert.are.equal("decode", kind)
    assert.are.equal("response body exceeds max_body (10 bytes)", msg)
  end)

  it("checks UTF-8 as 5.4's utf8.len does", function()
    local cases = {
      { "plain ascii", true }, { "caf\195\169", true }, { "\240\159\152\128", true },
      { "\237\160\128", false },        -- a surrogate (U+D800)
      { "\192\175", false },            -- overlong '/'
      { "\224\128\175", false },        -- overlong, three bytes
      { "\244\144\128\128", false },    -- past U+10FFFF
      { "ok\255", false }, { "\195", false }, { "\195(", false },
    }
    for _, c in ipairs(cases) do
      local ok, at = compat.utf8_valid(c[1])
      assert.are.equal(c[2], ok == true, ("%q"):format(c[1]))
      if not c[2] then assert.is_number(at) end
    end
    assert.is_nil(ssf.json.decode('"caf\192\175"'))
  end)

  it("tells integers from other numbers", function()
    assert.is_true(compat.is_integer(42))
    assert.is_true(compat.is_integer(-9007199254740992))
    assert.is_false(compat.is_integer(1.5))
    assert.is_false(compat.is_integer(0 / 0))
    assert.is_false(compat.is_integer(math.huge))
    assert.is_false(compat.is_integer("42"))
    assert.are.same({ 1, 2, 3 }, compat.move({ 1, 2, 3 }, 1, 3, 1, {}))
  end)

  it("reads and writes 64-bit integers whole, from and to their decimal text", function()
    for _, t in ipairs { "0", "-1", "9007199254740993", "-9007199254740993", "9223372036854775807",
                         "-9223372036854775808", "1234567890123456789" } do
      assert.are.equal(t, compat.integer_text(compat.integer_from_text(t)), t)
    end
    assert.is_nil(compat.integer_from_text("9223372036854775808"))
    assert.is_nil(compat.integer_from_text("-9223372036854775809"))
    assert.is_nil(compat.integer_text(1.5))
    assert.is_nil(compat.integer_text("42"))
  end)

  it("gives os.execute's results as 5.4 does (LuaJIT returns the raw wait status)", function()
    assert.are.same({ true, "exit", 0 }, { compat.execute("exit 0") })
    assert.are.same({ nil, "exit", 3 }, { compat.execute("exit 3") })
    assert.are.same({ nil, "signal", 15 }, { compat.execute("kill -TERM $$") })
  end)

  it("starts LuaJIT's math.random from a different seed in every process", function()
    local code = "local ssf = require 'ssf'; print(math.random(1, 2 ^ 30), ssf.json.encode(ssf.array()))"
    local path = env.build .. "/share/lua/5.1/?.lua;" .. env.build .. "/share/lua/5.1/?/init.lua;;"
    local cpath = env.build .. "/lib/lua/5.1/?.so;;"
    local seen = {}
    for i = 1, 3 do
      local preload = env.ld_preload and ("LD_PRELOAD=" .. q(env.ld_preload) .. " ") or ""
      local rc, out, err = env.run((preload .. "LUA_PATH=%s LUA_CPATH=%s luajit -e %s")
        :format(q(path), q(cpath), q(code)))
      assert.are.equal(0, rc, err)
      local n, arr = out:match("^(%d+)\t(.-)\n$")
      assert.are.equal("[]", arr)
      seen[i] = n
    end
    assert.is_false(seen[1] == seen[2] and seen[2] == seen[3], "the same first draw three times: " .. seen[1])
  end)
end)

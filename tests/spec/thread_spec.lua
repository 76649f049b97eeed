-- ssf.thread: Lua states on threads of their own, string channels between
-- them, and the stop rule (joining closes the thread's channels).
local env = require "env"
local emu = require "emu"
local thread = require "ssf.thread"

describe("ssf.thread", function()
  local dir, saved_path

  -- A module the threads run, written where package.path finds it: a
  -- started thread inherits the path.
  local function module(name, source)
    local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
    f:write(source)
    f:close()
    return name
  end

  setup(function()
    dir = env.tmpdir()
    saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    module("thread_echo", [[
      return function(inbox, outbox, greeting)
        outbox:push(greeting)
        while true do
          local m = inbox:pop()
          if not m then return end
          outbox:push(m)
        end
      end]])
  end)
  teardown(function()
    package.path = saved_path
    env.rmdir(dir)
  end)

  it("carries any bytes between states, in order, and drains before saying closed", function()
    local ch = thread.channel()
    local blob = "a\0b\255" .. ("x"):rep(100000)
    assert.is_true(ch:push("one"))
    assert.is_true(ch:push(blob))
    assert.is_true(ch:push(""))
    ch:close()
    assert.is_false(ch:push("late"))
    assert.are.equal("one", ch:pop())
    assert.are.equal(blob, ch:pop(0))
    assert.are.equal("", ch:pop(1))
    assert.are.same({ nil, "closed" }, { ch:pop(1) })
    assert.are.same({ nil, "timeout" }, { thread.channel():pop(0.05) })
  end)

  it("runs a module's function on a thread, with strings and channels as arguments", function()
    local inbox, outbox = thread.channel(), thread.channel()
    local t = assert(thread.start("thread_echo", inbox, outbox, "hello\0there"))
    finally(function() t:close() end)
    assert.are.equal("hello\0there", outbox:pop(60))
    for i = 1, 100 do inbox:push(tostring(i)) end
    for i = 1, 100 do assert.are.equal(tostring(i), outbox:pop(60)) end
    assert.is_true(t:join())
    assert.is_true(t:close()) -- idempotent
    -- the function returned, so its channels are closed for everyone
    assert.are.same({ nil, "closed" }, { outbox:pop(1) })
  end)

  it("gives the thread the parent's paths, cjson, and every signal blocked", function()
    module("thread_probe", [[
      return function(out)
        local status = io.open("/proc/thread-self/status"):read("a")
        out:push(require("cjson").encode { blocked = status:match("\nSigBlk:%s*(%x+)") })
      end]])
    local out = thread.channel()
    local t = assert(thread.start("thread_probe", out))
    local report = assert(out:pop(60))
    assert.is_true(t:join())
    local mask = require("ssf.json").decode(report).blocked
    -- SIGINT (2) and SIGTERM (15) among them: the script's thread gets them.
    -- Bit n - 1 of the mask is signal n.
    local bits = tonumber(mask:sub(-4), 16)
    local function blocked(signo) return math.floor(bits / 2 ^ (signo - 1)) % 2 == 1 end
    assert.is_true(blocked(2), "SigBlk " .. mask)
    assert.is_true(blocked(15), "SigBlk " .. mask)
  end)

  it("starts every state's math.random from a seed of its own", function()
    -- LuaJIT starts each new state from one fixed seed, Lua 5.4 from the
    -- time and the state's address, which the next thread's state often
    -- reuses. The emulator's states draw ssf.json's placeholder nonce.
    module("thread_draw", [[
      return function(out)
        local draws = {}
        for i = 1, 4 do draws[i] = math.random(0, 0x7fffffff) end
        out:push(table.concat(draws, " "))
      end]])
    -- One after another, so that each state can land where the last was.
    local seen, repeats = {}, 0
    for _ = 1, 10 do
      local out = thread.channel()
      local t = assert(thread.start("thread_draw", out))
      local draws = assert(out:pop(60))
      assert.is_true(t:join())
      if seen[draws] then repeats = repeats + 1 end
      seen[draws] = true
    end
    assert.are.equal(0, repeats)
  end)

  it("reports what the thread raised, or that its module is missing", function()
    module("thread_raise", [[return function() error("boom in the thread") end]])
    local ok, msg = thread.start("thread_raise"):join()
    assert.is_nil(ok)
    assert.matches("boom in the thread", msg)
    ok, msg = thread.start("no_such_module_here"):join()
    assert.is_nil(ok)
    assert.matches("module 'no_such_module_here' not found", msg)
    module("thread_not_function", [[return 42]])
    ok, msg = thread.start("thread_not_function"):join()
    assert.is_nil(ok)
    assert.matches("did not return a function", msg)
  end)

  it("stops a thread waiting on its channels when joined, collected or at exit", function()
    collectgarbage()
    local threads = emu.threads()
    local inbox, outbox = thread.channel(), thread.channel()
    local t = assert(thread.start("thread_echo", inbox, outbox, "up"))
    assert.are.equal("up", outbox:pop(60))
    assert.is_true(emu.threads() > threads)
    assert.is_true(t:close()) -- the thread was blocked in inbox:pop() with no timeout
    assert.are.equal(threads, emu.threads())
    for _ = 1, 3 do
      local a, b = thread.channel(), thread.channel()
      thread.start("thread_echo", a, b, "x")
      assert.are.equal("x", b:pop(60))
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(threads, emu.threads())
    -- os.exit skips the finalizers: the atexit handler stops the thread.
    local code, out, err = env.lua("-e " .. env.q(([[
      package.path = %q .. "/?.lua;" .. package.path
      local thread = require "ssf.thread"
      local a, b = thread.channel(), thread.channel()
      local t = thread.start("thread_echo", a, b, "running")
      print(b:pop(60))
      os.exit(5)]]):format(dir)))
    assert.are.equal(5, code, err)
    assert.are.equal("running\n", out)
  end)

  it("waits for a file descriptor to be readable, or until the timeout", function()
    local code, out, err = env.lua("-e " .. env.q("print(require('ssf.thread').readable(0, 30))"), nil, "a line\n")
    assert.are.equal(0, code, err)
    assert.are.equal("true\n", out)
    code, out, err = env.run(("(sleep 3 | %s -e %s)"):format(env.q(env.interpreter),
      env.q("print(require('ssf.thread').readable(0, 0.2))")))
    assert.are.equal(0, code, err)
    assert.are.equal("false\n", out)
  end)

  it("raises on misuse", function()
    assert.has_error(function() thread.start() end)
    assert.has_error(function() thread.start("thread_echo", {}) end)
    assert.has_error(function() thread.channel():pop(-1e12) end)
    assert.has_error(function() thread.channel():pop(2e9) end)
    assert.has_error(function() thread.channel():push({}) end)
    assert.has_error(function() thread.readable(-1, 1) end)
    assert.has_error(function() thread.readable(0, -1) end)
  end)
end)

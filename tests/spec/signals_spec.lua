-- SIGTERM and SIGINT in ssflua: an error a script can catch to clean up
-- (also when the signal comes during a wait in C), and, uncaught, death by
-- that signal, as timeout(1), systemd and shells expect.
local env = require "env"
local sleep = require("ssf.http").sleep

describe("signals", function()
  local dir
  before_each(function() dir = env.tmpdir() end)
  after_each(function() env.rmdir(dir) end)

  -- Runs source in ssflua in the background; returns pid and a function
  -- that waits (bounded) for the exit status and the output.
  local function start(source)
    local script = dir .. "/s.lua"
    local f = assert(io.open(script, "w"))
    f:write(source)
    f:close()
    local inner = ("%s %s & echo $! >%s/pid; wait $!; echo $? >%s/code"):format(
      env.q(env.ssflua_bin), env.q(script), env.q(dir), env.q(dir))
    assert(os.execute(("sh -c %s >%s/out 2>&1 </dev/null &"):format(env.q(inner), env.q(dir))))
    local pid
    for _ = 1, 200 do
      pid = (env.read(dir .. "/pid") or ""):match("%d+")
      if pid and (env.read(dir .. "/out") or ""):find("ready") then break end
      sleep(0.05)
    end
    assert(pid, "did not start")
    return pid, function()
      for _ = 1, 600 do
        local c = tonumber((env.read(dir .. "/code") or ""):match("%d+"))
        if c then return c, env.read(dir .. "/out") end
        sleep(0.05)
      end
      os.execute("kill -9 " .. pid)
      error("did not exit: " .. tostring(env.read(dir .. "/out")))
    end
  end

  for _, case in ipairs { { "TERM", "terminated!", 143 }, { "INT", "interrupted!", 130 } } do
    local sig, msg, status = case[1], case[2], case[3]

    it("SIG" .. sig .. " during rx:next is an error the script catches", function()
      local pid, wait = start([[
        local ssf = require "ssf"
        local rx = assert(ssf.receiver { listen = "127.0.0.1:0", verifier = function() return nil, "unused" end })
        print("ready") io.stdout:flush()
        local ok, err = pcall(function() return rx:next(120) end)
        rx:close()
        print("caught", ok, err)
        os.exit(7)
      ]])
      os.execute("kill -" .. sig .. " " .. pid)
      local code, out = wait()
      assert.are.equal(7, code, out)
      assert.matches("caught\tfalse\t.-" .. msg, out)
    end)

    it("SIG" .. sig .. " uncaught: the message, then death by the signal (" .. status .. ")", function()
      local pid, wait = start([[print("ready") io.stdout:flush() while true do end]])
      os.execute("kill -" .. sig .. " " .. pid)
      local code, out = wait()
      assert.are.equal(status, code, out)
      assert.matches("ssflua: .-" .. msg, out)
    end)
  end
end)

-- Where the tests find things: the source tree (busted runs from it) and the
-- build tree (SSF_BUILD_DIR, set by ctest; default ./build).
local compat = require "ssf.compat"

local env = {}

local function cwd()
  local p = assert(io.popen("pwd"))
  local dir = p:read("l")
  p:close()
  return dir
end

env.root = os.getenv("SSF_SOURCE_DIR") or cwd()
env.build = os.getenv("SSF_BUILD_DIR") or (env.root .. "/build")
env.ssflua_bin = env.build .. "/bin/ssflua"
-- The interpreter running the specs (busted's arg[-1]: ssflua, lua5.4 or
-- luajit), for scripts that must run on the same engine; stock
-- interpreters find ssf through LUA_PATH and LUA_CPATH, which children
-- inherit.
env.interpreter = arg and arg[-1] or env.ssflua_bin
-- Set for sanitizer builds: what uninstrumented programs (stock lua5.4)
-- must preload to load the instrumented ssf.http.
env.ld_preload = os.getenv("SSF_LD_PRELOAD")

--- Quotes s for /bin/sh.
function env.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A new private directory (mode 700); remove it with env.rmdir.
function env.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(compat.execute("mkdir -m 700 " .. env.q(dir)))
  return dir
end

function env.rmdir(dir)
  os.execute("rm -rf " .. env.q(dir))
end

--- The contents of a file, or nil when it cannot be opened.
function env.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes text to path (replacing it).
function env.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- Polls cond every 20 ms for up to `seconds` (default 10); returns
--- whether it held.
function env.eventually(cond, seconds)
  local sleep = require("ssf.http").sleep
  for _ = 1, (seconds or 10) * 50 do
    if cond() then return true end
    sleep(0.02)
  end
  return cond()
end

-- A copy of the options table base with option k set to v: for checks
-- that change one option at a time.
function env.with(base, k, v)
  local o = {}
  for key, val in pairs(base) do o[key] = val end
  o[k] = v
  return o
end

-- Lua 5.4's real to-be-closed variable; nil under LuaJIT, whose parser has
-- no `<close>`.
local close_scope = load([[
  local value, fn = ...
  local scoped <close> = value
  return fn(scoped)
]])

--- Runs fn(value) as the body of a scope holding value in a `<close>`
--- variable, and returns fn's first result: value's __close runs when fn
--- returns or raises (the error goes on). Lua 5.4 runs the real `<close>`;
--- under LuaJIT the same metamethod is called as 5.4 would call it.
function env.scoped(value, fn)
  if close_scope then return (close_scope(value, fn)) end
  local mt = value ~= nil and value ~= false and getmetatable(value)
  if mt ~= false and not (mt and mt.__close) then error("variable 'scoped' got a non-closable value", 2) end
  local ok, result = pcall(fn, value)
  if mt then mt.__close(value, not ok and result or nil) end
  if not ok then error(result, 0) end
  return result
end

--- Runs a shell command; returns its exit status, stdout and stderr.
function env.run(cmd, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local full = ("%s >%s 2>%s"):format(cmd, out, err)
  local inf
  if stdin then
    inf = os.tmpname()
    local f = assert(io.open(inf, "wb"))
    f:write(stdin)
    f:close()
    full = full .. " <" .. inf
  else
    full = full .. " </dev/null"
  end
  local _, _, code = compat.execute(full)
  local stdout, stderr = assert(env.read(out)), assert(env.read(err))
  os.remove(out)
  os.remove(err)
  if inf then os.remove(inf) end
  return code, stdout, stderr
end

local function run_lua(bin, args, vars, stdin)
  local prefix = ""
  for k, v in pairs(vars or {}) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
  return env.run(("env -u OKTA_CLIENT_ORGURL -u OKTA_CLIENT_TOKEN %s%s %s")
    :format(prefix, env.q(bin), args), stdin)
end

--- Runs ssflua with the given shell-quoted argument string.
function env.ssflua(args, vars, stdin)
  return run_lua(env.ssflua_bin, args, vars, stdin)
end

--- The same with env.interpreter, the engine running the specs.
function env.lua(args, vars, stdin)
  return run_lua(env.interpreter, args, vars, stdin)
end

--- Seconds since the epoch, with a fraction.
function env.clock()
  local p = assert(io.popen("date +%s.%N"))
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

--- Whether process pid is still running. One that has exited but not been
--- reaped yet counts as gone: spawned processes outlive the shell that
--- started them, and whoever inherits them may reap them late.
function env.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %(.*%) (%a)") ~= "Z"
end

local Process = {}
Process.__index = Process

--- Runs a Lua script (source text) in the background, in ssflua or the
--- given interpreter.
function env.spawn(source, interpreter)
  local script, out = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(source)
  f:close()
  local p = assert(io.popen(("exec %s %s >%s 2>&1 & echo $!")
    :format(env.q(interpreter or env.ssflua_bin), env.q(script), env.q(out))))
  local pid = p:read("l")
  p:close()
  return setmetatable({ pid = pid, script = script, out = out }, Process)
end

--- What the process has printed so far, stdout and stderr together.
function Process:output()
  local f = io.open(self.out, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

--- Sends Ctrl-C and waits up to `limit` seconds for the process to exit
--- (then kills it). Returns whether it exited by itself, how long that
--- took, and its output; removes its files.
function Process:interrupt(limit)
  local sleep = require("ssf.http").sleep
  local t0 = env.clock()
  os.execute("kill -INT " .. self.pid)
  local gone = false
  for _ = 1, limit * 20 do
    if not env.alive(self.pid) then
      gone = true
      break
    end
    sleep(0.05)
  end
  local elapsed = env.clock() - t0
  if not gone then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  local text = self:output()
  os.remove(self.out)
  os.remove(self.script)
  return gone, elapsed, text
end

return env

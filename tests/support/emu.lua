-- Helpers for the specs of the built-in emulator (ssf.emulator).
local env = require "env"
local http = require "ssf.http"

local emu = {}

--- How many threads this process has now (Linux: /proc/self/status).
function emu.threads()
  local status = assert(env.read("/proc/self/status"))
  return tonumber(status:match("\nThreads:%s+(%d+)"))
end

--- Waits (bounded: seconds, in 50 ms steps) until f() returns a true value,
--- and returns it; nil when it never did.
function emu.wait(seconds, f)
  for _ = 1, seconds * 20 do
    local v = f()
    if v then return v end
    http.sleep(0.05)
  end
  return nil
end

--- The delivery of jti in e:deliveries() once its receiver answered.
function emu.answered(e, jti, seconds)
  return emu.wait(seconds or 30, function()
    for _, d in ipairs(e:deliveries()) do
      if d.jti == jti and (d.status or d.err) then return d end
    end
  end)
end

--- Writes text to a new file of mode 0600 (os.tmpname uses mkstemp) and
--- returns its path.
function emu.secret_file(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

return emu

-- The ssflua side of tests/bench/receiver_vs_node.lua: an ssf.receiver that
-- takes SETs with rx:next until the file STOP exists, then prints how many
-- distinct SETs it returned, how many it returned twice, its peak RSS, and
-- the CPU seconds it spent after it started listening: its verification
-- threads' (named ssf-verify) and its other threads'.
--   ssflua tests/bench/receiver_serve.lua STOP verify JWKS_FILE ISS AUD
--   ssflua tests/bench/receiver_serve.lua STOP accept      (no checks: reads the jti)
-- The SETs' jtis are "bench-<n>", as receiver_vs_node.lua signs them.
local ssf = require "ssf"

local stop, mode, jwks_file, iss, aud = ...
local opts = { listen = "127.0.0.1:0", authorization = "Bearer bench", max_pending = 256 }
if mode == "verify" then
  local f = assert(io.open(jwks_file))
  opts.verify = { jwks = ssf.json.decode(f:read("a")), issuer = iss, audience = aud }
  f:close()
else
  -- Only the jti, which the receiver's repeat check and the counts below
  -- need, read without a JSON decode: Node's accept mode parses nothing,
  -- and this row measures the HTTP path and the hand-off to Lua.
  -- Plain finds, not patterns: a Lua pattern tries every position.
  local b64url_decode = require("ssf.jose").b64url_decode
  opts.verifier = function(jwt)
    local d1 = jwt:find(".", 1, true)
    local d2 = d1 and jwt:find(".", d1 + 1, true)
    local claims = d2 and b64url_decode(jwt:sub(d1 + 1, d2 - 1)) or ""
    local at = claims:find('"jti":"', 1, true)
    local to = at and claims:find('"', at + 7, true)
    return { claims = { jti = to and claims:sub(at + 7, to - 1) } }
  end
end
-- All of what a file or a command's output holds, closed after.
local function read_all(f)
  local text = f:read("a")
  f:close()
  return text
end
local function read_file(path) return read_all(assert(io.open(path))) end
local function read_command(cmd) return read_all(assert(io.popen(cmd))) end
local tick = tonumber(read_command("getconf CLK_TCK")) or 100
local pid = read_file("/proc/self/stat"):match("^%d+")
-- User and system CPU seconds in a /proc stat line (the fields after the
-- command name, which is in parentheses).
local function cpu_of(stat)
  local fields = {}
  for field in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
  return (tonumber(fields[12]) + tonumber(fields[13])) / tick
end

local rx <close> = assert(ssf.receiver(opts))
local cpu_at_start = cpu_of(read_file("/proc/self/stat"))
print("listening " .. rx.endpoint_url)
io.stdout:flush()

-- By the number in the jti, one bit each, so that the counts add next to
-- nothing to the peak RSS measured (a list of 200,000 booleans took 3 MiB).
local seen, returned, twice = {}, 0, 0
while true do
  local set = rx:next(0.2)
  if set then
    local n = tonumber(set.claims.jti:match("^bench%-(%d+)$"))
    local word, bit = n // 32, 1 << (n % 32)
    local w = seen[word] or 0
    if w & bit ~= 0 then twice = twice + 1 else seen[word], returned = w | bit, returned + 1 end
  elseif io.open(stop) then
    break
  end
end
local checks = 0
for stat in read_command("cat /proc/" .. pid .. "/task/*/stat"):gmatch("[^\n]+") do
  if stat:match("%((.*)%)") == "ssf-verify" then checks = checks + cpu_of(stat) end
end
local other = cpu_of(read_file("/proc/self/stat")) - cpu_at_start - checks
local hwm = read_file("/proc/self/status"):match("VmHWM:%s+(%d+)")
print(("returned %d twice %d maxrss %s cpu checks %.2f other %.2f"):format(returned, twice, hwm, checks, other))

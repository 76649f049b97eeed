-- Accepted pushes per second through ssf.receiver with a trivial verifier,
-- so what is measured is the HTTP path (libmicrohttpd, the queue, the hand
-- over to Lua and back), not signature checks. Not a test: it prints one
-- figure. curl plays the transmitter, posting over keep-alive connections
-- in parallel, all to loopback.
--
--   build/bin/ssflua tests/bench/receiver.lua [count [parallel]]
local ssf = require "ssf"
local clock = require("ssf.httpd").clock

local count = math.tointeger(tonumber(arg[1] or "")) or 5000
local parallel = math.tointeger(tonumber(arg[2] or "")) or 16
assert(count > 0 and count <= 100000, "count must be from 1 to 100000")
assert(parallel > 0 and parallel <= 64, "parallel must be from 1 to 64")

local rx <close> = assert(ssf.receiver {
  authorization = "Bearer bench",
  verifier = function(jwt) return { claims = { jti = jwt } } end,
  max_pending = 256,
})

-- One transfer per SET, each with its own jti so none is dropped as a repeat.
local config = os.tmpname()
local f = assert(io.open(config, "w"))
for i = 1, count do
  -- "next" starts the options of another transfer afresh.
  f:write(i > 1 and "next\n" or "", ('url = "%s"\n'):format(rx.endpoint_url),
          'header = "Authorization: Bearer bench"\nheader = "Content-Type: application/secevent+jwt"\n',
          ('data-binary = "bench-%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'):format(i))
end
f:close()
local statuses, done = os.tmpname(), os.tmpname()
os.remove(done)

-- The clock starts with curl, so its start-up counts against the figure.
local t0 = clock()
os.execute(("(curl --no-progress-meter --parallel --parallel-max %d -K %s > %s; touch %s) &")
  :format(parallel, config, statuses, done))
local accepted = 0
while accepted < count do
  local set, msg = rx:next(10)
  if not set then
    io.stderr:write("stopped waiting: ", msg, "\n")
    break
  end
  accepted = accepted + 1
end
local elapsed = clock() - t0

for _ = 1, 500 do -- curl has its last answers by now; bounded wait for it to exit
  local h = io.open(done)
  if h then
    h:close()
    break
  end
  require("ssf.http").sleep(0.02)
end
local answered = 0
local other = {}
for s in io.lines(statuses) do
  if s == "202" then answered = answered + 1 else other[s] = (other[s] or 0) + 1 end
end
for s, n in pairs(other) do io.stderr:write(n, " answered ", s, "\n") end
os.remove(config)
os.remove(statuses)
os.remove(done)

print(("%d SETs accepted (%d answered 202) in %.2f s: %.0f per second over %d connections")
  :format(accepted, answered, elapsed, accepted / elapsed, parallel))

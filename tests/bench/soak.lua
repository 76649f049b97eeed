-- Soak: N requests (default 100000) through one client against the fake
-- transmitter, printing the process's RSS at the start and the end, and
-- the rate. Not a test: run it with build/bin/ssflua tests/bench/soak.lua [N]
-- from the source tree (valgrind-friendly: N can be small).
package.path = "tests/support/?.lua;" .. package.path
local fake = require "fake"
local http = require "ssf.http"

local n = tonumber(... or "100000")

local function rss_kib()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+) kB")
    if v then return tonumber(v) end
  end
end

local f = fake.start()
f:config { rate_limit = 1000000000 }
local okta <close> = f:client()
assert(okta:create_stream {
  delivery = { method = "urn:ietf:rfc:8935", endpoint_url = "https://receiver.example.com/ssf" },
  events_requested = { "https://schemas.openid.net/secevent/caep/event-type/session-revoked" },
})
-- Warm up so the start figure includes the loaded libraries and pools.
for _ = 1, 100 do assert(okta:streams()) end
collectgarbage()
local start_rss, t0 = rss_kib(), http.now()
print(("start: RSS %d KiB"):format(start_rss))
for i = 1, n do
  assert(okta:streams())
  if i % 20000 == 0 then
    io.stderr:write(("  %d requests, RSS %d KiB\n"):format(i, rss_kib()))
  end
end
local elapsed = http.now() - t0
collectgarbage()
local end_rss = rss_kib()
print(("end:   RSS %d KiB after %d requests (%+d KiB), %.0f requests/s"):format(
  end_rss, n, end_rss - start_rss, n / elapsed))
f:stop()

-- What the built-in emulator costs: starting and closing one, a request
-- through it, a command to its serving thread (deliveries()), and an
-- emitted SET's trip to a receiver in the same script. Prints figures,
-- asserts nothing. Run from the source tree:
--   build/bin/ssflua tests/bench/emulator.lua [N]
local ssf = require "ssf"
local now = require("ssf.http").now

-- Below the emulator's default 600 requests a minute per client.
local n = math.min(tonumber(... or "500"), 550)

local t0 = now()
local e = assert(ssf.emulator {})
local first = now() - t0
t0 = now()
local second = assert(ssf.emulator {})
local again = now() - t0
t0 = now()
second:close()
local closing = now() - t0
print(("start: first %.0f ms (makes the RSA keys), later %.0f ms; close %.1f ms"):format(
  first * 1000, again * 1000, closing * 1000))

local okta = assert(ssf.client { org = e.org, auth = { type = "bearer", token = e:credentials().token } })
assert(okta:streams())
t0 = now()
for _ = 1, n do assert(okta:streams()) end
print(("GET /api/v1/ssf/stream: %.3f ms per request (%d, one connection, bearer)"):format(
  (now() - t0) * 1000 / n, n))

t0 = now()
for _ = 1, 20 do e:deliveries() end
print(("deliveries(): %.1f ms per call (a command waits for the serving loop's next turn)"):format(
  (now() - t0) * 1000 / 20))

local rx = assert(ssf.receiver { listen = "127.0.0.1:0", verify = { jwks = okta, issuer = e.org } })
local s = assert(okta:create_stream { delivery = { method = ssf.PUSH, endpoint_url = rx.endpoint_url },
                                      events_requested = { ssf.events.SESSION_REVOKED } })
local m = 50
t0 = now()
for _ = 1, m do
  e:emit(ssf.events.SESSION_REVOKED, { format = "email", email = "bench@example.com" }, s.stream_id)
  assert(rx:next(30))
end
print(("emit -> verified SET at a receiver in this script: %.1f ms each (%d)"):format((now() - t0) * 1000 / m, m))
rx:close()
okta:close()
e:close()

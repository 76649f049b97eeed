-- Pushes per second through ssf.receiver: first with a trivial verifier, so
-- the HTTP path alone is measured (libmicrohttpd, the queue, the hand-over
-- to Lua and back), then verifying real SETs signed with RS256 and ES256
-- keys (ssf.set.verify, JWKS table). Not a test: it prints figures. curl
-- plays the transmitter, posting over keep-alive connections in parallel,
-- all to loopback.
--
--   build/bin/ssflua tests/bench/receiver.lua [count [parallel]]
local ssf = require "ssf"
local jose = require "ssf.jose"
local clock = require("ssf.httpd").clock

local count = math.tointeger(tonumber(arg[1] or "")) or 5000
local parallel = math.tointeger(tonumber(arg[2] or "")) or 16
assert(count > 0 and count <= 100000, "count must be from 1 to 100000")
assert(parallel > 0 and parallel <= 64, "parallel must be from 1 to 64")
local ISS, AUD = "https://bench.example.com", "https://receiver.example.com"

-- Pushes `bodies` to a receiver built from `opts`; prints the rate.
local function run(label, opts, bodies)
  opts.authorization, opts.max_pending = "Bearer bench", 256
  local rx <close> = assert(ssf.receiver(opts))
  local config = os.tmpname()
  local f = assert(io.open(config, "w"))
  for i, body in ipairs(bodies) do
    -- "next" starts the options of another transfer afresh.
    f:write(i > 1 and "next\n" or "", ('url = "%s"\n'):format(rx.endpoint_url),
            'header = "Authorization: Bearer bench"\nheader = "Content-Type: application/secevent+jwt"\n',
            ('data-binary = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'):format(body))
  end
  f:close()
  local statuses, done = os.tmpname(), os.tmpname()
  os.remove(done)

  -- The clock starts with curl, so its start-up counts against the figure.
  local t0 = clock()
  os.execute(("(curl --no-progress-meter --parallel --parallel-max %d -K %s > %s; touch %s) &")
    :format(parallel, config, statuses, done))
  local accepted = 0
  while accepted < #bodies do
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
  local answered, other = 0, {}
  for s in io.lines(statuses) do
    if s == "202" then answered = answered + 1 else other[s] = (other[s] or 0) + 1 end
  end
  for s, n in pairs(other) do io.stderr:write(n, " answered ", s, "\n") end
  os.remove(config)
  os.remove(statuses)
  os.remove(done)
  print(("%-26s %d SETs accepted (%d answered 202) in %.2f s: %6.0f per second")
    :format(label, accepted, answered, elapsed, accepted / elapsed))
end

print(("%d pushes per run over %d connections"):format(count, parallel))
local trivial = {}
for i = 1, count do trivial[i] = "bench-" .. i end
run("trivial verifier", { verifier = function(jwt) return { claims = { jti = jwt } } end }, trivial)

for _, alg in ipairs { "RS256", "ES256" } do
  local key <close> = jose.generate_key(alg)
  local jwk = key:public_jwk()
  jwk.kid = "bench-" .. alg
  local header = jose.b64url_encode(ssf.json.encode { alg = alg, kid = jwk.kid, typ = "secevent+jwt" })
  local bodies = {}
  for i = 1, count do -- signed up front: the transmitter's cost is not measured
    local input = header .. "." .. jose.b64url_encode(ssf.json.encode {
      iss = ISS, aud = AUD, iat = os.time(), jti = "bench-" .. i,
      sub_id = { format = "opaque", id = "esc-bench" },
      events = { [ssf.events.VERIFICATION] = { state = tostring(i) } } })
    bodies[i] = input .. "." .. jose.b64url_encode(key:sign(input))
  end
  run("ssf.set.verify, " .. alg, { verify = { jwks = { keys = { jwk } }, issuer = ISS, audience = AUD } }, bodies)
end

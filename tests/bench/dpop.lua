-- What DPoP costs per request: bearer next to private_key_jwt + DPoP, in
-- ssflua and in Okta's Node SDK, against the fake on loopback. Prints
-- figures, asserts nothing. Run from the source tree:
--   build/bin/ssflua tests/bench/dpop.lua [N]
package.path = "tests/support/?.lua;" .. package.path
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local keys = require "keys"
local http = require "ssf.http"

local n = tonumber(... or "2000")
local f = fake.start()
f:config { rate_limit = 1000000000 }
local dir = env.tmpdir()
local rsa, ec = keys.make(dir, "rsa", "rsa.pem"), keys.make(dir, "ec", "ec.pem")
for _, k in ipairs { { "0oaBenchRS", rsa }, { "0oaBenchES", ec } } do
  f:call("POST", "clients", { client_id = k[1], jwks = { keys = { keys.jwk(k[2], "k1") } },
                              scopes = { "ssf.read", "ssf.manage" }, dpop = "required" })
end

local function timed(label, c)
  assert(c:streams()) -- token, nonce and connection out of the way
  local t0 = http.now()
  for _ = 1, n do assert(c:streams()) end
  local per = (http.now() - t0) * 1000 / n
  -- The auth work alone: headers (and a DPoP proof) for one request.
  local headers, t1 = {}, http.now()
  for _ = 1, n do
    headers[1], headers[2] = nil, nil
    assert(c._auth:sign(headers, "GET", c.org .. "/api/v1/ssf/stream"))
  end
  local sign = (http.now() - t1) * 1000 / n
  print(("  %-46s %7.3f ms per request, of which auth headers %6.3f ms"):format(label, per, sign))
  c:close()
  return per
end

print(("%d GET /api/v1/ssf/stream per client, one connection:"):format(n))
local bearer = timed("ssflua, static bearer token", f:client())
local function pkj(id, key)
  return assert(ssf.client { org = f.url, auth = { type = "private_key_jwt", client_id = id,
                                                   key_file = key, key_id = "k1" } })
end
local es = timed("ssflua, private_key_jwt + DPoP (ES256 proof)", pkj("0oaBenchES", ec))
timed("ssflua, private_key_jwt (RS256 key) + DPoP", pkj("0oaBenchRS", rsa))
print(("  DPoP adds %.3f ms per request end to end; the client's part is the auth"):format(es - bearer))
print("  headers column, the rest is the fake verifying each proof with npm jose")

local peer = env.root .. "/tests/peer/bench.mjs"
if io.open(env.root .. "/tests/peer/node_modules/@okta/okta-sdk-nodejs/package.json") then
  local sdk_n = math.min(n, 500)
  local code, out, err = env.run(("node %s %s 0oaBenchRS %s k1 %d"):format(env.q(peer), env.q(f.url), env.q(rsa), sdk_n))
  local r = code == 0 and ssf.json.decode(out)
  if r then
    print(("  %-46s %7.3f ms per request (%d requests; first call %.0f ms)"):format(
      "Okta Node SDK 8.1.0, PrivateKey + DPoP", r.ms_per_request, sdk_n, r.first_call_ms))
  else
    print("  Okta Node SDK: failed: " .. err)
  end
else
  print("  (Okta Node SDK: npm ci --prefix tests/peer to include it)")
end
env.rmdir(dir)
f:stop()

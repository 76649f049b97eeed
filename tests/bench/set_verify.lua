-- How many SETs per second ssf.set.verify accepts, with RS256 and ES256
-- keys from a JWKS table (no network), next to the bare signature check
-- (jose.verify) to show what the JSON and claim checks cost. Not a test.
--
--   build/bin/ssflua tests/bench/set_verify.lua [seconds per figure, default 2]
local ssf = require "ssf"
local jose = require "ssf.jose"

local seconds = tonumber(arg and arg[1]) or 2
local ISS, AUD = "https://bench.example.com", "https://receiver.example.com"

-- A SET shaped like Okta's credential-change push, signed with key.
local function make_set(key, kid)
  local b64 = function(t) return jose.b64url_encode(ssf.json.encode(t)) end
  local input = b64 { alg = key:alg(), kid = kid, typ = "secevent+jwt" } .. "." .. b64 {
    iss = ISS, aud = AUD, iat = os.time(), jti = jose.b64url_encode(jose.random(16)),
    events = { [ssf.events.CREDENTIAL_CHANGE] = {
      subject = { format = "iss_sub", iss = ISS, sub = "00u1abcd" },
      change_type = "update", credential_type = "password", initiating_entity = "user",
      event_timestamp = os.time() * 1000 } },
  }
  return input .. "." .. jose.b64url_encode(key:sign(input)), input
end

-- Calls f repeatedly for about `seconds` of CPU time; returns calls per second.
local function rate(f)
  local n, batch, start = 0, 16, os.clock()
  repeat
    for _ = 1, batch do f() end
    n = n + batch
  until os.clock() - start >= seconds
  return n / (os.clock() - start)
end

print(("%s, %s; %g s per figure"):format(ssf._VERSION, jose.openssl_version(), seconds))
for _, alg in ipairs { "RS256", "ES256" } do
  local key <close> = jose.generate_key(alg)
  local jwk = key:public_jwk()
  jwk.kid, jwk.use, jwk.alg = "bench-" .. alg, "sig", alg
  local jwt, input = make_set(key, jwk.kid)
  local signature = jose.b64url_decode(jwt:match("[^.]*$"))
  local opts = { jwks = { keys = { jwk } }, issuer = ISS, audience = AUD }
  assert(ssf.set.verify(jwt, opts))
  local full = rate(function() assert(ssf.set.verify(jwt, opts)) end)
  local bare = rate(function() assert(jose.verify(jwk, alg, input, signature)) end)
  print(("%s  ssf.set.verify: %8.0f SETs/s   jose.verify alone: %8.0f/s"):format(alg, full, bare))
end

-- Signature checks per second on one core for the pre-signed SETs of
-- tests/bench/receiver_vs_node.lua, through ssf.jose.verify: libcrypto's
-- plain check (SHA-256 of the signing input and EVP_PKEY_verify, the key
-- imported once), the one Node's jose makes too. That bench runs one of
-- these per core at once; their sum bounds any receiver on these cores
-- that checks each SET that way. The receiver's verification threads
-- check RS256 that way, and ES256 with a table for the signer's key once
-- it has signed a SET (src/jose_p256.c), in about half the time. Not a
-- test.
--   ssflua tests/bench/check_rate.lua SETS_FILE JWKS_FILE ALG SECONDS
local ssf = require "ssf"
local jose = require "ssf.jose"
local clock = require("ssf.httpd").clock

local sets_file, jwks_file, alg, seconds = ...
seconds = assert(tonumber(seconds), "SECONDS must be a number")
local f = assert(io.open(jwks_file))
local jwk = ssf.json.decode(f:read("a")).keys[1]
f:close()

-- Split and decoded before the clock starts: the figure is the checks.
local inputs, signatures = {}, {}
for line in io.lines(sets_file) do
  local input, signature = line:match("^(.*)%.([^.]*)$")
  local i = #inputs + 1
  inputs[i], signatures[i] = input, jose.b64url_decode(signature)
  if i == 1000 then break end
end
assert(#inputs > 0, "no SETs in " .. sets_file)

-- The clock is read every 50 checks, and the SETs are taken in turn.
local n, start = 0, clock()
repeat
  for _ = 1, 50 do
    local i = n % #inputs + 1
    assert(jose.verify(jwk, alg, inputs[i], signatures[i]))
    n = n + 1
  end
until clock() - start >= seconds
print(("checks %d in %.3f s"):format(n, clock() - start))

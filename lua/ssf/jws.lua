-- Compact JWS signing for what the client itself issues: client assertions
-- (private_key_jwt) and DPoP proofs. The key never leaves C (ssf.jose).
local json = require "ssf.json"

local jws = {}

local jose
local function lib()
  if not jose then jose = require "ssf.jose" end
  return jose
end
jws.lib = lib

--- The base64url JSON of a protected header. Callers that sign often with
--- one header encode it once.
function jws.encode_part(t)
  return lib().b64url_encode(json.encode(t))
end

--- Signs claims under an already encoded header; returns the compact JWS.
function jws.sign_encoded(key, header_part, claims)
  local input = header_part .. "." .. jws.encode_part(claims)
  return input .. "." .. lib().b64url_encode(key:sign(input))
end

--- A fresh random identifier for jti claims: 128 bits, hex.
function jws.random_id()
  return (lib().random(16):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

return jws

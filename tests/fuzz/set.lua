-- ssf.set.decode and ssf.set.verify on hostile input: the input is split at
-- its first newline into a token and a JWKS document (both attacker
-- controlled, as a pushed SET and a fetched JWKS are). Neither function may
-- raise, and every rejection carries an RFC 8935 code.
local set = require "ssf.set"
local json = require "ssf.json"

local CODES = { invalid_key = true, invalid_request = true, invalid_issuer = true, invalid_audience = true }

return function(data)
  local token, doc = data:match("^([^\n]*)\n?(.*)$")
  local d, msg, info = set.decode(token)
  if not d then
    assert(info and info.kind == "set" and CODES[info.err], "decode failure without a code: " .. tostring(msg))
  end
  local jwks = json.decode(doc)
  if type(jwks) ~= "table" or type(jwks.keys) ~= "table" then jwks = { keys = {} } end
  local v, vmsg, vinfo = set.verify(token, { jwks = jwks, issuer = "https://issuer.example.com" })
  if not v then
    assert(type(vmsg) == "string" and vinfo.kind == "set" and CODES[vinfo.err], "rejection without a code")
  end
end

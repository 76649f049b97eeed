-- Random identifiers in the shapes Okta uses: stream ids (esc + 17),
-- error ids (oae + 19), request ids, and opaque access tokens.
local jose = require("ssf.jws").lib()

local ids = {}

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

--- n random characters from [A-Za-z0-9], without modulo bias: bytes from
--- 248 up (past the last whole multiple of 62) are drawn again.
function ids.alnum(n)
  local out = {}
  while #out < n do
    local bytes = jose.random(n)
    for i = 1, n do
      local b = bytes:byte(i) % 256
      if b < 248 and #out < n then
        local j = b % 62 + 1
        out[#out + 1] = ALNUM:sub(j, j)
      end
    end
  end
  return table.concat(out)
end

--- 256 random bits, base64url: an access token.
function ids.token()
  return jose.b64url_encode(jose.random(32))
end

return ids

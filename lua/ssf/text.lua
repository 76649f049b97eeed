-- Small string helpers shared by the client, the auth providers and the
-- receiver.
local text = {}

--- Percent-encodes everything but RFC 3986 unreserved characters, for
--- query strings and form bodies.
function text.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- s on one line (control characters folded to a space), cut to max bytes.
function text.one_line(s, max)
  s = tostring(s):gsub("%c+", " ")
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

return text

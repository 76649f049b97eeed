-- Small string helpers shared by the client, the auth providers and the
-- receiver.
local text = {}

--- Percent-encodes everything but RFC 3986 unreserved characters, for
--- query strings and form bodies.
function text.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- s on one line, cut to max bytes: control characters and runs of spaces
--- become one space, and none is left at either end (a body ending in a
--- newline must not leave a double space in a message).
function text.one_line(s, max)
  -- Each pattern is linear in #s: bodies can be megabytes.
  s = tostring(s):gsub("%c+", " "):gsub("  +", " "):match("^ ?(.-) ?$")
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

return text

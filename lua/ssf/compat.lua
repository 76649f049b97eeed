-- What Lua 5.4 has and LuaJIT (the Lua 5.1 language with a few 5.2
-- additions) lacks, written once so that every other file runs unchanged
-- on both. On LuaJIT every number is a double: an "integer" is a whole
-- number within the 64-bit range.
local compat = {}

local floor = math.floor
local mtype = math.type

if mtype then
  function compat.is_integer(v) return mtype(v) == "integer" end
  compat.tointeger = math.tointeger
else
  local LIMIT = 2 ^ 63
  function compat.is_integer(v)
    return type(v) == "number" and v == floor(v) and v >= -LIMIT and v < LIMIT
  end
  function compat.tointeger(v)
    if compat.is_integer(v) then return v end
    return nil
  end
end

-- Integers of JSON text kept whole. 5.4 has 64-bit integers; LuaJIT's
-- numbers are doubles, exact only up to 2^53, so beyond that an integer is
-- LuaJIT's own 64-bit integer (an int64_t cdata, which does arithmetic and
-- compares with numbers).
if mtype then
  --- The integer the decimal text t denotes, or nil beyond 64 bits.
  function compat.integer_from_text(t)
    local n = tonumber(t) -- a float when t is beyond 64 bits
    if mtype(n) == "integer" then return n end
    return nil
  end
  --- The decimal text of integer v, or nil when v is not an integer.
  function compat.integer_text(v)
    if mtype(v) == "integer" then return ("%d"):format(v) end
    return nil
  end
else
  local ffi = require "ffi"
  local int64 = ffi.typeof("int64_t")
  local EXACT = 2 ^ 53
  local INT64_MAX, INT64_MIN = "9223372036854775807", "9223372036854775808"
  function compat.integer_from_text(t)
    local sign, digits = t:match("^(%-?)0*(%d+)$")
    if not digits then return nil end
    if #digits > 19 or #digits == 19 and digits > (sign == "-" and INT64_MIN or INT64_MAX) then return nil end
    local n = tonumber(t)
    if n > -EXACT and n < EXACT then return n end
    -- 2^63 wraps to -2^63 on the way, which the sign turns back.
    local v = int64(0)
    for i = 1, #digits do v = v * 10 + (digits:byte(i) - 48) end
    if sign == "-" then v = -v end
    return v
  end
  function compat.integer_text(v)
    if type(v) == "cdata" then
      return ffi.istype(int64, v) and (tostring(v):gsub("LL$", "")) or nil
    end
    if compat.is_integer(v) then return ("%d"):format(v) end
    return nil
  end
end

compat.unpack = table.unpack or unpack

compat.move = table.move or function(from, first, last, at, to)
  to = to or from
  for i = 0, last - first do to[at + i] = from[first + i] end
  return to
end

-- Whether s is well-formed UTF-8 as 5.4's utf8.len checks it (no
-- surrogates, nothing past U+10FFFF, no overlong forms): true, or nil and
-- the position of the first bad byte.
if utf8 and utf8.len then
  function compat.utf8_valid(s)
    local n, bad = utf8.len(s)
    if n then return true end
    return nil, bad
  end
else
  local byte = string.byte
  function compat.utf8_valid(s)
    if not s:find("[\128-\255]") then return true end
    local i, n = 1, #s
    while i <= n do
      local c = byte(s, i)
      local len, min
      if c < 0x80 then len = 1
      elseif c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
      elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
      elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
      else return nil, i end
      if len > 1 then
        if i + len - 1 > n then return nil, i end
        local cp = c % (2 ^ (7 - len))
        for j = i + 1, i + len - 1 do
          local cc = byte(s, j)
          if cc < 0x80 or cc > 0xBF then return nil, i end
          cp = cp * 64 + cc % 64
        end
        if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil, i end
      end
      i = i + len
    end
    return true
  end
end

-- os.execute's results as 5.4 gives them: true, "exit", 0 on success, or
-- nil, "exit" or "signal", and the code. LuaJIT returns the raw wait
-- status, a number (so always true) even when the command failed.
function compat.execute(cmd)
  local status, how, code = os.execute(cmd)
  if type(status) ~= "number" then return status, how, code end
  if status % 256 ~= 0 then return nil, "signal", status % 128 end
  code = floor(status / 256)
  if code == 0 then return true, "exit", 0 end
  return nil, "exit", code
end

-- Lua 5.4 seeds math.random from the clock and an address at start-up;
-- LuaJIT always starts from the same seed, which would make jitter and
-- placeholders predictable. Seed it from the operating system once.
if not mtype then
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(6)
  if f then f:close() end
  if bytes and #bytes == 6 then
    local seed = 0
    for i = 1, 6 do seed = seed * 256 + bytes:byte(i) end
    math.randomseed(seed)
  else
    math.randomseed(os.time() + floor(os.clock() * 1e6))
  end
end

return compat

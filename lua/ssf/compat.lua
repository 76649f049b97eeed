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

-- JSON through lua-cjson, plus what cjson 2.1.0 (Debian's) lacks: a mark
-- that makes an empty table encode as [] and that decoded arrays keep, so a
-- stream read with GET can be edited and sent back with PATCH unchanged.
--
-- cjson 2.1.0 encodes every empty table as {} and decodes [] and {} to the
-- same empty table. Both directions are bridged with a placeholder string
-- that carries a per-process random nonce, so no real JSON text can forge it.
-- The same bridge carries numbers cjson 2.1.0 would round: it writes at
-- most 14 significant digits, and reads every number as a double.
local cjson = require "cjson.safe"
local compat = require "ssf.compat"

local json = {}

-- A private instance: ssf's settings never leak into a host's own cjson.
local codec = cjson.new()
codec.decode_invalid_numbers(false) -- NaN, Infinity and hex are not JSON
codec.encode_invalid_numbers(false)
codec.decode_max_depth(64)
codec.encode_max_depth(64)

json.null = cjson.null

local array_mt = { __name = "ssf.array" }

--- Marks t (default: a new table) as a JSON array and returns it.
function json.array(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then
    error(("bad argument #1 to 'array' (table expected, got %s)"):format(type(t)), 2)
  end
  return setmetatable(t, array_mt)
end

function json.is_array(t)
  return getmetatable(t) == array_mt
end

--- A deep copy of a decoded value, arrays still marked as arrays.
function json.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    if type(x) == "table" then x = json.copy(x) end
    out[k] = x
  end
  return setmetatable(out, getmetatable(v))
end

local nonce = {}
for i = 1, 4 do nonce[i] = ("%08x"):format(math.random(0, 0x7fffffff)) end
local EMPTY = "\0ssf-empty-array:" .. table.concat(nonce)
-- How cjson writes EMPTY, and its Lua pattern.
local EMPTY_JSON = '"\\u0000' .. EMPTY:sub(2) .. '"'
local EMPTY_JSON_PATTERN = EMPTY_JSON:gsub("%p", "%%%0")
-- A number written or read exactly: NUMBER .. its JSON text.
local NUMBER = "\0ssf-number:" .. table.concat(nonce) .. ":"
local NUMBER_JSON_PATTERN = ('"\\u0000' .. NUMBER:sub(2)):gsub("%p", "%%%0") .. '([^"]*)"'

-- The JSON text for a number cjson would write with fewer digits than it
-- needs (cjson's %.14g), or nil when cjson's text is exact. Integers are
-- written whole; a float with the fewest digits that read back the same.
local function exact_number(n)
  if type(n) ~= "number" then return compat.integer_text(n) end -- LuaJIT's int64
  if compat.is_integer(n) then
    return (n >= 1e14 or n <= -1e14) and ("%d"):format(n) or nil
  end
  -- Whole floats below 1e14 (what cjson decodes every integer to) are
  -- exact in %.14g; so are NaN and the infinities cjson refuses anyway.
  if n ~= n or (n > -1e14 and n < 1e14 and n == math.floor(n)) or n == math.huge or n == -math.huge
      or tonumber(("%.14g"):format(n)) == n then return nil end
  for digits = 15, 17 do
    local t = ("%." .. digits .. "g"):format(n)
    if tonumber(t) == n then return t end
  end
end

-- Returns v, or a copy of it with every marked empty table replaced by
-- EMPTY and every number cjson would round by NUMBER and its exact text.
-- Copies only the tables on the way to a replacement.
local numbers_placed -- set when placehold put a NUMBER in
local function placehold(v)
  local kind = type(v)
  if kind == "number" or kind == "cdata" then
    local t = exact_number(v)
    if not t then return v end
    numbers_placed = true
    return NUMBER .. t
  end
  if kind ~= "table" then return v end
  if getmetatable(v) == array_mt and next(v) == nil then return EMPTY end
  local copy
  for k, x in pairs(v) do
    local y = placehold(x)
    if y ~= x then
      if not copy then
        copy = {}
        for k2, x2 in pairs(v) do copy[k2] = x2 end
      end
      copy[k] = y
    end
  end
  return copy or v
end

--- Encodes v; returns nil, message when v holds something JSON cannot.
function json.try_encode(v)
  numbers_placed = false
  local p = placehold(v)
  local s, err = codec.encode(p)
  if not s then return nil, err end
  if p ~= v then s = s:gsub(EMPTY_JSON_PATTERN, "[]") end
  if numbers_placed then s = s:gsub(NUMBER_JSON_PATTERN, "%1") end
  -- cjson writes "/" as "\/": legal, but it garbles every URL a person
  -- reads. An odd run of backslashes before "/" ends in that escape.
  return (s:gsub("(\\+)/", function(run)
    if #run % 2 == 1 then return run:sub(2) .. "/" end
  end))
end

--- Encodes v, raising on values JSON cannot hold (functions, cycles...).
function json.encode(v)
  local s, err = json.try_encode(v)
  if not s then error("cannot encode JSON: " .. err, 2) end
  return s
end

-- Rewrites each empty array in the text ([] with only JSON white space
-- inside, outside any string) to [EMPTY], and, with `numbers`, each
-- integer of 16 or more digits (beyond a double's exact range) to a
-- NUMBER string. Malformed text is left for cjson to reject.
-- Whether s has "[" followed by only JSON white space and "]". A pattern
-- search from every byte costs more than decoding the whole text, so the
-- plain search finds each "[" and the pattern is tried there only.
local function has_empty_array(s)
  local j = s:find("[", 1, true)
  while j do
    if s:find("^%[[ \t\r\n]*%]", j) then return true end
    j = s:find("[", j + 1, true)
  end
  return false
end

local function placehold_text(s, numbers)
  if not numbers and not has_empty_array(s) then return s end
  local out, from, pos = {}, 1, 1
  local token = numbers and '["%[%-%d]' or '["%[]'
  while true do
    local j = s:find(token, pos)
    if not j then break end
    local c = s:byte(j)
    if c == 34 then -- a string: skip to its closing quote
      local k = j + 1
      while true do
        local q = s:find('["\\]', k)
        if not q then return s end
        if s:byte(q) == 92 then k = q + 2 else pos = q + 1; break end
      end
    elseif c == 91 then
      local close = s:match("^%[[ \t\r\n]*()%]", j)
      if close then
        out[#out + 1] = s:sub(from, j)
        out[#out + 1] = EMPTY_JSON
        from = close
        pos = close + 1
      else
        pos = j + 1
      end
    else -- a number
      local digits, after = s:match("^%-?(%d+)()", j)
      if not digits then
        pos = j + 1
      elseif s:find("^[%.eE]", after) then
        pos = s:match("^[%d%.eE%+%-]*()", after)
      else
        if #digits >= 16 and digits:byte(1) ~= 48 then -- not "0...": leave that for cjson to refuse
          out[#out + 1] = s:sub(from, j - 1)
          out[#out + 1] = '"\\u0000' .. NUMBER:sub(2) .. s:sub(j, after - 1) .. '"'
          from = after
        end
        pos = after
      end
    end
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

-- Reads a NUMBER string back as an integer (a float beyond 64 bits).
local function exact_value(x)
  if type(x) == "string" and x:sub(1, #NUMBER) == NUMBER then
    local t = x:sub(#NUMBER + 1)
    return compat.integer_from_text(t) or tonumber(t) + 0.0
  end
  return x
end

-- 2^53: from here on a double no longer holds every integer.
local EXACT_LIMIT = 2 ^ 53

local function is_big(x)
  return type(x) == "number" and (x >= EXACT_LIMIT or x <= -EXACT_LIMIT)
end

-- cjson decodes object keys as strings, so a table with [1] came from an
-- array. Depth is bounded by decode_max_depth. With `numbers`, NUMBER
-- strings become numbers again; without, returns whether any number is
-- big enough that cjson may have rounded it.
local function mark_arrays(v, numbers)
  local big = false
  if v[1] ~= nil then
    setmetatable(v, array_mt)
    if v[1] == EMPTY and v[2] == nil then
      v[1] = nil
      return false
    end
  end
  -- Every decoded value passes here: one type test each, and a call only
  -- for the tables (this walk is most of what a small answer costs).
  for k, x in pairs(v) do
    local t = type(x)
    if t == "table" then
      if mark_arrays(x, numbers) then big = true end
    elseif numbers then
      if t == "string" then
        local y = exact_value(x)
        if y ~= x then v[k] = y end
      end
    elseif t == "number" and (x >= EXACT_LIMIT or x <= -EXACT_LIMIT) then
      big = true
    end
  end
  return big
end

--- Decodes s; on malformed input returns nil, message.
function json.decode(s)
  if type(s) ~= "string" then
    error(("bad argument #1 to 'decode' (string expected, got %s)"):format(type(s)), 2)
  end
  -- cjson stops at a NUL byte and ignores what follows; raw NUL is never
  -- valid JSON (not even inside a string), so such text is refused whole.
  if s:find("\0", 1, true) then return nil, "malformed JSON: NUL byte in the text" end
  -- JSON text is UTF-8 (RFC 8259); cjson passes any bytes through.
  local ok, bad = compat.utf8_valid(s)
  if not ok then return nil, ("malformed JSON: invalid UTF-8 at byte %d"):format(bad) end
  local v, err = codec.decode(placehold_text(s))
  if v == nil and err then return nil, "malformed JSON: " .. err end
  if type(v) == "table" and mark_arrays(v) or is_big(v) then
    -- A number beyond 2^53 may be an integer cjson rounded: read the
    -- text again with long integers kept whole (rare, so done twice).
    v = exact_value(assert(codec.decode(placehold_text(s, true))))
    if type(v) == "table" then mark_arrays(v, true) end
  end
  return v
end

-- Decodes text that ssf.jose's b64url_json found plain: valid UTF-8, no
-- NUL, no "[" and no integer cjson would round, so there is nothing for
-- the bridge above to do (a SET's claims, nearly always). Not API: the
-- caller vouches for the text.
function json._decode_plain(s)
  local v, err = codec.decode(s)
  if v == nil and err then return nil, "malformed JSON: " .. err end
  return v
end

return json

-- JSON through lua-cjson, plus what cjson 2.1.0 (Debian's) lacks: a mark
-- that makes an empty table encode as [] and that decoded arrays keep, so a
-- stream read with GET can be edited and sent back with PATCH unchanged.
--
-- cjson 2.1.0 encodes every empty table as {} and decodes [] and {} to the
-- same empty table. Both directions are bridged with a placeholder string
-- that carries a per-process random nonce, so no real JSON text can forge it.
local cjson = require "cjson.safe"

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

local nonce = {}
for i = 1, 4 do nonce[i] = ("%08x"):format(math.random(0, 0x7fffffff)) end
local EMPTY = "\0ssf-empty-array:" .. table.concat(nonce)
-- How cjson writes EMPTY, and its Lua pattern.
local EMPTY_JSON = '"\\u0000' .. EMPTY:sub(2) .. '"'
local EMPTY_JSON_PATTERN = EMPTY_JSON:gsub("%p", "%%%0")

-- Returns v, or a copy of it with every marked empty table replaced by
-- EMPTY. Copies only the tables on the way to a replacement.
local function placehold(v)
  if type(v) ~= "table" then return v end
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
  local p = placehold(v)
  local s, err = codec.encode(p)
  if not s then return nil, err end
  if p ~= v then s = s:gsub(EMPTY_JSON_PATTERN, "[]") end
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
-- inside, outside any string) to [EMPTY]. Malformed text is left for cjson
-- to reject.
local function placehold_text(s)
  if not s:find("%[[ \t\r\n]*%]") then return s end
  local out, from, pos = {}, 1, 1
  while true do
    local j = s:find('["%[]', pos)
    if not j then break end
    if s:byte(j) == 34 then -- a string: skip to its closing quote
      local k = j + 1
      while true do
        local q = s:find('["\\]', k)
        if not q then return s end
        if s:byte(q) == 92 then k = q + 2 else pos = q + 1; break end
      end
    else
      local close = s:match("^%[[ \t\r\n]*()%]", j)
      if close then
        out[#out + 1] = s:sub(from, j)
        out[#out + 1] = EMPTY_JSON
        from = close
        pos = close + 1
      else
        pos = j + 1
      end
    end
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

-- cjson decodes object keys as strings, so a table with [1] came from an
-- array. Depth is bounded by decode_max_depth.
local function mark_arrays(v)
  if type(v) ~= "table" then return end
  if v[1] ~= nil then
    setmetatable(v, array_mt)
    if v[1] == EMPTY and v[2] == nil then
      v[1] = nil
      return
    end
  end
  for _, x in pairs(v) do mark_arrays(x) end
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
  local ok, bad = utf8.len(s)
  if not ok then return nil, ("malformed JSON: invalid UTF-8 at byte %d"):format(bad) end
  local v, err = codec.decode(placehold_text(s))
  if v == nil and err then return nil, "malformed JSON: " .. err end
  mark_arrays(v)
  return v
end

return json

-- ssf.json.decode: never raises on any text; what it decodes re-encodes and
-- decodes to the same value (the [] placeholder must never leak out). Text
-- ssf.jose's b64url_json calls plain decodes the same without the bridge.
local json = require "ssf.json"
local jose = require "ssf.jose"

-- Equal values, arrays marked alike. Numbers: with `exact` the same value
-- and subtype, else alike in the 14 significant digits lua-cjson 2.1.0
-- writes.
local function same(a, b, depth, exact)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if exact then return a == b and math.type(a) == math.type(b) end
    return ("%.14g"):format(a) == ("%.14g"):format(b)
  end
  if type(a) ~= "table" then return a == b end
  if json.is_array(a) ~= json.is_array(b) or depth > 70 then return false end
  for k, v in pairs(a) do
    if not same(v, b[k], depth + 1, exact) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function no_placeholder(v)
  if type(v) == "string" then
    assert(not v:find("ssf-empty-array", 1, true), "placeholder leaked")
  elseif type(v) == "table" then
    for k, x in pairs(v) do
      no_placeholder(k)
      no_placeholder(x)
    end
  end
end

return function(data)
  local _, plain = jose.b64url_json(jose.b64url_encode(data))
  if plain then
    local fast, careful = json._decode_plain(data), json.decode(data)
    assert((fast == nil) == (careful == nil), "plain decode disagrees on whether the text is JSON")
    assert(fast == nil or same(fast, careful, 0, true), "plain decode gives another value")
  end
  local v = json.decode(data)
  if v == nil then return end
  if not data:find("ssf-empty-array", 1, true) then no_placeholder(v) end
  local text = json.try_encode(v)
  if text then
    local again, err = json.decode(text)
    assert(err == nil, "re-encoded JSON does not decode")
    assert(same(v, again, 0), "round trip changed the value")
  end
end

-- application/x-www-form-urlencoded text, as query strings and token
-- requests carry it (the WHATWG rules: '&'-separated pairs, '+' for a
-- space, %XX escapes).
local form = {}

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- The pairs of s in order: {{name, value}, ...}. nil and "" give {}.
function form.pairs(s)
  local out = {}
  for part in (s or ""):gmatch("[^&]+") do
    local name, value = part:match("^([^=]*)=(.*)$")
    if not name then name, value = part, "" end
    out[#out + 1] = { unescape(name), unescape(value) }
  end
  return out
end

--- The parameters of s as a table of non-empty values, or nil and the name
--- of a parameter that appears twice. An empty value counts as absent
--- (RFC 6749 §3.1).
function form.parse(s)
  local t, seen = {}, {}
  for _, kv in ipairs(form.pairs(s)) do
    local name, value = kv[1], kv[2]
    if seen[name] then return nil, name end
    seen[name] = true
    if value ~= "" then t[name] = value end
  end
  return t
end

return form

-- Failure values (nil, message, info) and the scrubbing of secrets from
-- anything a server or libcurl said before it reaches the caller.
local errors = {}

local function replace_plain(s, needle, with)
  local out, from = {}, 1
  while true do
    local i, j = s:find(needle, from, true)
    if not i then break end
    out[#out + 1] = s:sub(from, i - 1)
    out[#out + 1] = with
    from = j + 1
  end
  if from == 1 then return s end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

-- Secrets shorter than this are not scrubbed one by one: removing every "ab"
-- from a message would only garble it. Credentials after an auth scheme name
-- are scrubbed whatever their length.
local MIN_SECRET = 6

--- Returns s with every secret, and any credential after an HTTP auth
--- scheme name, replaced by "[REDACTED]".
function errors.redact(s, secrets)
  if type(s) ~= "string" then return s end
  for _, secret in ipairs(secrets or {}) do
    if #secret >= MIN_SECRET then s = replace_plain(s, secret, "[REDACTED]") end
  end
  for _, scheme in ipairs { "[Bb]earer", "DPoP", "SSWS", "[Bb]asic" } do
    s = s:gsub("(%f[%w]" .. scheme .. "%s+)[^%s\"',;]+", "%1[REDACTED]")
  end
  return s
end

--- The operational failure triple.
function errors.fail(kind, message, info)
  info = info or {}
  info.kind = kind
  return nil, message, info
end

return errors

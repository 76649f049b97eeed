-- Okta's error answers: the schema Error of the management API
-- ({errorCode, errorSummary, errorLink, errorId, errorCauses}) with the
-- codes and summaries of CONTRACT.md §4. Each constructor returns an
-- error value that routes.lua renders; handlers return it as nil, err.
local ids = require "ssf.emulator.ids"
local json = require "ssf.json"

local E = {}

local Error = { __name = "ssf.emulator.okta_error" }
Error.__index = Error

local function new(status, code, summary, causes, headers)
  return setmetatable({ status = status, code = code, summary = summary,
                        causes = causes or {}, headers = headers or {} }, Error)
end

function E.is(v)
  return getmetatable(v) == Error
end

--- The JSON body of err (a fresh errorId each time, like Okta's).
function E.body(err)
  local causes = json.array()
  for i, c in ipairs(err.causes) do causes[i] = { errorSummary = c } end
  return {
    errorCode = err.code, errorSummary = err.summary, errorLink = err.code,
    errorId = "oae" .. ids.alnum(19), errorCauses = causes,
  }
end

--- A peer-sent value for a message: strings quoted and cut short, the rest
--- as JSON. Never used for authorization_header, whose value is secret.
function E.quote(v)
  if type(v) == "string" then
    if #v > 100 then v = v:sub(1, 97) .. "..." end
    return "'" .. v:gsub("%c", "?") .. "'"
  end
  local s = json.try_encode(v) or type(v)
  if #s > 100 then s = s:sub(1, 97) .. "..." end
  return s
end

--- problems: {{field=, message=}, ...}; the summary names the first field,
--- and each problem is one errorCauses entry.
function E.validation(problems)
  local causes = {}
  for i, p in ipairs(problems) do causes[i] = p.field .. ": " .. p.message end
  return new(400, "E0000001", "Api validation failed: " .. problems[1].field, causes)
end

function E.malformed()
  return new(400, "E0000003", "The request body was not well-formed.",
    { "The request body was not well-formed." })
end

function E.invalid_token(www_authenticate, headers)
  headers = headers or {}
  headers["WWW-Authenticate"] = www_authenticate
  return new(401, "E0000011", "Invalid token provided", nil, headers)
end

function E.access_denied(www_authenticate)
  return new(403, "E0000006", "You do not have permission to perform the requested action", nil,
    { ["WWW-Authenticate"] = www_authenticate })
end

function E.not_found(id, kind)
  return new(404, "E0000007", ("Not found: Resource not found: %s (%s)"):format(id, kind or "SsfStream"))
end

function E.method_not_allowed(allowed)
  return new(405, "E0000022", "The endpoint does not support the provided HTTP method", nil,
    { Allow = table.concat(allowed, ", ") })
end

function E.conflict(reason)
  return new(409, "E0000195", "Api validation failed due to conflict: " .. reason, { reason })
end

--- headers: the X-Rate-Limit-* values that say when to come back.
function E.too_many_requests(headers)
  return new(429, "E0000047", "API call exceeded rate limit due to too many requests.", nil, headers)
end

return E

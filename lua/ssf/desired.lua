-- Desired-state files for scripts/apply.lua: per org, where its settings
-- come from and the stream its client should have. A Lua file returning a
-- table (run with no access to os, io, require or load, and a bounded
-- number of instructions), or JSON with the same shape:
--
--   return {
--     orgs = {
--       { name = "acme", org = "https://acme.okta.com", env = "ACME_",  -- or yaml = "acme.yaml"
--         stream = { delivery = { method = PUSH, endpoint_url = "https://rx.example.com/ssf/events" },
--                    events_requested = { events.SESSION_REVOKED }, format = "iss_sub",
--                    authorization_env = "ACME_RX_AUTH" } },
--       { name = "old", env = "OLD_", stream = false },               -- no stream wanted
--       -- listen: where this org's receiver runs for apply --confirm
--       { name = "lab", env = "LAB_", listen = "127.0.0.1:8443", stream = {...} },
--     },
--   }
--
-- Secrets never live in the file: authorization_env (and
-- old_authorization_env, the header in force before a rotate, for a
-- rollback) name environment variables. The org's settings are read by
-- ssf.orgs, like fleet.lua's org lists.
local events = require "ssf.events"
local json = require "ssf.json"
local plan = require "ssf.plan"

local desired = {}

-- Instructions a Lua file may run: plenty for any list of orgs, and an
-- end to a loop that would never finish.
local MAX_INSTRUCTIONS = 10000000

local ORG_KEYS = { name = "string", org = "string", yaml = "string", env = "string", listen = "string",
                   stream = "table|boolean" }
local STREAM_KEYS = {
  delivery = "table", events_requested = "table", format = "string|userdata", stream_id = "string",
  authorization_env = "string", old_authorization_env = "string", rotate = "boolean",
}
local DELIVERY_KEYS = { method = "string", endpoint_url = "string" }

local function fail(msg) return nil, msg, { kind = "config" } end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

-- What a Lua desired-state file can see: names for the values it needs,
-- and the pure parts of the standard library.
local function sandbox()
  local env = {
    PUSH = "urn:ietf:rfc:8935",
    RISC_PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push",
    events = events, null = json.null,
    ipairs = ipairs, pairs = pairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
  }
  for _, lib in ipairs { "string", "table", "math", "utf8" } do
    if _G[lib] then -- LuaJIT has no utf8
      local copy = {}
      for k, v in pairs(_G[lib]) do copy[k] = v end
      copy.dump = nil
      env[lib] = copy
    end
  end
  return env
end

local function load_lua(text, name)
  -- Said here so that both engines say it alike; mode "t" refuses it too.
  if text:byte(1) == 27 then return fail(name .. ": holds a binary chunk (compiled bytecode), not Lua source") end
  local chunk, err = load(text, "=" .. name, "t", sandbox())
  if not chunk then return fail(err) end
  -- LuaJIT calls no hook inside compiled code: the file runs interpreted.
  if jit then jit.off(chunk, true) end
  local co = coroutine.create(chunk)
  -- The count hook limits the file, nothing else. In 5.4 it belongs to the
  -- coroutine; LuaJIT has one hook for every coroutine, so the one in place
  -- before is put back.
  local hook, mask, count = debug.gethook(co)
  debug.sethook(co, function() error("runs too long (a loop that never ends?)", 2) end, "", MAX_INSTRUCTIONS)
  local ok, value = coroutine.resume(co)
  if type(hook) == "function" then debug.sethook(co, hook, mask, count) else debug.sethook(co) end
  if not ok then return fail(name .. ": " .. tostring(value)) end
  if coroutine.status(co) ~= "dead" then return fail(name .. ": must not yield") end
  return value
end

local function kinds_ok(v, kinds)
  for k in kinds:gmatch("[^|]+") do
    if type(v) == k and (k ~= "userdata" or v == json.null) then return true end
  end
  return false
end

local function check_keys(t, allowed, where)
  for k, v in pairs(t) do
    if type(k) ~= "string" or not allowed[k] then
      return nil, ("%s: unknown key %s"):format(where, tostring(k))
    end
    if not kinds_ok(v, allowed[k]) then
      return nil, ("%s.%s must be a %s"):format(where, k, allowed[k]:gsub("|userdata", " or null"):gsub("|", " or "))
    end
  end
  return true
end

local function check_env_name(v, where)
  if v ~= nil and not v:match("^[%a_][%w_]*$") then
    return nil, ("%s must be the name of an environment variable, got %q"):format(where, v)
  end
  return true
end

local function check_stream(s, where)
  if s == false then return true end
  if s == true then return nil, where .. " must be a table, or false for no stream" end
  local ok, msg = check_keys(s, STREAM_KEYS, where)
  if not ok then return nil, msg end
  if s.delivery then
    ok, msg = check_keys(s.delivery, DELIVERY_KEYS, where .. ".delivery")
    if not ok then
      if s.delivery.authorization_header ~= nil then
        msg = where .. ".delivery.authorization_header would put a secret in the file; " ..
          "name the variable that holds it in authorization_env"
      end
      return nil, msg
    end
  end
  for _, k in ipairs { "authorization_env", "old_authorization_env" } do
    ok, msg = check_env_name(s[k], where .. "." .. k)
    if not ok then return nil, msg end
  end
  -- What ssf.plan itself refuses, said now, with the org's name.
  ok, msg = pcall(plan.plan, s, nil)
  if not ok then return nil, where .. ": " .. (tostring(msg):match("bad argument #1 to 'plan' %((.*)%)$") or msg) end
  return true
end

--- Checks a desired state (the table a file gave) and returns its list of
--- orgs, each {name=, org=, yaml=, env=, stream=}; nil, message, info
--- (kind "config") when anything in it is wrong, so no org is acted on.
function desired.check(t, name)
  name = name or "the desired state"
  if type(t) ~= "table" then return fail(name .. " must give a table with orgs") end
  local ok, msg = check_keys(t, { orgs = "table" }, name)
  if not ok then return fail(msg) end
  if type(t.orgs) ~= "table" or #t.orgs == 0 then return fail(name .. ": orgs lists no org") end
  local seen = {}
  for i, o in ipairs(t.orgs) do
    local where = ("%s: orgs[%d]"):format(name, i)
    if type(o) ~= "table" then return fail(where .. " must be a table") end
    ok, msg = check_keys(o, ORG_KEYS, where)
    if not ok then return fail(msg) end
    if type(o.name) ~= "string" or not o.name:match("^[%w._-]+$") then
      return fail(where .. ".name must be letters, digits, '.', '_' or '-'")
    end
    where = ("%s: org %s"):format(name, o.name)
    if seen[o.name] then return fail(where .. " is listed twice") end
    seen[o.name] = true
    if not (o.yaml or o.env) then
      return fail(where .. ": name where its credentials come from (yaml = PATH or env = PREFIX)")
    end
    if o.env and not o.env:match("^[%a_][%w_]*$") then
      return fail(("%s: env must be a variable name prefix, got %q"):format(where, o.env))
    end
    if o.stream == nil then return fail(where .. ": give stream (a table, or false for no stream)") end
    ok, msg = check_stream(o.stream, where .. ": stream")
    if not ok then return fail(msg) end
  end
  return t.orgs
end

--- Reads the desired-state file at path: JSON when it ends in .json,
--- else Lua. Returns the list of orgs as desired.check does.
function desired.read(path)
  local text, err = read(path)
  if not text then return fail("cannot read " .. tostring(err)) end
  local value
  if path:match("%.json$") then
    local msg
    value, msg = json.decode(text)
    if value == nil then return fail(path .. ": " .. msg) end
  else
    local msg, info
    value, msg, info = load_lua(text, path)
    if value == nil then return nil, msg or (path .. " returned nothing"), info or { kind = "config" } end
  end
  return desired.check(value, path)
end

return desired

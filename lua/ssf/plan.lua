-- ssf.plan(desired, current): the changes that make a client's stream match
-- a desired state, in the spirit of `terraform plan`. Pure: no I/O, no
-- secrets. scripts/apply.lua reads desired-state files and carries plans out.
--
-- desired is nil or false (no stream wanted) or
--   { delivery = { method =, endpoint_url = }, events_requested = {...},
--     format = "iss_sub" | ssf.null, stream_id = (optional),
--     authorization_env = "VAR" (a name, never a value), rotate = true }
-- A field left out (nil) is not managed; ssf.null asks for it to be absent.
-- current is what okta:streams() returned (an array, usually of one).
--
-- The result is a list of changes, each one of
--   { action = "create", config = }
--   { action = "update" | "replace", stream_id =, fields =, config = }
--   { action = "delete", stream_id = }
--   { action = "rotate", stream_id =, authorization_env = }
-- where fields = { {field =, old =, new = [, added =, removed =]}, ... } and
-- config is the body to send, without any authorization_header (apply adds
-- it from the environment). A second value lists notes for the reader:
-- what a plan cannot see. Okta never returns authorization_header, so drift
-- in it is invisible; `rotate = true` sets it anyway.
local json = require "ssf.json"

local plan = {}

-- Fields a client may set; everything else in a stream is the transmitter's.
local MANAGED = { "delivery.method", "delivery.endpoint_url", "events_requested", "format" }
local SET_FIELDS = { events_requested = true }

local function misuse(msg)
  error("bad argument #1 to 'plan' (" .. msg .. ")", 3)
end

local function get(t, path)
  local v = t
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function set(t, path, value)
  local head, last = path:match("^(.-)%.?([^.]+)$")
  local target = t
  if head ~= "" then
    target[head] = target[head] or {}
    target = target[head]
  end
  target[last] = value
end

local function absent(v)
  return v == nil or v == json.null
end

-- The distinct strings of a list, sorted, for comparing event sets.
local function sorted_set(list)
  local seen, out = {}, {}
  for _, v in ipairs(list or {}) do
    if not seen[v] then
      seen[v] = true
      out[#out + 1] = v
    end
  end
  table.sort(out)
  return out
end

local function minus(a, b)
  local inb, out = {}, {}
  for _, v in ipairs(b) do inb[v] = true end
  for _, v in ipairs(a) do
    if not inb[v] then out[#out + 1] = v end
  end
  return out
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

local function check_desired(d)
  if d == nil or d == false then return end
  if type(d) ~= "table" then misuse("desired must be a table, false or nil, got " .. type(d)) end
  if d.delivery ~= nil and type(d.delivery) ~= "table" then misuse("desired.delivery must be a table") end
  for _, path in ipairs { "delivery.method", "delivery.endpoint_url", "format" } do
    local v = get(d, path)
    if not absent(v) and type(v) ~= "string" then misuse(("desired.%s must be a string"):format(path)) end
  end
  if d.events_requested ~= nil then
    if type(d.events_requested) ~= "table" then misuse("desired.events_requested must be a list") end
    for i, e in ipairs(d.events_requested) do
      if type(e) ~= "string" then misuse(("desired.events_requested[%d] must be a string"):format(i)) end
    end
  end
  if get(d, "delivery.authorization_header") ~= nil then
    misuse("desired.delivery.authorization_header must not hold a secret; name its variable in authorization_env")
  end
  if d.authorization_env ~= nil and type(d.authorization_env) ~= "string" then
    misuse("desired.authorization_env must be the name of an environment variable")
  end
  if d.rotate and not d.authorization_env then
    misuse("desired.rotate needs authorization_env, the variable that holds the new header")
  end
end

-- The stream the plan is about: the one named by desired.stream_id, or the
-- client's only stream. nil, message when that cannot be told.
local function pick(desired, current)
  if current == nil then return nil end
  if type(current) ~= "table" then misuse("current must be the list okta:streams() returned") end
  if current.stream_id then current = { current } end -- a single stream given
  local id = desired and desired.stream_id
  if id then
    for _, s in ipairs(current) do
      if s.stream_id == id then return s end
    end
    return nil
  end
  if #current > 1 then
    return nil, ("the client sees %d streams; name one with stream_id"):format(#current)
  end
  return current[1]
end

-- The body for POST: only the managed fields the file gives.
local function create_config(d)
  local cfg = { delivery = {} }
  for _, path in ipairs(MANAGED) do
    local v = get(d, path)
    if not absent(v) then set(cfg, path, SET_FIELDS[path] and json.array(sorted_set(v)) or v) end
  end
  return cfg
end

--- The body to PUT or PATCH for a stream (or a change's config): a copy of
--- only what a client sets, stream_id and the managed fields. The
--- transmitter's read-only fields are left out, since a value sent for one
--- must equal what the transmitter would set, and events_delivered follows
--- events_requested: a restored backup would send a stale one.
function plan.body(stream)
  local body = { stream_id = stream.stream_id, delivery = {} }
  for _, path in ipairs(MANAGED) do
    local v = get(stream, path)
    if not absent(v) then set(body, path, json.copy(v)) end
  end
  return body
end

--- See the header comment. Returns changes, notes; or nil, message, info
--- (kind "config") when current is ambiguous. Raises on misuse.
function plan.plan(desired, current)
  check_desired(desired)
  local stream, why = pick(desired, current)
  if why then return nil, why, { kind = "config" } end
  local notes = {}
  if not desired then
    if stream then return { { action = "delete", stream_id = stream.stream_id } }, notes end
    return {}, notes
  end
  if not stream then
    for _, path in ipairs { "delivery.method", "delivery.endpoint_url", "events_requested" } do
      if absent(get(desired, path)) then
        return nil, ("cannot create the stream: desired.%s is not given"):format(path), { kind = "config" }
      end
    end
    local change = { action = "create", config = create_config(desired) }
    change.authorization_env = desired.authorization_env
    return { change }, notes
  end

  local fields, remove = {}, false
  for _, path in ipairs(MANAGED) do
    local want, have = get(desired, path), get(stream, path)
    if want ~= nil then
      if SET_FIELDS[path] then
        local w, h = sorted_set(want), sorted_set(have)
        if not same_list(w, h) then
          fields[#fields + 1] = { field = path, old = h, new = w, added = minus(w, h), removed = minus(h, w) }
        end
      elseif absent(want) then
        if not absent(have) then
          fields[#fields + 1] = { field = path, old = have, new = json.null }
          remove = true
        end
      elseif want ~= have then
        fields[#fields + 1] = { field = path, old = have, new = want }
      end
    end
  end

  local changes = {}
  if #fields > 0 then
    -- PATCH cannot take a field away: a field wanted absent needs PUT.
    local config = json.copy(stream)
    config.status = nil
    for _, f in ipairs(fields) do
      set(config, f.field, not absent(f.new) and (SET_FIELDS[f.field] and json.array(f.new) or f.new) or nil)
    end
    changes[1] = { action = remove and "replace" or "update", stream_id = stream.stream_id,
                   fields = fields, config = config, authorization_env = desired.authorization_env }
  end
  if desired.rotate then
    changes[#changes + 1] = { action = "rotate", stream_id = stream.stream_id,
                              authorization_env = desired.authorization_env }
  else
    notes[1] = "delivery.authorization_header cannot be compared: Okta never returns it" ..
      (desired.authorization_env and (" (set it from $%s with rotate)"):format(desired.authorization_env) or "")
  end
  return changes, notes
end

local function show(v)
  if v == nil or v == json.null then return "(absent)" end
  if type(v) == "table" then return "[" .. table.concat(v, ", ") .. "]" end
  return tostring(v)
end

--- One line per change and field, for people: "~ update esc1",
--- "    delivery.endpoint_url: old -> new".
function plan.describe(changes)
  local lines = {}
  local SIGN = { create = "+", delete = "-", update = "~", replace = "-/+", rotate = "~" }
  for _, c in ipairs(changes) do
    lines[#lines + 1] = ("%s %s %s"):format(SIGN[c.action], c.action, c.stream_id or "(new stream)")
    if c.action == "create" then
      for _, path in ipairs(MANAGED) do
        local v = get(c.config, path)
        if v ~= nil then lines[#lines + 1] = ("    %s: %s"):format(path, show(v)) end
      end
    end
    for _, f in ipairs(c.fields or {}) do
      if f.added then
        local parts = {}
        if #f.added > 0 then parts[#parts + 1] = "+" .. show(f.added) end
        if #f.removed > 0 then parts[#parts + 1] = "-" .. show(f.removed) end
        lines[#lines + 1] = ("    %s: %s"):format(f.field, table.concat(parts, " "))
      else
        lines[#lines + 1] = ("    %s: %s -> %s"):format(f.field, show(f.old), show(f.new))
      end
    end
    if c.action == "rotate" or (c.action == "create" and c.authorization_env) then
      lines[#lines + 1] = ("    delivery.authorization_header: <- $%s"):format(c.authorization_env or "?")
    end
  end
  return lines
end

return plan

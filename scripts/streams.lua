-- List the SSF streams visible to this client, or show one, as a table or
-- as JSON. Configuration comes from the environment (OKTA_CLIENT_ORGURL,
-- OKTA_CLIENT_TOKEN); see README.md.
local ssf = require "ssf"
local cli = require "ssf.cli"

local opts = cli.parse({ ... }, {
  usage = "[--stream-id ID] [--json]",
  description = "Lists the Okta SSF streams of this client (or shows one) with their status.",
  options = {
    { "--stream-id", "ID", "show this stream only" },
    { "--json", nil, "print JSON instead of a table" },
  },
})

local okta <close> = cli.check(ssf.client())

local list
if opts.stream_id then
  list = ssf.array { cli.check(okta:stream(opts.stream_id)) }
else
  list = cli.check(okta:streams())
end

-- Status is a separate call per stream; a failure there is shown, not fatal.
for _, s in ipairs(list) do
  local st, msg = okta:stream_status(s.stream_id)
  s.status = st and st.status or ("unknown: " .. msg)
end

if opts.json then
  print(ssf.json.encode(list))
  return
end

if #list == 0 then
  print("no streams for this client on " .. okta.org)
  return
end

local function text(v)
  if v == nil or v == ssf.null then return "-" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    return table.concat(parts, ", ")
  end
  return tostring(v)
end

local function short_event(uri)
  return (uri:match("[^/]+$"))
end

local rows = { { "STREAM", "STATUS", "METHOD", "ENDPOINT", "EVENTS" } }
for _, s in ipairs(list) do
  local d = type(s.delivery) == "table" and s.delivery or {}
  local events = {}
  for i, e in ipairs(type(s.events_requested) == "table" and s.events_requested or {}) do
    events[i] = short_event(tostring(e))
  end
  rows[#rows + 1] = {
    text(s.stream_id), text(s.status),
    d.method == ssf.PUSH and "push" or text(d.method),
    text(d.endpoint_url), text(events),
  }
end
local width = {}
for _, r in ipairs(rows) do
  for i, c in ipairs(r) do width[i] = math.max(width[i] or 0, utf8.len(c) or #c) end
end
for _, r in ipairs(rows) do
  local cells = {}
  for i, c in ipairs(r) do
    cells[i] = i < #r and c .. (" "):rep(width[i] - (utf8.len(c) or #c)) or c
  end
  print(table.concat(cells, "  "))
end

-- Run one check across many Okta orgs at once: audit their SSF streams,
-- ask for verification events, or prove delivery end to end. The orgs come
-- from a list file (see lua/ssf/orgs.lua); they run as tasks, N at a time,
-- and one org's failure never stops the others.
local ssf = require "ssf"
local cli = require "ssf.cli"
local orgs = require "ssf.orgs"

local opts, bad = cli.parse({ ... }, {
  usage = "audit|verify|confirm ORG_LIST [--concurrency N] [--json] [--timeout S]",
  description = [[
Runs a sub-command for every org in ORG_LIST (one per line:
  NAME [org=URL] [yaml=PATH] [env=PREFIX] [listen=HOST:PORT] [rx_auth_env=VAR]
with credentials from the okta.yaml at PATH or from the variables PREFIX<NAME>
named like OKTA_CLIENT_<NAME>, e.g. env=ACME_ reads ACME_ORGURL, ACME_TOKEN).
  audit    each stream's status, endpoint and events, and what looks wrong
  verify   asks each stream for a verification event
  confirm  proof of delivery: a receiver on the org's listen address waits for
           the verification SET (orgs without listen= are only listed)
Prints a table (or JSON lines); exits 1 listing the orgs that failed.]],
  options = {
    { "--concurrency", "N", "orgs at once (default 8)" },
    { "--json", nil, "one JSON object per org instead of a table" },
    { "--timeout", "S", "confirm: seconds to wait for each SET (default 30)" },
  },
})

local command, list_file = opts[1], opts[2]
if command ~= "audit" and command ~= "verify" and command ~= "confirm" then
  bad("the sub-command is audit, verify or confirm")
end
if not list_file or opts[3] then bad("give one ORG_LIST file") end
local concurrency = tonumber(opts.concurrency or "8")
if not concurrency or concurrency < 1 or concurrency ~= math.floor(concurrency) then
  bad("--concurrency must be a positive whole number")
end
local timeout = tonumber(opts.timeout or "30")
if not timeout or timeout <= 0 then bad("--timeout must be a positive number of seconds") end

local list = cli.check(orgs.read(list_file))

---------------------------------------------------------------- checks

local function https_or_loopback(url)
  local scheme, host = tostring(url):match("^(%a+)://%[?([^/:%]]+)")
  return scheme == "https" or (scheme == "http" and (host == "localhost" or host == "::1"
    or (host or ""):match("^127%.") ~= nil))
end

-- What looks wrong with one stream (status is stream_status's answer).
local function stream_issues(s, status)
  local issues = {}
  local d = type(s.delivery) == "table" and s.delivery or {}
  if status ~= "enabled" then issues[#issues + 1] = "status is " .. tostring(status) end
  if not https_or_loopback(d.endpoint_url) then
    issues[#issues + 1] = "endpoint is not https: " .. tostring(d.endpoint_url)
  end
  local delivered = {}
  for _, e in ipairs(type(s.events_delivered) == "table" and s.events_delivered or {}) do delivered[e] = true end
  local requested = type(s.events_requested) == "table" and s.events_requested or {}
  if #requested == 0 then issues[#issues + 1] = "no events requested" end
  for _, e in ipairs(requested) do
    if not delivered[e] then issues[#issues + 1] = "requested but not delivered: " .. tostring(e) end
  end
  return issues
end

-- Lists the client's streams (or nil, message, info) for the sub-commands.
local function list_streams(okta, report)
  local streams, msg, info = okta:streams()
  if streams and #streams == 0 then report.issues[#report.issues + 1] = "no streams" end
  return streams, msg, info
end

-- Runs fn(stream) for each stream and adds the row it returns to
-- report.streams; the first failure stops the org, naming its stream.
local function each_stream(streams, report, fn)
  for _, s in ipairs(streams) do
    local row, msg, info = fn(s)
    if not row then return nil, ("stream %s: %s"):format(s.stream_id, msg), info end
    report.streams[#report.streams + 1] = row
  end
  return true
end

local function audit(okta, report)
  local streams, msg, info = list_streams(okta, report)
  if not streams then return nil, msg, info end
  return each_stream(streams, report, function(s)
    local st, smsg, sinfo = okta:stream_status(s.stream_id)
    if not st then return nil, smsg, sinfo end
    local d = type(s.delivery) == "table" and s.delivery or {}
    local entry = { stream_id = s.stream_id, status = st.status, endpoint_url = d.endpoint_url,
                    method = d.method, events_requested = s.events_requested,
                    events_delivered = s.events_delivered, issues = stream_issues(s, st.status) }
    for _, i in ipairs(entry.issues) do report.issues[#report.issues + 1] = s.stream_id .. ": " .. i end
    return entry
  end)
end

local function verify(okta, report)
  local streams, msg, info = list_streams(okta, report)
  if not streams then return nil, msg, info end
  return each_stream(streams, report, function(s)
    local ok, vmsg, vinfo = okta:verify_stream(s.stream_id)
    if not ok then return nil, vmsg, vinfo end
    return { stream_id = s.stream_id, verification = "requested" }
  end)
end

local function confirm(okta, report, entry)
  -- Listed first also where nothing can be confirmed: the credentials and
  -- the org are checked either way.
  local streams, msg, info = okta:streams()
  if not streams then return nil, msg, info end
  if not entry.listen then
    report.skipped = "no receiver (listen=) for this org"
    return true
  end
  local authorization = entry.rx_auth_env and os.getenv(entry.rx_auth_env)
  if entry.rx_auth_env and (authorization == nil or authorization == "") then
    return nil, ("environment variable %s is not set or empty"):format(entry.rx_auth_env), { kind = "config" }
  end
  if #streams == 0 then report.issues[#report.issues + 1] = "no streams" end
  return each_stream(streams, report, function(s)
    local d = type(s.delivery) == "table" and s.delivery or {}
    local path = tostring(d.endpoint_url):match("^%a+://[^/?#]*(/[^?#]*)") or "/"
    local rx, rmsg, rinfo = ssf.receiver { listen = entry.listen, path = path, authorization = authorization,
                                           verify = { jwks = okta } }
    if not rx then return nil, rmsg, rinfo end
    local set, cmsg, cinfo = okta:confirm_stream(s.stream_id, rx, { timeout = timeout })
    rx:close()
    if not set then return nil, cmsg, cinfo end
    return { stream_id = s.stream_id, confirmed = true, waited = math.floor(cmsg.waited * 1000 + 0.5) / 1000 }
  end)
end

local COMMANDS = { audit = audit, verify = verify, confirm = confirm }

---------------------------------------------------------------- running

-- Progress goes to stderr only when it is a terminal (the shell's test
-- inherits this process's stderr).
local progress = os.execute("test -t 2") == true
local done = 0

local function run(entry)
  local report = { streams = {}, issues = {} }
  local options, msg, info = orgs.options(entry)
  local okta
  if options then okta, msg, info = ssf.client(options) end
  local ok = okta and true
  if okta then
    ok, msg, info = COMMANDS[command](okta, report, entry)
    report.url = okta.org
    okta:close()
  end
  done = done + 1
  if progress then
    io.stderr:write(("\r%d/%d orgs done (last: %s)\027[K"):format(done, #list, entry.name))
  end
  if not ok then return nil, msg, info end
  return report
end

local fns = {}
for i, entry in ipairs(list) do fns[i] = function() return run(entry) end end
local results = ssf.all(fns, { concurrency = concurrency })
if progress then io.stderr:write("\n") end

---------------------------------------------------------------- output

local failed = {}
for i, r in ipairs(results) do
  if not r.ok then failed[#failed + 1] = { name = list[i].name, message = r.message, kind = r.info and r.info.kind } end
end

if opts.json then
  for i, r in ipairs(results) do
    local v = r.value or {}
    print(ssf.json.encode {
      org = list[i].name, url = v.url, command = command, ok = r.ok,
      skipped = v.skipped, error = not r.ok and r.message or nil,
      kind = not r.ok and r.info and r.info.kind or nil,
      streams = ssf.array(v.streams or {}), issues = ssf.array(v.issues or {}),
    })
  end
else
  local rows = { { "ORG", "RESULT", "STREAMS", "DETAIL" } }
  for i, r in ipairs(results) do
    local v = r.value or {}
    local result = not r.ok and "FAILED" or v.skipped and "skipped" or #v.issues > 0 and "issues" or "ok"
    local detail = not r.ok and (r.message or ""):match("[^\n]*") or v.skipped or table.concat(v.issues, "; ")
    rows[#rows + 1] = { list[i].name, result, r.ok and tostring(#v.streams) or "-",
                        (detail:gsub("%s+", " ")) }
  end
  local width = {}
  for _, row in ipairs(rows) do
    for c = 1, 3 do width[c] = math.max(width[c] or 0, #row[c]) end
  end
  for _, row in ipairs(rows) do
    print(("%-" .. width[1] .. "s  %-" .. width[2] .. "s  %" .. width[3] .. "s  %s")
      :format(row[1], row[2], row[3], row[4]))
  end
end

if #failed > 0 then
  io.stderr:write(("%d of %d orgs failed:\n"):format(#failed, #list))
  for _, f in ipairs(failed) do
    io.stderr:write(("  %s: %s\n"):format(f.name, (f.message or ""):match("[^\n]*")))
  end
  os.exit(1)
end

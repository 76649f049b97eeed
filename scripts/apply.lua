-- Streams as code: compare each org's SSF stream with a desired-state file
-- (plan) and make the org match it (apply), with a backup of every stream
-- touched and a rollback of that org's changes on any failure. Orgs run as
-- tasks, N at a time; one org's failure never stops the others.
local ssf = require "ssf"
local cli = require "ssf.cli"
local backup = require "ssf.backup"
local desired = require "ssf.desired"
local orgs = require "ssf.orgs"
local planner = require "ssf.plan"
local tasks = require "ssf.tasks"

-- Exit statuses. plan follows `terraform plan -detailed-exitcode`.
local EXIT = { ok = 0, error = 1, drift = 2, header_lost = 3, stuck = 4 }
local EXIT_SIGNAL = { SIGINT = 130, SIGTERM = 143 }

local opts, usage_error = cli.parse({ ... }, {
  usage = "plan|apply FILE [--only ORG[,ORG...]] [--json] [--concurrency N] [options]",
  usage_status = EXIT.error,
  description = [[
plan   compares each org's stream with FILE and prints the changes per org.
apply  writes a backup of every stream it will touch, then makes the changes
       (create, update, replace, delete, rotate); on any failure it rolls
       back what it changed in that org, restoring the backup.
FILE is a Lua file returning { orgs = { {name=, org=, env= or yaml=, stream=}, ... } }
(or JSON of the same shape); see scripts/examples/streams.lua. It names the
environment variables that hold each stream's authorization_header, never
the header itself: authorization_env (the header the stream should send),
old_authorization_env (the one in force before a rotate, for a rollback).
Okta never returns authorization_header, so a plan cannot see drift in it;
rotate = true in FILE sets it from authorization_env.
--confirm LISTEN proves delivery for every org that changed and whose
endpoint_url is a loopback URL on LISTEN's port, or that names its own
listen address in FILE: a receiver runs there and the verification SET must
arrive, or that org is rolled back.
Exit status of plan: 0 no drift, 2 drift, 1 an error (in any org or in the
command). Of apply: 0 done; 1 an org failed and nothing it changed is left
changed; 3 rolled back, but an authorization_header could not be put back;
4 a rollback failed (the backup files and the failure are printed);
130/143 stopped by SIGINT/SIGTERM, after rolling back.]],
  options = {
    { "--only", "ORG", "act only on these orgs (names, comma separated)" },
    { "--json", nil, "one JSON object per org instead of text" },
    { "--concurrency", "N", "orgs at once (default 8)" },
    { "--backup-dir", "DIR", "apply: where backups go (default: the current directory)" },
    { "--confirm", "LISTEN", "apply: prove delivery with a receiver on LISTEN (e.g. 127.0.0.1:8080)" },
    { "--confirm-timeout", "S", "apply: seconds to wait for each verification SET (default 60)" },
  },
})

local command, file = opts[1], opts[2]
if command ~= "plan" and command ~= "apply" then usage_error("the sub-command is plan or apply") end
if not file or opts[3] then usage_error("give one desired-state FILE") end
local concurrency = tonumber(opts.concurrency or "8")
if not concurrency or concurrency < 1 or concurrency ~= math.floor(concurrency) then
  usage_error("--concurrency must be a positive whole number")
end
local confirm_timeout = tonumber(opts.confirm_timeout or "60")
if not confirm_timeout or confirm_timeout <= 0 then usage_error("--confirm-timeout must be a positive number") end
if opts.confirm and not opts.confirm:match(":%d+$") then
  usage_error("--confirm takes HOST:PORT, the address the receiver listens on")
end
if command == "plan" and (opts.confirm or opts.backup_dir) then
  usage_error("--confirm and --backup-dir are for apply")
end

local list = cli.check(desired.read(file))
if opts.only then
  local wanted, known, kept = {}, {}, {}
  for name in opts.only:gmatch("[^,%s]+") do wanted[name] = true end
  for _, o in ipairs(list) do
    known[o.name] = true
    if wanted[o.name] then kept[#kept + 1] = o end
  end
  for name in pairs(wanted) do
    if not known[name] then usage_error(("--only: %s names no org in %s"):format(name, file)) end
  end
  list = kept
end

---------------------------------------------------------------- helpers

local as_body = planner.body

-- The header in $name; nil, message when the variable is unset or empty.
local function header_from(name)
  local v = os.getenv(name)
  if not v or v == "" then return nil, ("environment variable %s is not set or empty"):format(name) end
  return v
end

local function fail(msg) return nil, msg, { kind = "config" } end

-- "host:port" of a URL (the default port for its scheme) and its path.
local function authority(url)
  local scheme, host, port, path = tostring(url):match("^(%a+)://%[?([^/:%]]+)%]?:?(%d*)([^?#]*)")
  if not scheme then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return host, port, path ~= "" and path or "/"
end

local function is_loopback(host)
  return host == "localhost" or host == "::1" or (host or ""):match("^127%.") ~= nil
end

-- Where this org's receiver listens for --confirm, and the path it
-- serves; nil when no receiver is reachable for it from here.
local function receiver_address(o, endpoint_url)
  if not opts.confirm then return nil end
  local host, port, path = authority(endpoint_url)
  if o.listen then return o.listen, path end
  local lport = tonumber(opts.confirm:match(":(%d+)$"))
  if host and is_loopback(host) and port == lport then return opts.confirm, path end
end

-- One receiver per listen address at a time: orgs that share one take
-- turns (a task waits on the event of the one before it).
local listening = {}
local function with_listen(address, fn)
  while listening[address] do listening[address].wait() end
  local turn = tasks.event()
  listening[address] = turn
  local results = table.pack(pcall(fn))
  listening[address] = nil
  turn.set()
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

---------------------------------------------------------------- one org

-- The client and the changes for one org: report gets url, changes and
-- notes. Returns okta, current streams; or nil, message, info.
local function read_org(o, report)
  local options, msg, info = orgs.options(o)
  if not options then return nil, msg, info end
  local okta
  okta, msg, info = ssf.client(options)
  if not okta then return nil, msg, info end
  report.url = okta.org
  local current
  current, msg, info = okta:streams()
  if not current then
    okta:close()
    return nil, msg, info
  end
  local changes, notes, why = planner.plan(o.stream, current)
  if not changes then
    okta:close()
    return nil, notes, why -- here: the message and its info
  end
  report.changes, report.notes = changes, notes
  return okta, current
end

-- The variables an apply of these changes needs, read before any change.
local function headers_for(o, changes)
  local s = o.stream or {}
  local h = {}
  for _, c in ipairs(changes) do
    if c.action == "replace" and not s.authorization_env then
      return fail("a replace (PUT) drops delivery.authorization_header: name the variable that holds it " ..
        "in authorization_env")
    end
  end
  for _, key in ipairs { "authorization_env", "old_authorization_env" } do
    if s[key] then
      local v, msg = header_from(s[key])
      if not v then return fail(msg) end
      h[key] = v
    end
  end
  return h
end

local function write_backups(o, okta, current, changes, report)
  local saved = {}
  for _, c in ipairs(changes) do
    local id = c.stream_id
    if id and not saved[id] then
      local stream
      for _, s in ipairs(current) do
        if s.stream_id == id then stream = s end
      end
      local path, ok, msg, exists
      for n = 1, 9 do
        path = backup.path(opts.backup_dir, id .. (n > 1 and ("-" .. n) or ""), o.name)
        ok, msg, exists = backup.write(path, stream, "ssflua apply.lua", okta.org)
        if ok or not exists then break end
      end
      if not ok then return fail("cannot write the backup: " .. msg) end
      saved[id] = { stream = stream, path = path }
      report.backups[#report.backups + 1] = path
    end
  end
  return saved
end

-- Makes one change; returns the stream as it now is (or true for a
-- delete) and the answer's meta, or nil, message, info.
local function carry_out(okta, c, h, latest)
  if c.action == "create" then
    local cfg = as_body(c.config)
    if h.authorization_env then cfg.delivery.authorization_header = h.authorization_env end
    return okta:create_stream(cfg)
  elseif c.action == "update" then
    return okta:update_stream(as_body(c.config))
  elseif c.action == "replace" then
    local cfg = as_body(c.config)
    cfg.delivery.authorization_header = h.authorization_env
    return okta:replace_stream(cfg)
  elseif c.action == "rotate" then
    local cfg = as_body(latest[c.stream_id])
    cfg.delivery.authorization_header = h.authorization_env
    return okta:update_stream(cfg)
  elseif c.action == "delete" then
    return okta:delete_stream(c.stream_id)
  end
  error("unknown change " .. tostring(c.action))
end

-- The managed fields of a backup as a desired state: what a restored
-- stream must match (a field the backup lacks must be absent).
local function as_desired(stream)
  local function str(v) return type(v) == "string" and v or ssf.null end
  local d = type(stream.delivery) == "table" and stream.delivery or {}
  local events = {}
  for _, e in ipairs(type(stream.events_requested) == "table" and stream.events_requested or {}) do
    if type(e) == "string" then events[#events + 1] = e end
  end
  return { stream_id = stream.stream_id, delivery = { method = str(d.method), endpoint_url = str(d.endpoint_url) },
           events_requested = events, format = str(stream.format) }
end

-- Undoes what was done in this org, newest first. Returns the outcome:
-- "rolled_back", "header_lost" or "stuck", and lines saying what it did.
local function roll_back(okta, o, state)
  local lines, outcome = {}, "rolled_back"
  local s = o.stream or {}
  local restored = {}
  for i = #state.done, 1, -1 do
    local d = state.done[i]
    if d.action == "create" then
      local ok, msg, info = okta:delete_stream(d.stream_id)
      -- Gone already: a rollback cut short by a signal may have done it.
      if ok or (info and info.status == 404) then
        lines[#lines + 1] = ("deleted stream %s, created by this run"):format(d.stream_id)
      else
        lines[#lines + 1] = ("could not delete stream %s, created by this run: %s"):format(d.stream_id, msg)
        outcome = "stuck"
      end
    elseif d.action ~= "delete" and not restored[d.stream_id] then
      restored[d.stream_id] = true
      local saved = state.saved[d.stream_id]
      local changed = state.header_changed[d.stream_id]
      -- The header in force before this run: the file's, unless the file
      -- asks for a rotate; then only old_authorization_env knows it.
      local key = s.rotate and "old_authorization_env" or "authorization_env"
      local header_var, header = s[key], state.headers[key]
      local body = as_body(saved.stream)
      local ok, msg
      if header then
        -- PUT puts back exactly what was saved, fields this run added gone.
        body.delivery.authorization_header = header
        ok, msg = okta:replace_stream(body)
      else
        -- PATCH keeps the header the stream has now.
        ok, msg = okta:update_stream(body)
      end
      if not ok then
        lines[#lines + 1] = ("could not restore stream %s from %s: %s"):format(d.stream_id, saved.path, msg)
        outcome = "stuck"
      else
        -- Read it back: the rollback counts once the org holds the backup.
        local now
        now, msg = okta:stream(d.stream_id)
        local left = now and planner.plan(as_desired(saved.stream), { now })
        if not left or #left > 0 then
          lines[#lines + 1] = ("stream %s does not match %s after the restore%s"):format(d.stream_id, saved.path,
            now and "" or (": " .. tostring(msg)))
          outcome = "stuck"
        else
          lines[#lines + 1] = ("restored stream %s from %s%s"):format(d.stream_id, saved.path,
            header and (" with the authorization_header from $" .. header_var) or "")
          if changed and not header then
            lines[#lines + 1] = ("the authorization_header of stream %s stays the one from $%s: the one before " ..
              "cannot be read from Okta; name its variable in old_authorization_env"):format(d.stream_id,
              s.authorization_env)
            if outcome == "rolled_back" then outcome = "header_lost" end
          end
        end
      end
    end
  end
  return outcome, lines
end

-- Proof of delivery for a stream this run changed; true when proven or
-- when no receiver is reachable for it (said in report.confirm).
local function confirm(okta, o, stream, state, report)
  local address, path = receiver_address(o, stream.delivery and stream.delivery.endpoint_url)
  if not address then
    if opts.confirm then report.confirm = { stream_id = stream.stream_id, skipped = "no receiver reachable here" } end
    return true
  end
  return with_listen(address, function()
    local rx, msg, info = ssf.receiver { listen = address, path = path, authorization = state.headers.authorization_env,
                                         verify = { jwks = okta, audience = stream.aud } }
    if not rx then return nil, "cannot start the receiver: " .. msg, info end
    local set, report_or_msg, cinfo = okta:confirm_stream(stream.stream_id, rx, { timeout = confirm_timeout })
    rx:close()
    if not set then return nil, "delivery not proven: " .. report_or_msg, cinfo end
    report.confirm = { stream_id = stream.stream_id, jti = set.claims and set.claims.jti,
                       waited = math.floor(report_or_msg.waited * 1000 + 0.5) / 1000 }
    return true
  end)
end

-- Which signal an error from the host's hook stands for.
local function signal_of(err)
  local e = tostring(err)
  if e:find("terminated!$") then return "SIGTERM" end
  if e:find("interrupted!$") or e:find("^interrupted$") then return "SIGINT" end
end

-- The orgs whose changes are under way, for a rollback after a signal.
local pending = {}

local function apply_org(o, report)
  local okta, current, info = read_org(o, report)
  if not okta then return nil, current, info end
  local changes = report.changes
  if #changes == 0 then
    okta:close()
    report.status = "in_sync"
    return report
  end
  local headers, msg
  headers, msg, info = headers_for(o, changes)
  local saved
  if headers then saved, msg, info = write_backups(o, okta, current, changes, report) end
  if not saved then
    okta:close()
    return nil, msg, info
  end

  local state = { done = {}, saved = saved, header_changed = {}, headers = headers, okta = okta, o = o,
                  report = report }
  pending[state] = true
  local latest = {}
  for _, s in ipairs(current) do latest[s.stream_id] = s end
  local outcome = table.pack(pcall(function()
    local last
    for _, c in ipairs(changes) do
      local result, meta, cinfo = carry_out(okta, c, headers, latest)
      if not result then return nil, ("%s %s: %s"):format(c.action, c.stream_id or "(new stream)", meta), cinfo end
      local id = c.stream_id or result.stream_id
      state.done[#state.done + 1] = { action = c.action, stream_id = id, request_id = meta.request_id,
                                      status = meta.status }
      -- A replace sends $authorization_env too: a change when the file
      -- says the stream holds another header (it asks for a rotate).
      if c.action == "rotate" or (c.action == "replace" and o.stream.rotate) then state.header_changed[id] = true end
      if type(result) == "table" then
        latest[id] = result
        last = result
      end
    end
    if last then return confirm(okta, o, last, state, report) end
    return true
  end))
  report.done = state.done
  if outcome[1] and outcome[2] then
    pending[state] = nil
    okta:close()
    report.status = "applied"
    return report
  end
  local err, einfo = outcome[3], outcome[4]
  if not outcome[1] then
    local sig = signal_of(outcome[2])
    err = sig and ("stopped by " .. sig) or ("stopped by an error: " .. tostring(outcome[2]))
    einfo = { kind = sig and "interrupted" or "error" }
    report.signal = sig
  end
  if #state.done > 0 then report.status, report.rollback = roll_back(okta, o, state) end
  pending[state] = nil
  okta:close()
  return nil, err, einfo
end

local function plan_org(o, report)
  local okta, msg, info = read_org(o, report)
  if not okta then return nil, msg, info end
  okta:close()
  report.status = #report.changes > 0 and "drift" or "in_sync"
  return report
end

---------------------------------------------------------------- running

local reports, fns = {}, {}
for i, o in ipairs(list) do
  reports[i] = { org = o.name, backups = {} }
  fns[i] = function()
    local work = command == "plan" and plan_org or apply_org
    return work(o, reports[i])
  end
end

local ran, results = pcall(ssf.all, fns, { concurrency = concurrency })
local signal
for _, rep in ipairs(reports) do signal = signal or rep.signal end
if not ran then
  -- A signal reached the scheduler itself: the orgs under way are rolled
  -- back here, one at a time, before the exit.
  signal = signal_of(results) or "SIGINT"
  results = {}
  local finished = { in_sync = true, drift = true, applied = true }
  for i = 1, #list do
    results[i] = finished[reports[i].status] and { ok = true } or
      { ok = false, message = "stopped by " .. signal, info = { kind = "interrupted" } }
  end
  for state in pairs(pending) do
    state.report.done = state.done
    state.report.status, state.report.rollback = roll_back(state.okta, state.o, state)
  end
end

---------------------------------------------------------------- output

local function json_list(t)
  return ssf.array(t or {})
end

-- A change as JSON: no config except for a create (there is never a
-- secret in it; the plan leaves authorization_header out).
local function change_json(c)
  local fields = {}
  for i, f in ipairs(c.fields or {}) do
    local function v(x) return type(x) == "table" and json_list(x) or x end
    fields[i] = { field = f.field, old = v(f.old) or ssf.null, new = v(f.new), added = f.added and json_list(f.added),
                  removed = f.removed and json_list(f.removed) }
  end
  return { action = c.action, stream_id = c.stream_id, fields = c.fields and json_list(fields),
           config = c.action == "create" and c.config or nil, authorization_env = c.authorization_env }
end

local worst = EXIT.ok
local function at_least(code)
  local rank = { [EXIT.ok] = 0, [EXIT.drift] = 1, [EXIT.error] = 2, [EXIT.header_lost] = 3, [EXIT.stuck] = 4 }
  if rank[code] > rank[worst] then worst = code end
end

local counts = { changed = 0, in_sync = 0, failed = 0 }
for i, r in ipairs(results) do
  local rep = reports[i]
  if r.ok then
    if rep.status == "in_sync" then counts.in_sync = counts.in_sync + 1 else counts.changed = counts.changed + 1 end
    if rep.status == "drift" then at_least(EXIT.drift) end
  else
    counts.failed = counts.failed + 1
    rep.error = (r.message or ""):match("[^\n]*")
    rep.kind = r.info and r.info.kind
    rep.status = rep.status or "failed"
    at_least(rep.status == "stuck" and EXIT.stuck or rep.status == "header_lost" and EXIT.header_lost or EXIT.error)
  end
end

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

if opts.json then
  for _, rep in ipairs(reports) do
    local changes = {}
    for i, c in ipairs(rep.changes or {}) do changes[i] = change_json(c) end
    local done = {}
    for i, d in ipairs(rep.done or {}) do done[i] = d end
    print(ssf.json.encode {
      org = rep.org, url = rep.url, command = command, status = rep.status, error = rep.error, kind = rep.kind,
      changes = json_list(changes), notes = json_list(rep.notes), done = command == "apply" and json_list(done) or nil,
      backups = command == "apply" and json_list(rep.backups) or nil, rollback = rep.rollback and json_list(rep.rollback),
      confirm = rep.confirm,
    })
  end
else
  for _, rep in ipairs(reports) do
    local head = rep.org .. (rep.url and (" (" .. rep.url .. ")") or "")
    local n = #(rep.changes or {})
    if rep.status == "in_sync" then
      print(head .. ": in sync")
    elseif rep.status == "drift" then
      print(("%s: %s"):format(head, plural(n, "change")))
    elseif rep.status == "applied" then
      print(("%s: applied %s"):format(head, plural(n, "change")))
    else
      print(("%s: FAILED: %s"):format(head, rep.error or "?"))
    end
    if command == "plan" or rep.status ~= "applied" then
      for _, line in ipairs(planner.describe(rep.changes or {})) do print("  " .. line) end
    end
    if rep.status == "failed" and command == "apply" and rep.changes then
      print("  nothing was changed in this org")
    end
    for _, d in ipairs(rep.done or {}) do
      print(("  done: %s %s (HTTP %s, request %s)"):format(d.action, d.stream_id, tostring(d.status),
        tostring(d.request_id)))
    end
    for _, b in ipairs(rep.backups or {}) do print("  backup: " .. b) end
    if rep.confirm then
      print(rep.confirm.skipped and ("  delivery not confirmed: " .. rep.confirm.skipped) or
        ("  delivery proven: verification SET %s arrived after %.1f s"):format(tostring(rep.confirm.jti),
          rep.confirm.waited))
    end
    for _, line in ipairs(rep.rollback or {}) do print("  rollback: " .. line) end
    if command == "plan" then
      for _, note in ipairs(rep.notes or {}) do print("  note: " .. note) end
    end
  end
  local verb = command == "plan" and "to change" or "changed"
  print(("%s: %s %s, %d in sync, %d failed"):format(command == "plan" and "Plan" or "Apply",
    plural(counts.changed, "org"), verb, counts.in_sync, counts.failed))
end

if signal then os.exit(EXIT_SIGNAL[signal]) end
os.exit(worst)

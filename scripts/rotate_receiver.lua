-- Move an Okta SSF stream to a new receiver endpoint and/or authorization
-- header, safely: back up the current configuration, PATCH the delivery,
-- request a verification event, and restore the backup if that fails or
-- the run is interrupted.
local ssf = require "ssf"
local cli = require "ssf.cli"
local backup_file = require "ssf.backup"
-- 128 random bits as hex (OpenSSL's RAND_bytes), for states and secrets.
local random_id = require("ssf.jws").random_id

-- Exit statuses besides cli's 0, 1 and 2 (documented in --help and README).
local EXIT_HEADER_LOST = 3 -- rolled back, but the old authorization_header could not be put back
local EXIT_STUCK = 4       -- the rollback failed: the stream keeps the new configuration
local EXIT_SIGNAL = { SIGINT = 130, SIGTERM = 143 }

local opts, usage_error = cli.parse({ ... }, {
  usage = "[--endpoint URL] [--auth-header-env VAR] [--old-auth-header-env VAR] [options]",
  description = [[
Moves the stream to a new receiver: saves the current configuration to a
backup file, PATCHes delivery.endpoint_url and/or delivery.authorization_header,
asks Okta to send a verification event, and prints what changed. If the
verification request fails, or the run is stopped by SIGINT or SIGTERM before
it is done, the previous configuration is restored.
With --confirm, a receiver runs here on LISTEN and the rotation is kept only
if the verification SET really arrives there (the stream points at the
receiver's URL, or at --endpoint if a proxy forwards that to LISTEN; then
--auth-header-env is required, so the header the stream keeps is one you have);
otherwise the backup is restored and the reason given.
Okta never returns delivery.authorization_header: a rollback can put the old
one back only if --old-auth-header-env names a variable holding it.
Headers are read from environment variables, never from the command line,
so they stay out of shell history and process lists.
While a run is under way, a file ssf-stream-<id>.in-progress lies beside the
backup; a later run that finds it (after a kill -9, say) stops and prints the
exact --restore command.
Configuration (see README.md): OKTA_CLIENT_ORGURL, and OKTA_CLIENT_TOKEN
(Bearer), or OKTA_CLIENT_AUTHORIZATIONMODE=PrivateKey with OKTA_CLIENT_CLIENTID,
OKTA_CLIENT_PRIVATEKEY (a file, or PEM text; literal \n escapes are accepted),
OKTA_CLIENT_PRIVATEKEYID, OKTA_CLIENT_SCOPES and, for an encrypted key,
OKTA_CLIENT_PRIVATEKEYPASSPHRASE; or a refresh token (RefreshToken mode).
Exit status: 0 done; 1 failed, the stream as it was; 2 usage error;
3 rolled back, but the old authorization_header could not be put back;
4 the rollback failed (run the printed --restore command);
130/143 stopped by SIGINT/SIGTERM, after the rollback (its outcome is printed).]],
  options = {
    { "--endpoint", "URL", "new delivery.endpoint_url" },
    { "--auth-header-env", "VAR", "take the new delivery.authorization_header from $VAR" },
    { "--old-auth-header-env", "VAR", "the current authorization_header, from $VAR, for a rollback or --restore" },
    { "--stream-id", "ID", "stream to change (default: this client's only stream)" },
    { "--backup", "FILE", "backup file (default: ssf-stream-<id>-<UTC time>.json)" },
    { "--confirm", "LISTEN", "run a receiver on LISTEN (e.g. 127.0.0.1:0) and prove delivery to it" },
    { "--confirm-timeout", "S", "how long to wait for the verification SET (default 60)" },
    { "--dry-run", nil, "print the change and send no write" },
    { "--restore", "FILE", "put back the configuration saved in a backup file" },
  },
})
if #opts > 0 then usage_error("unexpected argument '" .. opts[1] .. "'") end
if opts.restore and (opts.endpoint or opts.auth_header_env or opts.confirm) then
  usage_error("--restore cannot be combined with --endpoint, --auth-header-env or --confirm")
end
if not opts.restore and not opts.endpoint and not opts.auth_header_env and not opts.confirm then
  usage_error("nothing to change: give --endpoint, --auth-header-env or --confirm")
end
if opts.confirm and opts.endpoint and not opts.auth_header_env then
  usage_error("--confirm with --endpoint needs --auth-header-env: the stream would keep a generated " ..
    "header that only this run knows")
end
local confirm_timeout = tonumber(opts.confirm_timeout or "60")
if not confirm_timeout or confirm_timeout <= 0 then usage_error("--confirm-timeout must be a positive number") end
if opts.endpoint and not (opts.endpoint:match("^https://[^/%s]+")
    or opts.endpoint:match("^http://127%.%d+%.%d+%.%d+[:/]")
    or opts.endpoint:match("^http://localhost[:/]")) then
  usage_error("--endpoint must be an https URL (http only for loopback receivers)")
end

local new_header = opts.auth_header_env and cli.env(opts.auth_header_env)
local old_header = opts.old_auth_header_env and cli.env(opts.old_auth_header_env)

local okta <close> = cli.check(ssf.client())

local function shell_quote(s)
  if s:match("^[%w%./_:=@%-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The exact command that puts a backup back.
local function restore_command(backup, header_var)
  return ("ssflua %s --restore %s%s"):format(shell_quote(arg[0]), shell_quote(backup),
    header_var and (" --old-auth-header-env " .. header_var) or "")
end

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return ssf.json.decode(text)
end

local function read_backup(path)
  return cli.check(backup_file.read(path))
end

-- Writes path through a temporary file and a rename, so it is whole or absent.
local function write_json(path, value)
  local tmp = path .. ".tmp"
  local out, err = io.open(tmp, "wb")
  if not out then return nil, err end
  local ok, werr = out:write(ssf.json.encode(value), "\n")
  ok = ok and out:close()
  if not ok or not os.rename(tmp, path) then
    os.remove(tmp)
    return nil, tostring(werr or "cannot rename " .. tmp)
  end
  return true
end

-- Never overwrites: an older backup may be the only copy of a good config.
local function write_backup(path, stream)
  local ok, err, exists = backup_file.write(path, stream, "ssflua rotate_receiver.lua", okta.org)
  if exists then cli.fail(path .. " already exists; choose another --backup file") end
  if not ok then cli.fail("cannot write backup " .. path .. ": " .. err) end
end

-- The in-progress file: beside the backup, named for the stream, so the
-- next run from the same place finds it whatever --backup it is given.
local function marker_path(backup, stream_id)
  return (backup:match("^(.*/)") or "") .. ("ssf-stream-%s.in-progress"):format(stream_id)
end

local function is_loopback(url)
  return type(url) == "string" and (url:match("^http://127%.%d+%.%d+%.%d+[:/]") or url:match("^http://localhost[:/]")
    or url:match("^http://%[::1%][:/]")) ~= nil
end

local function pick_stream()
  if opts.stream_id then return cli.check(okta:stream(opts.stream_id)) end
  local list = cli.check(okta:streams())
  if #list == 0 then cli.fail("this client has no stream on " .. okta.org .. "; create one first") end
  if #list > 1 then cli.fail("this client sees several streams; choose one with --stream-id") end
  return list[1]
end

-- The stream as PUT/PATCH expect it: what GET returned, without the local
-- "status" or anything the caller does not own.
local function as_update(stream)
  local body = {}
  for k, v in pairs(stream) do body[k] = v end
  body.delivery = {}
  for k, v in pairs(stream.delivery or {}) do body.delivery[k] = v end
  return body
end

local function describe(meta)
  return ("HTTP %d, request %s"):format(meta.status, meta.request_id or "-")
end

local function default_backup(id)
  return backup_file.path(nil, id)
end

if opts.restore then
  local saved = read_backup(opts.restore)
  local cfg = as_update(saved)
  if old_header then cfg.delivery.authorization_header = old_header end
  local marker = marker_path(opts.restore, tostring(saved.stream_id))
  local pending = read_json(marker)
  local ours = type(pending) == "table" and pending.backup == opts.restore
  if opts.dry_run then
    print(("dry run: would restore stream %s to endpoint %s%s"):format(
      saved.stream_id, tostring(cfg.delivery.endpoint_url), old_header and " and the header from $" ..
      opts.old_auth_header_env or ""))
    return
  end
  local ok, meta = okta:update_stream(cfg)
  cli.check(ok, meta)
  print(("restored stream %s from %s (%s)"):format(saved.stream_id, opts.restore, describe(meta)))
  if ours then os.remove(marker) end
  if old_header then
    print(("delivery.authorization_header set again from $%s"):format(opts.old_auth_header_env))
  elseif ours and pending.header_changed then
    io.stderr:write(("rotate_receiver.lua: the authorization_header was not restored: the run that wrote %s " ..
      "changed it and the backup cannot hold it; the stream still sends that run's header to %s, which will " ..
      "refuse it; give the old one with --old-auth-header-env VAR\n"):format(opts.restore,
      tostring(cfg.delivery.endpoint_url)))
    os.exit(EXIT_HEADER_LOST)
  else
    print("note: the authorization_header was not in the backup; give it with --old-auth-header-env if it changed")
  end
  return
end

local current = pick_stream()
local id = current.stream_id
local old_endpoint = current.delivery and current.delivery.endpoint_url
local backup = opts.backup or default_backup(id)
local marker = marker_path(backup, id)

-- A run that never finished (killed, or a --confirm whose receiver is gone
-- again) left its in-progress file: the stream must be put back first,
-- or this run's backup would save the temporary configuration.
local pending = read_json(marker)
if type(pending) == "table" and type(pending.backup) == "string" then
  if pending.endpoint_url == old_endpoint then
    cli.fail(("a previous run (started %s) left stream %s delivering to %s; put its backup back first:\n  %s\n" ..
      "(or remove %s if the stream is right as it is)"):format(tostring(pending.started), id, tostring(old_endpoint),
      restore_command(pending.backup, pending.old_auth_header_env), marker))
  end
  io.stderr:write(("note: %s is from a run that did not finish, but the stream has moved on since; removed it\n")
    :format(marker))
  os.remove(marker)
elseif is_loopback(old_endpoint) then
  io.stderr:write(("note: stream %s delivers to %s, a loopback receiver that a --confirm run may have left; " ..
    "if so, put that run's backup back with: %s\n"):format(id, old_endpoint,
    restore_command("ssf-stream-" .. id .. "-<time>.json", opts.old_auth_header_env)))
end

-- With --confirm the receiver runs first: its URL and secret go into the
-- new configuration. Without a header from --auth-header-env, a fresh
-- random one is shared between the stream and the receiver.
local rx, generated
if opts.confirm then
  generated = not new_header
  new_header = new_header or ("Bearer " .. random_id())
  local err
  rx, err = ssf.receiver { listen = opts.confirm, authorization = new_header,
                           verify = { jwks = okta, audience = current.aud } }
  if not rx then cli.fail("cannot start the receiver: " .. tostring(err)) end
  opts.endpoint = opts.endpoint or rx.endpoint_url
end

local new = as_update(current)
if opts.endpoint then new.delivery.endpoint_url = opts.endpoint end
if new_header then new.delivery.authorization_header = new_header end

print(("stream %s on %s"):format(id, okta.org))
local changed = rx ~= nil
if opts.endpoint then
  changed = changed or opts.endpoint ~= old_endpoint
  print(("  delivery.endpoint_url          %s -> %s%s"):format(tostring(old_endpoint), opts.endpoint,
    opts.endpoint == old_endpoint and " (unchanged)" or ""))
end
if generated then
  print("  delivery.authorization_header  (not readable from Okta) -> a new random secret the receiver expects")
elseif new_header then
  changed = true
  print(("  delivery.authorization_header  (not readable from Okta) -> value of $%s (%d characters)")
    :format(opts.auth_header_env, #new_header))
else
  print("  delivery.authorization_header  left out of the PATCH (Okta does not return it)")
end

if opts.dry_run then
  print(("dry run: no change sent (the backup would go to %s)"):format(backup))
  return
end
if not changed then
  print("nothing to change")
  return
end

-- Puts the backup back, with the old header when it was given, and stops
-- with the reason. `status` is the exit status when all was restored.
local function roll_back(reason, status)
  io.stderr:write("rotate_receiver.lua: ", reason, "\n")
  if rx then rx:close() end
  local cfg = as_update(current)
  if old_header then cfg.delivery.authorization_header = old_header end
  local restored, rmsg = okta:update_stream(cfg)
  if not restored then
    io.stderr:write(("rotate_receiver.lua: restoring failed too (%s); the stream keeps the new configuration; " ..
      "restore it with:\n  %s\n"):format(rmsg, restore_command(backup, opts.old_auth_header_env)))
    os.exit(status == 1 and EXIT_STUCK or status)
  end
  os.remove(marker)
  if old_header or not new_header then
    cli.fail(("restored the previous configuration from %s%s"):format(backup,
      old_header and (" (with the authorization_header from $" .. opts.old_auth_header_env .. ")") or ""), status)
  end
  io.stderr:write(("rotate_receiver.lua: put back delivery.endpoint_url %s from %s, but NOT the old " ..
    "delivery.authorization_header: Okta never returns it and --old-auth-header-env was not given. The stream " ..
    "keeps %s, so the receiver at %s will refuse every push (HTTP 401) until it is given that header or the " ..
    "stream gets its old one: ssflua %s --stream-id %s --auth-header-env VAR_WITH_THE_OLD_HEADER\n"):format(
    tostring(old_endpoint), backup,
    generated and "a random header generated for this run, which nobody has" or
      ("the new header from $" .. opts.auth_header_env),
    tostring(old_endpoint), shell_quote(arg[0]), id))
  os.exit(status == 1 and EXIT_HEADER_LOST or status)
end

-- Which signal an error from the host's hook stands for.
local function signal_of(err)
  local e = tostring(err)
  if e:find("terminated!$") then return "SIGTERM" end
  if e:find("interrupted!$") then return "SIGINT" end
end

write_backup(backup, current)
print("backup saved to " .. backup)

-- From the in-progress file to the proof, SIGINT and SIGTERM (which ssflua
-- turns into errors, and which cut short any wait in ssf) roll back.
local ok_window, outcome, detail, extra = pcall(function()
  local ok, err = write_json(marker, {
    backup = backup, stream_id = id, endpoint_url = new.delivery.endpoint_url,
    header_changed = new_header ~= nil, old_auth_header_env = opts.old_auth_header_env,
    started = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  })
  if not ok then return "failed", "cannot write " .. marker .. ": " .. tostring(err) end

  local updated, meta, info = okta:update_stream(new)
  if not updated then
    -- An HTTP error means Okta refused the change; anything else leaves it unknown.
    if info.kind == "http" then
      os.remove(marker)
      return "failed", meta
    end
    if info.kind == "interrupted" then return "interrupted", nil end
    return "rollback", "the update may or may not have been applied: " .. tostring(meta)
  end
  print("updated the stream (" .. describe(meta) .. ")")

  if rx then
    print(("waiting up to %g s for the verification SET at %s"):format(confirm_timeout, rx.endpoint_url))
    local set, report, rinfo = okta:confirm_stream(id, rx, { timeout = confirm_timeout })
    if not set then
      if rinfo and rinfo.kind == "interrupted" then return "interrupted", nil end
      return "rollback", "delivery not proven: " .. tostring(report)
    end
    rx:close()
    -- Delivered to a receiver that stops with this run: the in-progress
    -- file stays, so the next run offers to put the backup back.
    if not is_loopback(new.delivery.endpoint_url) then os.remove(marker) end
    return "proven", set, report
  end

  local state = random_id()
  local vok, vmsg, vinfo = okta:verify_stream(id, state)
  if not vok then
    if vinfo and vinfo.kind == "interrupted" then return "interrupted", nil end
    return "rollback", "verification request failed: " .. vmsg
  end
  os.remove(marker)
  return "requested", vmsg, state
end)

if not ok_window then
  local sig = signal_of(outcome)
  if not sig then roll_back("stopped by an error before the change was proven: " .. tostring(outcome), 1) end
  roll_back(("stopped by %s before the change was proven; rolling back"):format(sig), EXIT_SIGNAL[sig])
elseif outcome == "interrupted" then
  -- A wait cut short by a signal that the host did not turn into an error
  -- (lua5.4 without ssflua's hook): roll back all the same.
  roll_back("interrupted before the change was proven; rolling back", EXIT_SIGNAL.SIGINT)
elseif outcome == "failed" then
  cli.fail(detail)
elseif outcome == "rollback" then
  roll_back(detail, 1)
elseif outcome == "proven" then
  local set, report = detail, extra
  print(("delivery proven: verification SET %s with state %s arrived after %.1f s, signature checked")
    :format(tostring(set.claims.jti), report.state, report.waited))
  if #report.unrelated > 0 then
    print("other SETs that arrived meanwhile: " .. table.concat(report.unrelated, ", "))
  end
  if is_loopback(new.delivery.endpoint_url) then
    print(("note: the stream now delivers to %s, which stops with this run; put the old configuration back with:\n  %s")
      :format(new.delivery.endpoint_url, restore_command(backup, opts.old_auth_header_env)))
  end
else
  print(("verification requested (%s), state %s"):format(describe(detail), extra))
  print("Okta's answer means the verification event was queued; it does not prove the receiver got it.")
  print("Run with --confirm LISTEN to prove delivery, or check your receiver's log for a SET with that state.")
end

-- Move an Okta SSF stream to a new receiver endpoint and/or authorization
-- header, safely: back up the current configuration, PATCH the delivery,
-- request a verification event, and restore the backup if that fails.
local ssf = require "ssf"
local cli = require "ssf.cli"
-- 128 random bits as hex (OpenSSL's RAND_bytes), for states and secrets.
local random_id = require("ssf.jws").random_id

local opts, usage_error = cli.parse({ ... }, {
  usage = "[--endpoint URL] [--auth-header-env VAR] [options]",
  description = [[
Moves the stream to a new receiver: saves the current configuration to a
backup file, PATCHes delivery.endpoint_url and/or delivery.authorization_header,
asks Okta to send a verification event, and prints what changed. If the
verification request fails, the previous configuration is restored.
With --confirm, a receiver runs here on LISTEN and the rotation is kept only
if the verification SET really arrives there (the stream points at the
receiver's URL, or at --endpoint if a proxy forwards that to LISTEN);
otherwise the backup is restored and the reason given.
The new authorization header is read from an environment variable, never
from the command line, so it stays out of shell history and process lists.
Configuration: OKTA_CLIENT_ORGURL and OKTA_CLIENT_TOKEN (see README.md).]],
  options = {
    { "--endpoint", "URL", "new delivery.endpoint_url" },
    { "--auth-header-env", "VAR", "take the new delivery.authorization_header from $VAR" },
    { "--stream-id", "ID", "stream to change (default: this client's only stream)" },
    { "--backup", "FILE", "backup file (default: ssf-stream-<id>-<UTC time>.json)" },
    { "--confirm", "LISTEN", "run a receiver on LISTEN (e.g. 127.0.0.1:0) and prove delivery to it" },
    { "--confirm-timeout", "S", "how long to wait for the verification SET (default 60)" },
    { "--dry-run", nil, "print the change and send no write" },
    { "--restore", "FILE", "put back the configuration saved in a backup file" },
  },
})
if #opts > 0 then usage_error("unexpected argument '" .. opts[1] .. "'") end
if opts.restore and (opts.endpoint or opts.auth_header_env) then
  usage_error("--restore cannot be combined with --endpoint or --auth-header-env")
end
if not opts.restore and not opts.endpoint and not opts.auth_header_env and not opts.confirm then
  usage_error("nothing to change: give --endpoint, --auth-header-env or --confirm")
end
local confirm_timeout = tonumber(opts.confirm_timeout or "60")
if not confirm_timeout or confirm_timeout <= 0 then usage_error("--confirm-timeout must be a positive number") end
if opts.endpoint and not (opts.endpoint:match("^https://[^/%s]+")
    or opts.endpoint:match("^http://127%.%d+%.%d+%.%d+[:/]")
    or opts.endpoint:match("^http://localhost[:/]")) then
  usage_error("--endpoint must be an https URL (http only for loopback receivers)")
end

local new_header = opts.auth_header_env and cli.env(opts.auth_header_env)

local okta <close> = cli.check(ssf.client())

local function read_backup(path)
  local f, err = io.open(path, "rb")
  if not f then cli.fail("cannot read backup: " .. err) end
  local text = f:read("a")
  f:close()
  local saved = ssf.json.decode(text)
  if type(saved) ~= "table" or type(saved.stream) ~= "table" then
    cli.fail(path .. " is not a stream backup written by this script")
  end
  return saved.stream
end

-- Never overwrites: an older backup may be the only copy of a good config.
local function write_backup(path, stream)
  local f = io.open(path, "rb")
  if f then
    f:close()
    cli.fail(path .. " already exists; choose another --backup file")
  end
  local tmp = path .. ".tmp"
  local out, err = io.open(tmp, "wb")
  if not out then cli.fail("cannot write backup: " .. err) end
  local ok, werr = out:write(ssf.json.encode {
    saved_by = "ssflua rotate_receiver.lua",
    saved_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    org = okta.org,
    note = "Okta does not return delivery.authorization_header, so it is not in this backup.",
    stream = stream,
  }, "\n")
  ok = ok and out:close()
  if not ok or not os.rename(tmp, path) then
    os.remove(tmp)
    cli.fail("cannot write backup " .. path .. ": " .. tostring(werr))
  end
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

if opts.restore then
  local saved = read_backup(opts.restore)
  local cfg = as_update(saved)
  if opts.dry_run then
    print(("dry run: would restore stream %s to endpoint %s"):format(
      saved.stream_id, tostring(cfg.delivery.endpoint_url)))
    return
  end
  local ok, meta = okta:update_stream(cfg)
  cli.check(ok, meta)
  print(("restored stream %s from %s (%s)"):format(saved.stream_id, opts.restore, describe(meta)))
  print("note: the authorization_header was not in the backup; set it with --auth-header-env if needed")
  return
end

local current = pick_stream()
local id = current.stream_id

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
local old_endpoint = current.delivery and current.delivery.endpoint_url
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

local backup = opts.backup or ("ssf-stream-%s-%s.json"):format(id, os.date("!%Y%m%dT%H%M%SZ"))
if opts.dry_run then
  print(("dry run: no change sent (the backup would go to %s)"):format(backup))
  return
end
if not changed then
  print("nothing to change")
  return
end

write_backup(backup, current)
print("backup saved to " .. backup)

local updated, meta = okta:update_stream(new)
cli.check(updated, meta)
print("updated the stream (" .. describe(meta) .. ")")

-- Puts the backup back and stops with the reason. The old
-- authorization_header cannot be restored: Okta never returned it.
local function roll_back(reason)
  io.stderr:write(reason, "\n")
  local restored, rmsg = okta:update_stream(as_update(current))
  if restored then
    cli.fail("restored the previous configuration from " .. backup ..
      " (its authorization_header, which Okta never returns, may need setting again)")
  end
  cli.fail(("restoring failed too (%s); restore by hand with: ssflua %s --restore %s")
    :format(rmsg, arg[0], backup))
end

if rx then
  print(("waiting up to %g s for the verification SET at %s"):format(confirm_timeout, rx.endpoint_url))
  local set, report = okta:confirm_stream(id, rx, { timeout = confirm_timeout })
  rx:close()
  if not set then
    roll_back("delivery not proven: " .. tostring(report))
  end
  print(("delivery proven: verification SET %s with state %s arrived after %.1f s, signature checked")
    :format(tostring(set.claims.jti), report.state, report.waited))
  if #report.unrelated > 0 then
    print("other SETs that arrived meanwhile: " .. table.concat(report.unrelated, ", "))
  end
  return
end

local state = random_id()
local ok, msg = okta:verify_stream(id, state)
if not ok then roll_back("verification request failed: " .. msg) end
print(("verification requested (%s), state %s"):format(describe(msg), state))
print("Okta's answer means the verification event was queued; it does not prove the receiver got it.")
print("Run with --confirm LISTEN to prove delivery, or check your receiver's log for a SET with that state.")

-- Run the built-in Okta SSF emulator as a service, for developing a SET
-- receiver with no Okta org: it prints what a client needs to talk to it,
-- optionally points a stream at your receiver, and emits the events named
-- on stdin, printing each delivery's answer.
local ssf = require "ssf"
local cli = require "ssf.cli"
local thread = require "ssf.thread"

local opts, usage_error = cli.parse({ ... }, {
  usage = "[--listen ADDR] [--push-to URL [--authorization-env VAR]] [options]",
  description = [[
Runs the built-in Okta SSF emulator (an Okta-like transmitter on loopback,
not a real org) until Ctrl-C, SIGTERM or the end of stdin. It prints its org
URL, the client id and key of its registered private_key_jwt client (the key
is written to a file of mode 0600, removed on exit) and a bearer token with
ssf.read and ssf.manage.
With --push-to, it creates a stream that pushes to that receiver URL, with
the authorization_header read from $VAR (never from the command line).
Each line on stdin names an event to emit to every stream that takes it:
session-revoked or credential-change (or an event-type URI), optionally
followed by the subject's email; each delivery's answer is printed.]],
  options = {
    { "--listen", "ADDR", "loopback address to serve on (default 127.0.0.1:0, any free port)" },
    { "--push-to", "URL", "create a stream pushing to this receiver URL" },
    { "--authorization-env", "VAR", "the stream's delivery.authorization_header, read from $VAR" },
  },
})
if #opts > 0 then usage_error("unexpected argument '" .. opts[1] .. "'") end
if opts.authorization_env and not opts.push_to then usage_error("--authorization-env goes with --push-to") end
local authorization = opts.authorization_env and cli.env(opts.authorization_env)

local emu <close> = cli.check(ssf.emulator { listen = opts.listen or "127.0.0.1:0" })
local creds = emu:credentials()

-- os.tmpname makes the file with mkstemp: mode 0600 from the start.
local key_file = os.tmpname()
local function write_key()
  local f = assert(io.open(key_file, "wb"))
  assert(f:write(creds.private_key))
  assert(f:close())
end
local ok, err = pcall(write_key)
if not ok then
  os.remove(key_file)
  cli.fail("cannot write the key file: " .. tostring(err))
end

print("Okta SSF emulator (a stand-in on this machine, not a real Okta org)")
print("  org URL     " .. emu.org)
print("  metadata    " .. emu.org .. "/.well-known/ssf-configuration")
print("  client id   " .. creds.client_id)
print("  key id      " .. creds.key_id)
print("  key file    " .. key_file .. " (private key, PEM, mode 0600; removed on exit)")
print("  token       " .. creds.token .. " (Bearer; ssf.read ssf.manage)")

local function stop(msg)
  os.remove(key_file)
  if msg then cli.fail(msg) end
end

if opts.push_to then
  local okta <close> = emu:client()
  local delivery = { method = ssf.PUSH, endpoint_url = opts.push_to, authorization_header = authorization }
  local s, msg = okta:create_stream {
    delivery = delivery, events_requested = { ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE },
  }
  if not s then stop("cannot create the stream: " .. msg) end
  print(("  stream      %s pushing to %s%s"):format(s.stream_id, opts.push_to,
    authorization and (" with $" .. opts.authorization_env .. " as Authorization") or ""))
end
print("Type an event per line (session-revoked or credential-change [email]); Ctrl-C or end of input stops.")
io.stdout:flush()

local NAMES = {
  ["session-revoked"] = ssf.events.SESSION_REVOKED,
  ["credential-change"] = ssf.events.CREDENTIAL_CHANGE,
}

local function emit(line)
  local name, email = line:match("^%s*(%S+)%s*(%S*)%s*$")
  if not name then return end
  local event_type = NAMES[name] or ssf.events[name] or name
  local done, deliveries = pcall(emu.emit, emu, event_type,
    { format = "email", email = email ~= "" and email or "user@example.com" })
  if not done then
    print("not emitted: " .. tostring(deliveries):gsub("^bad argument #%d to 'emit' ", ""))
  elseif #deliveries == 0 then
    print("emitted nothing: no enabled stream delivers " .. event_type)
  end
end

-- Each push's answer, once, as the pusher reports it.
local shown = {}
local function show_answers()
  for _, d in ipairs(emu:deliveries()) do
    if (d.status or d.err) and not shown[d.jti] then
      shown[d.jti] = true
      print(("%s %s -> %s: %s"):format(d.event_type:match("[^/]+$"), d.jti, d.endpoint_url,
        d.status and ("HTTP " .. d.status) or d.err))
    end
  end
  io.stdout:flush()
end

-- stdin unbuffered, so that "readable" on its descriptor means a line is
-- coming and not that stdio has one buffered already.
io.stdin:setvbuf("no")
local interrupted_by_user = false
local served, why = pcall(function()
  while true do
    show_answers()
    local ready, interrupted = thread.readable(0, 0.5)
    if interrupted then
      interrupted_by_user = true
      return
    end
    if ready then
      local line = io.read("L")
      if not line then return end
      emit(line)
    end
  end
end)
-- At the end of input, the answers to pushes still in flight (bounded by
-- the pusher's own timeout); on Ctrl-C, only those already in.
local function pending()
  for _, d in ipairs(emu:deliveries()) do
    if not (d.status or d.err) then return true end
  end
end
if served and not interrupted_by_user then
  local sleep = require("ssf.http").sleep
  for _ = 1, 150 do -- at most 15 s
    if not pending() then break end
    sleep(0.1)
  end
end
pcall(show_answers)
stop()
print("emulator stopped")
-- Ctrl-C and SIGTERM ("interrupted!", "terminated!" from the host) are a
-- clean stop; anything else is a failure to report.
if not served and not (tostring(why):find("interrupted!", 1, true) or tostring(why):find("terminated!", 1, true)) then
  error(why, 0)
end

-- The emulator's serving thread (started by init.lua with ssf.thread, in a
-- lua_State of its own): HTTP in through ssf.httpd, answers from the
-- routes, pushes out to the pusher thread, commands from the script's
-- thread. Nothing here blocks but the short wait for the next request, so
-- API calls, commands and push reports are all handled within one
-- POLL_WAIT of arriving.
local compat = require "ssf.compat"
local httpd = require "ssf.httpd"
local json = require "ssf.json"
local routes = require "ssf.emulator.routes"

-- How long one wait for a request lasts before commands and push reports
-- are looked at again: a request wakes the wait at once, a command waits
-- for its end (10 ms: emit and deliveries() answer in about that; idle,
-- the loop costs some 0.3% of a core, tests/bench/emulator.lua).
local POLL_WAIT = 0.01
local MAX_BODY = 1024 * 1024

-- Okta's answer to a request that hit a bug: the routes never raise on a
-- peer's input, so this is only for the emulator's own faults.
local INTERNAL = json.encode {
  errorCode = "E0000009", errorSummary = "Internal Server Error", errorLink = "E0000009",
  errorId = "emulator", errorCauses = json.array {},
}

-- An answer to the script's thread; seq names the command it answers (0
-- for the start).
local function reply(replies, seq, ok, result_or_message)
  replies:push(json.encode(ok and { seq = seq, ok = true, result = result_or_message }
                              or { seq = seq, ok = false, message = tostring(result_or_message) }))
end

-- A command from the script's thread: {op = "emit" | "deliveries" | "seed", ...}.
local function command(app, msg)
  if msg.op == "emit" then
    local list, err = app:emit(msg.event_type, msg.subject, msg.stream_id)
    return list and json.array(list), err
  elseif msg.op == "deliveries" then
    return json.array(app:deliveries())
  elseif msg.op == "seed" then
    -- An endpoint that exists nowhere (.invalid never resolves), so a
    -- push to the seeded stream fails at once, as for a receiver that is
    -- gone; the events are Okta's two.
    return app:seed_stream(msg.client_id, {
      delivery = { method = "urn:ietf:rfc:8935", endpoint_url = "https://receiver.invalid/ssf/events" },
    })
  end
  error("unknown command " .. tostring(msg.op))
end

return function(control, replies, jobs, results, cfg_text)
  local cfg = json.decode(cfg_text)
  local server, err = httpd.serve { host = cfg.host, port = compat.tointeger(cfg.port), max_body = MAX_BODY }
  if not server then
    reply(replies, 0, false, ("cannot listen on %s:%d: %s"):format(cfg.host, cfg.port, tostring(err)))
    return
  end
  local host = cfg.host:find(":", 1, true) and "[" .. cfg.host .. "]" or cfg.host
  local org = ("http://%s:%d"):format(host, server:port())
  local app = routes.new {
    org = org,
    signing_key = cfg.signing_key, signing_kid = cfg.signing_kid,
    clients = cfg.clients, bearer_tokens = cfg.bearer_tokens,
  }
  reply(replies, 0, true, { org = org })

  -- A job the pusher's queue refuses (full: some 100,000 waiting behind
  -- unresponsive receivers; or closed) is recorded as failed at once.
  local function forward_pushes()
    for _, job in ipairs(app:take_pushes()) do
      if not jobs:push(json.encode(job)) then app:record(job.id, nil, "not sent: the push queue is full") end
    end
  end

  while true do
    local msg, why = control:pop(0)
    if why == "closed" then break end
    if msg then
      msg = json.decode(msg)
      local ok, result, failure = pcall(command, app, msg)
      if ok and result ~= nil then
        reply(replies, msg.seq, true, result)
      else
        reply(replies, msg.seq, false, ok and failure or result)
      end
      forward_pushes()
    end
    local report = results:pop(0)
    while report do
      -- JSON numbers come back as floats: ids and statuses are integers.
      local r = json.decode(report)
      app:record(compat.tointeger(r.id) or r.id, compat.tointeger(r.status), r.err)
      report = results:pop(0)
    end
    local req = server:poll(POLL_WAIT)
    if req then
      local ok, status, headers, body = pcall(app.handle, app, req)
      if not ok then
        status, headers, body = 500, { ["Content-Type"] = "application/json" }, INTERNAL
      end
      server:respond(req.id, status, body, headers)
      forward_pushes()
    end
  end
  server:close()
end

-- okta:confirm_stream(stream_id, rx, {timeout=}): proof of delivery. Okta's
-- 204 to a verification request only means "queued"; this asks for a
-- verification with a fresh random state and waits until the receiver rx
-- has the verification SET that echoes it. When nothing arrives, the
-- failure says what is known: the stream's status, where Okta delivers,
-- and what the receiver refused or got instead.
local compat = require "ssf.compat"
local errors = require "ssf.errors"
local events = require "ssf.events"
local jws = require "ssf.jws"
local tasks = require "ssf.tasks"

local http = require "ssf.http"

local function arg_error(n, msg)
  error(("bad argument #%d to 'confirm_stream' (%s)"):format(n, msg), 4)
end

-- The stream a verification SET names: SSF 1.0 puts it in sub_id; older
-- transmitters leave it out (then the state alone must match).
local function names_stream(set, stream_id)
  local sub = set.claims and set.claims.sub_id
  if type(sub) ~= "table" or sub.id == nil then return true end
  return sub.id == stream_id
end

local function describe(set)
  return ("%s (jti %s)"):format(tostring(set.event_type), tostring(set.claims and set.claims.jti))
end

-- When the last verification of a stream was asked for, per client: Okta
-- throttles them to one per min_verification_interval seconds.
local last_verification = setmetatable({}, { __mode = "k" })

--- See API.md. Returns the verification SET (a table like rx:next's) and a
--- report {state=, unrelated=, waited=}, or nil, message, info.
local function confirm_stream(self, stream_id, rx, opts)
  if type(stream_id) ~= "string" or stream_id == "" then arg_error(1, "stream_id must be a non-empty string") end
  if type(rx) ~= "table" or type(rx.next) ~= "function" then arg_error(2, "receiver expected (ssf.receiver{...})") end
  if opts ~= nil and type(opts) ~= "table" then arg_error(3, "options table expected") end
  local timeout = opts and opts.timeout or 60
  if type(timeout) ~= "number" or timeout <= 0 then arg_error(3, "timeout must be a positive number") end

  local stream, msg, info = self:stream(stream_id)
  if not stream then return nil, msg, info end
  local started = http.now()
  local deadline = started + timeout

  local interval = tonumber(stream.min_verification_interval) or 0
  local times = last_verification[self] or {}
  last_verification[self] = times
  if times[stream_id] and interval > 0 then
    local wait = times[stream_id] + interval - http.now()
    if wait > 0 then
      if wait >= deadline - http.now() then
        return errors.fail("timeout", ("the stream allows one verification per %d s; the last was too recent to wait for"):format(interval))
      end
      tasks.sleep(wait)
    end
  end

  local state = jws.random_id()
  local ok
  ok, msg, info = self:verify_stream(stream_id, state)
  if not ok and info.status == 429 then
    -- Throttled: one more try once Okta allows it, if that is in time. The
    -- stream's interval is the precise wait; the rate-limit reset is the
    -- end of a whole window.
    local wait = interval > 0 and interval or info.retry_after
    if wait and wait < deadline - http.now() then
      tasks.sleep(wait)
      ok, msg, info = self:verify_stream(stream_id, state)
    end
  end
  if not ok then return nil, msg, info end
  times[stream_id] = http.now()

  local unrelated = {}
  while true do
    local remaining = deadline - http.now()
    if remaining <= 0 then break end
    local set, nmsg, ninfo = rx:next(remaining)
    if set then
      local event = type(set.event) == "table" and set.event or {}
      if set.event_type == events.VERIFICATION and event.state == state and names_stream(set, stream_id) then
        return set, { state = state, unrelated = unrelated, waited = http.now() - started }
      end
      unrelated[#unrelated + 1] = describe(set)
    elseif ninfo and ninfo.kind == "timeout" then
      break
    else
      return nil, nmsg, ninfo
    end
  end

  -- Nothing arrived: say everything that might explain it.
  local status = self:stream_status(stream_id)
  local delivery = type(stream.delivery) == "table" and stream.delivery or {}
  -- rx:stats() counts, by HTTP status, the pushes refused before any SET
  -- check (a 401 means the stream's authorization_header is not the
  -- receiver's).
  local refused, refused_list = {}, {}
  local stats = rx.stats and rx:stats() or {}
  for code, count in pairs(stats) do
    if compat.is_integer(code) and count > 0 then
      refused[code] = count
      refused_list[#refused_list + 1] = ("%d x HTTP %d%s"):format(count, code,
        code == 401 and " (wrong authorization header)" or "")
    end
  end
  table.sort(refused_list)
  local rejected = {}
  for _, r in ipairs(rx.rejected or {}) do rejected[#rejected + 1] = ("%s (%s)"):format(r.err, r.message) end
  local parts = {
    ("no verification SET with state %s arrived within %g s"):format(state, timeout),
    ("stream %s is %s"):format(stream_id, status and status.status or "of unknown status"),
    ("Okta delivers to %s by %s; its authorization header cannot be read back, check it matches the receiver's")
      :format(tostring(delivery.endpoint_url), tostring(delivery.method)),
  }
  if #refused_list > 0 then
    parts[#parts + 1] = "the receiver refused pushes: " .. table.concat(refused_list, ", ")
  end
  if #rejected > 0 then
    parts[#parts + 1] = "the receiver rejected SETs: " .. table.concat(rejected, ", ")
  end
  if #unrelated > 0 then
    parts[#parts + 1] = "it got other SETs instead: " .. table.concat(unrelated, ", ")
  end
  return errors.fail("timeout", table.concat(parts, "; "), {
    state = state, stream_status = status and status.status,
    endpoint_url = delivery.endpoint_url, method = delivery.method,
    refused = refused, rejected = rx.rejected, unrelated = unrelated,
  })
end

return confirm_stream

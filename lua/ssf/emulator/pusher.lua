-- The emulator's push thread (started by init.lua with ssf.thread, in a
-- lua_State of its own): delivers each queued SET to its stream's
-- endpoint as RFC 8935 says (POST, application/secevent+jwt, the stream's
-- authorization_header) and reports the receiver's answer. Pushes go one
-- after another, in the order they were queued, as Okta delivers a
-- stream's events in order; a receiver that does not answer holds the
-- queue for at most PUSH_TIMEOUT.
local http = require "ssf.http"
local json = require "ssf.json"
local text = require "ssf.text"

local PUSH_TIMEOUT = 10
local CONNECT_TIMEOUT = 5

return function(jobs, results, replies)
  -- Closed at the end, or by its __gc when the thread's state closes.
  local session = http.session()
  -- Loaded and ready: the script's thread waits for this before it goes
  -- on (ssflua --emulate then changes the environment, which libcurl's
  -- start reads).
  replies:push(json.encode { seq = 0, ok = true, result = { pusher = true } })
  while true do
    local msg = jobs:pop() -- nil once the emulator closes
    if not msg then break end
    local job = json.decode(msg)
    local headers = { "Content-Type: application/secevent+jwt", "Accept: application/json" }
    if job.authorization then headers[#headers + 1] = "Authorization: " .. job.authorization end
    local status, kind, message = session:perform {
      method = "POST", url = job.url, headers = headers, body = job.body,
      timeout = PUSH_TIMEOUT, connect_timeout = CONNECT_TIMEOUT, user_agent = "Okta-SSF-Emulator",
    }
    local report = { id = job.id, status = status }
    -- libcurl's messages name the URL at most, never the header sent.
    if not status then report.err = text.one_line(kind .. ": " .. tostring(message), 300) end
    if not results:push(json.encode(report)) then break end
  end
  session:close()
end

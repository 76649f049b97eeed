-- The transport over ssf.http (libcurl). It moves one request and knows
-- nothing of retries, auth or Okta; client.lua holds those. Outside tasks a
-- request blocks on the client's own session; inside a task it joins the
-- scheduler's shared multi handle and the task waits while others run.
--   curl.new()          -> transport
--   t:perform(request)  -> {status=, headers=, body=}
--                        | nil, message, {kind=, reached=, code=, final=}
--   t:sleep(seconds)    cooperative inside a task, blocking outside
--   t:now()             seconds on a monotonic clock
--   t:close()           idempotent (also __close)
-- request: the table session:perform takes (src/http_xfer.c).
local http = require "ssf.http"
local tasks = require "ssf.tasks"

local Transport = { __name = "ssf.transport.curl" }
Transport.__index = Transport

local function outcome(status, a, b, reached, code, final)
  if status then return { status = status, headers = a, body = b } end
  return nil, b, { kind = a, reached = reached, code = code, final = final }
end

function Transport:perform(request)
  if tasks.running() then return outcome(tasks.transfer(request)) end
  if not self._session then error("attempt to use a closed client", 3) end
  return outcome(self._session:perform(request))
end

function Transport:sleep(seconds) tasks.sleep(seconds) end

function Transport:now() return http.now() end

function Transport:close()
  if self._session then
    self._session:close()
    self._session = nil
  end
end
Transport.__close = Transport.close

return {
  new = function() return setmetatable({ _session = http.session() }, Transport) end,
  parse_url = http.parse_url,
}

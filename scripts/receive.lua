-- Run an RFC 8935 push receiver and print each verified SET as one JSON
-- line on stdout. stderr gets the endpoint URL and a line per rejected SET.
local ssf = require "ssf"
local cli = require "ssf.cli"

local opts, usage_error = cli.parse({ ... }, {
  usage = "[--listen ADDR] [--jwks URL --issuer ISS] [options]",
  description = [[
Listens for Security Event Tokens pushed by a transmitter (RFC 8935),
verifies each one (signature against the JWKS, issuer, audience) and prints
it as a JSON line on stdout. A SET is answered 202 only once its line is
written: if stdout fails (say, the reader closed the pipe), the SET is
answered 503, so the transmitter sends it again, and the script stops with
status 1. A rejected SET is answered 400 and reported on stderr with its
RFC 8935 err code; when the keys cannot be fetched, the SET is answered 503
with Retry-After. An old SET is accepted (and its JSON has "late": true)
unless --max-age is given. Point the stream's delivery.endpoint_url at the
URL printed on stderr. The expected Authorization header is read from an
environment variable, never from the command line. Only loopback addresses
are safe without a TLS-terminating proxy in front: this receiver itself
speaks plain HTTP. Without --jwks, the issuer and keys come from the public
metadata of the org in OKTA_CLIENT_ORGURL (no API credentials needed).]],
  options = {
    { "--listen", "ADDR", "host:port, [v6]:port or :port (default 127.0.0.1:8080)" },
    { "--path", "PATH", "URL path of the endpoint (default /ssf/events)" },
    { "--authorization-env", "VAR", "require this Authorization header value, read from $VAR" },
    { "--issuer", "ISS", "expected iss claim (required with --jwks)" },
    { "--audience", "AUD", "expected aud claim" },
    { "--jwks", "URL", "the transmitter's JWKS URL (default: from the org's metadata)" },
    { "--max-age", "S", "refuse SETs issued more than S seconds ago (default: accept, flag late)" },
    { "--skew", "S", "accept iat up to S seconds in the future (default 60)" },
    { "--count", "N", "exit after N SETs" },
    { "--timeout", "S", "exit after S seconds (status 1 if --count SETs did not come)" },
  },
})
if #opts > 0 then usage_error("unexpected argument '" .. opts[1] .. "'") end

-- Every option is checked here, before anything listens: a mistake must
-- not wait for the first SET, days later, to show.
local function seconds(name, value)
  local v = value and tonumber(value)
  if value and not (v and v >= 0 and v < math.huge) then
    usage_error(name .. " must be a number of seconds")
  end
  return v
end
local count = opts.count and math.tointeger(tonumber(opts.count))
if opts.count and not (count and count > 0) then usage_error("--count must be a whole number above 0") end
local timeout = seconds("--timeout", opts.timeout)
local max_age = seconds("--max-age", opts.max_age)
local skew = seconds("--skew", opts.skew)

local verify = { issuer = opts.issuer, audience = opts.audience, max_age = max_age, skew = skew }
if opts.jwks then
  if not opts.issuer then usage_error("--jwks needs --issuer (the iss the transmitter puts in its SETs)") end
  verify.jwks = opts.jwks
else
  local org = os.getenv("OKTA_CLIENT_ORGURL") or ""
  if org == "" then usage_error("give --jwks URL and --issuer, or configure the org with OKTA_CLIENT_ORGURL") end
  local config = require "ssf.config"
  local base, msg = config.check_org(org, require("ssf.http").parse_url)
  if not base then usage_error("OKTA_CLIENT_ORGURL: " .. msg) end
  verify.metadata = base .. "/.well-known/ssf-configuration"
end

local authorization = opts.authorization_env and cli.env(opts.authorization_env)

local rx <close> = cli.check(ssf.receiver {
  listen = opts.listen or "127.0.0.1:8080",
  path = opts.path,
  authorization = authorization,
  verify = verify,
})
io.stderr:write("receiving SETs at ", rx.endpoint_url, "\n")
if not rx.loopback then
  io.stderr:write("note: SETs arrive here over plain HTTP; terminate TLS in a proxy in front\n")
end
if not authorization then
  io.stderr:write("note: no --authorization-env, so any client may push (signatures are still checked)\n")
end

local clock = require("ssf.httpd").clock
local deadline = clock() + (timeout or math.huge)
local received = 0

-- Rejections are reported as they are collected; the list is ours to empty.
local function report_rejected()
  for i, r in ipairs(rx.rejected) do
    io.stderr:write(("%s a SET from %s: %s (%s)\n")
      :format(r.status == 503 and "answered 503 to" or "rejected", r.remote or "?", r.err, r.message))
    rx.rejected[i] = nil
  end
end

while not count or received < count do
  local remaining = deadline - clock()
  if remaining <= 0 then break end
  -- Short waits, so a rejection shows up within a second.
  local set, msg = rx:next { timeout = math.min(1, remaining), ack = "manual" }
  report_rejected()
  if set then
    -- SIGPIPE is ignored: a reader that has gone shows up as a failed
    -- write or flush, and the SET is then handed back to the transmitter.
    local ok, err = io.stdout:write(ssf.json.encode(set), "\n")
    if ok then ok, err = io.stdout:flush() end
    if not ok then
      set:nack()
      -- Closed here, not by os.exit: close lets the 503 reach the
      -- transmitter before the process ends.
      rx:close()
      cli.fail("cannot write to stdout (" .. tostring(err) .. "); the SET was answered 503 and will come again")
    end
    if set:ack() then
      received = received + 1
    else
      io.stderr:write(("note: SET %s was printed, but too late for its 202; the transmitter may send it again\n")
        :format(tostring(set.claims and set.claims.jti)))
    end
  elseif msg ~= "timeout" then
    cli.fail(msg)
  end
end
if count and received < count then
  cli.fail(("timed out after %s s with %d of %d SETs"):format(opts.timeout, received, count))
end

-- Run an RFC 8935 push receiver and print each verified SET as one JSON
-- line on stdout. stderr gets the endpoint URL and a line per rejected SET.
local ssf = require "ssf"
local cli = require "ssf.cli"

local opts, usage_error = cli.parse({ ... }, {
  usage = "[--listen ADDR] [--jwks URL] [options]",
  description = [[
Listens for Security Event Tokens pushed by a transmitter (RFC 8935),
verifies each one (signature against the JWKS, issuer, audience) and prints
it as a JSON line on stdout; a rejected SET is answered 400 and reported on
stderr with its RFC 8935 err code. Point the stream's delivery.endpoint_url
at the URL printed on stderr. The expected Authorization header is read
from an environment variable, never from the command line. Only loopback
addresses are safe without a TLS-terminating proxy in front: this receiver
itself speaks plain HTTP. Without --jwks, the keys come from the org in
OKTA_CLIENT_ORGURL (see README.md).]],
  options = {
    { "--listen", "ADDR", "host:port, [v6]:port or :port (default 127.0.0.1:8080)" },
    { "--path", "PATH", "URL path of the endpoint (default /ssf/events)" },
    { "--authorization-env", "VAR", "require this Authorization header value, read from $VAR" },
    { "--issuer", "ISS", "expected iss claim" },
    { "--audience", "AUD", "expected aud claim" },
    { "--jwks", "URL", "the transmitter's JWKS URL (default: the configured org's)" },
    { "--count", "N", "exit after N SETs" },
    { "--timeout", "S", "exit after S seconds (status 1 if --count SETs did not come)" },
  },
})
if #opts > 0 then usage_error("unexpected argument '" .. opts[1] .. "'") end

local count = opts.count and math.tointeger(tonumber(opts.count))
if opts.count and not (count and count > 0) then usage_error("--count must be a whole number above 0") end
local timeout = opts.timeout and tonumber(opts.timeout)
if opts.timeout and not (timeout and timeout >= 0) then usage_error("--timeout must be a number of seconds") end

local authorization = opts.authorization_env and cli.env(opts.authorization_env)

local jwks = opts.jwks
if not jwks then
  if (os.getenv("OKTA_CLIENT_ORGURL") or "") == "" then
    usage_error("give --jwks URL, or configure the org with OKTA_CLIENT_ORGURL")
  end
  jwks = cli.check(ssf.client())
end

local rx <close> = cli.check(ssf.receiver {
  listen = opts.listen or "127.0.0.1:8080",
  path = opts.path,
  authorization = authorization,
  verify = { jwks = jwks, issuer = opts.issuer, audience = opts.audience },
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
    io.stderr:write(("rejected a SET from %s: %s (%s)\n"):format(r.remote or "?", r.err, r.message))
    rx.rejected[i] = nil
  end
end

while not count or received < count do
  local remaining = deadline - clock()
  if remaining <= 0 then break end
  -- Short waits, so a rejection shows up within a second.
  local set, msg = rx:next(math.min(1, remaining))
  report_rejected()
  if set then
    received = received + 1
    io.stdout:write(ssf.json.encode(set), "\n")
    io.stdout:flush()
  elseif msg ~= "timeout" then
    cli.fail(msg)
  end
end
if count and received < count then
  cli.fail(("timed out after %s s with %d of %d SETs"):format(opts.timeout, received, count))
end

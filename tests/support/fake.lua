-- Starts the independent fake Okta transmitter (tests/fake, Node) on an
-- ephemeral loopback port, and drives its /__fake/ control API.
local env = require "env"
local ssf = require "ssf"
local http = require "ssf.http"

local fake = {}
local Fake = {}
Fake.__index = Fake

--- Starts a server from `command` (a shell command line) that prints a
--- line matching `pattern` with the base URL when it is ready.
function fake.spawn(command, pattern, seconds)
  local log = os.tmpname()
  local p = assert(io.popen(("%s >%s 2>&1 & echo $!"):format(command, env.q(log))))
  local pid = p:read("l")
  p:close()
  local url
  for _ = 1, (seconds or 20) * 20 do -- bounded: 50 ms steps
    url = (env.read(log) or ""):match(pattern)
    if url then break end
    http.sleep(0.05)
  end
  if not url then
    os.execute("kill " .. pid .. " 2>/dev/null")
    error("server did not start: " .. command .. "\n" .. (env.read(log) or ""))
  end
  return url, pid, log
end

function fake.start()
  local url, pid, log = fake.spawn("exec node " .. env.q(env.root .. "/tests/fake/server.mjs"),
    "listening (http://%S+)")
  local self = setmetatable({ url = url, pid = pid, log = log }, Fake)
  self.control = assert(ssf.client { org = url, auth = { type = "bearer", token = "tok-rw" }, retries = 0 })
  return self
end

--- Runs tests/fake/jose-peer.mjs (npm jose, independent of ssf.jose) on
--- spec and returns its result: {jwks=, public=, sets=, verified=}.
function fake.jose_peer(spec)
  local code, out, err = env.run("node " .. env.q(env.root .. "/tests/fake/jose-peer.mjs"),
    ssf.json.encode(spec))
  assert(code == 0, "jose-peer.mjs failed: " .. err)
  return assert(ssf.json.decode(out))
end

--- Starts tests/fake/set-stub.mjs serving the JWKS in a file (rewrite it
--- with stub:publish) and counting fetches and pushes (stub:count()).
function fake.set_stub(jwks)
  local file = os.tmpname()
  local stub = { file = file }
  function stub.publish(set)
    local f = assert(io.open(file, "w"))
    f:write(ssf.json.encode(set))
    f:close()
  end
  stub.publish(jwks)
  stub.url, stub.pid, stub.log = fake.spawn(("exec node %s %s")
    :format(env.q(env.root .. "/tests/fake/set-stub.mjs"), env.q(file)), "listening (http://%S+)")
  function stub.count()
    local s = http.session()
    local status, _, body = s:perform { url = stub.url .. "/count" }
    s:close()
    assert(status == 200, "set-stub /count failed")
    return ssf.json.decode(body)
  end
  function stub.stop()
    os.execute("kill " .. stub.pid .. " 2>/dev/null")
    os.remove(stub.log)
    os.remove(file)
  end
  return stub
end

function Fake:call(method, path, body)
  return assert(self.control:request { method = method, path = "/__fake/" .. path, json = body })
end

function Fake:reset() self:call("POST", "reset") end
function Fake:requests() return self:call("GET", "requests") end
function Fake:deliveries() return self:call("GET", "deliveries") end
function Fake:config(t) self:call("POST", "config", t) end
function Fake:faults(list) self:call("POST", "faults", { faults = list }) end
--- {now=, peak=}: API requests being answered, and the most at once.
function Fake:in_flight() return self:call("GET", "in_flight") end

--- A client of the fake with the given token (default: read and manage).
function Fake:client(token, opts)
  local o = { org = self.url, auth = { type = "bearer", token = token or "tok-rw" } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(ssf.client(o))
end

function Fake:stop()
  self.control:close()
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  os.remove(self.log)
end

return fake

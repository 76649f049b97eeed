-- Real third-party servers for the client's tests, started by the test
-- itself on loopback ports: Debian's nginx (TLS, HTTP/2, gzip, redirects)
-- and tinyproxy (a CONNECT proxy). Each runs as the current user with its
-- own configuration, pid file, temp and log files in a directory the test
-- owns; certificates come from a test CA made with the openssl CLI.
-- A missing program fails the test with the package to install: these
-- tests are never skipped.
local env = require "env"
local http = require "ssf.http"

local servers = {}

local running = {} -- every server started and not stopped yet

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The path of a program, looked up on PATH and in the sbin directories
-- (where Debian installs nginx, and which a user's PATH may lack).
local function program(name, package)
  for dir in ((os.getenv("PATH") or "") .. ":/usr/local/sbin:/usr/sbin:/sbin"):gmatch("[^:]+") do
    local path = dir .. "/" .. name
    if env.run("test -x " .. env.q(path)) == 0 then return path end
  end
  error(("%s not found: these tests need Debian's %s package (apt-get install %s)")
    :format(name, package, package), 0)
end

local function sh(cmd)
  local code, out, err = env.run(cmd)
  if code ~= 0 then error(("command failed (exit %d): %s\n%s%s"):format(code, cmd, out, err), 0) end
  return out
end

local function whoami()
  local user = sh("id -un"):match("%S+")
  local group = sh("id -gn"):match("%S+")
  return user, group, sh("id -u"):match("%d+") == "0"
end

local OPENSSL_CNF = [[
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[other]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example.invalid
]]

--- Makes, in dir, a test CA (ca.pem), a second CA that signed nothing the
--- servers use (wrong_ca.pem), a server certificate for localhost and
--- 127.0.0.1 (server.pem, server.key) and one for another name only
--- (other.pem, other.key), both signed by the test CA. Returns their paths.
function servers.pki(dir)
  local openssl = env.q(program("openssl", "openssl"))
  local cnf = dir .. "/openssl.cnf"
  write(cnf, OPENSSL_CNF)
  local p = {}
  for _, name in ipairs { "ca", "wrong_ca", "server", "other" } do
    p[name], p[name .. "_key"] = dir .. "/" .. name .. ".pem", dir .. "/" .. name .. ".key"
  end
  local newkey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  for _, ca in ipairs { "ca", "wrong_ca" } do
    sh(("%s req -x509 -config %s -extensions ca %s -keyout %s -out %s -days 2 -subj %s")
      :format(openssl, env.q(cnf), newkey, env.q(p[ca .. "_key"]), env.q(p[ca]),
              env.q("/CN=ssflua test " .. ca)))
  end
  for serial, leaf in ipairs { "server", "other" } do
    local csr = dir .. "/" .. leaf .. ".csr"
    sh(("%s req -new -config %s %s -keyout %s -out %s -subj /CN=%s")
      :format(openssl, env.q(cnf), newkey, env.q(p[leaf .. "_key"]), env.q(csr), leaf))
    sh(("%s x509 -req -in %s -CA %s -CAkey %s -set_serial %d -days 2 -extfile %s -extensions %s -out %s")
      :format(openssl, env.q(csr), env.q(p.ca), env.q(p.ca_key), serial + 1, env.q(cnf), leaf,
              env.q(p[leaf])))
  end
  return p
end

local Server = {}
Server.__index = Server

--- The text of one of the server's files (a log), or "".
function Server:read(name)
  return env.read(self.dir .. "/" .. name) or ""
end

--- How many times `needle` occurs in one of the server's files.
function Server:count(name, needle)
  local n, from, text = 0, 1, self:read(name)
  while true do
    local _, j = text:find(needle, from, true)
    if not j then return n end
    n, from = n + 1, j + 1
  end
end

--- Stops the server (TERM, then KILL after 10 s); safe to call twice.
function Server:stop()
  if not self.pid then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  for _ = 1, 200 do -- bounded: 50 ms steps
    if not env.alive(self.pid) then break end
    http.sleep(0.05)
  end
  if env.alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  running[self] = nil
  self.pid = nil
end

--- Stops every server still running (for a teardown that must also run
--- after a failed setup).
function servers.stop_all()
  for s in pairs(running) do s:stop() end
end

-- Ports below Linux's ephemeral range, so clients' own ports rarely collide.
local function pick_ports(n)
  local ports = {}
  for i = 1, n do ports[i] = math.random(10000, 32000) end
  return ports
end

-- Starts `command` (in the foreground of a background job) with files in
-- dir, and waits until ready() says so. A server that exits with
-- "Address already in use" in its output or log is tried again on other
-- ports. `timeout` bounds each server's life, so none outlives a test
-- process that died without its teardown.
local function launch(name, dir, nports, start)
  for _ = 1, 8 do
    local ports = pick_ports(nports)
    local command, ready, logfile = start(ports)
    local out = dir .. "/" .. name .. ".out"
    local p = assert(io.popen(("exec timeout 900 %s >%s 2>&1 & echo $!"):format(command, env.q(out))))
    local pid = p:read("l")
    p:close()
    local server = setmetatable({ pid = pid, dir = dir, ports = ports, port = ports[1] }, Server)
    running[server] = true
    for _ = 1, 400 do -- bounded: up to 20 s in 50 ms steps
      if ready(server) then return server end
      if not env.alive(pid) then break end
      http.sleep(0.05)
    end
    server:stop()
    local said = (env.read(out) or "") .. (env.read(dir .. "/" .. logfile) or "")
    if not said:find("Address already in use", 1, true) then
      error(("%s did not start: %s\n%s"):format(name, command, said), 0)
    end
    os.remove(dir .. "/" .. logfile)
  end
  error(name .. " found no free port in 8 tries", 0)
end

--- Starts nginx with its own prefix in dir (made if missing). `http`
--- returns the inside of the http{} block for the given list of `nports`
--- loopback ports. Returns the server: port/ports, read(file), count(file,
--- text), stop(). Its logs are error.log (level info: TLS handshake
--- failures are there) and access.log. `main`, if given, goes before the
--- events block (load_module lines).
function servers.nginx(dir, nports, http_block, main)
  local bin = program("nginx", "nginx")
  local user, group, root = whoami()
  sh("mkdir -p " .. env.q(dir .. "/tmp"))
  return launch("nginx", dir, nports, function(ports)
    os.remove(dir .. "/nginx.pid")
    write(dir .. "/nginx.conf", table.concat({
      -- Workers run as the current user: "user" is only allowed to root.
      root and ("user %s %s;"):format(user, group) or "",
      "worker_processes 1;",
      ("pid %s/nginx.pid;"):format(dir),
      ("error_log %s/error.log info;"):format(dir),
      main or "",
      "events { worker_connections 256; }",
      "http {",
      ("  access_log %s/access.log;"):format(dir),
      ("  client_body_temp_path %s/tmp/body;"):format(dir),
      ("  proxy_temp_path %s/tmp/proxy;"):format(dir),
      ("  fastcgi_temp_path %s/tmp/fastcgi;"):format(dir),
      ("  uwsgi_temp_path %s/tmp/uwsgi;"):format(dir),
      ("  scgi_temp_path %s/tmp/scgi;"):format(dir),
      http_block(ports),
      "}",
    }, "\n"))
    local command = ("%s -p %s -e %s -c %s -g 'daemon off;'"):format(env.q(bin), env.q(dir .. "/"),
      env.q(dir .. "/error.log"), env.q(dir .. "/nginx.conf"))
    -- Under the sanitizers, nginx's Lua module loads the instrumented ssf
    -- modules: their runtime must come first. nginx frees no memory at
    -- exit by design, so leaks are not checked in it.
    if env.ld_preload then
      command = ("env LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:intercept_tls_get_addr=0 %s")
        :format(env.q(env.ld_preload), command)
    end
    -- The pid file is written once the listening sockets are open.
    return command, function(s) return s:read("nginx.pid"):match("%d+") ~= nil end, "error.log"
  end)
end

--- Starts tinyproxy on a loopback port, in the foreground, with files in
--- dir (made if missing). CONNECT is allowed only to `connect_ports` (all
--- ports when the list is empty); anything else gets 403. Its log is
--- tinyproxy.log.
function servers.tinyproxy(dir, connect_ports)
  local bin = program("tinyproxy", "tinyproxy")
  local user, group, root = whoami()
  sh("mkdir -p " .. env.q(dir))
  return launch("tinyproxy", dir, 1, function(ports)
    local lines = {
      root and ("User %s\nGroup %s"):format(user, group) or "",
      "Port " .. ports[1],
      "Listen 127.0.0.1",
      "Timeout 30",
      ('PidFile "%s/tinyproxy.pid"'):format(dir),
      ('LogFile "%s/tinyproxy.log"'):format(dir),
      "LogLevel Info",
      "MaxClients 16",
      "Allow 127.0.0.1",
    }
    for _, p in ipairs(connect_ports) do lines[#lines + 1] = "ConnectPort " .. p end
    write(dir .. "/tinyproxy.conf", table.concat(lines, "\n") .. "\n")
    local command = ("%s -d -c %s"):format(env.q(bin), env.q(dir .. "/tinyproxy.conf"))
    return command, function(s) return s:count("tinyproxy.log", "Accepting connections") > 0 end,
      "tinyproxy.log"
  end)
end

return servers

-- ssf inside nginx: Debian's nginx with its Lua module (LuaJIT), started by
-- the test on loopback ports with its own prefix. The org is the fake
-- transmitter behind a TLS front (a second server of the same nginx, with
-- a certificate from a test CA), so the nginx transport proxies over
-- verified TLS; a test DNS server lets nginx resolve "localhost", the name
-- the certificate holds.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local servers = require "servers"
local tasks = require "ssf.tasks"
local http = require "ssf.http"

local MODULES = "/usr/share/nginx/modules"

-- The Lua code of the test locations, with ORG and the others filled in.
local function lua_block(code, vars)
  return (code:gsub("%%(%u+)%%", vars))
end

local function nginx_conf(pki, fake_url, dns_port)
  return function(ports)
    local org = "https://localhost:" .. ports[2]
    local vars = {
      ORG = ("%q"):format(org),
      OTHER = ("%q"):format("https://localhost:" .. ports[3]),
      CLOSED = ("%q"):format("https://localhost:" .. ports[4]),
      ISSUER = ("%q"):format(fake_url),
      CA = ("%q"):format(pki.ca),
    }
    local streams = [[
      local ssf = require "ssf"
      local org = ({ other = %OTHER%, closed = %CLOSED%, fake = %ISSUER% })[ngx.var.arg_org or ""] or %ORG%
      local c = assert(ssf.client { org = org, auth = { type = "bearer", token = "tok-rw" }, retries = 0,
                                    transport = ngx.var.arg_transport })
      local list, err, info = c:streams()
      c:close()
      if not list then
        ngx.say(ssf.json.encode { err = err, kind = info.kind, status = info.status or ssf.null })
        return
      end
      ngx.say(ssf.json.encode { count = #list, transport = ngx.var.arg_transport or "default" })
    ]]
    local all = [[
      local ssf = require "ssf"
      local c = assert(ssf.client { org = %ORG%, auth = { type = "bearer", token = "tok-rw" }, retries = 0 })
      local fns = {}
      for i = 1, 3 do fns[i] = function() return c:streams() end end
      local results = ssf.all(fns)
      local ok = 0
      for _, r in ipairs(results) do if r.ok then ok = ok + 1 end end
      local t = ssf.spawn(function(a, b) ssf.sleep(0.01) return a + b end, 2, 3)
      ngx.say(ok, " ", t:join())
    ]]
    local receive = [[
      local ok_auth = ngx.var.arg_auth ~= "wrong"
      local status = require("ssf.nginx").receive {
        authorization = ok_auth and "Bearer rx-secret" or "Bearer something-else",
        verify = { jwks = %ORG% .. "/oauth2/v1/keys", issuer = %ISSUER%,
                   audience = ngx.var.arg_aud or "https://receiver.example.com/aud-a" },
        handler = function(set)
          local dict = ngx.shared.ssf_test
          dict:incr("handled", 1, 0)
          dict:set("last_jti", set.claims.jti)
        end,
      }
      ngx.shared.ssf_test:incr("status_" .. tostring(status), 1, 0)
    ]]
    -- A client given an option nginx cannot apply per request.
    local options = [[
      local ssf = require "ssf"
      local opts = { org = %ORG%, auth = { type = "bearer", token = "tok-rw" } }
      local name = ngx.var.arg_name
      opts[name] = ({ timeout = 5, connect_timeout = 5, ca_file = %CA%, proxy = "http://127.0.0.1:3128" })[name]
      local c, err, info = ssf.client(opts)
      if c then c:close() end
      ngx.say(ssf.json.encode { made = c ~= nil, err = err or ssf.null, kind = info and info.kind or ssf.null })
    ]]
    local handled = [[
      local dict = ngx.shared.ssf_test
      ngx.say((dict:get("handled") or 0), " ", dict:get("last_jti") or "-")
    ]]
    local timer = [[
      local ssf = require "ssf"
      ngx.timer.at(0, function()
        -- A client made here is fine; its calls fail.
        local c = assert(ssf.client { org = %ORG%, auth = { type = "bearer", token = "tok-rw" } })
        local list, err, info = c:streams()
        ngx.shared.ssf_test:set("timer", tostring(list) .. "|" .. info.kind .. "|" .. err)
      end)
      ngx.say("started")
    ]]
    return table.concat({
      ('lua_package_path "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;";'):format(env.build, env.build),
      ('lua_package_cpath "%s/lib/lua/5.1/?.so;;";'):format(env.build),
      ("resolver 127.0.0.1:%d ipv6=off valid=300s;"):format(dns_port),
      "resolver_timeout 5s;",
      "lua_shared_dict ssf_test 1m;",
      "server {",
      ("  listen 127.0.0.1:%d;"):format(ports[1]),
      ("  proxy_ssl_trusted_certificate %s;"):format(pki.ca),
      ("  include %s/scripts/nginx/ssf-locations.conf;"):format(env.root),
      "  location = /streams { content_by_lua_block {" .. lua_block(streams, vars) .. "} }",
      "  location = /all { content_by_lua_block {" .. lua_block(all, vars) .. "} }",
      "  location = /receive { content_by_lua_block {" .. lua_block(receive, vars) .. "} }",
      "  location = /handled { content_by_lua_block {" .. handled .. "} }",
      "  location = /options { content_by_lua_block {" .. lua_block(options, vars) .. "} }",
      "  location = /timer { content_by_lua_block {" .. lua_block(timer, vars) .. "} }",
      "  location = /timer-result { content_by_lua_block { ngx.say(ngx.shared.ssf_test:get('timer') or '-') } }",
      "  location = /probe { content_by_lua_block { ngx.say('probe ok') } }",
      "}",
      -- The org: TLS in front of the fake (which sees what nginx forwards).
      "server {",
      ("  listen 127.0.0.1:%d ssl;"):format(ports[2]),
      ("  ssl_certificate %s; ssl_certificate_key %s;"):format(pki.server, pki.server_key),
      ("  location / { proxy_pass %s; proxy_set_header Host 127.0.0.1; }"):format(fake_url),
      "}",
      -- The same client with a short proxy_read_timeout, set where the
      -- snippet is included, for nginx's own 504.
      "server {",
      ("  listen 127.0.0.1:%d;"):format(ports[5]),
      ("  proxy_ssl_trusted_certificate %s;"):format(pki.ca),
      "  proxy_read_timeout 1s;",
      ("  include %s/scripts/nginx/ssf-locations.conf;"):format(env.root),
      "  location = /streams { content_by_lua_block {" .. lua_block(streams, vars) .. "} }",
      "}",
      -- A certificate from the test CA, for another name.
      "server {",
      ("  listen 127.0.0.1:%d ssl;"):format(ports[3]),
      ("  ssl_certificate %s; ssl_certificate_key %s;"):format(pki.other, pki.other_key),
      ("  location / { proxy_pass %s; }"):format(fake_url),
      "}",
    }, "\n")
  end
end

describe("ssf in nginx", function()
  local dir, pki, nginx, f, dns, base

  setup(function()
    dir = env.tmpdir()
    pki = servers.pki(dir)
    f = fake.start()
    local dns_port
    dns_port, dns = fake.spawn("exec node " .. env.q(env.root .. "/tests/support/dns.mjs"), "listening (%d+)")
    -- Port 4 is left closed: nothing listens there.
    nginx = servers.nginx(dir .. "/nginx", 5, nginx_conf(pki, f.url, tonumber(dns_port)),
      ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;"):format(MODULES, MODULES))
    base = "http://127.0.0.1:" .. nginx.port
  end)
  teardown(function()
    servers.stop_all()
    if dns then os.execute("kill " .. dns .. " 2>/dev/null") end
    if f then f:stop() end
    if dir then env.rmdir(dir) end
  end)
  before_each(function() f:reset() end)

  local function get(path, opts)
    local s = http.session()
    local req = { url = base .. path, timeout = 120 }
    for k, v in pairs(opts or {}) do req[k] = v end
    local status, _, body = s:perform(req)
    s:close()
    assert(status, body)
    return status, body
  end

  local function get_json(path, opts)
    local status, body = get(path, opts)
    assert.are.equal(200, status, body)
    return assert(ssf.json.decode(body), body)
  end

  it("lists streams from the org over verified TLS, with the nginx transport by default", function()
    local owned = f:client()
    assert(owned:create_stream { delivery = { method = ssf.PUSH, endpoint_url = "https://rx.example.com/ssf" },
                                 events_requested = { ssf.events.SESSION_REVOKED } })
    owned:close()
    assert.are.same({ count = 1, transport = "default" }, get_json("/streams"))
    assert.are.same({ count = 1, transport = "nginx" }, get_json("/streams?transport=nginx"))
    local seen = f:requests()
    assert.are.equal(2, #seen - 1) -- the create, then two lists
    assert.are.equal("Bearer tok-rw", seen[#seen].headers.authorization)
    assert.matches("^ssflua/", seen[#seen].headers["user-agent"])
  end)

  it("never sends the client's cookies, Authorization header or body to the org", function()
    local r = get_json("/streams", {
      method = "POST", body = "client-body-canary",
      headers = { "Cookie: session=client-cookie-canary", "Authorization: Bearer client-token-canary",
                  "X-Forwarded-For: 10.9.8.7", "Content-Type: text/plain" },
    })
    assert.are.equal(0, r.count)
    local seen = f:requests()
    assert.are.equal(1, #seen)
    local text = ssf.json.encode(seen)
    for _, canary in ipairs { "client-cookie-canary", "client-token-canary", "client-body-canary", "10.9.8.7" } do
      assert.is_nil(text:find(canary, 1, true), canary .. " reached the org")
    end
    assert.are.equal("GET", seen[1].method)
    assert.is_nil(seen[1].headers.cookie)
    assert.are.equal("Bearer tok-rw", seen[1].headers.authorization)
  end)

  it("tells the org's 502 apart from nginx's own (no connection) and refuses a wrong certificate", function()
    f:faults { { match = { path = "/api/v1/ssf/stream" }, status = 502, body = "{}" } }
    local r = get_json("/streams")
    assert.are.equal("http", r.kind)
    assert.are.equal(502, r.status)

    r = get_json("/streams?org=closed")
    assert.are.equal("transport", r.kind)
    assert.matches("no connection", r.err)

    -- The certificate is from the trusted CA but for another name.
    f:reset()
    r = get_json("/streams?org=other")
    assert.are.equal("transport", r.kind)
    assert.are.equal(0, #f:requests())
    assert.is_true(nginx:count("error.log", "upstream SSL certificate does not match") > 0)
  end)

  it("tells nginx's own 504 (no answer within proxy_read_timeout) apart from the org's 504", function()
    local short = "http://127.0.0.1:" .. nginx.ports[5]
    local function streams()
      local s = http.session()
      local status, _, body = s:perform { url = short .. "/streams", timeout = 120 }
      s:close()
      assert.are.equal(200, status, body)
      return assert(ssf.json.decode(body), body)
    end
    f:faults { { match = { path = "/api/v1/ssf/stream" }, status = 504, body = "{}" } }
    local r = streams()
    assert.are.equal("http", r.kind)
    assert.are.equal(504, r.status)
    assert.are.equal(1, #f:requests())

    -- The fake holds its answer past nginx's 1 s read timeout.
    f:reset()
    f:config { latency_ms = 5000 }
    r = streams()
    assert.are.equal("timeout", r.kind, ssf.json.encode(r))
    assert.are.equal(ssf.null, r.status)
    assert.matches("no answer from https://localhost:%d+ within nginx's proxy_read_timeout", r.err)
    assert.are.equal(1, #f:requests())
    assert.is_true(nginx:count("error.log", "upstream timed out") > 0)
  end)

  it("refuses the options nginx cannot apply per request, naming what sets them instead", function()
    for name, directive in pairs { timeout = "proxy_read_timeout", connect_timeout = "proxy_connect_timeout",
                                   ca_file = "proxy_ssl_trusted_certificate", proxy = "cannot go through a proxy" } do
      local r = get_json("/options?name=" .. name)
      assert.is_false(r.made, name)
      assert.are.equal("config", r.kind, name)
      assert.is_truthy(r.err:find("option '" .. name .. "' cannot apply with transport \"nginx\": ", 1, true), r.err)
      assert.is_truthy(r.err:find(directive, 1, true), r.err)
    end
    assert.is_true(get_json("/options?name=none").made)
    assert.are.equal(0, #f:requests())
  end)

  it("fails with a config error where nginx cannot make requests (a timer)", function()
    assert.are.equal(200, (get("/timer")))
    local result
    for _ = 1, 100 do -- bounded: 50 ms steps
      result = select(2, get("/timer-result")):gsub("\n$", "")
      if result ~= "-" then break end
      http.sleep(0.05)
    end
    assert.matches("^nil|config|transport \"nginx\" cannot make requests in nginx's timer phase", result)
    assert.are.equal(0, #f:requests())
  end)

  it("runs ssf.all and ssf.spawn on nginx's light threads, the requests in flight at once", function()
    f:config { latency_ms = 500 }
    local _, body = get("/all")
    assert.are.equal("3 5\n", body)
    assert.are.equal(3, #f:requests())
    assert.are.equal(3, f:in_flight().peak)
  end)

  -- 50 clients at once: the worker has them all waiting on the org while
  -- it answers probes. libcurl in the same worker is the control: it
  -- blocks the worker, so the org sees one request at a time (the fake
  -- directly: blocked, the worker could not serve the TLS front either).
  local function load(n, query)
    local probes, probes_under_load = { total = 0, ok = 0 }, 0
    local done = 0
    local fns = {}
    for i = 1, n do
      fns[i] = function()
        local status, _, body = tasks.transfer { url = base .. "/streams" .. query, timeout = 300 }
        done = done + 1
        return status == 200 and ssf.json.decode(body).count ~= nil or nil
      end
    end
    fns[n + 1] = function()
      for _ = 1, 400 do -- bounded: stops once every client is answered
        if done >= n then break end
        local status = tasks.transfer { url = base .. "/probe", timeout = 300 }
        probes.total = probes.total + 1
        if status == 200 then probes.ok = probes.ok + 1 end
        -- Answered while the org still held requests from this worker.
        local _, _, body = tasks.transfer { url = f.url .. "/__fake/in_flight", timeout = 30 }
        if ssf.json.decode(body).now > 0 and done < n then probes_under_load = probes_under_load + 1 end
        tasks.sleep(0.05)
      end
      return true
    end
    local results = ssf.all(fns, { concurrency = n + 1 })
    local ok = 0
    for i = 1, n do if results[i].ok then ok = ok + 1 end end
    return ok, probes, probes_under_load
  end

  it("keeps serving while 50 requests wait on the org: the org sees all 50 at once", function()
    f:config { latency_ms = 3000 }
    local ok, probes, under_load = load(50, "")
    assert.are.equal(50, ok)
    assert.are.equal(50, f:in_flight().peak)
    assert.is_true(probes.total > 0)
    assert.are.equal(probes.total, probes.ok)
    assert.is_true(under_load > 0, "no probe was answered while requests waited")
  end)

  it("with libcurl (the control) the worker blocks: the org sees one at a time", function()
    f:config { latency_ms = 200 }
    local ok = load(4, "?transport=curl&org=fake")
    assert.are.equal(4, ok)
    assert.are.equal(1, f:in_flight().peak)
  end)

  describe("ssf.nginx.receive", function()
    local okta
    before_each(function() okta = f:client() end)
    after_each(function() okta:close() end)

    local function push_to(query)
      for _, old in ipairs(assert(okta:streams())) do assert(okta:delete_stream(old.stream_id)) end
      local s = assert(okta:create_stream {
        delivery = { method = ssf.PUSH, endpoint_url = base .. "/receive" .. query,
                     authorization_header = "Bearer rx-secret" },
        events_requested = { ssf.events.SESSION_REVOKED } })
      local before = #f:deliveries()
      assert(okta:verify_stream(s.stream_id))
      local d
      for _ = 1, 200 do -- bounded: 50 ms steps
        d = f:deliveries()
        if #d > before and d[#d].status then break end
        http.sleep(0.05)
      end
      return d[#d]
    end

    it("answers 202 to verified SETs, calls the handler once each, fetches the JWKS once", function()
      local before = tonumber((select(2, get("/handled")):match("^(%d+)")))
      local first = push_to("")
      assert.are.equal(202, first.status)
      local second = push_to("")
      assert.are.equal(202, second.status)
      assert.are_not.equal(first.jti, second.jti)
      local _, body = get("/handled")
      local count, jti = body:match("^(%d+) (%S+)")
      assert.are.equal(before + 2, tonumber(count))
      assert.are.equal(second.jti, jti)
      -- The worker's requests share one cached JWKS, fetched through nginx.
      local fetched = 0
      for _, r in ipairs(f:requests()) do
        if r.path == "/oauth2/v1/keys" then fetched = fetched + 1 end
      end
      assert.are.equal(1, fetched)
    end)

    it("answers 400 with err and description to a SET that does not verify", function()
      local d = push_to("?aud=https://someone-else.example.com")
      assert.are.equal(400, d.status)
    end)

    it("answers 401 to a wrong Authorization header", function()
      local d = push_to("?auth=wrong")
      assert.are.equal(401, d.status)
    end)

    it("answers 400 {err, description} to a malformed SET and 401 without credentials", function()
      local status, body = get("/receive", { method = "POST", body = "not.a.jwt",
        headers = { "Authorization: Bearer rx-secret", "Content-Type: application/secevent+jwt" } })
      assert.are.equal(400, status)
      local err = assert(ssf.json.decode(body))
      assert.are.equal("invalid_request", err.err)
      assert.is_string(err.description)
      status = get("/receive", { method = "POST", body = "a.b.c",
        headers = { "Content-Type: application/secevent+jwt" } })
      assert.are.equal(401, status)
    end)
  end)
end)

-- The transport inside an nginx worker (nginx's Lua module): nginx itself
-- makes each request, as a subrequest to the internal location that
-- scripts/nginx/ssf-locations.conf declares, so a waiting call yields to
-- nginx and the worker goes on serving other requests. Same interface as
-- transport/curl.lua:
--   nginx.new(opts)     -> transport (a client made in init_worker may be
--                          used by later requests) | nil, message, info
--                          when opts (the client's) asks what nginx cannot
--   t:perform(request)  -> {status=, headers=, body=}
--                        | nil, message, {kind=, reached=, final=}
--   t:sleep(seconds), t:now(), t:close()
-- and the tasks of ssf.spawn/ssf.all/ssf.sleep on ngx.thread.
--
-- Nothing of the client's own request reaches the org: the location passes
-- no request header (its cookies, its Authorization) and every subrequest
-- carries an explicit body, so the client's body is never forwarded. The
-- headers the client.lua builds travel in the variables below, which the
-- snippet declares in a location of their own: a `set` in the proxying
-- location would run in the subrequest and clobber them.
local errors = require "ssf.errors"
-- ssf.all's argument rules and result shape (ssf.http stays unloaded).
local shared = require "ssf.tasks"

local nginx = {}

local PREFIX = "/_ssf/proxy/"

-- Request headers a transport may send, and the variable carrying each.
local HEADERS = {
  ["accept"] = "ssf_h_accept",
  ["authorization"] = "ssf_h_authorization",
  ["content-type"] = "ssf_h_content_type",
  ["dpop"] = "ssf_h_dpop",
  ["user-agent"] = "ssf_h_user_agent",
  ["x-okta-retry-for"] = "ssf_h_x_okta_retry_for",
  ["x-okta-retry-count"] = "ssf_h_x_okta_retry_count",
}

-- The phases where nginx can make a subrequest and a Lua thread can wait.
local REQUEST_PHASES = { rewrite = true, access = true, content = true }

--- True inside an nginx worker (any phase).
function nginx.inside()
  return ngx ~= nil and type(ngx.get_phase) == "function" and type(ngx.location) == "table"
end

--- True when running in an nginx request phase that can make requests.
function nginx.available()
  return nginx.inside() and REQUEST_PHASES[ngx.get_phase()] == true
end

local function phase_error()
  if not nginx.inside() then
    return errors.fail("config", "transport \"nginx\" can make requests only inside an nginx worker")
  end
  local phase = ngx.get_phase()
  return errors.fail("config", ("transport \"nginx\" cannot make requests in nginx's %s phase: "
    .. "call it from rewrite_by_lua, access_by_lua or content_by_lua"):format(phase))
end

local Transport = { __name = "ssf.transport.nginx" }
Transport.__index = Transport

local METHODS -- ngx.HTTP_* by name, filled on first use (ngx exists only in nginx)

local function method_code(name)
  if not METHODS then
    METHODS = { GET = ngx.HTTP_GET, POST = ngx.HTTP_POST, PUT = ngx.HTTP_PUT, PATCH = ngx.HTTP_PATCH,
                DELETE = ngx.HTTP_DELETE, HEAD = ngx.HTTP_HEAD, OPTIONS = ngx.HTTP_OPTIONS }
  end
  return METHODS[name or "GET"]
end

-- The subrequest's URI and args for an absolute URL:
-- https://host:port/path?query -> /_ssf/proxy/https/host:port/path, query.
local function target(url)
  local scheme, authority, path = url:match("^(https?)://([^/?#@]+)([^#]*)$")
  if not scheme then return nil end
  local p, q = path:match("^([^?]*)%??(.*)$")
  if p == "" then p = "/" end
  return PREFIX .. scheme .. "/" .. authority .. p, q
end

-- The lower-cased name -> value of the response headers the capture gives
-- (a value is a list when the header came more than once; the last wins,
-- as for libcurl's table).
local function lower_headers(h)
  local out = {}
  for k, v in pairs(h or {}) do
    if type(v) == "table" then v = v[#v] end
    out[k:lower()] = tostring(v)
  end
  return out
end

function Transport:perform(request)
  if self.closed then error("attempt to use a closed client", 3) end
  if not nginx.available() then return phase_error() end
  local uri, args = target(request.url)
  if not uri then
    return nil, "transport \"nginx\" needs an absolute http(s) URL", { kind = "config", final = true }
  end
  local vars = {}
  for _, v in pairs(HEADERS) do vars[v] = "" end
  for _, line in ipairs(request.headers or {}) do
    local name, value = line:match("^([%w-]+):%s*(.*)$")
    local var = name and HEADERS[name:lower()]
    if not var then
      return nil, ("transport \"nginx\" cannot send the header %q"):format(name or "?"),
        { kind = "config", final = true }
    end
    vars[var] = value
  end
  if request.user_agent and vars.ssf_h_user_agent == "" then vars.ssf_h_user_agent = request.user_agent end
  local seen = {}
  local res = ngx.location.capture(uri, {
    method = method_code(request.method),
    args = args,
    body = request.body or "", -- never the client's own body
    vars = vars,
    ctx = { ssf_upstream = seen },
  })
  -- The location's header filter saw whether an upstream answered: a 502
  -- or 504 without one is nginx's own (no connection, a timeout).
  if not seen.header_time or seen.header_time == "-" or seen.header_time == "" then
    local connected = seen.connect_time and seen.connect_time ~= "-" and seen.connect_time ~= ""
    local kind = res.status == 504 and "timeout" or "transport"
    if res.status ~= 502 and res.status ~= 504 then
      -- No upstream at all: the location is missing or refused the request.
      return nil, ("nginx answered %d for the ssf location %s: include scripts/nginx/ssf-locations.conf "
        .. "in this server {} block"):format(res.status, PREFIX), { kind = "config", final = true }
    end
    local origin = request.url:match("^%a+://[^/?#]*")
    if connected and res.status == 504 then
      return nil, ("nginx got no answer from %s within nginx's proxy_read_timeout (its own 504; see nginx's "
        .. "error log)"):format(origin), { kind = kind, reached = true }
    end
    return nil, ("nginx could not get an answer from %s (%s %d; see nginx's error log)")
      :format(origin, connected and "connected, then" or "no connection,", res.status),
      { kind = kind, reached = connected and true or false }
  end
  local body = res.body or ""
  if request.max_body and #body > request.max_body then
    return nil, ("response body exceeds max_body (%d bytes)"):format(request.max_body),
      { kind = "decode", reached = true, final = true }
  end
  if res.truncated then
    return nil, "the response was cut short", { kind = "transport", reached = true }
  end
  return { status = res.status, headers = lower_headers(res.header), body = body }
end

function Transport:sleep(seconds) ngx.sleep(seconds) end

function Transport:now()
  ngx.update_time()
  return ngx.now()
end

function Transport:close() self.closed = true end

-- Client options nginx cannot honour per request, and what applies
-- instead: a subrequest takes no timeout, CA or proxy of its own (the
-- directives take no variables), and proxy_pass connects to the org
-- directly. Ignoring a timeout or a CA silently would be wrong.
local UNSUPPORTED = {
  { "timeout", "nginx's proxy_read_timeout and proxy_send_timeout bound each request: "
    .. "set them in the server {} block that includes ssf-locations.conf" },
  { "connect_timeout", "nginx's proxy_connect_timeout bounds each connect: "
    .. "set it in the server {} block that includes ssf-locations.conf" },
  { "ca_file", "nginx checks the org's certificate against proxy_ssl_trusted_certificate: "
    .. "set it in the server {} block that includes ssf-locations.conf" },
  { "proxy", "nginx's proxy_pass connects to the org directly and cannot go through a proxy; "
    .. "use transport = \"curl\" (which blocks the worker) or let the network route it" },
}

function nginx.new(opts)
  for _, u in ipairs(UNSUPPORTED) do
    if opts and opts[u[1]] ~= nil then
      return errors.fail("config", ("option '%s' cannot apply with transport \"nginx\": %s"):format(u[1], u[2]))
    end
  end
  return setmetatable({}, Transport)
end

--- For the location's header_filter_by_lua_block: records in the
--- subrequest's ctx (the table perform passed) what the upstream did.
function nginx.record_upstream()
  local seen = ngx.ctx.ssf_upstream
  if not seen then return end
  seen.status = ngx.var.upstream_status
  seen.connect_time = ngx.var.upstream_connect_time
  seen.header_time = ngx.var.upstream_header_time
end

---------------------------------------------------------------- tasks

-- ssf.spawn / ssf.all / ssf.sleep on ngx.thread: each task is a light
-- thread of the request, and their subrequests are in flight at once.
local tasks = {}
nginx.tasks = tasks

local Task = { __name = "ssf.task" }
Task.__index = Task

local unpack = table.unpack or unpack -- 5.1 and LuaJIT have only the global

local function pack(...) return { n = select("#", ...), ... } end

local function traceback(e) return debug.traceback(tostring(e), 2) end

function tasks.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local args = pack(...)
  local thread = ngx.thread.spawn(function()
    return xpcall(function() return fn(unpack(args, 1, args.n)) end, traceback)
  end)
  return setmetatable({ thread = thread }, Task)
end

function Task:join()
  if not self.results then
    -- waited, then xpcall's ok and the function's results
    local r = pack(ngx.thread.wait(self.thread))
    self.results = r[1] and pack(unpack(r, 2, r.n)) or { false, tostring(r[2]), n = 2 }
  end
  local r = self.results
  if r[1] then return unpack(r, 2, r.n) end
  return nil, r[2], { kind = "error" }
end

function Task:__tostring() return "ssf.task: " .. (self.results and "done" or "running") end

function tasks.sleep(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0) then
    error("bad argument #1 to 'sleep' (non-negative number expected)", 2)
  end
  ngx.sleep(seconds)
end

function tasks.all(fns, opts)
  local concurrency = shared.all_options(fns, opts)
  local n, results, next_index = #fns, {}, 0
  local function worker()
    while next_index < n do
      next_index = next_index + 1
      local i = next_index
      results[i] = shared.outcome(xpcall(fns[i], traceback))
    end
    return true
  end
  local threads = {}
  for w = 1, math.min(concurrency, n) do threads[w] = ngx.thread.spawn(worker) end
  for _, t in ipairs(threads) do ngx.thread.wait(t) end
  return results
end

return nginx

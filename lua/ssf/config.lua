-- Client options: type checks (which raise), then the org and auth settings
-- resolved from options and environment (whose problems are `config`
-- failures, returned as nil, message, info).
local errors = require "ssf.errors"

local config = {}

local OPTIONS = {
  org = "string", subdomain = "string", auth = "table",
  timeout = "number", connect_timeout = "number", retries = "number",
  max_body = "number", max_backoff = "number",
  user_agent = "string", ca_file = "string", proxy = "string",
}

local AUTH_FIELDS = { type = "string", token = "string" }

local DEFAULTS = {
  timeout = 30, connect_timeout = 10, retries = 2,
  max_body = 8 * 1024 * 1024, max_backoff = 30,
}

local function check_fields(t, types, what, level)
  for k, v in pairs(t) do
    local want = types[k]
    if want == nil then
      error(("bad argument #1 to 'client' (unknown option '%s%s')"):format(what, tostring(k)), level)
    end
    if type(v) ~= want then
      error(("bad argument #1 to 'client' (option '%s%s' must be a %s, got %s)")
        :format(what, k, want, type(v)), level)
    end
  end
end

local function fail(message)
  return errors.fail("config", message)
end

--- True for the hosts plain http is allowed to (127.0.0.0/8, ::1,
--- localhost), as libcurl's URL parser spells them.
function config.is_loopback(host)
  return host == "localhost" or host == "[::1]"
    or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

--- Checks an org base URL with libcurl's parser; returns the normalized
--- "scheme://host[:port]" or nil, message. The URL itself is never echoed:
--- it may hold credentials a user pasted by mistake.
function config.check_org(url, parse_url)
  local u, err = parse_url(url)
  if not u then return nil, "org is not a valid URL (" .. err .. ")" end
  if u.userinfo then return nil, "org must not contain a user name or password" end
  if u.query or u.fragment then return nil, "org must not have a query or fragment" end
  if u.path and u.path ~= "/" then
    return nil, "org must be a base URL without a path, e.g. https://acme.okta.com"
  end
  if u.scheme == "http" then
    if not config.is_loopback(u.host) then
      return nil, "org must use https (plain http is allowed only for loopback hosts)"
    end
  elseif u.scheme ~= "https" then
    return nil, "org must use https"
  end
  return u.scheme .. "://" .. u.host .. (u.port and ":" .. u.port or "")
end

--- A subdomain must be one DNS label, so it can only ever name a host
--- under okta.com.
function config.check_subdomain(s)
  if #s > 63 or not s:match("^%w[%w%-]*$") or s:sub(-1) == "-" then
    return nil, "subdomain must be a single DNS label (letters, digits and '-'), e.g. \"acme\""
  end
  return "https://" .. s:lower() .. ".okta.com"
end

local function resolve_auth(auth, getenv)
  if auth == nil then
    local mode = getenv("OKTA_CLIENT_AUTHORIZATIONMODE")
    if mode and mode ~= "" and mode:lower() ~= "bearer" then
      return fail("OKTA_CLIENT_AUTHORIZATIONMODE: only 'Bearer' is supported")
    end
    local token = getenv("OKTA_CLIENT_TOKEN")
    if not token or token == "" then
      return fail("no credentials: set auth = {type = \"bearer\", token = ...} or OKTA_CLIENT_TOKEN")
    end
    return { type = "bearer", token = token }
  end
  if auth.type ~= "bearer" then
    return fail(("auth.type %s is not supported (use \"bearer\")")
      :format(auth.type and ("'" .. auth.type .. "'") or "is missing and"))
  end
  if not auth.token or auth.token == "" or auth.token:find("[%c ]") then
    return fail("auth.token must be a non-empty access token without spaces or control characters")
  end
  return { type = "bearer", token = auth.token }
end

--- Validates opts (raising on misuse) and returns the resolved settings,
--- or nil, message, info on a configuration problem.
function config.resolve(opts, parse_url, getenv, level)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(("bad argument #1 to 'client' (table expected, got %s)"):format(type(opts)), level)
  end
  check_fields(opts, OPTIONS, "", level + 1)
  if opts.auth then check_fields(opts.auth, AUTH_FIELDS, "auth.", level + 1) end
  getenv = getenv or os.getenv

  local settings = {}
  for k, v in pairs(DEFAULTS) do
    local given = opts[k]
    if given ~= nil and (given < 0 or given ~= given) then
      return fail(("option '%s' must be a non-negative number"):format(k))
    end
    settings[k] = given or v
  end
  if settings.retries ~= math.floor(settings.retries) or settings.retries > 10 then
    return fail("option 'retries' must be a whole number from 0 to 10")
  end
  if settings.timeout == 0 or settings.connect_timeout == 0 or settings.max_body == 0 then
    return fail("options 'timeout', 'connect_timeout' and 'max_body' must be greater than 0")
  end
  settings.user_agent, settings.ca_file, settings.proxy = opts.user_agent, opts.ca_file, opts.proxy

  local org, err
  if opts.org and opts.subdomain then
    return fail("give either org or subdomain, not both")
  elseif opts.subdomain then
    org, err = config.check_subdomain(opts.subdomain)
  else
    local url = opts.org or getenv("OKTA_CLIENT_ORGURL")
    if not url or url == "" then
      return fail("no Okta org configured: pass org = \"https://<org>.okta.com\" or set OKTA_CLIENT_ORGURL")
    end
    org, err = config.check_org(url, parse_url)
    if err and not opts.org then err = "OKTA_CLIENT_ORGURL: " .. err end
  end
  if not org then return fail(err) end
  settings.org = org

  local auth, msg, info = resolve_auth(opts.auth, getenv)
  if not auth then return nil, msg, info end
  settings.auth = auth
  return settings
end

return config

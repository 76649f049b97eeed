-- Client options: type checks (which raise), then the org and auth settings
-- resolved from options and environment (whose problems are `config`
-- failures, returned as nil, message, info).
local errors = require "ssf.errors"
local text = require "ssf.text"

local config = {}

local OPTIONS = {
  org = "string", subdomain = "string", auth = "table",
  timeout = "number", connect_timeout = "number", retries = "number",
  max_body = "number", max_backoff = "number",
  user_agent = "string", ca_file = "string", proxy = "string", debug = "boolean",
  transport = "string",
}

local AUTH_FIELDS = {
  type = "string", token = "string", client_id = "string", private_key = "string",
  key_file = "string", passphrase = "string", key_id = "string", scopes = "table",
  dpop = "boolean|string", client_secret = "string", refresh_token = "string",
  client_auth = "string", refresh_token_file = "string", on_refresh = "function",
}

-- Which auth fields each type takes, and which of them it needs.
local AUTH_TYPES = {
  bearer = { needs = { "token" }, takes = {} },
  private_key_jwt = { needs = { "client_id" },
                      takes = { "private_key", "key_file", "passphrase", "key_id", "scopes", "dpop" } },
  refresh_token = { needs = { "client_id", "client_secret" },
                    takes = { "refresh_token", "refresh_token_file", "on_refresh", "scopes", "client_auth" } },
}

local DEFAULT_SCOPES = { "ssf.read", "ssf.manage" }

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
    if not ("|" .. want .. "|"):find("|" .. type(v) .. "|", 1, true) then
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
  local org = u.scheme .. "://" .. u.host .. (u.port and ":" .. u.port or "")
  -- A host that libcurl reads as another host the next time is refused:
  -- "https:/%39" reads as the host "9", and "https://9" as 0.0.0.9. The
  -- org returned must read back as itself.
  local again = parse_url(org)
  if not again or again.host ~= u.host then
    return nil, "org's host is not a plain host name or address"
  end
  return org
end

--- Checks once, when the client is made, that ca_file is a readable file
--- holding at least one PEM certificate: otherwise every request would
--- fail later as a TLS error. Returns true, or nil and a message.
function config.check_ca_file(path)
  local f, err = io.open(path, "rb")
  local pem
  if f then
    pem, err = f:read("a")
    f:close()
  end
  if not pem then return nil, ("cannot read ca_file %s (%s)"):format(path, (err:gsub("^.*: ", ""))) end
  if not pem:find("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-\r?\n[%w+/=\r\n]+%-%-%-%-%-END CERTIFICATE%-%-%-%-%-") then
    return nil, ("ca_file %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)"):format(path)
  end
  return true
end

--- A subdomain must be one DNS label, so it can only ever name a host
--- under okta.com.
function config.check_subdomain(s)
  if #s > 63 or not s:match("^%w[%w%-]*$") or s:sub(-1) == "-" then
    return nil, "subdomain must be a single DNS label (letters, digits and '-'), e.g. \"acme\""
  end
  return "https://" .. s:lower() .. ".okta.com"
end

-- Checks an auth table (from options, or built from the SDK settings) and
-- fills in defaults. `where` names its origin in messages.
local function check_auth(a, where)
  local spec = AUTH_TYPES[a.type]
  if not spec then
    return fail(("%s.type %s is not supported (use \"bearer\", \"private_key_jwt\" or \"refresh_token\")")
      :format(where, a.type and ("'" .. tostring(a.type) .. "'") or "is missing and"))
  end
  local allowed = { type = true }
  for _, k in ipairs(spec.needs) do
    allowed[k] = true
    if a[k] == nil or a[k] == "" then return fail(("%s.%s is required for %s"):format(where, k, a.type)) end
  end
  for _, k in ipairs(spec.takes) do allowed[k] = true end
  for k in pairs(a) do
    if not allowed[k] then return fail(("%s.%s does not apply to %s"):format(where, k, a.type)) end
  end
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  if a.type == "bearer" and a.token:find("[%c ]") then
    return fail(where .. ".token must be an access token without spaces or control characters")
  end
  if a.type == "private_key_jwt" then
    if (a.private_key == nil) == (a.key_file == nil) then
      return fail(("%s needs exactly one of private_key and key_file"):format(where))
    end
    if out.dpop == nil then out.dpop = "auto" end
    if out.dpop ~= true and out.dpop ~= false and out.dpop ~= "auto" then
      return fail(where .. ".dpop must be \"auto\", true or false")
    end
  end
  if a.type == "refresh_token" then
    if (a.refresh_token == nil or a.refresh_token == "") and a.refresh_token_file == nil then
      return fail(("%s needs refresh_token or refresh_token_file"):format(where))
    end
    out.client_auth = out.client_auth or "basic"
    if out.client_auth ~= "basic" and out.client_auth ~= "post" then
      return fail(where .. ".client_auth must be \"basic\" or \"post\"")
    end
  end
  if a.type ~= "bearer" then
    out.scopes = out.scopes or DEFAULT_SCOPES
    if #out.scopes == 0 then return fail(where .. ".scopes must list at least one scope") end
    for _, sc in ipairs(out.scopes) do
      -- RFC 6749 scope tokens: printable ASCII but space, '"' and '\'.
      if type(sc) ~= "string" or sc == "" or sc:find('[^!-~]') or sc:find('["\\]') then
        return fail(where .. ".scopes must be a list of scope names")
      end
    end
  end
  return out
end

-- The settings Okta's SDKs read, as ssflua reads them: ~/.okta/okta.yaml,
-- overridden by ./okta.yaml, overridden by the environment. Each value
-- remembers where it came from, for error messages. Keys are okta.client's,
-- nested ones dotted; the variable is OKTA_CLIENT_ and the key upper-cased
-- with dots as underscores, as Okta's SDKs spell them. The last four are
-- ssflua's own (Okta's SDKs have no refresh-token mode).
local SDK_KEYS = {
  "orgUrl", "authorizationMode", "token", "clientId", "scopes", "privateKey", "privateKeyId",
  "connectionTimeout", "requestTimeout", "rateLimit.maxRetries", "rateLimit.maxBackoff",
  "proxy.host", "proxy.port", "proxy.username", "proxy.password",
  "privateKeyPassphrase", "clientSecret", "refreshToken", "refreshTokenFile",
}
local SDK_VAR = {}
for _, k in ipairs(SDK_KEYS) do SDK_VAR[k] = "OKTA_CLIENT_" .. k:upper():gsub("%.", "_") end
-- Other names for the same setting: Java's okta.client.kid, and the
-- variable ssflua accepted first.
local KEY_ALIASES = { kid = "privateKeyId" }
local ENV_ALIASES = { OKTA_CLIENT_KEYID = "privateKeyId", OKTA_CLIENT_KID = "privateKeyId" }
-- Settings of Okta's SDKs that mean nothing here (caching, logging, the
-- SDK's own User-Agent and auth scheme): a shared okta.yaml may hold them.
local SDK_IGNORED = {
  cache = true, logging = true, userAgent = true, authenticationScheme = true,
  oauth2 = true, requestExecutor = true,
}
local NUMERIC = { connectionTimeout = true, requestTimeout = true, ["rateLimit.maxRetries"] = true,
                  ["rateLimit.maxBackoff"] = true, ["proxy.port"] = true }

local function split_scopes(s)
  local list = {}
  for sc in s:gmatch("[^,%s]+") do list[#list + 1] = sc end
  return list
end

-- One okta.client value from a file: k is the dotted key. Okta's SDKs
-- write null for a setting left unset (proxy.host: null).
local function take_yaml(k, v, name, into, from, null)
  k = KEY_ALIASES[k] or k
  if v == null then return true end
  if not SDK_VAR[k] then return fail("unknown setting " .. name) end
  if k == "scopes" then
    if type(v) == "string" then v = split_scopes(v) end
    if type(v) ~= "table" then return fail(name .. " must be a list") end
  elseif NUMERIC[k] and type(v) == "number" then
    v = tostring(v)
  elseif type(v) ~= "string" then
    return fail(name .. " must be a " .. (NUMERIC[k] and "number" or "string"))
  end
  into[k], from[k] = v, name
  return true
end

local function read_yaml(path, into, from)
  local f = io.open(path, "rb")
  if not f then return true end
  local text = f:read("a")
  f:close()
  local ok, lyaml = pcall(require, "lyaml")
  if not ok then
    return fail(path .. ": reading okta.yaml needs the lyaml module (Debian package lua-yaml)")
  end
  local parsed, doc = pcall(lyaml.load, text)
  if not parsed then
    return fail(("%s is not valid YAML: %s"):format(path, tostring(doc):match("[^\n]*")))
  end
  local c = type(doc) == "table" and type(doc.okta) == "table" and doc.okta.client
  if c == nil then return true end
  if type(c) ~= "table" then return fail(path .. ": okta.client must be a mapping") end
  for k, v in pairs(c) do
    local name = ("%s: okta.client.%s"):format(path, tostring(k))
    if SDK_IGNORED[k] then -- luacheck: ignore 542
    elseif (k == "proxy" or k == "rateLimit") and type(v) == "table" and v ~= lyaml.null then
      for sub, sv in pairs(v) do
        local done, msg, info = take_yaml(k .. "." .. tostring(sub), sv, name .. "." .. tostring(sub), into, from,
          lyaml.null)
        if not done then return nil, msg, info end
      end
    else
      local done, msg, info = take_yaml(k, v, name, into, from, lyaml.null)
      if not done then return nil, msg, info end
    end
  end
  return true
end

local function sdk_settings(getenv, files)
  local into, from = {}, {}
  local home = getenv("HOME")
  for _, path in ipairs(files or { home and (home .. "/.okta/okta.yaml"), "okta.yaml" }) do
    local ok, msg, info = read_yaml(path, into, from)
    if not ok then return nil, msg, info end
  end
  for key, var in pairs(SDK_VAR) do
    local v = getenv(var)
    if v and v ~= "" then into[key], from[key] = v, var end
  end
  for var, key in pairs(ENV_ALIASES) do
    local v = getenv(var)
    if v and v ~= "" and from[key] ~= SDK_VAR[key] then into[key], from[key] = v, var end
  end
  if type(into.scopes) == "string" then into.scopes = split_scopes(into.scopes) end
  return into, from
end

-- Client options from the SDK's transport settings, for those the caller
-- did not give: requestTimeout and connectionTimeout (seconds; 0 is the
-- SDKs' "no limit", which ssflua does not offer, so it keeps its default),
-- rateLimit.maxRetries and .maxBackoff, and proxy.* as a proxy URL.
local function sdk_options(sdk, from, opts, settings)
  local map = { requestTimeout = "timeout", connectionTimeout = "connect_timeout",
                ["rateLimit.maxRetries"] = "retries", ["rateLimit.maxBackoff"] = "max_backoff" }
  for key, option in pairs(map) do
    if sdk[key] ~= nil and opts[option] == nil then
      local n = tonumber(sdk[key])
      if not n or n < 0 or n ~= n then return fail(from[key] .. " must be a non-negative number") end
      if option == "retries" then n = math.min(math.floor(n), 10) end
      if n > 0 or option == "retries" then settings[option] = n end
    end
  end
  if sdk["proxy.host"] and opts.proxy == nil then
    local host = sdk["proxy.host"]
    local scheme, rest = host:match("^(%a[%w+.-]*://)(.*)$")
    scheme, rest = scheme or "http://", rest or host
    local port = sdk["proxy.port"]
    if port and not tostring(port):match("^%d+$") then return fail(from["proxy.port"] .. " must be a port number") end
    local user = sdk["proxy.username"]
    local userinfo = ""
    if user then
      userinfo = text.escape(user) .. (sdk["proxy.password"] and ":" .. text.escape(sdk["proxy.password"]) or "") .. "@"
    end
    settings.proxy = scheme .. userinfo .. rest .. (port and not rest:find(":%d+$") and ":" .. port or "")
  end
  return true
end

local SDK_WHERE = "auth (from OKTA_CLIENT_* or okta.yaml)"

-- The auth table the SDK settings describe, or nil when they name none.
local function sdk_auth(sdk, from)
  local mode = sdk.authorizationMode
  if mode == nil then
    if sdk.privateKey and sdk.token then
      return fail(("both %s and %s are set: choose one with OKTA_CLIENT_AUTHORIZATIONMODE")
        :format(from.token, from.privateKey))
    end
    local refresh = sdk.clientSecret and (sdk.refreshToken or sdk.refreshTokenFile)
    mode = sdk.privateKey and "privatekey" or sdk.token and "bearer" or refresh and "refreshtoken" or nil
    if not mode then return nil end
  end
  mode = mode:lower()
  if mode == "bearer" then
    if not sdk.token then return fail(from.authorizationMode .. " is Bearer but no token is set (OKTA_CLIENT_TOKEN)") end
    return { type = "bearer", token = sdk.token }, SDK_WHERE
  elseif mode == "privatekey" then
    if not sdk.clientId then return fail("PrivateKey mode needs a client id (OKTA_CLIENT_CLIENTID)") end
    if not sdk.privateKey then return fail("PrivateKey mode needs a key (OKTA_CLIENT_PRIVATEKEY)") end
    local pem = sdk.privateKey:find("-----BEGIN", 1, true) and sdk.privateKey or nil
    return { type = "private_key_jwt", client_id = sdk.clientId, private_key = pem,
             key_file = not pem and sdk.privateKey or nil, key_id = sdk.privateKeyId,
             passphrase = sdk.privateKeyPassphrase, scopes = sdk.scopes }, SDK_WHERE
  elseif mode == "refreshtoken" then
    if not sdk.clientId then return fail("RefreshToken mode needs a client id (OKTA_CLIENT_CLIENTID)") end
    if not sdk.clientSecret then return fail("RefreshToken mode needs a client secret (OKTA_CLIENT_CLIENTSECRET)") end
    if not (sdk.refreshToken or sdk.refreshTokenFile) then
      return fail("RefreshToken mode needs OKTA_CLIENT_REFRESHTOKEN or OKTA_CLIENT_REFRESHTOKENFILE")
    end
    return { type = "refresh_token", client_id = sdk.clientId, client_secret = sdk.clientSecret,
             refresh_token = sdk.refreshToken, refresh_token_file = sdk.refreshTokenFile,
             scopes = sdk.scopes }, SDK_WHERE
  end
  return fail(("%s: authorization mode '%s' is not supported (use Bearer, PrivateKey or RefreshToken)")
    :format(from.authorizationMode, sdk.authorizationMode))
end

--- The ssf.client options (org, auth and the SDK's transport settings)
--- that the okta.yaml `files` (in order, later ones winning) and the
--- OKTA_CLIENT_* variables `getenv` returns describe, the way ssf.client
--- reads them when given no options; nil, message, info when they describe
--- no usable client.
function config.sdk_client_options(getenv, files)
  local sdk, from, info = sdk_settings(getenv, files)
  if not sdk then return nil, from, info end
  local options, ok, msg = {}, nil, nil
  ok, msg, info = sdk_options(sdk, from, {}, options)
  if not ok then return nil, msg, info end
  local a, where
  a, where, info = sdk_auth(sdk, from)
  if not a then return fail(where or "no credentials (a token, or a client id and a private key)") end
  options.org, options.auth = sdk.orgUrl, a
  return options
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
  if opts.ca_file then
    local ok, msg = config.check_ca_file(opts.ca_file)
    if not ok then return fail(msg) end
  end
  if opts.debug ~= nil then
    settings.debug = opts.debug
  else
    local d = getenv("SSF_DEBUG")
    settings.debug = d ~= nil and d ~= "" and d ~= "0"
  end

  local sdk, from = {}, {}
  if not (opts.org or opts.subdomain) or not opts.auth then
    local info
    sdk, from, info = sdk_settings(getenv)
    if not sdk then return nil, from, info end
    local ok, msg
    ok, msg, info = sdk_options(sdk, from, opts, settings)
    if not ok then return nil, msg, info end
  end

  local org, err
  if opts.org and opts.subdomain then
    return fail("give either org or subdomain, not both")
  elseif opts.subdomain then
    org, err = config.check_subdomain(opts.subdomain)
  else
    local url = opts.org or sdk.orgUrl
    if not url or url == "" then
      return fail("no Okta org configured: pass org = \"https://<org>.okta.com\" or set OKTA_CLIENT_ORGURL")
    end
    org, err = config.check_org(url, parse_url)
    if err and not opts.org then err = from.orgUrl .. ": " .. err end
  end
  if not org then return fail(err) end
  settings.org = org
  -- The transport settings given (by the options or the SDK's), not
  -- defaulted: a transport that cannot honour one refuses it.
  settings.given = { timeout = opts.timeout, connect_timeout = opts.connect_timeout, ca_file = opts.ca_file,
                     proxy = settings.proxy }
  for _, k in ipairs { "timeout", "connect_timeout" } do
    if settings[k] ~= DEFAULTS[k] then settings.given[k] = settings[k] end
  end

  local a, where = opts.auth, "auth"
  if not a then
    local info
    a, where, info = sdk_auth(sdk, from)
    if not a and info then return nil, where, info end
    if not a then
      return fail("no credentials: pass auth = {...} or set OKTA_CLIENT_TOKEN, or OKTA_CLIENT_CLIENTID and OKTA_CLIENT_PRIVATEKEY")
    end
  end
  local checked, msg, info = check_auth(a, where)
  if not checked then return nil, msg, info end
  settings.auth = checked
  return settings
end

return config

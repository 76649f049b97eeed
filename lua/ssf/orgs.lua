-- Org lists for scripts that act on many Okta orgs (scripts/fleet.lua):
-- one org per line, each naming where its settings come from, turned into
-- ssf.client options. Blank lines and '#' comments are skipped.
--
--   NAME [org=URL] [yaml=PATH] [env=PREFIX] [listen=HOST:PORT] [rx_auth_env=VAR]
--
--   yaml=PATH    an okta.yaml file (okta.client.orgUrl, token, clientId, ...)
--   env=PREFIX   variables named like OKTA_CLIENT_*, with PREFIX in place of
--                OKTA_CLIENT_ (env=ACME_ reads ACME_ORGURL, ACME_TOKEN,
--                ACME_CLIENTID, ACME_PRIVATEKEY...); over the file's values
--   org=URL      the org URL, over both
--   listen, rx_auth_env  where a receiver for proof of delivery listens, and
--                the variable holding the Authorization value it requires
-- Only the named sources are read: never ~/.okta/okta.yaml, ./okta.yaml or
-- OKTA_CLIENT_*, so one org's settings cannot leak into another's.
local config = require "ssf.config"
local errors = require "ssf.errors"

local orgs = {}

local KEYS = { org = true, yaml = true, env = true, listen = true, rx_auth_env = true }

local function parse_line(line, where)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local entry = { name = words[1] }
  if not entry.name:match("^[%w._-]+$") then
    return errors.fail("config", where .. ": an org name is letters, digits, '.', '_' or '-', got " .. entry.name)
  end
  for i = 2, #words do
    local k, v = words[i]:match("^([%w_]+)=(.+)$")
    if not KEYS[k] then
      return errors.fail("config", ("%s: expected key=value with key org, yaml, env, listen or rx_auth_env, got %s")
        :format(where, words[i]:match("^[^=]*")))
    end
    if entry[k] then return errors.fail("config", where .. ": " .. k .. " is given twice") end
    entry[k] = v
  end
  if not (entry.yaml or entry.env) then
    return errors.fail("config", where .. ": name where the credentials come from (yaml=PATH or env=PREFIX)")
  end
  if entry.env and not entry.env:match("^[%a_][%w_]*$") then
    return errors.fail("config", where .. ": env must be a variable name prefix, got " .. entry.env)
  end
  return entry
end

-- The client options of one entry; nil, message, info when its sources
-- describe no usable client (a problem of that org only).
function orgs.options(entry)
  if entry.yaml then
    local f = io.open(entry.yaml, "rb")
    if not f then return errors.fail("config", "cannot read " .. entry.yaml) end
    f:close()
  end
  local prefix = entry.env
  local function getenv(name)
    local rest = prefix and name:match("^OKTA_CLIENT_(.+)$")
    return rest and os.getenv(prefix .. rest) or nil
  end
  local options, msg, info = config.sdk_client_options(getenv, { entry.yaml })
  if not options then return nil, msg, info end
  if entry.org then options.org = entry.org end
  if not options.org then
    return errors.fail("config", "no org URL: give org=URL, or orgUrl in the file, or " ..
      (prefix or "PREFIX_") .. "ORGURL")
  end
  return options
end

--- Parses an org list; `name` (a file name) goes into messages. Returns the
--- entries {name=, line=, org=, yaml=, env=, listen=, rx_auth_env=} in order,
--- or nil, message, info for a malformed list (every line is checked first,
--- so no org is acted on when another line is wrong).
function orgs.parse(text, name)
  local list, seen, n = {}, {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("#.*$", "")
    if line:find("%S") then
      local where = ("%s:%d"):format(name or "orgs", n)
      local entry, msg, info = parse_line(line, where)
      if not entry then return nil, msg, info end
      if seen[entry.name] then
        return errors.fail("config", ("%s: org %s is listed twice"):format(where, entry.name))
      end
      seen[entry.name] = true
      entry.line = n
      list[#list + 1] = entry
    end
  end
  if #list == 0 then return errors.fail("config", (name or "the org list") .. " lists no org") end
  return list
end

--- Reads and parses the org list file at path.
function orgs.read(path)
  local f, err = io.open(path, "rb")
  if not f then return errors.fail("config", "cannot read the org list: " .. err) end
  local text = f:read("a")
  f:close()
  return orgs.parse(text, path)
end

return orgs

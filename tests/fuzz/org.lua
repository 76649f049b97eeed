-- Org and subdomain checks: never raise; whatever they accept is an https
-- URL, or http to loopback, and is only a scheme, host and port.
local config = require "ssf.config"
local http = require "ssf.http"

return function(data)
  local org = config.check_org(data, http.parse_url)
  if org then
    local u = assert(http.parse_url(org), "accepted org does not parse")
    assert(u.scheme == "https" or (u.scheme == "http" and config.is_loopback(u.host)), "bad scheme")
    assert((u.path or "/") == "/" and not u.query and not u.fragment and not u.userinfo, "extra parts")
    assert(config.check_org(org, http.parse_url) == org, "normalization is not stable")
  end
  local sub = config.check_subdomain(data)
  if sub then
    local u = assert(http.parse_url(sub), "subdomain URL does not parse")
    assert(u.scheme == "https" and u.host:sub(-9) == ".okta.com" and not u.host:sub(1, -10):find("%."),
      "subdomain escaped okta.com")
    assert(not u.port and (u.path or "/") == "/", "subdomain added a port or path")
  end
end

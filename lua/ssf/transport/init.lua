-- Which transport moves a client's requests: nginx's own HTTP client
-- inside an nginx worker (it never blocks the worker; in a phase where
-- nginx cannot make requests, a call fails with a config error rather than
-- block on libcurl), libcurl everywhere else. Both have the interface transport/curl.lua describes.
local transport = {}

--- The transport module for `name` ("curl", "nginx", or nil for the
--- default here), and the name chosen.
function transport.module(name)
  if name == nil then name = require("ssf.transport.nginx").inside() and "nginx" or "curl" end
  return require("ssf.transport." .. name), name
end

--- A new transport of the default kind: t | nil, message, info.
function transport.new()
  return (transport.module()).new()
end

return transport

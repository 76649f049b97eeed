-- The receiver's listen address parser: never raises; what it accepts is a
-- host without brackets and a port from 0 to 65535.
-- parse_listen needs no server: the C module is not linked into the harness.
package.preload["ssf.httpd"] = function() return {} end
local receiver = require "ssf.receiver"

return function(data)
  local host, port = receiver.parse_listen(data)
  if host then
    assert(type(host) == "string" and not host:find("[%[%]]"), "bad host")
    assert(math.type(port) == "integer" and port >= 0 and port <= 65535, "bad port")
  else
    assert(type(port) == "string", "no message")
  end
end

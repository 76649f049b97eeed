-- ssf: Okta Shared Signals Framework streams from Lua. See API.md for the
-- contract; README.md for a tour.
local Client = require "ssf.streams"
local json = require "ssf.json"
local tasks = require "ssf.tasks"
local nginx = require "ssf.transport.nginx"

-- Inside nginx, tasks are nginx's light threads (transport/nginx.lua);
-- elsewhere, coroutines on one curl multi (tasks.lua).
local function scheduler() return nginx.inside() and nginx.tasks or tasks end

local ssf = {
  _VERSION = "ssf " .. require "ssf.version",
  client = Client.new,
  -- Loaded on first use: the receiver brings in libmicrohttpd (ssf.httpd).
  receiver = function(opts) return require("ssf.receiver").new(opts) end,
  -- Loaded on first use, and never implicitly: a script whose configuration
  -- is missing fails rather than quietly talk to a stand-in.
  emulator = function(opts) return require("ssf.emulator").new(opts) end,
  null = json.null,
  array = json.array,
  json = { encode = json.encode, decode = json.decode, null = json.null, array = json.array },
  events = require "ssf.events",
  -- ssf.set (and libcrypto under it) is compiled and loaded by the first
  -- SET: a script that only makes API calls does not pay for it at start.
  set = {
    decode = function(...) return require("ssf.set").decode(...) end,
    verify = function(...) return require("ssf.set").verify(...) end,
  },
  -- Concurrency on one thread (tasks.lua): client calls inside tasks share
  -- one curl multi handle instead of blocking each other.
  spawn = function(...) return scheduler().spawn(...) end,
  all = function(...) return scheduler().all(...) end,
  sleep = function(...) return scheduler().sleep(...) end,
  -- Desired state against the org's streams (pure; scripts/apply.lua).
  plan = function(desired, current) return require("ssf.plan").plan(desired, current) end,
  -- Delivery methods Okta accepts (push only).
  PUSH = "urn:ietf:rfc:8935",
  RISC_PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push",
}

return ssf

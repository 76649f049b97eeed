-- One client suite (tests/support/client_suite.lua), two transmitters: the
-- independent Node fake and the built-in emulator.
local ssf = require "ssf"
local fake = require "fake"
local suite = require "client_suite"

-- Busted's names live in this file's environment: _ENV on 5.4, getfenv on
-- LuaJIT.
local spec_env = getfenv and getfenv(1) or _ENV

suite({
  name = "the Node fake (tests/fake)",
  start = function()
    local f = fake.start()
    local function client(token) return f:client(token or "tok-rw") end
    return f.url, client, function() f:stop() end
  end,
}, spec_env)

suite({
  name = "the built-in emulator",
  start = function()
    local e = assert(ssf.emulator {})
    local function client(token)
      if token then return assert(ssf.client { org = e.org, auth = { type = "bearer", token = token } }) end
      return assert(e:client())
    end
    return e.org, client, function() e:close() end
  end,
}, spec_env)

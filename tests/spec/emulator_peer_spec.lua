-- Okta's official Node SDK (tests/peer) runs its whole stream lifecycle
-- against the built-in emulator, in PrivateKey mode: once given the
-- emulator's credentials explicitly, once finding them where `ssflua
-- --emulate` puts them (the OKTA_CLIENT_* environment the SDK reads).
local ssf = require "ssf"
local env = require "env"
local emu = require "emu"

local PEER = env.q(env.root .. "/tests/peer/okta-sdk-peer.mjs")

local function check(report_text, org)
  local report = ssf.json.decode(report_text)
  assert.is_table(report, report_text)
  assert.is_true(report.ok, report_text)
  assert.are.equal(org, report.org)
  local ops = {}
  for _, o in ipairs(report.operations) do
    assert.is_true(o.ok, ssf.json.encode(o))
    ops[#ops + 1] = o.op
  end
  assert.are.equal("metadata,list,create,get,status,update,replace,verify,delete,list", table.concat(ops, ","))
  -- The SDK always offers DPoP; the emulator binds the token to its key.
  assert.are.equal("DPoP", report.token.token_type)
  return report
end

describe("Okta's Node SDK against the emulator", function()
  it("runs a lifecycle with the credentials an emulator hands out", function()
    local e = assert(ssf.emulator {})
    finally(function() e:close() end)
    local c = e:credentials()
    local key = emu.secret_file(c.private_key)
    -- The SDK runs while this script waits in os.execute: the emulator
    -- serves from its own threads meanwhile.
    local code, out, err = env.run(("node %s --org %s --client-id %s --key-file %s --key-id %s")
      :format(PEER, env.q(e.org), env.q(c.client_id), env.q(key), env.q(c.key_id)))
    os.remove(key)
    assert.are.equal(0, code, err .. out)
    check(out, e.org)
    -- The verification the SDK asked for was pushed to its stream's receiver.
    local pushed = 0
    for _, d in ipairs(e:deliveries()) do
      if d.event_type == ssf.events.VERIFICATION then pushed = pushed + 1 end
    end
    assert.are.equal(1, pushed)
  end)

  it("finds the emulator `ssflua --emulate` configured, through the environment", function()
    local code, out, err = env.ssflua("--emulate -e " .. env.q(([[
      local okta = assert(require("ssf").client())
      assert(okta:delete_stream()) -- the stream --emulate holds: the SDK creates its own
      io.stdout:write(okta.org, "\n")
      io.stdout:flush()
      os.exit(os.execute(%q) and 0 or 1)]]):format("node " .. PEER)))
    assert.are.equal(0, code, err .. out)
    local org, report = out:match("^(%S+)\n(.*)$")
    check(report, org)
  end)
end)

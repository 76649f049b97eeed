-- scripts/apply.lua against the built-in emulator (ssf.emulator) as the
-- org: a stream created from the file with proof of delivery to the
-- receiver apply runs, drift made through the emulator's own client found
-- and fixed, and plans that agree.
local ssf = require "ssf"
local env = require "env"
local emu_support = require "emu"

local APPLY = env.root .. "/scripts/apply.lua"
local RX_HDR = "Bearer CANARY-emu-rx-5d1"

describe("apply.lua against the emulator", function()
  local emu, dir, file, vars, port

  setup(function()
    emu = assert(ssf.emulator { listen = "127.0.0.1:0" })
    dir = env.tmpdir()
    file = dir .. "/streams.lua"
    local probe = assert(ssf.receiver { verifier = function() return nil, "unused" end })
    port = probe.port
    probe:close()
    local f = assert(io.open(file, "w"))
    f:write(([[return { orgs = { { name = "emu", env = "EMU_", stream = {
      delivery = { method = PUSH, endpoint_url = "http://127.0.0.1:%d/ssf/events" },
      events_requested = { events.SESSION_REVOKED, events.CREDENTIAL_CHANGE },
      authorization_env = "RX_AUTH" } } } }]]):format(port))
    f:close()
    -- Its bearer token, through variables as an operator would give them.
    vars = { EMU_ORGURL = emu.org, EMU_TOKEN = emu:credentials().token, RX_AUTH = RX_HDR }
  end)
  teardown(function()
    emu:close()
    env.rmdir(dir)
  end)

  local function run(args)
    local code, out, err = env.ssflua(env.q(APPLY) .. " " .. args, vars)
    assert.is_nil((out .. err):find("CANARY", 1, true), out .. err)
    assert.is_nil((out .. err):find(vars.EMU_TOKEN, 1, true), "the token leaked")
    return code, out, err
  end

  it("creates the stream with proof of delivery, finds drift, fixes it, and plans 0 after", function()
    local code, out, err = run("plan " .. env.q(file))
    assert.are.equal(2, code, out .. err)
    assert.matches("emu %(" .. emu.org:gsub("%p", "%%%0") .. "%): 1 change\n  %+ create %(new stream%)", out)

    code, out, err = run(("apply %s --backup-dir %s --confirm 127.0.0.1:%d --confirm-timeout 30")
      :format(env.q(file), env.q(dir), port))
    assert.are.equal(0, code, out .. err)
    assert.matches("done: create esc", out)
    assert.matches("delivery proven: verification SET %S+ arrived", out)
    -- The emulator pushed it with the header from $RX_AUTH, and the
    -- receiver that apply ran took it.
    -- The emulator records the answer once its pushing thread has it.
    local pushed = emu_support.wait(30, function()
      for _, d in ipairs(emu:deliveries()) do
        if d.endpoint_url == ("http://127.0.0.1:%d/ssf/events"):format(port) and d.status then return d end
      end
    end)
    assert.are.equal(202, assert(pushed, "no answered push to the receiver").status)

    code, out = run("plan " .. env.q(file))
    assert.are.equal(0, code, out)

    -- Drift made through the emulator's own client.
    local okta = emu:client()
    local s = assert(okta:streams())[1]
    s.events_requested = ssf.array { ssf.events.SESSION_REVOKED }
    assert(okta:update_stream(s))
    code, out = run("plan " .. env.q(file))
    assert.are.equal(2, code, out)
    assert.matches("events_requested: %+%[" .. ssf.events.CREDENTIAL_CHANGE:gsub("%p", "%%%0") .. "%]", out)
    code, out, err = run("apply " .. env.q(file) .. " --backup-dir " .. env.q(dir))
    assert.are.equal(0, code, out .. err)
    assert.are.equal(2, #assert(okta:streams())[1].events_requested)
    code, out = run("plan " .. env.q(file))
    assert.are.equal(0, code, out)
    okta:close()
  end)
end)

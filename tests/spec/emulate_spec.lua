-- `ssflua --emulate` / SSF_EMULATE=1, and the scripts end to end against
-- the built-in emulator: the rotation with --confirm, the streams listing,
-- emulate.lua as a service, and receive.lua taking what it emits. Nothing
-- starts without being asked.
local ssf = require "ssf"
local env = require "env"
local emu = require "emu"
local fake = require "fake"

local function script(name) return env.q(env.root .. "/scripts/" .. name) end

describe("ssflua --emulate", function()
  local dir
  setup(function() dir = env.tmpdir() end)
  teardown(function() env.rmdir(dir) end)

  it("starts nothing without --emulate: a missing configuration is still the config error", function()
    for _, vars in ipairs { {}, { SSF_EMULATE = "0" }, { SSF_EMULATE = "" } } do
      local code, out, err = env.ssflua(script("streams.lua"), vars)
      assert.are.equal(1, code, out)
      assert.matches("no Okta org configured", err)
      assert.is_nil(err:find("emulator", 1, true), err)
    end
    local code, out, err = env.ssflua("-e " .. env.q([[
      local ssf = require "ssf"
      local c, msg, info = ssf.client()
      print(c, info.kind, package.loaded["ssf.emulator"], package.loaded["ssf.thread"])]]))
    assert.are.equal(0, code, err)
    assert.are.equal("nil\tconfig\tnil\tnil\n", out)
  end)

  it("makes the emulator the configured org, holding one stream, and says so on stderr", function()
    for _, how in ipairs { { args = "--emulate " }, { args = "", vars = { SSF_EMULATE = "1" } } } do
      local code, out, err = env.ssflua(how.args .. script("streams.lua") .. " --json", how.vars)
      assert.are.equal(0, code, err)
      assert.matches("^ssflua: %-%-emulate: using the built%-in Okta SSF emulator at http://127%.0%.0%.1:%d+ %(a stand%-in", err)
      local list = ssf.json.decode(out)
      assert.are.equal(1, #list)
      assert.are.equal("https://receiver.invalid/ssf/events", list[1].delivery.endpoint_url)
      assert.are.equal("enabled", list[1].status)
    end
  end)

  it("shares it with the programs the script runs, which start no second one", function()
    local listing = dir .. "/child.json"
    local code, out, err = env.ssflua("-e " .. env.q(([[
      local ssf = require "ssf"
      local okta = assert(ssf.client())
      print(okta.org, assert(okta:streams())[1].stream_id)
      assert(os.execute(%q))]]):format(("%s %s --json > %s"):format(env.q(env.ssflua_bin), script("streams.lua"),
      env.q(listing)))), { SSF_EMULATE = "1" })
    assert.are.equal(0, code, err)
    local org, id = out:match("^(%S+)\t(%S+)\n$")
    assert.is_string(id, out)
    local _, count = err:gsub("built%-in Okta SSF emulator", "")
    assert.are.equal(1, count, err)
    assert.are.equal(id, ssf.json.decode(env.read(listing))[1].stream_id)
    assert.matches("^http://127", org)
  end)

  it("runs rotate_receiver.lua --confirm to a local receiver and proves delivery", function()
    local code, out, err = env.ssflua(("--emulate %s --confirm 127.0.0.1:0 --backup %s")
      :format(script("rotate_receiver.lua"), env.q(dir .. "/backup.json")))
    assert.are.equal(0, code, out .. err)
    assert.matches("delivery%.endpoint_url%s+https://receiver%.invalid/ssf/events %-> http://127%.0%.0%.1:%d+/ssf/events", out)
    assert.matches("backup saved to", out)
    assert.matches("updated the stream %(HTTP 200, request %w+%)", out)
    assert.matches("delivery proven: verification SET %x+ with state %x+ arrived after", out)
    assert.is_table(ssf.json.decode(env.read(dir .. "/backup.json")).stream)
  end)
end)

describe("scripts/emulate.lua", function()
  local dir
  setup(function() dir = env.tmpdir() end)
  teardown(function() env.rmdir(dir) end)

  it("prints the org, the client, a key file of mode 0600 and a token that all work; stops at end of input", function()
    local check = dir .. "/check.lua"
    local f = assert(io.open(check, "w"))
    -- Run by a second ssflua while emulate.lua serves (its stdin, a FIFO,
    -- stays open until the test closes it).
    f:write([[
      local ssf = require "ssf"
      local org, id, kid, key, token = ...
      local c = assert(ssf.client { org = org, auth = { type = "private_key_jwt", client_id = id, key_id = kid,
                                                       key_file = key } })
      local b = assert(ssf.client { org = org, auth = { type = "bearer", token = token } })
      print(#assert(c:streams()), #assert(b:streams()))]])
    f:close()
    local out_file = dir .. "/emulate.out"
    local fifo = dir .. "/stdin"
    assert(os.execute("mkfifo " .. env.q(fifo)))
    local p = assert(io.popen(("exec %s %s >%s 2>&1 <%s & echo $!"):format(env.q(env.ssflua_bin),
      script("emulate.lua"), env.q(out_file), env.q(fifo))))
    local pid = p:read("l")
    p:close()
    local stdin = assert(io.open(fifo, "w"))
    local text = emu.wait(120, function()
      local s = env.read(out_file) or ""
      return s:find("Type an event", 1, true) and s
    end)
    assert.is_string(text, env.read(out_file))
    local org = text:match("org URL%s+(%S+)")
    local id = text:match("client id%s+(%S+)")
    local kid = text:match("key id%s+(%S+)")
    local key = text:match("key file%s+(%S+)")
    local token = text:match("token%s+(%S+)")
    assert.matches("^http://127%.0%.0%.1:%d+$", org)
    local mode = io.popen("stat -c %a " .. env.q(key)):read("l")
    assert.are.equal("600", mode)
    local code, out, err = env.ssflua(table.concat({ env.q(check), org, id, kid, env.q(key), token }, " "))
    assert.are.equal(0, code, err)
    assert.are.equal("0\t0\n", out)
    stdin:close() -- end of input
    local stopped = emu.wait(60, function() return not env.alive(pid) end)
    if not stopped then os.execute("kill -9 " .. pid) end
    assert.is_truthy(stopped, "still running after EOF")
    assert.matches("emulator stopped", env.read(out_file))
    assert.is_nil(io.open(key), "the key file is left behind")
  end)

  for _, sig in ipairs { "INT", "TERM" } do
    it("stops cleanly on SIG" .. sig .. ", removing its key file", function()
      local out_file = dir .. "/" .. sig .. ".out"
      local fifo = dir .. "/" .. sig .. ".stdin"
      assert(os.execute("mkfifo " .. env.q(fifo)))
      local p = assert(io.popen(("exec %s %s >%s 2>&1 <%s & echo $!"):format(env.q(env.ssflua_bin),
        script("emulate.lua"), env.q(out_file), env.q(fifo))))
      local pid = p:read("l")
      p:close()
      local stdin <close> = assert(io.open(fifo, "w"))
      local text = emu.wait(120, function()
        local s = env.read(out_file) or ""
        return s:find("Type an event", 1, true) and s
      end)
      assert.is_string(text, env.read(out_file))
      local key = text:match("key file%s+(%S+)")
      os.execute("kill -" .. sig .. " " .. pid)
      local stopped = emu.wait(60, function() return not env.alive(pid) end)
      if not stopped then os.execute("kill -9 " .. pid) end
      assert.is_truthy(stopped, "still running after SIG" .. sig)
      assert.matches("emulator stopped", env.read(out_file))
      assert.is_nil(io.open(key), "the key file is left behind")
    end)
  end

  it("creates a stream pushing to receive.lua, and each emitted event reaches it", function()
    -- The emulator's port must be known before receive.lua starts (its
    -- --jwks); take a free one from the kernel and hand it over.
    local probe = assert(ssf.receiver { listen = "127.0.0.1:0", verifier = function() return true end })
    local port = probe.endpoint_url:match(":(%d+)/")
    probe:close()
    local org = "http://127.0.0.1:" .. port
    local auth = "Bearer receive-secret-42"
    local rx_url, rx_pid, rx_log = fake.spawn(("RX_AUTH=%s exec %s %s --listen 127.0.0.1:0 --authorization-env RX_AUTH --jwks %s --issuer %s --count 2 --timeout 120")
      :format(env.q(auth), env.q(env.ssflua_bin), script("receive.lua"), env.q(org .. "/oauth2/v1/keys"), env.q(org)),
      "receiving SETs at (http://%S+)", 60)
    local code, out, err = env.ssflua(("%s --listen 127.0.0.1:%s --push-to %s --authorization-env RX_AUTH")
      :format(script("emulate.lua"), port, env.q(rx_url)), { RX_AUTH = auth },
      "session-revoked alice@example.com\ncredential-change\n")
    assert.are.equal(0, code, out .. err)
    assert.matches("stream%s+%w+ pushing to " .. rx_url:gsub("%p", "%%%0"), out)
    assert.matches("session%-revoked %x+ %-> %S+: HTTP 202", out)
    assert.matches("credential%-change %x+ %-> %S+: HTTP 202", out)
    assert.is_truthy(emu.wait(60, function() return not env.alive(rx_pid) end), "receive.lua did not finish")
    local lines = {}
    for line in (env.read(rx_log) or ""):gmatch("[^\n]+") do
      if line:sub(1, 1) == "{" then lines[#lines + 1] = ssf.json.decode(line) end
    end
    os.remove(rx_log)
    assert.are.equal(2, #lines)
    assert.is_table(lines[1].events[ssf.events.SESSION_REVOKED])
    assert.matches("alice@example.com", ssf.json.encode(lines[1].claims), 1, true)
    assert.is_table(lines[2].events[ssf.events.CREDENTIAL_CHANGE])
    assert.is_nil(out:find(auth, 1, true), "the authorization header was printed")
  end)
end)

-- The files apply.lua reads and writes: desired-state files (ssf.desired,
-- sandboxed Lua or JSON) and stream backups (ssf.backup).
local ssf = require "ssf"
local env = require "env"
local desired = require "ssf.desired"
local backup = require "ssf.backup"

local SR = ssf.events.SESSION_REVOKED
local URL = "https://rx.example.com/ssf/events"

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

describe("ssf.desired", function()
  local dir
  setup(function() dir = env.tmpdir() end)
  teardown(function() env.rmdir(dir) end)

  local function load(text, ext)
    local path = dir .. "/d" .. (ext or ".lua")
    env.write(path, text)
    return desired.read(path)
  end

  it("reads a Lua file with names for methods, events and null, and JSON of the same shape", function()
    local list = assert(load([[return { orgs = { { name = "a", env = "A_", stream = {
      delivery = { method = PUSH, endpoint_url = "https://x.example.com/" },
      events_requested = { events.SESSION_REVOKED }, format = null } },
      { name = "b", yaml = "b.yaml", stream = false } } }]]))
    assert.are.equal(2, #list)
    assert.are.equal(ssf.PUSH, list[1].stream.delivery.method)
    assert.are.equal(ssf.null, list[1].stream.format)
    assert.is_false(list[2].stream)
    local j = assert(load(ssf.json.encode { orgs = { { name = "a", env = "A_", stream = {
      delivery = { method = ssf.PUSH, endpoint_url = "https://x.example.com/" },
      events_requested = { SR }, format = ssf.null } } } }, ".json"))
    assert.are.equal(ssf.null, j[1].stream.format)
  end)

  it("reads the example in scripts/examples", function()
    local list = assert(desired.read(env.root .. "/scripts/examples/streams.lua"))
    assert.are.same({ "acme", "acme-preview", "legacy", "retired" },
      { list[1].name, list[2].name, list[3].name, list[4].name })
    assert.is_true(list[3].stream.rotate)
  end)

  it("runs the Lua file with no os, io, require or load, and stops a loop that never ends", function()
    for _, code in ipairs { "os.execute('touch x')", "io.open('x', 'w')", "require('ssf')", "load('return 1')",
                            "dofile('/etc/passwd')", "string.dump(print)" } do
      local list, msg, info = load(code .. "\nreturn {}")
      assert.is_nil(list, code)
      assert.matches("a nil value", msg, 1, true)
      assert.are.equal("config", info.kind)
    end
    local list, msg = load("while true do end")
    assert.is_nil(list)
    assert.matches("runs too long", msg)
    -- The limit ends with the file: the caller's own hook is still there
    -- afterwards (LuaJIT has one hook for all coroutines), and no other.
    local function caller_hook() end
    debug.sethook(caller_hook, "", 1e9)
    finally(function() debug.sethook() end)
    list, msg = load("local n = 0 for i = 1, 1e9 do n = n + i end return n")
    assert.is_nil(list)
    assert.matches("runs too long", msg)
    assert.are.equal(caller_hook, (debug.gethook()))
    debug.sethook()
    load("return {}")
    assert.is_nil(debug.gethook())
    -- Bytecode is refused: only text is loaded.
    list, msg = load(string.dump(function() return {} end))
    assert.is_nil(list)
    assert.matches("binary", msg)
  end)

  it("refuses what would make a run guess or leak, naming the org and the field", function()
    local base = 'delivery = { method = PUSH, endpoint_url = "https://x.example.com/" }, events_requested = {}'
    for text, pattern in pairs {
      ["return { orgs = {} }"] = "orgs lists no org",
      ["return { orgs = { { name = 'a', stream = false } } }"] = "org a: name where its credentials come from",
      ["return { orgs = { { name = 'a', env = 'A_' } } }"] = "org a: give stream",
      ["return { orgs = { { name = 'a b', env = 'A_', stream = false } } }"] = "name must be letters",
      ["return { orgs = { { name = 'a', env = 'A_', stream = false }, { name = 'a', env = 'B_', stream = false } } }"] =
        "org a is listed twice",
      ["return { orgs = { { name = 'a', env = 'A_', stream = { " .. base .. ", colour = 'red' } } } }"] =
        "unknown key colour",
      ["return { orgs = { { name = 'a', env = 'A_', stream = { " .. base .. ", authorization_env = 'X-Y' } } } }"] =
        "authorization_env must be the name of an environment variable",
      ["return { orgs = { { name = 'a', env = 'A_', stream = { " .. base .. ", rotate = true } } } }"] =
        "org a: stream: desired.rotate needs authorization_env",
      ["return { orgs = { { name = 'a', env = 'A_', stream = { " .. base .. ", format = 3 } } } }"] =
        "stream.format must be a string or null",
      ["return 42"] = "must give a table with orgs",
    } do
      local list, msg, info = load(text)
      assert.is_nil(list, text)
      assert.matches(pattern, msg, 1, true)
      assert.are.equal("config", info.kind)
    end
  end)
end)

describe("ssf.backup", function()
  local dir
  setup(function() dir = env.tmpdir() end)
  teardown(function() env.rmdir(dir) end)

  it("writes a backup once, mode 0600, and never over an existing file", function()
    local path = dir .. "/b.json"
    assert(backup.write(path, { stream_id = "esc1", delivery = { endpoint_url = URL } }, "test", "https://o"))
    local _, mode = env.run("stat -c %a " .. env.q(path))
    assert.are.equal("600", mode:match("%d+"))
    local ok, msg, exists = backup.write(path, { stream_id = "esc2" }, "test", "https://o")
    assert.is_nil(ok)
    assert.matches("already exists", msg)
    assert.are.equal("exists", exists)
    local stream, record = assert(backup.read(path))
    assert.are.equal("esc1", stream.stream_id)
    assert.are.equal("https://o", record.org)
    -- Nothing is left beside it.
    local _, listing = env.run("ls -a " .. env.q(dir))
    assert.are.same({ ".", "..", "b.json" }, lines(listing))
  end)

  it("refuses a file that is not a backup, and a link in its place", function()
    env.write(dir .. "/x.json", "{}")
    assert.matches("is not a stream backup", select(2, backup.read(dir .. "/x.json")))
    os.execute(("ln -s %s %s"):format(env.q(dir .. "/target"), env.q(dir .. "/link.json")))
    assert.is_nil(backup.write(dir .. "/link.json", { stream_id = "e" }, "test", "o"))
    assert.is_nil(io.open(dir .. "/target"), "wrote through a link")
  end)
end)

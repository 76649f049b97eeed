-- Many clients and transfers, closed explicitly, by <close>, or left to the
-- garbage collector: the path the valgrind run (test.sh --valgrind) checks
-- for leaks.
local ssf = require "ssf"
local fake = require "fake"
local env = require "env"

describe("client lifecycle", function()
  local f
  setup(function() f = fake.start() end)
  teardown(function() f:stop() end)

  it("creates and releases many clients and transfers", function()
    local ok = 0
    for i = 1, 60 do -- bounded: 60 clients, 3 transfers each
      local c = f:client()
      for _ = 1, 3 do
        if c:streams() then ok = ok + 1 end
      end
      if i % 3 == 0 then
        c:close()
      elseif i % 3 == 1 then
        env.scoped(c, function() end)
      end -- the rest are dropped for __gc
      if i % 20 == 0 then collectgarbage() end
    end
    collectgarbage()
    assert.are.equal(180, ok)
  end)

  it("releases a client whose transfer failed", function()
    for _ = 1, 20 do
      local c = assert(ssf.client { org = "http://127.0.0.1:1", auth = { type = "bearer", token = "t-lifecycle" },
                                   retries = 0 })
      local v, _, info = c:streams()
      assert.is_nil(v)
      assert.are.equal("transport", info.kind)
    end
    collectgarbage()
  end)
end)

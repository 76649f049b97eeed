-- ssf.receiver's rx:next with ack = "auto" takes the SETs waiting in C in
-- bursts of up to 32, answers each valid one 202 as soon as it is checked
-- and then hands them out one per call, in arrival order, each once; ack = "manual"
-- answers nothing before set:ack(). The requests are made to wait in C
-- one by one (each curl started once the one before it is queued), so
-- their arrival order is known. Counts only, no timing.
local ssf = require "ssf"
local env = require "env"
local jose = require "ssf.jose"

local BATCH = 32

describe("ssf.receiver's bursts", function()
  local dir

  setup(function()
    dir = env.tmpdir()
  end)

  teardown(function()
    env.rmdir(dir)
  end)

  -- Unsigned test SETs; the verifier reads the jti, raises for "boom" and
  -- rejects jtis that start with "bad".
  local function body(jti)
    return jose.b64url_encode('{"alg":"none"}') .. "." .. jose.b64url_encode(ssf.json.encode { jti = jti }) .. "."
  end

  local function verifier(jwt)
    local claims = ssf.json.decode(jose.b64url_decode(jwt:match("%.([^.]*)%.")))
    if claims.jti == "boom" then error("the verifier failed on boom", 0) end
    if claims.jti:find("^bad") then return nil, "bad SET", { err = "invalid_request" } end
    return { claims = claims }
  end

  local function receiver()
    local rx = assert(ssf.receiver { verifier = verifier })
    finally(function() rx:close() end)
    return rx
  end

  local sent = 0

  -- Pushes each SET of jtis on its own connection, starting each once the
  -- one before it waits in C. Returns a function that waits (bounded) for
  -- every answer and returns the statuses, in the same order, and the
  -- files each curl's status lands in once it has its answer.
  local function push(rx, jtis)
    local base = rx:stats().waiting
    local files = {}
    for i, jti in ipairs(jtis) do
      sent = sent + 1
      local f = ("%s/p%d"):format(dir, sent)
      env.write(f .. ".in", body(jti))
      os.execute(("(curl -s -H %s --data-binary @%s -o /dev/null -w '%%{http_code}' %s > %s.part; mv %s.part %s.done) &")
        :format(env.q("Content-Type: application/secevent+jwt"), env.q(f .. ".in"), env.q(rx.endpoint_url),
                env.q(f), env.q(f), env.q(f)))
      files[i] = f .. ".done"
      assert(env.eventually(function() return rx:stats().waiting >= base + i end, 60), "not queued: " .. jti)
    end
    return function()
      local statuses = {}
      for i, f in ipairs(files) do
        assert(env.eventually(function() return env.read(f) ~= nil end, 60), "curl did not finish")
        statuses[i] = tonumber(env.read(f))
      end
      return statuses
    end, files
  end

  local function names(prefix, n)
    local list = {}
    for i = 1, n do list[i] = prefix .. i end
    return list
  end

  local function all(status, n)
    local list = {}
    for i = 1, n do list[i] = status end
    return list
  end

  it("answer a burst's SETs 202, then hand them out in order, each once", function()
    local rx = receiver()
    local n = BATCH + 8
    local wait = push(rx, names("s", n))
    assert.are.equal(n, rx:stats().waiting)
    assert.are.equal("s1", assert(rx:next(60)).claims.jti)
    -- One burst taken and answered: only the rest still waits in C.
    assert.are.equal(n - BATCH, rx:stats().waiting)
    for i = 2, BATCH do
      assert.are.equal("s" .. i, assert(rx:next(60)).claims.jti)
    end
    assert.are.equal(n - BATCH, rx:stats().waiting)
    for i = BATCH + 1, n do
      assert.are.equal("s" .. i, assert(rx:next(60)).claims.jti)
    end
    assert.are.equal(0, rx:stats().waiting)
    assert.is_nil(rx:next(0))
    assert.are.same(all(202, n), wait())
  end)

  it("answer each SET of a burst as soon as it is checked, not after the burst", function()
    -- While the second SET is checked, the first one's client already
    -- has its answer: its connection is free for the next SET.
    local first_answered, files
    local rx = assert(ssf.receiver { verifier = function(jwt)
      local set = verifier(jwt)
      if set.claims.jti == "second" then
        first_answered = env.eventually(function() return env.read(files[1]) ~= nil end, 10)
      end
      return set
    end })
    finally(function() rx:close() end)
    local wait
    wait, files = push(rx, { "first", "second" })
    assert.are.equal("first", assert(rx:next(60)).claims.jti)
    assert.is_true(first_answered)
    assert.are.equal("second", assert(rx:next(60)).claims.jti)
    assert.are.same({ 202, 202 }, wait())
  end)

  it("return a repeat within a burst once and answer both copies 202", function()
    local rx = receiver()
    local wait = push(rx, { "a", "dup", "bad1", "b", "dup", "c" })
    for _, jti in ipairs { "a", "dup", "b", "c" } do
      assert.are.equal(jti, assert(rx:next(60)).claims.jti)
    end
    assert.is_nil(rx:next(0))
    assert.are.same({ 202, 202, 400, 202, 202, 202 }, wait())
    assert.are.equal(1, #rx.rejected)
  end)

  it("still return the SETs a burst accepted after close, then say closed", function()
    local rx = receiver()
    local n = BATCH + 8
    local wait = push(rx, names("s", n))
    assert.are.equal("s1", assert(rx:next(60)).claims.jti)
    rx:close()
    for i = 2, BATCH do
      assert.are.equal("s" .. i, assert(rx:next(60)).claims.jti)
    end
    assert.has_error(function() rx:next(0) end, "attempt to use a closed receiver")
    local statuses = all(202, BATCH)
    for i = BATCH + 1, n do statuses[i] = 503 end
    assert.are.same(statuses, wait())
  end)

  it("raise a verifier's error after the SETs before it, then go on with the rest", function()
    local rx = receiver()
    local wait = push(rx, { "a", "b", "boom", "c" })
    assert.are.equal("a", assert(rx:next(60)).claims.jti)
    assert.are.equal("b", assert(rx:next(60)).claims.jti)
    assert.has_error(function() rx:next(60) end, "the verifier failed on boom")
    assert.are.equal("c", assert(rx:next(60)).claims.jti)
    assert.is_nil(rx:next(0))
    assert.are.same({ 202, 202, 500, 202 }, wait())
  end)

  it("answer nothing with ack = manual before set:ack()", function()
    local rx = receiver()
    local wait = push(rx, names("m", 4))
    local first = assert(rx:next { timeout = 60, ack = "manual" })
    assert.are.equal("m1", first.claims.jti)
    assert.are.equal(4, rx:stats().waiting)
    assert.is_true(first:ack())
    assert.are.equal(3, rx:stats().waiting)
    for i = 2, 4 do
      local set = assert(rx:next { timeout = 60, ack = "manual" })
      assert.are.equal("m" .. i, set.claims.jti)
      assert.are.equal(5 - i, rx:stats().waiting)
      if i == 4 then assert.is_true(set:nack()) else assert.is_true(set:ack()) end
    end
    assert.are.same({ 202, 202, 202, 503 }, wait())
  end)

  it("hand a manual call the SETs an auto call accepted, already answered", function()
    local rx = receiver()
    local wait = push(rx, names("m", 3))
    assert.are.equal("m1", assert(rx:next(60)).claims.jti)
    assert.are.equal(0, rx:stats().waiting)
    local second = assert(rx:next { timeout = 60, ack = "manual" })
    assert.are.equal("m2", second.claims.jti)
    assert.is_true(second:ack())
    assert.has_error(function() second:ack() end)
    local third = assert(rx:next { timeout = 60, ack = "manual" })
    assert.is_false(third:nack())
    assert.are.same({ 202, 202, 202 }, wait())
  end)
end)

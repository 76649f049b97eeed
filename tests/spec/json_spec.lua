-- JSON through lua-cjson 2.1.0, with the array mark it lacks.
local ssf = require "ssf"
local json = ssf.json

describe("ssf.json", function()
  it("encodes ssf.null as null and marked empty tables as []", function()
    assert.are.equal('{"a":null}', json.encode { a = ssf.null })
    assert.are.equal("[]", json.encode(ssf.array()))
    assert.are.equal("{}", json.encode {})
    assert.are.equal('[[],{},[1]]', json.encode(ssf.array { ssf.array(), {}, { 1 } }))
  end)

  it("keeps the mark on decoded arrays, so GET-edit-PATCH round-trips", function()
    local v = json.decode('{"events_delivered":[],"events_requested":["a"],"o":{},"n":[[ ],[ {} ]]}')
    assert.is_true(getmetatable(v.events_delivered) ~= nil)
    table.remove(v.events_requested) -- edited to empty: still an array
    local again = json.decode(json.encode(v))
    assert.are.equal(0, #again.events_requested)
    assert.matches('"events_requested":%[%]', json.encode(v))
    assert.matches('"events_delivered":%[%]', json.encode(v))
    assert.matches('"o":{}', json.encode(v))
    assert.matches('"n":%[%[%],%[{}%]%]', json.encode(v))
  end)

  it("does not touch [] inside strings, escapes included", function()
    local text = '{"s":"[]","t":"a\\"[ ]\\\\","u":["[]"]}'
    local v = json.decode(text)
    assert.are.equal("[]", v.s)
    assert.are.equal('a"[ ]\\', v.t)
    assert.are.equal("[]", v.u[1])
  end)

  it("writes URLs without escaping their slashes, and keeps backslashes exact", function()
    assert.are.equal('["https://a.example/x"]', json.encode { "https://a.example/x" })
    for _, v in ipairs { "/", "\\/", "a\\\\/b", "\\", "x\\\\\\/" } do
      assert.are.equal(v, json.decode(json.encode { v })[1])
    end
  end)

  it("decodes a top-level empty array and null", function()
    local v = json.decode(" [ ] ")
    assert.are.equal("[]", json.encode(v))
    assert.are.equal(ssf.null, json.decode("null"))
  end)

  it("returns nil and a message for malformed JSON, and rejects NaN", function()
    -- "[1]\0x": cjson alone would stop at the NUL and accept it (found by fuzzing).
    for _, bad in ipairs { "{", "[1,]", '{"a":}', "NaN", '{"a": [] ', '"unterminated', "[1]\0x", '"a\0"',
                           '"\xff"', '["\xc3"]', '"\xed\xa0\x80"' } do
      local v, msg = json.decode(bad)
      assert.is_nil(v, bad)
      assert.matches("^malformed JSON", msg)
    end
  end)

  it("does not modify the caller's tables when encoding", function()
    local inner = ssf.array()
    local t = { a = inner }
    json.encode(t)
    assert.are.equal(inner, t.a)
    assert.is_nil(next(inner))
  end)

  it("raises, naming the problem, for values JSON cannot hold", function()
    assert.has_error(function() json.encode { f = print } end)
    assert.has_error(function() json.decode(42) end, "bad argument #1 to 'decode' (string expected, got number)")
    assert.has_error(function() ssf.array(1) end, "bad argument #1 to 'array' (table expected, got number)")
  end)
  -- cjson 2.1.0 writes 14 significant digits and reads every number as a
  -- double: a 19-digit id or a 16-digit fraction came back changed.
  it("keeps numbers of 15 or more significant digits as they came", function()
    local text = '{"big":1234567890123456789,"neg":-9007199254740993,"f":0.1234567890123456,' ..
      '"g":12345.678901234567,"e":1.2345678901234567e+30,"small":[1700000000,0.1,1.5,-2]}'
    local v = assert(json.decode(text))
    -- Integers, with every digit: 5.4's, or LuaJIT's int64 (its doubles
    -- hold every integer only up to 2^53).
    local integer_text = require("ssf.compat").integer_text
    assert.are.equal("1234567890123456789", integer_text(v.big))
    assert.are.equal("1234567890123456790", integer_text(v.big + 1))
    assert.are.equal("-9007199254740993", integer_text(v.neg))
    assert.is_true(v.neg < -2 ^ 53)
    local edges = "[9223372036854775807,-9223372036854775808,9007199254740993,9.223372036854776e+18]"
    assert.are.equal(edges, json.encode(json.decode(edges)))
    local out = json.encode(v)
    for _, t in ipairs { '"big":1234567890123456789', '"neg":-9007199254740993', '"f":0.1234567890123456',
                         '"g":12345.678901234567', '"e":1.2345678901234567e+30', '"small":[1700000000,0.1,1.5,-2]' } do
      assert.is_truthy(out:find(t, 1, true), out)
    end
    -- Every double reads back the same, written with no more digits than it needs.
    for _, x in ipairs { 1 / 3, math.pi, 2 ^ 60, 0.1 + 0.2, 1e-300, 123456789012345, 2 ^ 63 - 1 } do
      assert.are.equal(x, json.decode(json.encode { x })[1])
    end
    assert.are.equal("[0.1,100.25,0.30000000000000004]", json.encode { 0.1, 100.25, 0.1 + 0.2 })
    -- A leading zero is still refused, however long the number.
    assert.is_nil(json.decode("[00000000000000001]"))
    -- Digits inside strings stay strings.
    assert.are.equal("12345678901234567890", json.decode('{"s":"12345678901234567890"}').s)
  end)
end)

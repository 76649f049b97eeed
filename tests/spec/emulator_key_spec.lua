-- key:private_pem(), with which the emulator hands its generated client key
-- to scripts and other tools: unencrypted PKCS#8 that ssf.jose and the
-- openssl CLI both read back as the same key.
local jose = require "ssf.jose"
local env = require "env"

describe("key:private_pem", function()
  local dir
  setup(function() dir = env.tmpdir() end)
  teardown(function() env.rmdir(dir) end)

  for _, alg in ipairs { "RS256", "ES256" } do
    it("writes an " .. alg .. " key that loads back as the same key", function()
      local key = jose.generate_key(alg)
      local pem = key:private_pem()
      assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-\n", pem)
      assert.matches("\n%-%-%-%-%-END PRIVATE KEY%-%-%-%-%-\n$", pem)
      local again = assert(jose.load_key(pem))
      assert.are.equal(alg, again:alg())
      assert.are.same(key:public_jwk(), again:public_jwk())
      -- What one signs, the other's public half verifies.
      local sig = again:sign("input")
      assert.is_true(jose.verify(key:public_jwk(), alg, "input", sig))
      -- openssl reads it without a passphrase (stdin is empty), and finds
      -- the same public key in it as in the copy that went through load_key.
      local function public_pem(text, name)
        local path = dir .. "/" .. name
        local f = assert(io.open(path, "w"))
        f:write(text)
        f:close()
        local code, out, err = env.run("openssl pkey -pubout -in " .. env.q(path))
        assert.are.equal(0, code, err)
        return out
      end
      local out = public_pem(pem, alg .. "-1.pem")
      assert.are.equal(out, public_pem(again:private_pem(), alg .. "-2.pem"))
      assert.matches("BEGIN PUBLIC KEY", out)
    end)
  end

  it("raises for a closed key", function()
    local key = jose.generate_key("ES256")
    key:close()
    assert.has_error(function() key:private_pem() end, "attempt to use a closed key")
  end)
end)

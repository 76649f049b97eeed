-- Test keys, made at test time with the openssl CLI (none is committed).
local env = require "env"
local q = env.q

local keys = {}

local COMMANDS = {
  rsa = "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048",
  ec = "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
}

--- Writes a new "rsa" or "ec" private key to dir/name and returns its path;
--- with a passphrase the PEM is encrypted (PKCS#8, AES-256).
function keys.make(dir, kind, name, passphrase)
  local path = dir .. "/" .. name
  local cmd = ("openssl %s -out %s"):format(COMMANDS[kind], q(path))
  if passphrase then cmd = ("PASS=%s %s -aes-256-cbc -pass env:PASS"):format(q(passphrase), cmd) end
  local code, _, err = env.run(cmd)
  assert(code == 0, err)
  return path
end

--- The public JWK of a key file, with a kid.
function keys.jwk(path, kid, passphrase)
  local key = assert(require("ssf.jose").load_key(assert(env.read(path)), passphrase))
  local jwk = key:public_jwk()
  jwk.kid = kid
  key:close()
  return jwk
end

return keys

-- Where the tests find things: the source tree (busted runs from it) and the
-- build tree (SSF_BUILD_DIR, set by ctest; default ./build).
local env = {}

local function cwd()
  local p = assert(io.popen("pwd"))
  local dir = p:read("l")
  p:close()
  return dir
end

env.root = os.getenv("SSF_SOURCE_DIR") or cwd()
env.build = os.getenv("SSF_BUILD_DIR") or (env.root .. "/build")
env.ssflua_bin = env.build .. "/bin/ssflua"
-- Set for sanitizer builds: what uninstrumented programs (stock lua5.4)
-- must preload to load the instrumented ssf.http.
env.ld_preload = os.getenv("SSF_LD_PRELOAD")

--- Quotes s for /bin/sh.
function env.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Runs a shell command; returns its exit status, stdout and stderr.
function env.run(cmd, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local full = ("%s >%s 2>%s"):format(cmd, out, err)
  if stdin then
    local inf = os.tmpname()
    local f = assert(io.open(inf, "wb"))
    f:write(stdin)
    f:close()
    full = full .. " <" .. inf
  else
    full = full .. " </dev/null"
  end
  local _, _, code = os.execute(full)
  local function slurp(p)
    local f = assert(io.open(p, "rb"))
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  return code, slurp(out), slurp(err)
end

--- Runs ssflua with the given shell-quoted argument string.
function env.ssflua(args, vars, stdin)
  local prefix = ""
  for k, v in pairs(vars or {}) do prefix = prefix .. k .. "=" .. env.q(v) .. " " end
  return env.run(("env -u OKTA_CLIENT_ORGURL -u OKTA_CLIENT_TOKEN %s%s %s")
    :format(prefix, env.q(env.ssflua_bin), args), stdin)
end

return env

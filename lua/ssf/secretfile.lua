-- Files that hold a secret (a rotated refresh token): read trimmed, and
-- rewritten atomically with mode 0600, so a reader never sees half a token
-- and nobody else can read it at any moment.
local jws = require "ssf.jws"

local secretfile = {}

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The file's content without surrounding white space; nil, message when
--- it cannot be read, or "" when it is empty.
function secretfile.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a") or ""
  f:close()
  return (s:match("^%s*(.-)%s*$"))
end

--- Replaces path's content with value (and a newline). A new file beside
--- it is created by a shell with umask 077 and noclobber, so it is 0600
--- from its first instant and never an existing file or link; it is then
--- written and renamed over path. Returns true or nil, message.
function secretfile.write(path, value)
  local tmp = ("%s.%s.tmp"):format(path, jws.random_id())
  if not os.execute("umask 077 && set -C && : > " .. q(tmp) .. " 2>/dev/null") then
    return nil, "cannot create " .. tmp
  end
  local f, err = io.open(tmp, "r+b")
  local ok = f and f:write(value, "\n")
  ok = f and f:close() and ok
  if ok and os.rename(tmp, path) then return true end
  os.remove(tmp)
  return nil, err or ("cannot write " .. path)
end

return secretfile

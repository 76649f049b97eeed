-- Files that hold a secret (a rotated refresh token): read trimmed, and
-- rewritten atomically with mode 0600, so a reader never sees half a token
-- and nobody else can read it at any moment.
local jws = require "ssf.jws"
local compat = require "ssf.compat"

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

-- A new file beside path holding value (and a newline). It is created by a
-- shell with umask 077 and noclobber, so it is 0600 from its first instant
-- and never an existing file or link. Returns its name or nil, message.
local function private_copy(path, value)
  local tmp = ("%s.%s.tmp"):format(path, jws.random_id())
  if not compat.execute("umask 077 && set -C && : > " .. q(tmp) .. " 2>/dev/null") then
    return nil, "cannot create " .. tmp
  end
  local f, err = io.open(tmp, "r+b")
  local ok = f and f:write(value, "\n")
  ok = f and f:close() and ok
  if ok then return tmp end
  os.remove(tmp)
  return nil, err or ("cannot write " .. tmp)
end

--- Replaces path's content with value (and a newline): a private new file
--- is written, then renamed over path. Returns true or nil, message.
function secretfile.write(path, value)
  local tmp, err = private_copy(path, value)
  if not tmp then return nil, err end
  if os.rename(tmp, path) then return true end
  os.remove(tmp)
  return nil, "cannot write " .. path
end

--- Creates path holding value (and a newline), mode 0600, only if nothing
--- is there: a private new file is written, then hard-linked to path,
--- which fails on any existing name. So path is whole or absent, and
--- never replaces an older file. Returns true or nil, message, with
--- "exists" as a third value when path was already there.
function secretfile.create(path, value)
  local tmp, err = private_copy(path, value)
  if not tmp then return nil, err end
  local linked = compat.execute("ln -- " .. q(tmp) .. " " .. q(path) .. " 2>/dev/null")
  os.remove(tmp)
  if linked then return true end
  local f = io.open(path, "rb")
  if f then
    f:close()
    return nil, path .. " already exists", "exists"
  end
  return nil, "cannot create " .. path
end

return secretfile

-- Stream backups: a stream's configuration as read before a change, in a
-- JSON file written once and never overwritten (an older backup may be the
-- only copy of a good configuration), mode 0600 since it describes where
-- and how an org delivers its security events. Okta never returns
-- delivery.authorization_header, so no backup holds it.
local json = require "ssf.json"
local secretfile = require "ssf.secretfile"

local backup = {}

--- Writes the backup of `stream` (a table as okta:stream returned it) to
--- path. `by` names the program, `org` the org URL. Returns true, or nil,
--- message (with "exists" as a third value when path is taken).
function backup.write(path, stream, by, org)
  return secretfile.create(path, json.encode {
    saved_by = by,
    saved_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    org = org,
    note = "Okta does not return delivery.authorization_header, so it is not in this backup.",
    stream = stream,
  })
end

--- The stream saved in the backup at path, and the whole record; nil,
--- message when the file is missing or is not such a backup.
function backup.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read backup: " .. err end
  local text = f:read("a")
  f:close()
  local saved = json.decode(text)
  if type(saved) ~= "table" or type(saved.stream) ~= "table" then
    return nil, path .. " is not a stream backup written by ssflua"
  end
  return saved.stream, saved
end

--- A file name for a new backup of stream_id: in dir, with the UTC time and
--- `label` (an org's name, say) when given.
function backup.path(dir, stream_id, label)
  local name = ("ssf-stream-%s%s-%s.json"):format(label and (label .. "-") or "", stream_id,
    os.date("!%Y%m%dT%H%M%SZ"))
  return dir and (dir:gsub("/$", "") .. "/" .. name) or name
end

return backup

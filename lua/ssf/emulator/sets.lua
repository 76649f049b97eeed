-- The Security Event Tokens the emulator pushes, signed RS256 with its key
-- (header alg, kid, typ secevent+jwt), in the shapes Okta sends:
--  - verification (SSF §8.1.4): top-level sub_id {format = "opaque",
--    id = stream_id} and the requested state echoed in the event;
--  - CAEP session-revoked and credential-change as Okta's published
--    payloads show them: no top-level sub_id, the subject inside the event
--    (nested under `user` for session-revoked), event_timestamp in
--    milliseconds, and Okta's reason_admin / initiating_entity values.
local events = require "ssf.events"
local jws = require "ssf.jws"

local sets = {}
local Sets = {}
Sets.__index = Sets

-- The members each subject format (RFC 9493) requires.
local SUBJECT_MEMBERS = {
  email = { "email" }, iss_sub = { "iss", "sub" }, opaque = { "id" },
  phone_number = { "phone_number" }, account = { "uri" }, did = { "url" }, uri = { "uri" },
}

--- subject as a SET carries it: a string is an Okta user id (iss_sub with
--- the org as iss); a table must be a subject identifier with a format and
--- that format's members. Returns a copy, or nil and what is wrong.
function sets.subject(subject, org)
  if type(subject) == "string" and subject ~= "" then
    return { format = "iss_sub", iss = org, sub = subject }
  end
  if type(subject) ~= "table" then
    return nil, "a subject identifier table or an Okta user id expected, got " .. type(subject)
  end
  if type(subject.format) ~= "string" or subject.format == "" then
    return nil, "the subject needs a format (email, iss_sub, opaque, ...)"
  end
  local out = {}
  for k, v in pairs(subject) do
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean") then
      return nil, "the subject's members must be named strings, numbers or booleans"
    end
    out[k] = v
  end
  for _, m in ipairs(SUBJECT_MEMBERS[subject.format] or {}) do
    if type(subject[m]) ~= "string" or subject[m] == "" then
      return nil, ("a subject of format %s needs %s"):format(subject.format, m)
    end
  end
  return out
end

-- The event payload of each type Okta transmits, for one subject at time
-- `now` (seconds).
local PAYLOADS = {
  -- user.session.end
  [events.SESSION_REVOKED] = function(subject, now)
    return {
      subject = { user = subject },
      reason_admin = { en = "User session ended (user.session.end)" },
      reason_user = { en = "Your session has ended." },
      event_timestamp = math.floor(now * 1000),
    }
  end,
  -- user.account.update_password
  [events.CREDENTIAL_CHANGE] = function(subject, now)
    return {
      subject = subject,
      credential_type = "password",
      change_type = "revoke",
      friendly_name = "PASSWORD_AS_FACTOR",
      initiating_entity = "user",
      reason_admin = { en = "User update password for Okta" },
      event_timestamp = math.floor(now * 1000),
    }
  end,
}

--- Whether the emulator can emit events of this type.
function sets.emits(event_type)
  return PAYLOADS[event_type] ~= nil
end

--- opts: org (iss), key (an ssf.jose RS256 key), kid, now (clock).
function sets.new(opts)
  return setmetatable({
    org = opts.org, now = opts.now,
    key = opts.key,
    header = jws.encode_part { alg = "RS256", kid = opts.kid, typ = "secevent+jwt" },
  }, Sets)
end

-- Signs the common claims, the events claim and sub_id (nil: none) for
-- stream s: the compact SET and its jti.
function Sets:sign(s, events_claim, sub_id)
  local jti = jws.random_id()
  local jwt = jws.sign_encoded(self.key, self.header, {
    iss = self.org, aud = s.aud, iat = math.floor(self.now()), jti = jti,
    sub_id = sub_id, events = events_claim,
  })
  return jwt, jti
end

--- The verification SET for stream s, echoing state (nil: no state).
function Sets:verification(s, state)
  return self:sign(s, { [events.VERIFICATION] = { state = state } },
    { format = "opaque", id = s.stream_id })
end

--- A CAEP SET of event_type (sets.emits) about subject (from sets.subject)
--- for stream s.
function Sets:event(event_type, s, subject)
  return self:sign(s, { [event_type] = PAYLOADS[event_type](subject, self.now()) })
end

return sets

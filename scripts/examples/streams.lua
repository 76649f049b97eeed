-- The SSF streams these orgs should have, for scripts/apply.lua:
--   ssflua scripts/apply.lua plan scripts/examples/streams.lua
--   ssflua scripts/apply.lua apply scripts/examples/streams.lua --backup-dir backups
-- Runs with no access to os, io or require: it can only describe. Secrets
-- stay in the environment; the file names the variables that hold them.
local caep = { events.SESSION_REVOKED, events.CREDENTIAL_CHANGE }

-- Every org delivers to the same receiver, each with its own secret.
local function stream(secret_var)
  return {
    delivery = { method = PUSH, endpoint_url = "https://receiver.example.com/ssf/events" },
    events_requested = caep,
    format = "iss_sub",
    authorization_env = secret_var,
  }
end

return {
  orgs = {
    -- Credentials from variables named like OKTA_CLIENT_*: ACME_ORGURL,
    -- ACME_AUTHORIZATIONMODE, ACME_CLIENTID, ACME_PRIVATEKEY, ...
    { name = "acme", env = "ACME_", stream = stream("ACME_RX_AUTH") },
    -- Credentials from an okta.yaml; org overrides its orgUrl.
    { name = "acme-preview", org = "https://acme.oktapreview.com", yaml = "okta-preview.yaml",
      stream = stream("PREVIEW_RX_AUTH") },
    -- A new secret for this org's stream: rotate sets it from $LEGACY_RX_AUTH
    -- (Okta never returns the header, so a plan cannot see it differ);
    -- LEGACY_RX_AUTH_OLD holds the one in force, for a rollback.
    { name = "legacy", env = "LEGACY_",
      stream = {
        delivery = { method = PUSH, endpoint_url = "https://legacy-rx.example.com/ssf" },
        events_requested = { events.SESSION_REVOKED },
        format = null, -- the stream must not set one (null asks for absent; leaving it out leaves it alone)
        authorization_env = "LEGACY_RX_AUTH", old_authorization_env = "LEGACY_RX_AUTH_OLD", rotate = true,
      } },
    -- This org should have no stream for the client any more.
    { name = "retired", env = "RETIRED_", stream = false },
  },
}

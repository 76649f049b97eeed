-- Event-type URIs (SSF 1.0, CAEP 1.0, RISC 1.0) and delivery methods.
local CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
local RISC = "https://schemas.openid.net/secevent/risc/event-type/"
local SSF = "https://schemas.openid.net/secevent/ssf/event-type/"

return {
  -- CAEP (the two Okta transmits are first)
  SESSION_REVOKED = CAEP .. "session-revoked",
  CREDENTIAL_CHANGE = CAEP .. "credential-change",
  TOKEN_CLAIMS_CHANGE = CAEP .. "token-claims-change",
  ASSURANCE_LEVEL_CHANGE = CAEP .. "assurance-level-change",
  DEVICE_COMPLIANCE_CHANGE = CAEP .. "device-compliance-change",
  SESSION_ESTABLISHED = CAEP .. "session-established",
  SESSION_PRESENTED = CAEP .. "session-presented",
  RISK_LEVEL_CHANGE = CAEP .. "risk-level-change",
  -- RISC
  ACCOUNT_CREDENTIAL_CHANGE_REQUIRED = RISC .. "account-credential-change-required",
  ACCOUNT_PURGED = RISC .. "account-purged",
  ACCOUNT_DISABLED = RISC .. "account-disabled",
  ACCOUNT_ENABLED = RISC .. "account-enabled",
  IDENTIFIER_CHANGED = RISC .. "identifier-changed",
  IDENTIFIER_RECYCLED = RISC .. "identifier-recycled",
  CREDENTIAL_COMPROMISE = RISC .. "credential-compromise",
  OPT_IN = RISC .. "opt-in",
  OPT_OUT_INITIATED = RISC .. "opt-out-initiated",
  OPT_OUT_CANCELLED = RISC .. "opt-out-cancelled",
  OPT_OUT_EFFECTIVE = RISC .. "opt-out-effective",
  RECOVERY_ACTIVATED = RISC .. "recovery-activated",
  RECOVERY_INFORMATION_CHANGED = RISC .. "recovery-information-changed",
  SESSIONS_REVOKED = RISC .. "sessions-revoked",
  -- SSF stream management
  VERIFICATION = SSF .. "verification",
  STREAM_UPDATED = SSF .. "stream-updated",
}

#!/bin/sh
# Streams as code with no Okta org: starts three local test transmitters
# (tests/fake) as three orgs, gives each a stream that has drifted from a
# desired-state file, then runs `apply.lua plan`, `apply.lua apply` and
# `plan` again. The third org fails halfway through (its second PATCH gets
# HTTP 500), so its changes are rolled back from the backup.
set -eu
cd "$(dirname "$0")/../.."

sh scripts/dev/deps.sh >&2
cmake -S . -B build -DSSF_WERROR=ON >/dev/null
cmake --build build -j2 >/dev/null

work=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null; rm -rf "$work"' EXIT
for n in 1 2 3; do
  node tests/fake/server.mjs >"$work/fake$n.log" 2>&1 &
  pids="$pids $!"
done
urls=""
for n in 1 2 3; do
  url=""
  for _ in $(seq 100); do # up to 10 s
    url=$(sed -n 's/^listening \(http:[^ ]*\).*/\1/p' "$work/fake$n.log")
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$work/fake$n.log" >&2; echo "a local transmitter did not start" >&2; exit 1; }
  urls="$urls $url"
done
set -- $urls
export U1="$1" U2="$2" U3="$3"
echo "three local test transmitters as orgs: alpha $1, beta $2, gamma $3" >&2

# Each org's stream as someone left it, with the header its receiver has.
build/bin/ssflua -e '
  local ssf = require "ssf"
  local urls = { os.getenv("U1"), os.getenv("U2"), os.getenv("U3") }
  for i, url in ipairs(urls) do
    local okta = assert(ssf.client { org = url, auth = { type = "bearer", token = "tok-rw" } })
    assert(okta:create_stream {
      delivery = { method = ssf.PUSH, endpoint_url = i == 2 and "https://old-rx.example.com/ssf" or
                   "https://rx.example.com/ssf/events", authorization_header = "Bearer receiver-secret-" .. i },
      events_requested = { ssf.events.SESSION_REVOKED },
    })
  end
  -- gamma: the second PATCH of the run fails.
  local ctl = assert(ssf.client { org = urls[3], auth = { type = "bearer", token = "tok-rw" } })
  assert(ctl:request { method = "POST", path = "/__fake/faults", json = { faults = {
    { match = { method = "PATCH" } },
    { match = { method = "PATCH" }, status = 500, body = { errorCode = "E0000009", errorSummary = "Internal Server Error" } },
  } } })'


cat >"$work/beta.yaml" <<EOF
okta:
  client:
    orgUrl: $2
    authorizationMode: Bearer
    token: tok-rw
EOF
cat >"$work/streams.lua" <<EOF
local function stream(var, extra)
  local s = { delivery = { method = PUSH, endpoint_url = "https://rx.example.com/ssf/events" },
              events_requested = { events.SESSION_REVOKED, events.CREDENTIAL_CHANGE },
              format = "iss_sub", authorization_env = var }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end
return { orgs = {
  { name = "alpha", org = "$1", env = "ALPHA_", stream = stream("ALPHA_RX") },
  { name = "beta", yaml = "$work/beta.yaml", stream = stream("BETA_RX") },
  { name = "gamma", env = "GAMMA_", stream = stream("GAMMA_RX_NEW",
    { rotate = true, old_authorization_env = "GAMMA_RX_OLD" }) },
} }
EOF
export ALPHA_TOKEN=tok-rw GAMMA_ORGURL="$3" GAMMA_TOKEN=tok-rw
export ALPHA_RX="Bearer receiver-secret-1" BETA_RX="Bearer receiver-secret-2"
export GAMMA_RX_OLD="Bearer receiver-secret-3" GAMMA_RX_NEW="Bearer receiver-secret-3-new"
mkdir "$work/backups"

run() {
  echo "\$ ssflua scripts/apply.lua $*"
  status=0
  build/bin/ssflua scripts/apply.lua "$@" || status=$?
  echo "(exit status $status)"
  echo
}
run plan "$work/streams.lua"
run apply "$work/streams.lua" --backup-dir "$work/backups"
run plan "$work/streams.lua"
echo "What gamma's transmitter holds after the rollback (GET /__fake/streams):"
build/bin/ssflua -e '
  local ssf = require "ssf"
  local ctl = assert(ssf.client { org = os.getenv("U3"), auth = { type = "bearer", token = "tok-rw" } })
  local s = assert(ctl:request { path = "/__fake/streams" })[1]
  print(("  endpoint_url %s, events %d, format %s, authorization_header is $GAMMA_RX_OLD: %s")
    :format(s.delivery.endpoint_url, #s.events_requested, tostring(s.format),
            tostring(s.delivery.authorization_header == os.getenv("GAMMA_RX_OLD"))))'

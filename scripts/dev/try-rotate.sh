#!/bin/sh
# Runs the main job, `ssflua scripts/rotate_receiver.lua`, with no Okta org:
# builds ssflua if needed, starts the local test transmitter (tests/fake)
# on a loopback port, gives it a stream, and rotates that stream to a
# receiver run by the script, proving delivery with a verification SET.
set -eu
cd "$(dirname "$0")/../.."

sh scripts/dev/deps.sh >&2
cmake -S . -B build -DSSF_WERROR=ON >/dev/null
cmake --build build -j2 >/dev/null

work=$(mktemp -d)
node tests/fake/server.mjs >"$work/fake.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do # up to 10 s
  url=$(sed -n 's/^listening \(http:[^ ]*\).*/\1/p' "$work/fake.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/fake.log" >&2; echo "the local transmitter did not start" >&2; exit 1; }
echo "No Okta org configured: using the local test transmitter at $url" >&2

export OKTA_CLIENT_ORGURL="$url" OKTA_CLIENT_TOKEN=tok-rw
build/bin/ssflua -e '
  local ssf = require "ssf"
  local okta = assert(ssf.client())
  local s = assert(okta:create_stream {
    delivery = { method = ssf.PUSH, endpoint_url = "https://old-receiver.example.com/ssf" },
    events_requested = { ssf.events.SESSION_REVOKED, ssf.events.CREDENTIAL_CHANGE },
  })
  io.stderr:write("created stream ", s.stream_id, " delivering to ", s.delivery.endpoint_url, "\n")'

# --confirm runs a receiver here; the rotation is kept only if the signed
# verification SET reaches it.
build/bin/ssflua scripts/rotate_receiver.lua --confirm 127.0.0.1:0 --confirm-timeout 20 \
  --backup "$work/stream-backup.json"
echo
build/bin/ssflua scripts/streams.lua
echo
echo "The backup the script wrote first (removed with this demo's transmitter):"
cat "$work/stream-backup.json"

#!/bin/sh
# Prints figures, asserts nothing: ssflua next to a raw libcurl loop,
# curl+jq and (when tests/peer is installed) Okta's Node SDK, in one run
# against the fake transmitter on loopback.
#   sh tests/bench/compare.sh [N]      (N requests per loop, default 2000)
# Needs a build in build/ (sh scripts/dev/test.sh) and curl and jq.
set -eu
cd "$(dirname "$0")/../.."
n=${1:-2000}
bin=build/bin/ssflua
for tool in curl jq; do
  command -v $tool >/dev/null || { echo "compare.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d)
node tests/fake/server.mjs >"$work/fake.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^listening \(http:[^ ]*\).*/\1/p' "$work/fake.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "fake did not start" >&2; exit 1; }
export OKTA_CLIENT_ORGURL="$url" OKTA_CLIENT_TOKEN=tok-rw
curl -s -X POST -H 'Content-Type: application/json' -d '{"rate_limit":1000000000}' "$url/__fake/config" >/dev/null
$bin -e 'local s = require "ssf"; assert(assert(s.client()):create_stream{
  delivery = {method = s.PUSH, endpoint_url = "https://receiver.example.com/ssf"},
  events_requested = {s.events.SESSION_REVOKED}})'

now() { date +%s.%N; }
# per_run LABEL RUNS CMD...: mean wall time of a whole process, in ms.
per_run() {
  label=$1 runs=$2
  shift 2
  t0=$(now)
  i=0
  while [ $i -lt "$runs" ]; do "$@" >/dev/null 2>&1; i=$((i + 1)); done
  printf '  %-44s %8.2f ms per run\n' "$label" "$(echo "($(now) - $t0) * 1000 / $runs" | bc -l)"
}

echo "process start, no request (mean of 100 runs):"
per_run "lua5.4 -e ''" 100 lua5.4 -e ''
per_run "ssflua -e ''" 100 $bin -e ''
per_run "ssflua --help" 100 $bin --help
per_run "ssflua scripts/streams.lua --help" 100 $bin scripts/streams.lua --help
per_run "ssflua -e 'require \"ssf.http\"' (loads libcurl)" 100 $bin -e 'require "ssf.http"'
per_run "node -e ''" 20 node -e ''

echo "one process per request, GET /api/v1/ssf/stream (mean of 50 runs):"
per_run "ssflua scripts/streams.lua --json" 50 $bin scripts/streams.lua --json
per_run "curl | jq length" 50 sh -c "curl -sf -H 'Authorization: Bearer tok-rw' '$url/api/v1/ssf/stream' | jq length"

echo "$n requests in one process (keep-alive):"
t0=$(now)
$bin -e "local c = assert(require('ssf').client()); for _ = 1, $n do assert(c:streams()) end"
t=$(echo "$(now) - $t0" | bc -l)
printf '  %-44s %8.0f requests/s (%.3f ms each)\n' "ssflua, one client" "$(echo "$n / $t" | bc -l)" "$(echo "$t * 1000 / $n" | bc -l)"
t=$(build/tests/curl_loop "$url/api/v1/ssf/stream" tok-rw "$n")
printf '  %-44s %8.0f requests/s (%.3f ms each)\n' "raw libcurl loop (C)" "$(echo "$n / $t" | bc -l)" "$(echo "$t * 1000 / $n" | bc -l)"
if [ -f tests/peer/bench.mjs ] && [ -d tests/peer/node_modules ]; then
  node tests/peer/bench.mjs "$url" "$n"
else
  echo "  (Okta Node SDK: run npm ci --prefix tests/peer to include it)"
fi

#!/bin/sh
# The curl + jq side of tests/bench/run.sh, as a shell script would do the
# work; prints the seconds it took.
#   sh tests/bench/workloads.sh lifecycle ORG TOKEN
#   sh tests/bench/workloads.sh gets ORG TOKEN N      (one curl, one connection)
#   sh tests/bench/workloads.sh fanout ORG TOKEN N P  (curl --parallel)
set -eu
mode=$1 org=$2 token=$3
auth="Authorization: Bearer $token"
t0=$(date +%s.%N)
api() { # METHOD PATH [JSON]
  if [ $# -eq 3 ]; then
    curl -sfS -X "$1" -H "$auth" -H 'Accept: application/json' -H 'Content-Type: application/json' \
      -d "$3" "$org$2"
  else
    curl -sfS -X "$1" -H "$auth" -H 'Accept: application/json' "$org$2"
  fi
}
urls() { # N: a curl config with N URLs of the stream list
  i=0
  while [ $i -lt "$1" ]; do echo "url = \"$org/api/v1/ssf/stream\""; i=$((i + 1)); done
}
case $mode in
lifecycle)
  cfg='"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example.com/ssf"},"events_requested":["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]'
  api GET /.well-known/ssf-configuration | jq -e .issuer >/dev/null
  api GET /api/v1/ssf/stream | jq -e length >/dev/null
  id=$(api POST /api/v1/ssf/stream "{$cfg}" | jq -er .stream_id)
  api GET "/api/v1/ssf/stream?stream_id=$id" | jq -e .stream_id >/dev/null
  api GET "/api/v1/ssf/stream/status?stream_id=$id" | jq -e .status >/dev/null
  api PATCH /api/v1/ssf/stream "{\"stream_id\":\"$id\",$cfg}" | jq -e .stream_id >/dev/null
  api PUT /api/v1/ssf/stream "{\"stream_id\":\"$id\",$cfg}" | jq -e .stream_id >/dev/null
  api POST /api/v1/ssf/stream/verification "{\"stream_id\":\"$id\"}" >/dev/null
  api DELETE "/api/v1/ssf/stream?stream_id=$id" >/dev/null
  ;;
gets)
  urls "$4" | curl -sfS -H "$auth" -H 'Accept: application/json' -K - | jq -e length >/dev/null
  ;;
fanout)
  urls "$4" | curl -sfS --no-progress-meter -H "$auth" -H 'Accept: application/json' --parallel --parallel-max "$5" -K - |
    jq -e length >/dev/null
  ;;
*)
  echo "usage: workloads.sh lifecycle|gets|fanout ORG TOKEN [N [P]]" >&2
  exit 2
  ;;
esac
echo "$(date +%s.%N) - $t0" | bc -l

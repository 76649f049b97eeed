#!/bin/sh
# The benchmark of the request path and of tasks: the three workloads of
# README "Performance", each run side by side by a raw C program on libcurl
# (curl_loop.c), a curl + jq script (workloads.sh), Okta's Node SDK with its
# cache disabled (tests/peer/workloads.mjs) and ssflua (workloads.lua),
# against one fake transmitter on loopback. Prints medians and the ratios to
# raw C. Asserts nothing; not part of the test suite.
#   sh tests/bench/run.sh [RUNS]        (default 5 runs per figure)
# Needs a build in build/ (sh scripts/dev/test.sh), curl, jq, bc, valgrind,
# and npm ci --prefix tests/peer for the Node SDK column.
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
bin=build/bin/ssflua
cloop=build/tests/curl_loop
gets=5000
# Instructions per request: the difference between two counts of a whole
# process under callgrind, so start-up cancels out.
ilo=200 ihi=2000
for tool in curl jq bc valgrind; do
  command -v $tool >/dev/null || { echo "run.sh needs $tool" >&2; exit 1; }
done
[ -x $bin ] && [ -x $cloop ] || { echo "build first: sh scripts/dev/test.sh" >&2; exit 1; }
node_ok=0
[ -d tests/peer/node_modules/@okta ] && node_ok=1

work=$(mktemp -d "$PWD/build/bench.XXXXXX")
node tests/fake/server.mjs >"$work/fake.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 200); do
  url=$(sed -n 's/^listening \(http:[^ ]*\).*/\1/p' "$work/fake.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "fake did not start" >&2; exit 1; }
control() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$url/__fake/$2" >/dev/null; }
control '{"rate_limit":1000000000,"min_verification_interval":0}' config

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# impl WORKLOAD ARGS...: the command line of each implementation.
impl() {
  who=$1 w=$2
  shift 2
  case $who in
  c) case $w in
     lifecycle) echo "$cloop --lifecycle $url tok-rw" ;;
     gets) echo "$cloop $url/api/v1/ssf/stream tok-rw $1" ;;
     fanout) echo "$cloop --multi $url/api/v1/ssf/stream tok-rw $1 $2" ;;
     esac ;;
  sh) echo "sh tests/bench/workloads.sh $w $url tok-rw $*" ;;
  node) echo "node tests/peer/workloads.mjs $w $url tok-rw $*" ;;
  lua) echo "$bin tests/bench/workloads.lua $w $url tok-rw $*" ;;
  esac
}
# whole WHO WORKLOAD ARGS...: wall time of one whole process, in ms.
whole() {
  who=$1
  shift
  cmd=$(impl "$who" "$@")
  t0=$(now)
  $cmd >/dev/null
  echo "($(now) - $t0) * 1000" | bc -l
}
# inside WHO WORKLOAD ARGS...: the seconds the program reports.
inside() {
  who=$1
  shift
  cmd=$(impl "$who" "$@")
  $cmd | tail -1
}
# instructions of one whole process under callgrind.
instr() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
urls() {
  i=0
  while [ $i -lt "$1" ]; do echo "url = \"$url/api/v1/ssf/stream\""; i=$((i + 1)); done
}
# curl+jq: the curl process plus the jq process that reads its output.
instr_sh() {
  urls "$1" >"$work/urls"
  c=$(instr curl -sf -H 'Authorization: Bearer tok-rw' -H 'Accept: application/json' -K "$work/urls" -o "$work/out")
  curl -sf -H 'Authorization: Bearer tok-rw' -H 'Accept: application/json' -K "$work/urls" >"$work/out"
  j=$(instr jq -e length "$work/out")
  echo "$c + $j" | bc
}
per_req() { echo "($2 - $1) / ($ihi - $ilo) / 1000" | bc -l; }
ratio() { [ "$1" = "-" ] && echo "-" || printf '%.2fx' "$(echo "$1 / $2" | bc -l)"; }
fmt() { [ "$1" = "-" ] && echo "-" || printf "$2" "$1"; }

who_list="c sh lua"
[ $node_ok = 1 ] && who_list="c sh node lua"

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine moves the wall times; instructions do not move)"
echo "$(curl --version | head -1 | cut -d' ' -f1-2), node $(node --version), $($bin -v 2>&1 | head -1)"
echo "medians of $runs runs; instructions by callgrind ($ihi minus $ilo requests)"
echo

# Warm-up, so no implementation pays for the fake's first answers.
for who in $who_list; do
  whole "$who" lifecycle >/dev/null
  inside "$who" gets 300 >/dev/null
done
# Each round runs every implementation once, so a slow moment of the
# machine does not fall on one column only.
rounds() { # FILE-PREFIX WORKLOAD-FUNCTION ARGS...
  prefix=$1
  shift
  r=0
  while [ $r -lt "$runs" ]; do
    for who in $who_list; do "$@" "$who" >>"$work/$prefix.$who"; done
    r=$((r + 1))
  done
}
med() { # FILE-PREFIX WHO
  if [ -f "$work/$1.$2" ]; then median <"$work/$1.$2"; else echo -; fi
}

# 1. The lifecycle of a stream: 9 calls in one process, whole-process wall time.
life() { whole "$1" lifecycle; }
rounds life life

# 2. GETs of the stream list (one stream in it) on one keep-alive connection.
$bin -e "local s = require 'ssf'; assert(assert(s.client{org = '$url', auth = {type = 'bearer', token = 'tok-rw'}})
  :create_stream{delivery = {method = s.PUSH, endpoint_url = 'https://receiver.example.com/ssf'},
                 events_requested = {s.events.SESSION_REVOKED}})"
get() { echo "$(inside "$1" gets $gets) * 1000000 / $gets" | bc -l; }
rounds get get
ins_c=$(per_req "$(instr $cloop "$url/api/v1/ssf/stream" tok-rw $ilo)" "$(instr $cloop "$url/api/v1/ssf/stream" tok-rw $ihi)")
ins_lua=$(per_req "$(instr $bin tests/bench/workloads.lua gets "$url" tok-rw $ilo)" \
                  "$(instr $bin tests/bench/workloads.lua gets "$url" tok-rw $ihi)")
ins_sh=$(per_req "$(instr_sh $ilo)" "$(instr_sh $ihi)")

# 3. 200 requests, 50 in flight, the fake adding 100 ms to each answer.
fan() { # the reset also zeroes the fake's peak count
  control '{}' reset
  control '{"rate_limit":1000000000,"latency_ms":100}' config
  echo "$(inside "$1" fanout 200 50) * 1000" | bc -l
  curl -sf "$url/__fake/in_flight" | jq .peak >>"$work/peak.$1"
}
rounds fan fan

for who in c sh node lua; do
  eval "life_$who=\$(med life $who)"
  eval "get_$who=\$(med get $who)"
  eval "fan_$who=\$(med fan $who)"
  [ -f "$work/peak.$who" ] && eval "peak_$who=\$(sort -n $work/peak.$who | tail -1)" || eval "peak_$who=-"
done
ins_node=-

row() { printf '%-44s %10s %10s %10s %10s %10s\n' "$@"; }
row "workload" "raw C" "curl+jq" "Node SDK" "ssflua" "ssflua/C"
row "lifecycle, 9 calls, one process (ms)" "$(fmt $life_c %.1f)" "$(fmt $life_sh %.1f)" "$(fmt $life_node %.1f)" \
    "$(fmt $life_lua %.1f)" "$(ratio $life_lua $life_c)"
row "$gets GETs, keep-alive (us/request)" "$(fmt $get_c %.1f)" "$(fmt $get_sh %.1f)" "$(fmt $get_node %.1f)" \
    "$(fmt $get_lua %.1f)" "$(ratio $get_lua $get_c)"
row "  the same in k instructions/request" "$(fmt $ins_c %.0f)" "$(fmt $ins_sh %.0f)" "$ins_node" \
    "$(fmt $ins_lua %.0f)" "$(ratio $ins_lua $ins_c)"
row "200 requests, 50 in flight, +100 ms (ms)" "$(fmt $fan_c %.0f)" "$(fmt $fan_sh %.0f)" "$(fmt $fan_node %.0f)" \
    "$(fmt $fan_lua %.0f)" "$(ratio $fan_lua $fan_c)"
row "  peak requests in flight at the fake" "$peak_c" "$peak_sh" "$peak_node" "$peak_lua" ""
[ $node_ok = 1 ] || echo "(Node SDK: run npm ci --prefix tests/peer to include it)"

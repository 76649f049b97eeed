#!/bin/sh
# Builds the libFuzzer targets with clang (in build-fuzz/) and runs each for
# SECONDS (default 60). For a long local run: sh scripts/dev/fuzz.sh 3600.
# Each target starts from its seed corpus in tests/fuzz/corpus/<name>/ and
# keeps what it finds in build-fuzz/corpus/; a crash is saved as
# build-fuzz/crashes/<target>-crash-<hash>: add it to the seed corpus as a
# regression once fixed. Run one target by hand with
#   build-fuzz/fuzz/fuzz_json build-fuzz/corpus/fuzz_json tests/fuzz/corpus/json
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}

sh scripts/dev/deps.sh --test
CC=clang cmake -S . -B build-fuzz -DSSF_FUZZ=ON -DSSF_WERROR=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j2
mkdir -p build-fuzz/crashes
for target in build-fuzz/fuzz/fuzz_*; do
  name=$(basename "$target")
  mkdir -p "build-fuzz/corpus/$name"
  echo "== $name: ${seconds}s"
  "$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crashes/$name-" \
    "build-fuzz/corpus/$name" "tests/fuzz/corpus/${name#fuzz_}" 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|artifact)' || true
  # grep hides libFuzzer's progress lines; the exit status is what counts.
  "$target" -runs=0 "build-fuzz/corpus/$name" "tests/fuzz/corpus/${name#fuzz_}" >/dev/null 2>&1
done
if [ -n "$(ls build-fuzz/crashes)" ]; then
  echo "crashes found:" && ls build-fuzz/crashes
  exit 1
fi
echo "fuzzing: no crashes"

#!/bin/sh
# The one command: install what is missing, build with warnings as errors,
# and run every test. With --sanitize, the same in build-asan/ under
# AddressSanitizer and UndefinedBehaviorSanitizer; with --valgrind, the
# same under valgrind memcheck (any error or leak fails).
set -eu
cd "$(dirname "$0")/../.."

dir=build
flags="-DSSF_WERROR=ON"
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  flags="$flags -DSSF_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"
  # Stock lua5.4 is not instrumented: the runtime must be preloaded for it
  # to load the instrumented ssf.http.
  SSF_LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
  export SSF_LD_PRELOAD
  # intercept_tls_get_addr=0: GCC 12's runtime can mistake a dynamic TLS
  # block (libmicrohttpd's TLS libraries have them) for an old glibc layout
  # by the accident of its address, and LeakSanitizer's tracer then crashes
  # at exit ("Tracer caught signal 11") in about one run in five.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

sh scripts/dev/deps.sh --test
cmake -S . -B "$dir" -DBUILD_TESTING=ON $flags >/dev/null
cmake --build "$dir" -j2
if [ "${1:-}" = "--valgrind" ]; then
  # The specs' second and third runs under stock lua5.4 and LuaJIT
  # (name@interp) load the same C as under ssflua; LuaJIT's own allocator
  # and JIT are not valgrind-clean without a special build of it.
  ctest --test-dir "$dir" --output-on-failure -j2 -T memcheck -E '@'
else
  ctest --test-dir "$dir" --output-on-failure -j2
fi

#!/bin/sh
# Installs what is missing (Debian 12, as root).
#   sh scripts/dev/deps.sh          what building and running ssflua need
#   sh scripts/dev/deps.sh --test   that, plus the test tools (Node and the
#                                   npm packages of tests/fake and tests/peer,
#                                   clang, valgrind, busted, nginx, ...)
set -eu
cd "$(dirname "$0")/../.."

# Building: a C compiler and the headers of Lua 5.4, libcurl, OpenSSL,
# libmicrohttpd and lua-cjson (linked in). Running: ca-certificates for TLS
# to a real org, lua-yaml for okta.yaml.
pkgs="cmake make gcc pkg-config liblua5.4-dev libcurl4-openssl-dev lua-cjson-dev libssl-dev libmicrohttpd-dev ca-certificates lua-yaml"
# The LuaJIT modules and their tests: OpenResty's LuaJIT branch (luajit2;
# plain luajit conflicts with nginx's Lua module), nginx's Lua module, and
# luarocks and groff for the install test.
test_pkgs="clang libclang-rt-14-dev valgrind curl jq bc openssl lua5.4 lua-busted nginx tinyproxy wrk
  luajit2 libluajit2-5.1-dev libnginx-mod-http-lua lua-resty-core luarocks groff-base"
with_tests=""
case "${1:-}" in
  --test) with_tests=1; pkgs="$pkgs $test_pkgs" ;;
  "") ;;
  *) echo "usage: sh scripts/dev/deps.sh [--test]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$with_tests" ]; then
  # Node may come from elsewhere than Debian; any node >= 18 with npm will do.
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run as root, or: sudo apt-get install$missing" >&2
    exit 1
  fi
  echo "installing:$missing"
  # Packaged services (nginx, tinyproxy) are test tools here: keep their
  # install scripts from starting them.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ -n "$with_tests" ]; then
  # npm ci only when a lockfile changed since the last install: the fake
  # transmitter (tests/fake) and the Okta Node SDK peer (tests/peer).
  for dir in tests/fake tests/peer; do
    stamp=$dir/node_modules/.package-lock.json
    if [ ! -f "$stamp" ] || [ $dir/package-lock.json -nt "$stamp" ]; then
      echo "installing npm packages for $dir"
      npm ci --prefix $dir --no-audit --no-fund --loglevel=error
    fi
  done
fi

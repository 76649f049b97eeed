#!/bin/sh
# Installs what building and testing ssflua need and is missing: Debian
# packages (as root) and the test fake's npm packages (from the lockfile).
set -eu
cd "$(dirname "$0")/../.."

pkgs="cmake make gcc clang libclang-rt-14-dev valgrind curl jq bc openssl pkg-config liblua5.4-dev lua5.4 libcurl4-openssl-dev lua-cjson-dev libssl-dev libmicrohttpd-dev lua-yaml lua-busted"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node may come from elsewhere than Debian; any node >= 18 with npm will do.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run as root, or: sudo apt-get install$missing" >&2
    exit 1
  fi
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm ci only when a lockfile changed since the last install: the fake
# transmitter (tests/fake) and the Okta Node SDK peer (tests/peer).
for dir in tests/fake tests/peer; do
  stamp=$dir/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ $dir/package-lock.json -nt "$stamp" ]; then
    echo "installing npm packages for $dir"
    npm ci --prefix $dir --no-audit --no-fund --loglevel=error
  fi
done

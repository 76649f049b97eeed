#!/bin/sh
# Installs what building and testing ssflua need and is missing: Debian
# packages (as root) and the test fake's npm packages (from the lockfile).
set -eu
cd "$(dirname "$0")/../.."

pkgs="cmake make gcc pkg-config liblua5.4-dev lua5.4 libcurl4-openssl-dev lua-cjson-dev libssl-dev libmicrohttpd-dev lua-busted curl"
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

# npm ci only when the lockfile changed since the last install.
stamp=tests/fake/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ tests/fake/package-lock.json -nt "$stamp" ]; then
  echo "installing the test fake's npm packages"
  npm ci --prefix tests/fake --no-audit --no-fund --loglevel=error
fi

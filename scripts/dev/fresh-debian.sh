#!/bin/sh
# Runs README.md's two commands the way a newcomer would: on a fresh,
# minimal Debian 12 (debootstrap into DIR), as root, in a clean clone of
# this checkout's HEAD with nothing beside it. Prints each command's exit
# status and time; the logs stay in DIR/log-1 and DIR/log-2.
#   sh scripts/dev/fresh-debian.sh DIR [1|2|both]
# Needs root and debootstrap; downloads only from deb.debian.org and the
# npm registry. Certificates under /usr/local/share/ca-certificates (a
# TLS-inspecting proxy's, say) are copied into the new system, since
# apt and npm there would otherwise refuse that proxy.
set -eu
[ $# -ge 1 ] || { echo "usage: sh scripts/dev/fresh-debian.sh DIR [1|2|both]" >&2; exit 2; }
dir=$1
which=${2:-both}
case "$which" in 1|2|both) ;; *) echo "fresh-debian.sh: which must be 1, 2 or both" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "fresh-debian.sh: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-debian.sh: apt-get install debootstrap" >&2; exit 1; }
[ ! -e "$dir" ] || { echo "fresh-debian.sh: $dir exists; give a new directory" >&2; exit 1; }
src=$(cd "$(dirname "$0")/../.." && pwd)

debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >"$dir.debootstrap.log" 2>&1 ||
  { echo "fresh-debian.sh: debootstrap failed, see $dir.debootstrap.log" >&2; exit 1; }
mv "$dir.debootstrap.log" "$dir/debootstrap.log"
cp /etc/resolv.conf "$dir/etc/"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$dir/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
fi
git clone -q "$src" "$dir/root/ssflua"

mount -t proc proc "$dir/proc"
mount --rbind /dev "$dir/dev"
mount -t sysfs sys "$dir/sys"
trap 'umount -R "$dir/dev" "$dir/proc" "$dir/sys" 2>/dev/null || true' EXIT

# The commands exactly as README.md gives them: its first fenced block.
readme_command() {
  awk '/^```/ { n++; next } n == 1 { print }' "$dir/root/ssflua/README.md" | sed -n "$1p"
}

run() {
  cmd=$(readme_command "$1")
  start=$(date +%s)
  status=0
  # ca-certificates is installed by command 1 itself, then trusts the
  # copied certificates; node reads the system bundle through this variable.
  chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    sh -c "update-ca-certificates >/dev/null 2>&1 || true; cd /root/ssflua && $cmd" \
    >"$dir/log-$1" 2>&1 || status=$?
  echo "command $1: exit $status after $(($(date +%s) - start)) s (log: $dir/log-$1)"
  return "$status"
}

rc=0
if [ "$which" != 2 ]; then run 1 || rc=1; fi
if [ "$which" != 1 ]; then run 2 || rc=1; fi
exit "$rc"

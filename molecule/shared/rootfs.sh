#!/usr/bin/env bash
# Build (once) the Debian 12 rootfs tarball every molecule scenario boots with systemd-nspawn.
# The mirror is read from this machine's own apt sources at run time: no host name is written here.
# Usage: rootfs.sh TARBALL
set -euo pipefail
tarball=${1:?usage: rootfs.sh TARBALL}
suite=${UPF_TEST_SUITE:-bookworm}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,python3-venv,iproute2,procps,kmod

[ -s "$tarball" ] && exit 0

mirror=${UPF_TEST_MIRROR:-}
if [ -z "$mirror" ]; then
  # deb822 sources first: the URIs of the stanza whose Suites holds the plain suite name.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    mirror=$(awk -v s="$suite" '
      /^[[:space:]]*$/ { if (u != "" && hit) { print u; exit } u=""; hit=0; next }
      /^URIs:/ { u=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit=1 }
      END { if (u != "" && hit) print u }' "$f" | head -n1)
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  mirror=$(awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
    if ($(i + 1) == s) { print $i; exit } }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "no apt source for suite $suite found in /etc/apt" >&2; exit 1; }

mkdir -p "$(dirname "$tarball")"
work=$(mktemp -d "$(dirname "$tarball")/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "debootstrap $suite from the host's apt mirror into $work"
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 \
  || { tail -n 30 "$work/log" >&2; exit 1; }
# The container has no console login to wait for and no network to configure.
chroot "$work/root" systemctl mask getty@tty1.service console-getty.service \
  systemd-networkd-wait-online.service >/dev/null 2>&1 || true
echo upf-test >"$work/root/etc/hostname"
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" -czf "$work/tarball.tmp" .
mv "$work/tarball.tmp" "$tarball"
echo "wrote $tarball"

#!/usr/bin/env bash
# Stand-in .debs for molecule offline_apt, built against the container's package state:
# upf-test-base needs libnuma1, upf-test-app needs upf-test-base (= 1.0) and libnl-route-3-200
# (which needs libnl-3-200), none of them in the rootfs; and, when this machine's apt sources
# have a later version of a package installed in the container (an essential one if any), a
# dependency on that version. Writes OUT/*.deb and OUT/expect ("installed PKG" and "at-least
# PKG VERSION" lines, what verify checks).
# Usage: debs.sh STATUS OUT
set -euo pipefail
status=$(realpath "${1:?usage: debs.sh STATUS OUT}") out=${2:?usage: debs.sh STATUS OUT}
state=${UPF_TEST_APT_STATE:-/var/tmp/upf-test/apt-state}
mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
opts=(-o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "Dir::State::status=$status" -o quiet=1)
exec 9>"$state/lock"
flock 9
apt-get "${opts[@]}" update >/dev/null
# "Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:...)": name, new version
upgrades=$(apt-get "${opts[@]}" -s upgrade | awk '/^Inst [^ ]+ \[/ { sub(/^\(/, "", $4); print $2, $4 }')
exec 9>&-
essential=$(awk '/^Package:/ { p = $2 } /^Essential: yes/ { print p }' "$status")
upgrade=$(echo "$upgrades" | grep -wFf <(echo "$essential") | head -n1 || true)
[ -n "$upgrade" ] || upgrade=$(echo "$upgrades" | head -n1)

rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb() {  # NAME DEPENDS
  mkdir -p "$work/$1/DEBIAN"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: test <test@localhost>\nDepends: %s\nDescription: molecule offline_apt stand-in\n' \
    "$1" "$2" >"$work/$1/DEBIAN/control"
  dpkg-deb --build --root-owner-group "$work/$1" "$out/$1_1.0_all.deb" >/dev/null
}
app_depends="upf-test-base (= 1.0), libnl-route-3-200"
printf 'installed %s\n' upf-test-base upf-test-app libnuma1 libnl-route-3-200 libnl-3-200 >"$out/expect"
if [ -n "$upgrade" ]; then
  set -- $upgrade
  app_depends="$app_depends, $1 (>= $2)"
  echo "at-least $1 $2" >>"$out/expect"
fi
deb upf-test-base libnuma1
deb upf-test-app "$app_depends"
cat "$out/expect"

#!/usr/bin/env bash
# A local apt repository holding what a container without network needs to install local .debs:
# the packages they depend on, recursively, that the container does not have yet, and the
# upgrades of installed packages those dependencies require (essential ones included).
# apt on this machine computes it against the container's own package state (its
# /var/lib/dpkg/status, fetched by offline_apt.yml), with this machine's apt sources (read at
# run time; their indexes go to a private directory, this machine's apt state is not touched),
# so the repository matches what apt inside the container will ask for.
# Usage: apt_repo.sh STATUS OUT DEB_DIR PACKAGE... [-- EXTRA_PACKAGE...]
#   STATUS   the container's dpkg status file
#   OUT      written: OUT/repo/ (the .debs, Packages, Release), OUT/repo.tar (the same, packed
#            reproducibly), OUT/plan (what apt does in the container)
#   PACKAGE  a package of DEB_DIR (DEB_DIR/PACKAGE_*.deb, one each) the container installs
#   EXTRA    a package from the apt sources the repository holds too (test tools; whether
#            the container installs it is offline_apt.yml's choice: upf_test_apt_install
#            or upf_test_apt_serve)
set -euo pipefail
usage="usage: apt_repo.sh STATUS OUT DEB_DIR PACKAGE... [-- EXTRA_PACKAGE...]"
status=${1:?$usage} out=${2:?$usage} deb_dir=${3:?$usage}
shift 3
debs=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
  found=("$deb_dir/$1"_*.deb)
  [ ${#found[@]} = 1 ] && [ -f "${found[0]}" ] \
    || { echo "apt_repo.sh: $deb_dir holds ${found[*]} for $1, expected one $1_*.deb" >&2; exit 1; }
  debs+=("$(realpath "${found[0]}")")
  shift
done
command -v dpkg-scanpackages >/dev/null || { echo "apt_repo.sh: dpkg-scanpackages missing (Debian: dpkg-dev)" >&2; exit 1; }

# apt's lists and cache for this, shared by every run on this machine (the lists are refreshed
# each run: the container's status comes from the same sources, maybe newer than this machine's).
state=${UPF_TEST_APT_STATE:-/var/tmp/upf-test/apt-state}
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$out"
apt_opts=(
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
  -o "Dir::State::status=$(realpath "$status")"
  -o APT::Install-Recommends=0 -o APT::Install-Suggests=0
  -o quiet=1
)
exec 9>"$state/lock"
flock 9
apt-get "${apt_opts[@]}" update >"$out/update.log" 2>&1 || { cat "$out/update.log" >&2; exit 1; }

rm -rf "$out/repo" && mkdir -p "$out/repo"
# What apt would install in the container: local paths for the .debs, names for the extras.
args=("${debs[@]}" "${extra[@]}")
[ ${#args[@]} -gt 0 ] || { echo "apt_repo.sh: nothing to install" >&2; exit 1; }
apt-get "${apt_opts[@]}" -s install "${args[@]}" >"$out/plan" 2>&1 || { cat "$out/plan" >&2; exit 1; }
# The same plan, downloaded: exactly the archives apt inside the container will want.
rm -f "$state/cache/archives/"*.deb
apt-get "${apt_opts[@]}" -y --download-only install "${args[@]}" >"$out/download.log" 2>&1 \
  || { cat "$out/download.log" >&2; exit 1; }
if compgen -G "$state/cache/archives/*.deb" >/dev/null; then
  mv "$state/cache/archives/"*.deb "$out/repo/"
fi

# A flat repository (sources.list: deb [trusted=yes] file:DIR ./); its Release names the index.
(
  cd "$out/repo"
  dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
  printf 'Origin: upf-test\nLabel: upf-test\nDate: %s\nSHA256:\n %s %s Packages\n' \
    "$(date -u -R -d @0)" "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)" >Release
)
chmod -R a+rX "$out/repo"
tar -C "$out/repo" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out/repo.tar.tmp" .
mv "$out/repo.tar.tmp" "$out/repo.tar"
n=$(find "$out/repo" -name '*.deb' | wc -l)
echo "apt_repo.sh: $n package(s) for the container in $out/repo; plan: $(grep -E '^[0-9]+ upgraded' "$out/plan" || true)"

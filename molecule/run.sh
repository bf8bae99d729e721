#!/usr/bin/env bash
# Runs the installer's molecule scenarios (make test-ansible). Each boots a fresh copy of one
# cached Debian 12 rootfs with systemd-nspawn; see molecule/shared/.
# Usage: molecule/run.sh [SCENARIO...]   (default: all, in the order below)
set -euo pipefail
cd "$(dirname "$0")/.."
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(hugepages cpu_isolation dpdk_nic host preflight vpp_build vpp offline_apt vpp_real upf_plugin pfcpd site rollout)

missing=""
[ "$(id -u)" = 0 ] || missing="$missing root"
for tool in systemd-nspawn debootstrap nsenter; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "SKIPPED molecule scenarios (${scenarios[*]}): they need$missing" >&2
  exit 0
fi

# vpp_real: VPP's .debs from UPF_TEST_VPP_DEBS, else from this machine's cache of them (where
# the vpp_build role's output is kept for the tests); the plugin .deb is built from this tree
# unless that directory holds one (molecule/vpp_real/debs.sh).
vpp_debs_cache=/var/cache/upf-test/vpp-debs
if [ -z "${UPF_TEST_VPP_DEBS:-}" ] && compgen -G "$vpp_debs_cache/vpp_*.deb" >/dev/null; then
  UPF_TEST_VPP_DEBS=$vpp_debs_cache
fi

failed=()
for s in "${scenarios[@]}"; do
  if [ "$s" = vpp_real ]; then
    if [ -z "${UPF_TEST_VPP_DEBS:-}" ]; then
      echo "SKIPPED molecule vpp_real: it runs the real VPP from built .debs; set UPF_TEST_VPP_DEBS to their directory (or keep them in $vpp_debs_cache)"
      continue
    fi
    if ! debs=$(molecule/vpp_real/debs.sh "$UPF_TEST_VPP_DEBS" 2>"/tmp/molecule-vpp_real-debs.log"); then
      echo "molecule vpp_real: FAILED preparing the .debs; last lines of /tmp/molecule-vpp_real-debs.log:"
      tail -n 40 /tmp/molecule-vpp_real-debs.log
      failed+=("$s")
      continue
    fi
    export UPF_TEST_VPP_DEBS=$debs
  fi
  start=$(date +%s)
  if molecule test -s "$s" >"/tmp/molecule-$s.log" 2>&1; then
    echo "molecule $s: passed in $(($(date +%s) - start)) s"
  else
    echo "molecule $s: FAILED in $(($(date +%s) - start)) s; last lines of /tmp/molecule-$s.log:"
    tail -n 40 "/tmp/molecule-$s.log"
    failed+=("$s")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "failed scenarios: ${failed[*]}"; exit 1; }

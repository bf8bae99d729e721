#!/usr/bin/env bash
# The .deb directory molecule vpp_real installs from: VPP's .debs (SRC) and an upf-plugin .deb.
# When SRC holds no upf-plugin .deb, the plugin is built and packaged from this tree against the
# vpp-dev installed here (the same VPP version as SRC's .debs), so the scenario tests the plugin
# under test, not an older package. Prints the directory to use.
# Usage: molecule/vpp_real/debs.sh SRC
set -euo pipefail
src=${1:?usage: debs.sh SRC}
cd "$(dirname "$0")/../.."
if compgen -G "$src/upf-plugin_*.deb" >/dev/null; then echo "$src"; exit 0; fi
command -v vppapigen >/dev/null || { echo "$src has no upf-plugin .deb and vpp-dev (vppapigen) is not installed to build one" >&2; exit 1; }
build=build/plugin-deb
{
  cmake -S upf_plugin -B $build -DCMAKE_BUILD_TYPE=Release -DUPF_BUILD_BENCH=OFF
  cmake --build $build -j2
  (cd $build && rm -f upf-plugin_*.deb && cpack -G DEB)
} >&2
out=/var/tmp/upf-test/vpp-real-debs
rm -rf $out && mkdir -p $out
cp "$src"/*.deb $build/upf-plugin_*.deb $out/
echo "$out"

#!/bin/bash
# The UPF plugin's UL/DL paths vs VPP's gtpu plugin in private VPP runs (main thread alone,
# 1 and 2 workers; bench/vpp_pipeline.py says what is measured and how). Needs VPP
# installed, the plugin built and root; prints why and exits 0 otherwise. The plugin: the
# Release build (cmake -S upf_plugin -B build/core-release -DCMAKE_BUILD_TYPE=Release, as
# `make test-core` does) unless UPF_VPP_PLUGIN_DIR or UPF_PLUGIN_SO names one.
#   bench/vpp_pipeline.sh [--sessions N] [--packets N] [--workers 0,1,2] [--perf DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${UPF_VPP_PLUGIN_DIR:-}${UPF_PLUGIN_SO:-}" ] \
  && [ -f build/core-release/lib/vpp_plugins/upf_plugin.so ]; then
  export UPF_VPP_PLUGIN_DIR="$PWD/build/core-release/lib/vpp_plugins"
fi
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" bench/vpp_pipeline.py "$@"

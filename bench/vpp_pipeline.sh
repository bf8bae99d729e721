#!/bin/bash
# The UPF plugin's UL/DL paths vs VPP's gtpu plugin in one private VPP run
# (bench/vpp_pipeline.py says what is measured and how). Needs VPP installed, the plugin
# built (cmake -S upf_plugin -B build/core-release -DCMAKE_BUILD_TYPE=Release; or
# UPF_VPP_PLUGIN_DIR) and root; prints why and exits 0 otherwise.
#   bench/vpp_pipeline.sh [--sessions N] [--packets N] [--workers N]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" bench/vpp_pipeline.py "$@"

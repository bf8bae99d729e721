"""Fixtures for the VPP plugin tests: a private VPP with upf_plugin.so, two pg interfaces
(pg0 = N3 towards a gNB at 10.0.3.2, pg1 = N6 towards a router at 10.0.6.2), network
instances 1 (N3) and 2 (N6) bound to FIB table 0.

Skips, naming what is missing, without VPP (vpp binary, API JSON, python3-vpp-api), the
built plugin (build/*/lib/vpp_plugins/upf_plugin.so: `cmake -S upf_plugin -B build/core`
with vpp-dev installed) or root.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vpp_cpus import NoCpuView
from vpp_harness import Vpp, missing
from vpp_lab import Lab


def _lab(tmp_path_factory: pytest.TempPathFactory, workers: int) -> Iterator[Lab]:
    why = missing()
    if why:
        pytest.skip(why)
    try:
        vpp = Vpp(tmp_path_factory.mktemp("vpp"), workers=workers)
    except NoCpuView as exc:
        pytest.skip(str(exc))
    try:
        yield Lab(vpp)
    finally:
        vpp.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _lab(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def lab2w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The same lab in a VPP with 2 worker threads."""
    yield from _lab(tmp_path_factory, 2)

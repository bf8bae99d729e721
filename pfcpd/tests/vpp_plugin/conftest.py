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

from vpp_harness import Vpp, missing

GNB_MAC = "02:00:00:00:03:02"
ROUTER_MAC = "02:00:00:00:06:02"


class Lab:
    def __init__(self, vpp: Vpp) -> None:
        self.vpp = vpp
        self.api = vpp.api
        self.n3_mac = vpp.pg_create(0, "10.0.3.1/24", "2001:db8:3::1/64")
        self.n6_mac = vpp.pg_create(1, "10.0.6.1/24", "2001:db8:6::1/64")
        vpp.cli(f"set ip neighbor pg0 10.0.3.2 {GNB_MAC} static")
        vpp.cli(f"set ip neighbor pg0 2001:db8:3::2 {GNB_MAC} static")
        vpp.cli(f"set ip neighbor pg1 10.0.6.2 {ROUTER_MAC} static")
        vpp.cli(f"set ip neighbor pg1 2001:db8:6::2 {ROUTER_MAC} static")
        vpp.cli("ip route add 0.0.0.0/0 via 10.0.6.2 pg1")
        vpp.cli("ip route add ::/0 via 2001:db8:6::2 pg1")
        for nwi in (1, 2):
            r = self.api.upf_nwi_add_del(
                is_add=True, network_instance=nwi, ip4_table_id=0, ip6_table_id=0
            )
            assert r.retval == 0
        for pg, role, nwi in ((0, 0, 1), (1, 1, 2)):
            r = self.api.upf_interface_add_del(
                is_add=True, sw_if_index=vpp.sw_if_index(f"pg{pg}"), role=role, network_instance=nwi
            )
            assert r.retval == 0
        self.events: list[object] = []
        vpp.client.register_event_callback(self._on_event)

    def _on_event(self, name: str, msg: object) -> None:
        if name == "upf_event":
            self.events.append(msg)


def _lab(tmp_path_factory: pytest.TempPathFactory, workers: int) -> Iterator[Lab]:
    why = missing()
    if why:
        pytest.skip(why)
    vpp = Vpp(tmp_path_factory.mktemp("vpp"), workers=workers)
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

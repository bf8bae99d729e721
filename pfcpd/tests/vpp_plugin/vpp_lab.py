"""The plugin tests' lab: a private VPP (vpp_harness.Vpp) with two pg interfaces (pg0 = N3
towards a gNB at 10.0.3.2, pg1 = N6 towards a router at 10.0.6.2), network instances 1 (N3)
and 2 (N6) bound to FIB table 0, and the events the plugin sends."""

from __future__ import annotations

from vpp_harness import Vpp

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

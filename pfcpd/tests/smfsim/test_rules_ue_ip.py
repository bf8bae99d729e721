"""The SMF simulator's UE addresses: CHV4, CHV6 and dual stack (CHV4 + CHV6) in the PDRs'
UE IP Address IEs as tshark's PFCP dissector reads them, and the UE's own addresses taken
from what a UPF allocates (an IPv4 address, an IPv6 prefix)."""

from __future__ import annotations

import pytest
from oracles import tshark_fields

from pfcpd.pfcp import Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import Established, ue_networks_of
from pfcpd.smfsim.scenario import Scenario

T = IEType
FLAGS = ["chv4", "chv6", "sd", "v4", "v6"]


def ue_ip_flags(**kwargs: bool) -> list[dict[str, str]]:
    """The UE IP Address flags of an establishment request's two PDRs, per tshark."""
    request = rules.establishment_request(
        "smf.test", "10.0.0.1", 1, rules.session_rules(**kwargs), seq=1
    )
    fields = [f"pfcp.ue_ip_address_flag.{flag}" for flag in FLAGS]
    (row,) = tshark_fields([encode(request)], fields)
    per_ie = [dict(zip(FLAGS, values, strict=True)) for values in zip(*row.values(), strict=True)]
    return per_ie


def on(values: dict[str, str]) -> set[str]:
    return {flag for flag, value in values.items() if value in ("1", "True")}


@pytest.mark.parametrize(
    ("kwargs", "chosen"),
    [({}, {"chv4"}), ({"v6": True}, {"chv6"}), ({"dual_stack": True}, {"chv4", "chv6"})],
)
def test_chv4_chv6_and_dual_stack_as_tshark_reads_them(
    kwargs: dict[str, bool], chosen: set[str]
) -> None:
    uplink, downlink = ue_ip_flags(**kwargs)
    assert on(uplink) == chosen | {"sd"}  # the uplink PDR matches the UE as source
    assert on(downlink) == chosen


def established(*ues: A.UEIPAddress) -> Established:
    created = Grouped(T.CREATED_PDR, [S.PDRID(1), *ues])
    response = Message(MessageType.SESSION_ESTABLISHMENT_RESPONSE, 1, [created], seid=1)
    est = Established(1, response)
    for ue in ues:
        est.ue_networks += ue_networks_of(ue)
    return est


def test_the_ues_own_addresses() -> None:
    dual = established(A.UEIPAddress(ipv4="10.231.128.2", ipv6="fd00:231:0:8000::"))
    assert dual.ue_address(4) == "10.231.128.2"
    assert dual.ue_address(6) == "fd00:231:0:8000::1"  # interface identifier 1 in the /64
    single = established(A.UEIPAddress(ipv6="fd00:231::7", ipv6_prefix_length=128))
    assert (single.ue_address(6), single.ue_address(4)) == ("fd00:231::7", None)
    wide = established(A.UEIPAddress(ipv6="fd00:231:0:8000::", ipv6_prefix_length=56))
    assert [str(n) for n in wide.ue_networks] == ["fd00:231:0:8000::/56"]


def test_a_scenario_may_ask_for_dual_stack() -> None:
    scenario = Scenario.load(
        "steps:\n"
        "  - establish: {session: a, dual_stack: true}\n"
        "  - establish: {session: b, v6: true}\n"
    )
    assert [dict(step.args) for step in scenario.steps] == [
        {"session": "a", "dual_stack": True},
        {"session": "b", "v6": True},
    ]

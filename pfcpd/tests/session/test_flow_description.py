"""Flow descriptions (IPFilterRule) to SDF filters."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.datapath.interface import SdfFilter
from pfcpd.session.flow_description import (
    FlowDescriptionError,
    FlowDescriptionTooCostly,
    parse_flow_description,
)


def test_typical_rules() -> None:
    assert parse_flow_description("permit out ip from any to assigned") == (SdfFilter(),)
    (f,) = parse_flow_description("permit out 17 from 198.51.100.0/24 5000-5010 to assigned")
    assert f.protocol == 17
    assert f.remote == ipaddress.ip_network("198.51.100.0/24")
    assert f.remote_ports == (5000, 5010) and f.ue_ports is None and f.ue is None
    (g,) = parse_flow_description("permit out 6 from 2001:db8::1 443 to 2001:db8:1::/64 1024-65535")
    assert g.remote == ipaddress.ip_network("2001:db8::1/128")
    assert g.ue == ipaddress.ip_network("2001:db8:1::/64") and g.ue_ports == (1024, 65535)


def test_an_uplink_rule_reads_as_the_downlink_rule_it_mirrors() -> None:
    """``permit in`` (an uplink flow, TS 29.214 5.3.8, as an SMF sends an uplink PDR's filter
    in the public capture pfcp-5gsa-pdu-establishment.pcap): from the UE to the remote end."""
    assert parse_flow_description("permit in ip from any to any") == (SdfFilter(),)
    uplink = parse_flow_description("permit in 17 from assigned 5060 to 198.51.100.7 5060-5061")
    downlink = parse_flow_description("permit out 17 from 198.51.100.7 5060-5061 to assigned 5060")
    assert uplink == downlink
    (f,) = uplink
    assert f.remote == ipaddress.ip_network("198.51.100.7/32") and f.ue is None
    assert f.remote_ports == (5060, 5061) and f.ue_ports == (5060, 5060)


def test_port_lists_expand() -> None:
    filters = parse_flow_description("permit out 6 from any 80,443 to assigned 1000,2000-2001")
    assert [(f.remote_ports, f.ue_ports) for f in filters] == [
        ((80, 80), (1000, 1000)),
        ((80, 80), (2000, 2001)),
        ((443, 443), (1000, 1000)),
        ((443, 443), (2000, 2001)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "deny out ip from any to any",
        "permit inout ip from any to any",
        "permit out tcp from any to any",
        "permit out 6 from any 70000 to any",
        "permit out 6 from any 90-80 to any",
        "permit out 6 from 10.0.0.300 to any",
        "permit out 6 from any",
        "permit out 6 from any to any frag",
        "permit out",
    ],
)
def test_bad_rules_are_refused(text: str) -> None:
    with pytest.raises(FlowDescriptionError):
        parse_flow_description(text)


def test_port_lists_stay_ranges_merged() -> None:
    (f,) = parse_flow_description("permit out 6 from any 80,81,82-90,85 to assigned")
    assert f.remote_ports == (80, 90)


def test_a_costly_rule_is_refused_before_it_is_built() -> None:
    # Lists on both sides multiply: refused on the count alone, before any filter exists.
    ports = ",".join(str(p) for p in range(1, 200, 2))  # 100 ranges that do not merge
    with pytest.raises(FlowDescriptionTooCostly, match="500 filters"):
        parse_flow_description(f"permit out 6 from any {ports} to assigned 1,3,5,7,9")
    with pytest.raises(FlowDescriptionTooCostly):
        parse_flow_description("permit out 6 from any " + "1," * 3000 + "2 to any")
    filters = parse_flow_description("permit out 6 from any 1,3,5,7 to assigned 2,4,6,8")
    assert len(filters) == 16

"""The intersection of SDF filters, field by field (`pfcpd.session.sdf_intersection`)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from pfcpd.datapath.interface import SdfFilter
from pfcpd.session.sdf_intersection import intersect, intersections

net = ipaddress.ip_network


def test_any_meets_anything_as_it_is() -> None:
    f = SdfFilter(protocol=17, remote=net("192.0.2.0/24"), ue_ports=(1000, 2000), tos=(0x20, 0xFC))
    assert intersect(SdfFilter(), f) == f and intersect(f, SdfFilter()) == f


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        (6, None, 6),
        (None, 17, 17),
        (6, 6, 6),
        (6, 17, "empty"),
    ],
)
def test_protocol(a: int | None, b: int | None, both: int | str) -> None:
    got = intersect(SdfFilter(protocol=a), SdfFilter(protocol=b))
    assert got == (None if both == "empty" else SdfFilter(protocol=both))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        ("192.0.2.0/24", "192.0.2.128/25", "192.0.2.128/25"),
        ("192.0.2.7/32", "192.0.0.0/16", "192.0.2.7/32"),
        ("192.0.2.0/24", "192.0.2.0/24", "192.0.2.0/24"),
        ("192.0.2.0/24", "198.51.100.0/24", None),
        ("192.0.2.0/25", "192.0.2.128/25", None),
        ("2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::/48"),
        ("2001:db8::/48", "2001:db8:1::/48", None),
        ("0.0.0.0/0", "::/0", None),  # (one family each: no packet is of both)
        ("192.0.2.0/24", "::ffff:192.0.2.0/120", None),
    ],
)
def test_networks_nest_or_meet_nowhere(a: str, b: str, both: str | None) -> None:
    for side in ("remote", "ue"):
        fa, fb = SdfFilter(**{side: net(a)}), SdfFilter(**{side: net(b)})  # type: ignore[arg-type]
        want = None if both is None else SdfFilter(**{side: net(both)})  # type: ignore[arg-type]
        assert intersect(fa, fb) == want and intersect(fb, fa) == want


def test_remote_and_ue_of_different_families_meet_nowhere() -> None:
    v4_remote = SdfFilter(remote=net("192.0.2.0/24"))
    assert intersect(v4_remote, SdfFilter(ue=net("2001:db8::/64"))) is None
    both = intersect(v4_remote, SdfFilter(ue=net("10.45.0.0/16")))
    assert both == SdfFilter(remote=net("192.0.2.0/24"), ue=net("10.45.0.0/16"))


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        ((80, 80), (1, 1023), (80, 80)),
        ((1000, 2000), (1500, 3000), (1500, 2000)),
        ((1000, 2000), (2000, 3000), (2000, 2000)),  # (inclusive ranges)
        ((1000, 1999), (2000, 3000), None),
        ((443, 443), (80, 80), None),
    ],
)
def test_port_ranges_overlap(
    a: tuple[int, int], b: tuple[int, int], both: tuple[int, int] | None
) -> None:
    for side in ("remote_ports", "ue_ports"):
        fa, fb = SdfFilter(**{side: a}), SdfFilter(**{side: b})  # type: ignore[arg-type]
        want = None if both is None else SdfFilter(**{side: both})  # type: ignore[arg-type]
        assert intersect(fa, fb) == want and intersect(fb, fa) == want


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        ((0xB8, 0xFC), (0xB8, 0xFC), (0xB8, 0xFC)),
        ((0xB8, 0xFC), (0x48, 0xFC), None),  # (EF against AF21)
        ((0x80, 0xE0), (0x03, 0x03), (0x83, 0xE3)),  # (masks apart: both conditions)
        ((0xB8, 0xF0), (0xB0, 0x0C), (0xB0, 0xFC)),  # (value bits outside a mask ignored)
        ((0xA0, 0xE0), (0xB8, 0xFC), (0xB8, 0xFC)),  # (agree on 0xE0)
        ((0xA0, 0xE0), (0xC0, 0xFC), None),  # (differ on 0xE0)
    ],
)
def test_tos_values_agree_on_the_common_mask(
    a: tuple[int, int], b: tuple[int, int], both: tuple[int, int] | None
) -> None:
    want = None if both is None else SdfFilter(tos=both)
    assert intersect(SdfFilter(tos=a), SdfFilter(tos=b)) == want
    assert intersect(SdfFilter(tos=b), SdfFilter(tos=a)) == want


def test_spi_and_flow_label_are_equal_or_any() -> None:
    for field in ("spi", "flow_label"):
        one, two = SdfFilter(**{field: 1}), SdfFilter(**{field: 2})  # type: ignore[arg-type]
        assert intersect(one, one) == one and intersect(one, SdfFilter()) == one
        assert intersect(one, two) is None
    assert intersect(SdfFilter(spi=5), SdfFilter(flow_label=7)) == SdfFilter(spi=5, flow_label=7)


def test_one_disjoint_field_empties_the_intersection() -> None:
    a = SdfFilter(protocol=17, remote=net("192.0.2.0/24"), remote_ports=(443, 443))
    host = SdfFilter(protocol=17, remote=net("192.0.2.9/32"))
    assert intersect(a, replace(host, ue_ports=(1, 9))) == replace(
        a, remote=host.remote, ue_ports=(1, 9)
    )
    assert intersect(a, replace(host, remote_ports=(80, 80))) is None
    assert intersect(a, replace(host, protocol=6)) is None


def test_intersections_are_the_non_empty_pairs_each_once_in_order() -> None:
    udp, tcp = SdfFilter(protocol=17), SdfFilter(protocol=6)
    http, dns = SdfFilter(remote_ports=(80, 80)), SdfFilter(remote_ports=(53, 53))
    web = SdfFilter(protocol=6, remote_ports=(80, 80))
    got = intersections([udp, tcp], [http, dns, web], limit=64)
    assert got == [
        SdfFilter(protocol=17, remote_ports=(80, 80)),
        SdfFilter(protocol=17, remote_ports=(53, 53)),
        web,  # (tcp with http, and again with web: once)
        SdfFilter(protocol=6, remote_ports=(53, 53)),
    ]
    assert intersections([udp], [tcp, web], limit=64) == []


def test_intersections_stop_past_the_limit() -> None:
    filters = [SdfFilter(remote_ports=(p, p)) for p in range(100)]
    flows = [SdfFilter(protocol=p) for p in range(100)]
    assert len(intersections(filters, flows, limit=64)) == 65
    assert len(intersections(filters[:8], flows[:8], limit=64)) == 64

"""Where the node sends a session-related request (a Session Report Request) given its CP
F-SEID's addresses (`PfcpNode._request_address`): the UDP port (TS 29.244 4.2.2), the
listen endpoint it leaves from (not one bound to loopback for an address off it), the
addresses refused ("this network", link-local outside a link-local association, the host's
own addresses with a wildcard listen address).
Sans-IO: where the node queues the request, no socket."""

from __future__ import annotations

import pytest
from node.request_node import node_with, sent_to

from pfcpd.address import Address

V4 = "192.0.2.1:8805"
V6 = "[2001:db8::1]:8805"
ANY4 = "0.0.0.0:8805"
ANY6 = "[::]:8805"


# -- the port: 8805 at another address (4.2.2), the association's at its own ---------------


def test_a_request_to_another_address_goes_to_port_8805() -> None:
    """A CP associated from port 40000: its reports to an F-SEID address other than the
    association's go to 8805 (29.244 4.2.2: the UDP destination port of a request);
    to the association's own address, on its port."""
    node = node_with(("192.0.2.2", 40000), V4)
    assert sent_to(node, "192.0.2.9", None) == (("192.0.2.9", 8805), V4)
    assert sent_to(node, "192.0.2.2", None) == (("192.0.2.2", 40000), V4)
    assert sent_to(node, None, None) == (("192.0.2.2", 40000), V4)
    v6 = node_with(("2001:db8::2", 40000), V6)
    assert sent_to(v6, None, "2001:db8::9") == (("2001:db8::9", 8805), V6)
    assert sent_to(v6, None, "2001:db8::2") == (("2001:db8::2", 40000), V6)


# -- addresses refused -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("association", "ipv4", "ipv6", "expected"),
    [
        # "this network" (0.0.0.0/8): never a destination
        ("192.0.2.2", "0.1.2.3", None, "192.0.2.2"),
        ("192.0.2.2", "0.255.255.255", None, "192.0.2.2"),
        ("192.0.2.2", None, "::ffff:0.0.0.9", "192.0.2.2"),
        # link-local: only for a CP associated at a link-local address of the same family
        ("169.254.0.2", "169.254.0.9", None, "169.254.0.9"),
        ("192.0.2.2", "169.254.0.9", None, "192.0.2.2"),
        ("fe80::2", None, "fe80::9", "fe80::9"),
        ("2001:db8::2", None, "fe80::9", "2001:db8::2"),
        ("169.254.0.2", None, "fe80::9", "169.254.0.2"),
        ("fe80::2", "169.254.0.9", None, "fe80::2"),
    ],
)
def test_this_network_and_link_local_addresses(
    association: str, ipv4: str | None, ipv6: str | None, expected: str
) -> None:
    node = node_with((association, 8805), ANY6, ANY4)
    (ip, _), _ = sent_to(node, ipv4, ipv6)
    assert ip == expected


def test_with_a_wildcard_listen_address_the_host_s_addresses_are_refused() -> None:
    """Listening on a wildcard address, the node is at every address of the host: an F-SEID
    naming one (`is_host_address`, from the daemon) is not used; with specific listen
    addresses the node's own are those alone, and nothing is asked."""
    asked: list[str] = []

    def is_host_address(ip: str) -> bool:
        asked.append(ip)
        return ip in ("192.0.2.77", "2001:db8::77")

    node = node_with(("192.0.2.2", 8805), ANY4, ANY6, is_host_address=is_host_address)
    assert sent_to(node, "192.0.2.77", None) == (("192.0.2.2", 8805), ANY4)
    assert sent_to(node, "192.0.2.77", "2001:db8::77") == (("192.0.2.2", 8805), ANY4)
    assert sent_to(node, "192.0.2.9", None) == (("192.0.2.9", 8805), ANY4)
    assert asked == ["192.0.2.77", "192.0.2.77", "2001:db8::77", "192.0.2.9"]
    specific = node_with(("192.0.2.2", 8805), V4, is_host_address=is_host_address)
    asked.clear()
    assert sent_to(specific, "192.0.2.77", None) == (("192.0.2.77", 8805), V4)
    assert sent_to(specific, "192.0.2.1", None) == (("192.0.2.2", 8805), V4)  # (its own)
    assert asked == []


def test_without_a_host_address_check_only_listen_addresses_and_node_id_are_own() -> None:
    node = node_with(("192.0.2.2", 8805), ANY4, node_id="192.0.2.5")
    assert sent_to(node, "192.0.2.5", None) == (("192.0.2.2", 8805), ANY4)  # its Node ID
    assert sent_to(node, "192.0.2.77", None) == (("192.0.2.77", 8805), ANY4)


# -- the endpoint of the other family --------------------------------------------------------


@pytest.mark.parametrize(
    ("association", "listen", "ipv4", "ipv6", "expected"),
    [
        # an IPv4 address alone, from an IPv6 association: the IPv6 wildcard (it takes
        # IPv4), not the first endpoint (a specific IPv6 one cannot send to IPv4)
        ("2001:db8::2", (V6, ANY6), "192.0.2.9", None, (("192.0.2.9", 8805), ANY6)),
        # an IPv4 endpoint before the IPv6 wildcard, whatever their order
        ("2001:db8::2", (ANY6, "192.0.2.1:8806"), "192.0.2.9", None,
         (("192.0.2.9", 8805), "192.0.2.1:8806")),
        # no endpoint for IPv4: the association's address
        ("2001:db8::2", (V6,), "192.0.2.9", None, (("2001:db8::2", 8805), V6)),
        # IPv6 alone from an IPv4 association: the first IPv6 endpoint; none: the
        # association's address
        ("192.0.2.2", (V4, "[2001:db8::1]:8806", ANY6), None, "2001:db8::9",
         (("2001:db8::9", 8805), "[2001:db8::1]:8806")),
        ("192.0.2.2", (V4,), None, "2001:db8::9", (("192.0.2.2", 8805), V4)),
        # not an endpoint bound to loopback for an address off loopback (the kernel does
        # not route a loopback source off the host): the next; none: the association's
        ("2001:db8::2", (ANY6, "127.0.0.1:8806"), "192.0.2.9", None,
         (("192.0.2.9", 8805), ANY6)),
        ("192.0.2.2", (V4, "[::1]:8806", "[2001:db8::1]:8807"), None, "2001:db8::9",
         (("2001:db8::9", 8805), "[2001:db8::1]:8807")),
        ("192.0.2.2", (V4, "[::1]:8806"), None, "2001:db8::9", (("192.0.2.2", 8805), V4)),
        ("2001:db8::2", (V6, "127.0.0.1:8806"), "192.0.2.9", None,
         (("2001:db8::2", 8805), V6)),
        # ... but for a loopback address (a CP on loopback)
        ("::1", ("[::1]:8805", "127.0.0.1:8806"), "127.0.0.2", None,
         (("127.0.0.2", 8805), "127.0.0.1:8806")),
    ],
)  # fmt: skip
def test_a_request_to_the_other_family_leaves_from_an_endpoint_of_it(
    association: str,
    listen: tuple[str, ...],
    ipv4: str | None,
    ipv6: str | None,
    expected: tuple[Address, str | None],
) -> None:
    node = node_with((association, 8805), *listen)
    assert sent_to(node, ipv4, ipv6) == expected


# -- the association's endpoint bound to loopback ---------------------------------------------


def test_from_an_endpoint_bound_to_loopback_no_address_off_loopback() -> None:
    """A CP associated over a loopback-bound endpoint: an F-SEID address of that family
    off loopback is not used from it (the kernel refuses a loopback source to it: EINVAL,
    every retransmission lost), the association's address instead; a loopback one is; an
    address of the other family still leaves from an endpoint of that family."""
    lo4 = "127.0.0.1:8805"
    node = node_with(("127.0.0.1", 8805), lo4, "192.0.2.5:8805")
    assert sent_to(node, "192.0.2.9", None) == (("127.0.0.1", 8805), lo4)
    assert sent_to(node, "192.0.2.5", None) == (("127.0.0.1", 8805), lo4)
    assert sent_to(node, "127.0.0.2", None) == (("127.0.0.2", 8805), lo4)
    both = node_with(("127.0.0.1", 8805), lo4, V6)
    assert sent_to(both, "192.0.2.9", "2001:db8::9") == (("2001:db8::9", 8805), V6)
    lo6 = "[::1]:8805"
    v6 = node_with(("::1", 8805), lo6, V6)
    assert sent_to(v6, None, "2001:db8::9") == (("::1", 8805), lo6)


# -- the association's own address -------------------------------------------------------------


def test_the_association_s_address_is_used_even_when_it_is_the_host_s() -> None:
    """A CP on pfcpd's host: the association's address, which the CP answers from, is
    taken although it is one of the host's (wildcard listen) or a listen address of this
    node (the CP on another port), and without asking the host-address check; the F-SEID's
    other family is then not used."""
    asked: list[str] = []

    def is_host_address(ip: str) -> bool:
        asked.append(ip)
        return ip == "192.0.2.2"

    node = node_with(("192.0.2.2", 8805), ANY4, ANY6, is_host_address=is_host_address)
    assert sent_to(node, "192.0.2.2", "2001:db8::9") == (("192.0.2.2", 8805), ANY4)
    assert sent_to(node, "192.0.2.2", None) == (("192.0.2.2", 8805), ANY4)
    assert asked == []
    specific = node_with(("192.0.2.1", 2123), V4, V6)
    assert sent_to(specific, "192.0.2.1", "2001:db8::9") == (("192.0.2.1", 2123), V4)
    v6 = node_with(("2001:db8::1", 2123), V6, V4)
    assert sent_to(v6, "192.0.2.9", "2001:db8::1") == (("2001:db8::1", 2123), V6)

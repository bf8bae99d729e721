"""One rule names an IP address as text (`pfcpd.address`): the socket layer names each
datagram's source with it (`normalize`), the sans-IO node the addresses it sends requests to
(`parse`, then ``.compressed``). The two must agree, or an answer would not be recognised as
coming from where its request went; the socket layer's `normalize` is that one function."""

from __future__ import annotations

import pytest
from node.request_node import node_with, sent_to

from pfcpd.address import is_loopback, normalize, parse
from pfcpd.daemon import pfcp_socket

# (a source as an IPv6 socket gives it, the name pfcpd gives it)
SOURCES = [
    (("2001:db8::1", 8805, 0, 0), "2001:db8::1"),
    (("2001:0db8:0000:0000:0000:0000:0000:0001", 8805, 0, 0), "2001:db8::1"),
    (("::ffff:192.0.2.1", 8805, 0, 0), "192.0.2.1"),
    (("::ffff:c000:201", 8805, 0, 0), "192.0.2.1"),
    (("fe80::1%eth0", 8805, 0, 2), "fe80::1"),
    (("::1", 2123, 0, 0), "::1"),
    (("::", 2123, 0, 0), "::"),
]


def test_the_socket_layer_s_normalize_is_the_one_rule() -> None:
    assert pfcp_socket.normalize is normalize


@pytest.mark.parametrize(("source", "name"), SOURCES)
def test_a_source_and_the_parsed_address_have_one_name(source: tuple[str, int], name: str) -> None:
    assert normalize(source) == (name, source[1])
    ip = parse(source[0])
    assert ip is not None and ip.compressed == name
    assert normalize((name, 9)) == (name, 9)  # a name is its own name


def test_what_is_not_an_address() -> None:
    for text in (None, "", "smf.example", "192.0.2.300", "2001:db8::g", "1:2"):
        assert parse(text) is None
    assert parse("192.0.2.1") == parse("::ffff:192.0.2.1")
    assert not is_loopback("smf.example")


def test_loopback_in_either_family_and_mapped() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")  # (the IPv4 address it maps)
    assert not is_loopback("192.0.2.1") and not is_loopback("::2")


def test_a_request_to_a_mapped_f_seid_address_goes_to_the_ipv4_name() -> None:
    """An F-SEID's IPv6 address that maps an IPv4 one: the request goes to the IPv4 name,
    the one its answer's source will have (`normalize`), from an IPv4 endpoint."""
    node = node_with(("2001:db8::2", 8805), "[2001:db8::1]:8805", "192.0.2.1:8805")
    assert sent_to(node, None, "::ffff:192.0.2.9") == (("192.0.2.9", 8805), "192.0.2.1:8805")
    assert sent_to(node, None, "2001:0db8::0009") == (("2001:db8::9", 8805), "[2001:db8::1]:8805")

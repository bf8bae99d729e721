"""This node's own addresses are named as F-SEID addresses are (`pfcpd.address`): a listen
address with a scope (``[fe80::1%eth0]:8805``) or an IPv4-mapped one is its own under the
name a CP F-SEID gives it, so no request goes to it (pfcpd would answer itself). Sans-IO."""

from __future__ import annotations

from node.request_node import node_with, sent_to

LL = "[fe80::1%eth0]:8805"


def test_a_scoped_link_local_listen_address_is_this_node_s() -> None:
    """A CP associated over a link-local endpoint: an F-SEID naming that endpoint's address
    is not used (was: the report sent to pfcpd's own socket); another link-local address
    on the link is."""
    node = node_with(("fe80::2", 8805), LL)
    assert sent_to(node, None, "fe80::1") == (("fe80::2", 8805), LL)
    assert sent_to(node, None, "fe80::9") == (("fe80::9", 8805), LL)


def test_a_mapped_listen_address_and_node_id_are_this_node_s() -> None:
    node = node_with(("2001:db8::2", 8805), "[::ffff:192.0.2.1]:8805", "[2001:db8::1]:8806")
    assert sent_to(node, "192.0.2.1", None)[0] == ("2001:db8::2", 8805)
    by_id = node_with(("2001:db8::2", 8805), "[2001:db8::1]:8805", node_id="2001:0db8::0005")
    assert sent_to(by_id, None, "2001:db8::5") == (("2001:db8::2", 8805), "[2001:db8::1]:8805")

"""An association restored from a state-file record without ``local`` (written before pfcpd
kept the listen endpoint that talks to each CP): the node derives it as the endpoint of the
CP's family that reaches the CP's address (`PfcpNode._endpoint_to`: not one bound to
loopback for a CP off loopback), so that the restored association behaves like a fresh
one: its heartbeats leave from an endpoint that can reach the CP, and a report to an F-SEID
address off loopback is not sent from a loopback-bound endpoint. Sans-IO."""

from __future__ import annotations

import pytest
from node.request_node import node_with, sent_to

from pfcpd.address import Address
from pfcpd.config import PfcpConfig, parse_endpoint
from pfcpd.node import PfcpNode
from pfcpd.node.association import Association
from pfcpd.pfcp import MessageType, decode

M = MessageType
LO4 = "127.0.0.1:8805"
V4 = "192.0.2.5:8805"
V6 = "[2001:db8::5]:8805"
LO6 = "[::1]:8805"
ANY6 = "[::]:8805"


def restored(cp: Address, *listen: str, local: str | None = None) -> PfcpNode:
    """A node listening on ``listen``, with "smf" at ``cp`` restored from a record that
    names no endpoint (``local``: one that does)."""
    record: dict[str, object] = {
        "node_id": "smf",
        "address": cp[0],
        "port": cp[1],
        "cp_recovery_time_stamp": 1,
        "initiator": "cp",
        "established_at": 0.0,
    }
    if local is not None:
        record["local"] = local
    node = PfcpNode(
        node_id="upf.test",
        config=PfcpConfig(
            listen=tuple(parse_endpoint(e) for e in listen),
            allowed_peers=None,
            heartbeat_interval=1000.0,
        ),
        recovery_time_stamp=3_950_000_000,
        associations=[Association.from_record(record, 0.0, 0.0)],
    )
    node.start(0.0)
    return node


def heartbeat_from(node: PfcpNode) -> str | None:
    """The endpoint the restored association's first heartbeat leaves from."""
    node.handle_timer(0.0)
    (tx,) = [t for t in node.datagrams_to_send() if decode(t.data).msg_type == M.HEARTBEAT_REQUEST]
    return tx.local


def test_a_report_off_loopback_from_a_cp_on_loopback_goes_to_the_association() -> None:
    """The loopback-endpoint skip (`_request_address`) as for a fresh association: was the
    F-SEID's address, from no named endpoint (the daemon's first IPv4 one, on loopback:
    EINVAL at every try)."""
    node = restored(("127.0.0.1", 8805), LO4, V4)
    fresh = node_with(("127.0.0.1", 8805), LO4, V4)
    for ipv4 in ("192.0.2.9", "127.0.0.2"):
        assert sent_to(node, ipv4, None) == sent_to(fresh, ipv4, None)
    assert sent_to(node, "192.0.2.9", None) == (("127.0.0.1", 8805), LO4)
    v6 = restored(("::1", 8805), LO6, V6)
    assert sent_to(v6, None, "2001:db8::9") == (("::1", 8805), LO6)


@pytest.mark.parametrize(
    ("cp", "listen", "endpoint"),
    [
        # a CP off loopback: not the loopback-bound endpoint listed first
        (("192.0.2.2", 8805), (LO4, V4), V4),
        (("2001:db8::2", 8805), (LO6, V6), V6),
        # a CP on loopback: the first of its family
        (("127.0.0.1", 8805), (LO4, V4), LO4),
        (("127.0.0.1", 8805), (V4, LO4), V4),
        # the CP's family, whatever the order; IPv4 through the IPv6 wildcard
        (("192.0.2.2", 8805), (V6, V4), V4),
        (("192.0.2.2", 8805), (V6, ANY6), ANY6),
        (("2001:db8::2", 8805), (V4, ANY6), ANY6),
    ],
)
def test_the_heartbeat_leaves_from_an_endpoint_that_reaches_the_cp(
    cp: Address, listen: tuple[str, ...], endpoint: str
) -> None:
    assert heartbeat_from(restored(cp, *listen)) == endpoint


def test_no_endpoint_reaches_the_cp_or_the_record_names_one() -> None:
    """None reaches it: none named (the daemon picks, as before). A record that names its
    endpoint keeps it."""
    assert heartbeat_from(restored(("192.0.2.2", 8805), LO4)) is None
    assert heartbeat_from(restored(("192.0.2.2", 8805), V6)) is None
    assert heartbeat_from(restored(("192.0.2.2", 8805), "192.0.2.6:8805", V4, local=V4)) == V4
    assert heartbeat_from(restored(("127.0.0.1", 8805), LO4, V4, local=V4)) == V4

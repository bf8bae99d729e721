"""An association restored from a state-file record without ``local`` (written before pfcpd
kept the listen endpoint that talks to each CP), or one pfcpd set up itself (named by its
setup request's endpoint, chosen by the same rule): the node derives it as the endpoint of
the CP's family that is not bound to loopback for a CP off loopback
(`PfcpNode._endpoint_to`), so that its heartbeats leave from an endpoint that can reach the
CP, and a report to an F-SEID address off loopback is not sent from a loopback-bound
endpoint. Here the driver names no source address (the node's default); with the kernel's
source: test_setup_source_address.py. Sans-IO."""

from __future__ import annotations

import pytest
from node.request_node import node_listening_on, node_with, sent_to

from pfcpd.address import Address
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
    node = node_listening_on(*listen, associations=[Association.from_record(record, 0.0, 0.0)])
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


def test_an_association_pfcpd_set_up_itself_names_its_endpoint_at_once() -> None:
    """`associate_to`: the setup request leaves from, and the association names, the endpoint
    a restored record would get (was None while fresh: its heartbeats from the daemon's first
    IPv4 endpoint, loopback-bound here, EINVAL to a CP off loopback), and keeps it across a
    save and restore."""
    from pfcpd.config import Endpoint
    from pfcpd.pfcp import Message, encode
    from pfcpd.pfcp.cause import Cause
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.pfcp.ies_scalar import Cause as CauseIE
    from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

    def node(*associations: Association) -> PfcpNode:
        made = node_listening_on(
            LO4, V4, associate_to=(Endpoint("192.0.2.2", 8805),), associations=associations
        )
        made.start(0.0)
        return made

    fresh = node()
    fresh.handle_timer(0.0)
    (setup,) = fresh.datagrams_to_send()
    assert setup.local == V4  # (was None: the daemon's first IPv4 endpoint, on loopback)
    answer = Message(
        M.ASSOCIATION_SETUP_RESPONSE,
        decode(setup.data).seq,
        [NodeID.from_text("smf"), CauseIE(Cause.REQUEST_ACCEPTED), RecoveryTimeStamp(1)],
    )
    fresh.datagram_received(encode(answer), ("192.0.2.2", 8805), 0.1, V4)
    fresh.datagrams_to_send()
    (assoc,) = fresh.associations()
    assert assoc.initiator == "up"
    assert assoc.local == V4
    fresh.handle_timer(1000.5)
    beats = [t for t in fresh.datagrams_to_send() if decode(t.data).msg_type == M.HEARTBEAT_REQUEST]
    assert [t.local for t in beats] == [V4]
    record = assoc.to_record(0.0)
    assert record["local"] == V4
    assert heartbeat_from(node(Association.from_record(record, 0.0, 0.0))) == V4

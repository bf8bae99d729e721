"""Whatever arrives, the node answers or drops; it never raises and keeps working."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcpd.config import PfcpConfig
from pfcpd.node import PfcpNode
from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

CP = ("127.0.0.2", 8805)
SEEDS = [
    encode(Message(MessageType.HEARTBEAT_REQUEST, 1, [RecoveryTimeStamp(7)])),
    encode(
        Message(
            MessageType.ASSOCIATION_SETUP_REQUEST,
            2,
            [NodeID.from_text("smf"), RecoveryTimeStamp(7)],
        )
    ),
    encode(Message(MessageType.SESSION_DELETION_REQUEST, 3, [], seid=5)),
    encode(Message(MessageType.ASSOCIATION_RELEASE_REQUEST, 4, [NodeID.from_text("smf")])),
]


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(datagrams(), min_size=1, max_size=8))
def test_arbitrary_datagrams_never_raise(batch):
    cfg = PfcpConfig(listen=(), allowed_peers=(ipaddress.ip_network("127.0.0.0/8"),))
    node = PfcpNode(node_id="127.0.0.1", config=cfg, recovery_time_stamp=1)
    node.start(0.0)
    for i, data in enumerate(batch):
        node.datagram_received(data, CP, float(i))
    for tx in node.datagrams_to_send():
        decode(tx.data)  # everything the node sends decodes
    node.handle_timer(100.0)
    node.datagrams_to_send()  # e.g. heartbeats to an association the batch set up
    assert node.metrics.internal_errors.values == {}, "a bug was met (see the log)"
    # Still answering.
    node.datagram_received(SEEDS[0][:4] + b"\xff\xff\xf0\x00" + SEEDS[0][8:], CP, 101.0)
    [answer] = node.datagrams_to_send()
    assert decode(answer.data).msg_type == MessageType.HEARTBEAT_RESPONSE

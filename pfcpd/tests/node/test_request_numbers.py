"""The sequence numbers of the requests the node sends: one series for the whole node
(TS 29.244 6.4: unique for each outstanding request sourced from one IP/UDP endpoint; a
peer tells a retransmission by the sender's address and port and the number). Sans-IO."""

from __future__ import annotations

from pfcpd.config import Endpoint, PfcpConfig
from pfcpd.node import PfcpNode
from pfcpd.pfcp import Message, MessageType, decode_header, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import Cause, RecoveryTimeStamp

M = MessageType
CP_A = ("127.0.0.2", 8805)  # "smf-a"'s association
CP_B = ("127.0.0.3", 8805)  # "smf-b"'s
SHARED = "127.0.0.20"  # the N4 address both CPs' F-SEIDs name (an SMF Set's shared one)
SMF_C = ("127.0.0.4", 8805)  # an SMF this node associates to itself (pfcp.associate_to)


def node_with_two_cps(**over: object) -> PfcpNode:
    settings: dict[str, object] = {
        "listen": (Endpoint("127.0.0.1", 8805),),
        "allowed_peers": None,
        "heartbeat_interval": 1000.0,
    }
    settings.update(over)
    node = PfcpNode(
        node_id="127.0.0.1",
        config=PfcpConfig(**settings),  # type: ignore[arg-type]
        recovery_time_stamp=3_950_000_000,
    )
    node.start(0.0)
    for node_id, addr in (("smf-a", CP_A), ("smf-b", CP_B)):
        setup = Message(
            M.ASSOCIATION_SETUP_REQUEST, 1, [NodeID.from_text(node_id), RecoveryTimeStamp(7)]
        )
        node.datagram_received(encode(setup), addr, 0.0, "127.0.0.1:8805")
    node.datagrams_to_send()
    return node


def test_two_cps_behind_one_fseid_address_never_get_the_same_number() -> None:
    """Reports of two CPs whose F-SEIDs name one address, each answered before the next is
    sent: the CPs' N4 address never sees one number twice from this node's endpoint (with a
    series per association, both numbered from the same first: the second request with a
    number would be answered with the first's cached response)."""
    node = node_with_two_cps()
    numbers = []
    for now in (1.0, 2.0, 3.0):
        for cp in ("smf-a", "smf-b"):
            report = Message(M.SESSION_REPORT_REQUEST, 0, [], 0x10)
            seq = node.send_request(cp, report, now, SHARED, None)
            (tx,) = node.datagrams_to_send()
            assert seq is not None and tx.addr[0] == SHARED and decode_header(tx.data).seq == seq
            answer = Message(M.SESSION_REPORT_RESPONSE, seq, [Cause(1)], 0x20)
            node.datagram_received(encode(answer), tx.addr, now, "127.0.0.1:8805")
            assert node.in_flight == 0  # (answered: the next may reuse a number of a series)
            numbers.append(seq)
    assert len(set(numbers)) == len(numbers) == 6


def test_heartbeats_association_requests_and_reports_share_the_series() -> None:
    """Heartbeats to two CPs, an Association Setup Request to an SMF of pfcp.associate_to,
    an Association Update Request (release asked) and reports: each request its own number,
    in the order sent."""
    node = node_with_two_cps(
        associate_to=(Endpoint(*SMF_C),), heartbeat_interval=5.0, associate_retry_interval=5.0
    )
    node.handle_timer(5.0)  # heartbeats to both CPs, the setup request to SMF_C
    assert node.request_release("smf-b", 5.0)
    report = Message(M.SESSION_REPORT_REQUEST, 0, [], 0x10)
    node.send_request("smf-a", report, 5.0, SHARED, None)
    headers = [(decode_header(tx.data), tx.addr) for tx in node.datagrams_to_send()]
    sent = [(h.msg_type, addr, h.seq) for h, addr in headers]
    assert sorted((t, a) for t, a, _ in sent) == sorted(
        [
            (M.HEARTBEAT_REQUEST, CP_A),
            (M.HEARTBEAT_REQUEST, CP_B),
            (M.ASSOCIATION_SETUP_REQUEST, SMF_C),
            (M.ASSOCIATION_UPDATE_REQUEST, CP_B),
            (M.SESSION_REPORT_REQUEST, (SHARED, 8805)),
        ]
    )
    assert [seq for _, _, seq in sent] == [1, 2, 3, 4, 5]

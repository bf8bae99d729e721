"""The sans-IO node alone: datagrams and clock values in, datagrams and events out."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.config import Endpoint, PfcpConfig, RateLimitConfig
from pfcpd.node import Association, PfcpNode
from pfcpd.node import events as ev
from pfcpd.node.session_handler import NoSessionEngine, Peer, PeerGone
from pfcpd.pfcp import Cause, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_flags import ReportType
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType
CP = ("127.0.0.2", 8805)
UP_TS = 3_950_000_000
CP_TS = 3_900_000_000


class RecordingHandler(NoSessionEngine):
    def __init__(self) -> None:
        self.gone: list[tuple[str, PeerGone, bool]] = []
        self.kept_at: list[frozenset[str] | None] = []
        self.responses: list[tuple[int, Message | None]] = []
        self.requests: list[int] = []
        self.recovered: list[str] = []

    def peer_recovered(self, peer: Peer, now: float) -> None:
        self.recovered.append(peer.node_id)

    def peer_gone(
        self,
        peer: Peer,
        reason: PeerGone,
        keep_sessions: bool,
        now: float,
        kept_at: frozenset[str] | None = None,
    ) -> None:
        self.gone.append((peer.node_id, reason, keep_sessions))
        self.kept_at.append(kept_at)

    def response_received(self, request: Message, response: Message | None, now: float) -> None:
        self.responses.append((request.msg_type, response))

    def handle_request(self, request, peer, local_node_id, now):
        self.requests.append(request.msg_type)
        return super().handle_request(request, peer, local_node_id, now)


def config(**over: object) -> PfcpConfig:
    base: dict[str, object] = {
        "listen": (),
        "allowed_peers": (ipaddress.ip_network("127.0.0.0/8"),),
        "heartbeat_interval": 5.0,
        "t1": 1.0,
        "n1": 2,
        "response_cache_time": 20.0,
    }
    base.update(over)
    return PfcpConfig(**base)  # type: ignore[arg-type]


def make_node(handler: RecordingHandler | None = None, **over: object) -> PfcpNode:
    node = PfcpNode(
        node_id="10.0.0.1",
        config=config(**over),
        recovery_time_stamp=UP_TS,
        session_handler=handler,
    )
    node.start(0.0)
    return node


def exchange(node: PfcpNode, msg: Message, now: float, addr=CP) -> list[Message]:
    node.datagram_received(encode(msg), addr, now)
    return [decode(t.data) for t in node.datagrams_to_send()]


def events(node: PfcpNode) -> list[ev.Event]:
    out = []
    while (e := node.next_event()) is not None:
        out.append(e)
    return out


def setup(seq: int = 1, ts: int = CP_TS, node_id: str = "smf") -> Message:
    return Message(
        M.ASSOCIATION_SETUP_REQUEST, seq, [NodeID.from_text(node_id), RecoveryTimeStamp(ts)]
    )


def run_timers(node: PfcpNode, until: float) -> list[Message]:
    sent = []
    while (t := node.get_timer()) is not None and t <= until:
        node.handle_timer(t)
        sent += [decode(x.data) for x in node.datagrams_to_send()]
    return sent


def test_association_setup_answer_and_state():
    node = make_node()
    [answer] = exchange(node, setup(), 0.0)
    assert answer.msg_type == M.ASSOCIATION_SETUP_RESPONSE and answer.seq == 1
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    assert answer.get(IEType.RECOVERY_TIME_STAMP) == RecoveryTimeStamp(UP_TS)
    assert answer.get(IEType.NODE_ID) == NodeID.from_text("10.0.0.1")
    assert node.state_dirty
    [assoc] = node.associations()
    assert (assoc.node_id, assoc.addr, assoc.initiator) == ("smf", CP, "cp")
    assert isinstance(events(node)[0], ev.AssociationEstablished)


def test_duplicate_is_answered_from_cache_until_it_expires():
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    deletion = Message(M.SESSION_DELETION_REQUEST, 9, [], seid=7)
    first = encode(deletion)
    node.datagram_received(first, CP, 1.0)
    [a] = node.datagrams_to_send()
    node.datagram_received(first, CP, 2.0)
    [b] = node.datagrams_to_send()
    assert a.data == b.data and handler.requests == [M.SESSION_DELETION_REQUEST]
    # Same sequence number from another peer port: another transaction.
    node.datagram_received(first, (CP[0], 9999), 2.0)
    assert len(node.datagrams_to_send()) == 1 and len(handler.requests) == 2
    # After response_cache_time the same sequence number is a new request.
    node.handle_timer(30.0)
    node.datagram_received(first, CP, 30.0)
    node.datagrams_to_send()
    assert len(handler.requests) == 3


def test_a_new_request_reusing_a_sequence_number_is_not_answered_from_the_cache():
    """A restarted SMF numbers from 1 again: a different request with a cached sequence
    number is a new transaction (handled afresh), while the old request's retransmission
    still gets the cached octets."""
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    old = encode(Message(M.SESSION_DELETION_REQUEST, 9, [], seid=7))
    new = encode(Message(M.SESSION_MODIFICATION_REQUEST, 9, [], seid=7))
    other_seid = encode(Message(M.SESSION_DELETION_REQUEST, 9, [], seid=8))
    node.datagram_received(old, CP, 1.0)
    assert len(node.datagrams_to_send()) == 1
    node.datagram_received(new, CP, 1.5)
    [b] = node.datagrams_to_send()
    assert decode(b.data).msg_type == M.SESSION_MODIFICATION_RESPONSE
    node.datagram_received(other_seid, CP, 2.0)
    node.datagrams_to_send()
    assert handler.requests == [
        M.SESSION_DELETION_REQUEST,
        M.SESSION_MODIFICATION_REQUEST,
        M.SESSION_DELETION_REQUEST,
    ]
    # The last request's retransmission is answered from the cache, without an effect.
    node.datagram_received(other_seid, CP, 2.5)
    [c] = node.datagrams_to_send()
    assert len(handler.requests) == 3 and decode(c.data).seq == 9


def test_a_restarted_cp_repeating_a_request_octet_for_octet_is_not_answered_from_the_cache():
    """A restarted CP (a new Recovery Time Stamp) numbering from 1 again may send one of
    its previous run's requests again, identical to the octet (a deterministic SMF: the
    same SEID, the same rules): a new transaction, not a retransmission. So are requests
    after a new association from that address. A CP setting up again without restarting
    keeps its cached answers."""
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    deletion = encode(Message(M.SESSION_DELETION_REQUEST, 2, [], seid=7))
    node.datagram_received(deletion, CP, 1.0)
    node.datagrams_to_send()
    exchange(node, setup(seq=1), 2.0)  # the same run again: its answers stay cached
    node.datagram_received(deletion, CP, 2.5)
    node.datagrams_to_send()
    assert handler.requests == [M.SESSION_DELETION_REQUEST]
    [answer] = exchange(node, setup(seq=1, ts=CP_TS + 60), 3.0)  # restarted
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    node.datagram_received(deletion, CP, 3.5)
    node.datagrams_to_send()
    assert handler.requests == [M.SESSION_DELETION_REQUEST] * 2
    # Its retransmission is answered from the cache again.
    node.datagram_received(deletion, CP, 4.0)
    assert len(node.datagrams_to_send()) == 1 and len(handler.requests) == 2
    # A restart seen in a heartbeat, and a new association after a release, likewise.
    heartbeat = Message(M.HEARTBEAT_REQUEST, 3, [RecoveryTimeStamp(CP_TS + 120)])
    exchange(node, heartbeat, 5.0)
    node.datagram_received(deletion, CP, 5.5)
    node.datagrams_to_send()
    assert len(handler.requests) == 3
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 4, [NodeID.from_text("smf")])
    assert exchange(node, release, 6.0)[0].get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    exchange(node, setup(seq=5, ts=CP_TS + 120), 7.0)
    node.datagram_received(deletion, CP, 7.5)
    node.datagrams_to_send()
    assert len(handler.requests) == 4


def test_heartbeat_retransmission_then_peer_lost_with_graceful_release():
    handler = RecordingHandler()
    node = make_node(handler, graceful_release_period=10.0, on_peer_lost="keep")
    exchange(node, setup(), 0.0)
    events(node)
    assert node.get_timer() == 5.0
    sent = run_timers(node, 7.0)  # heartbeat at 5, retransmissions at 6 and 7 (t1=1, n1=2)
    assert [(m.msg_type, m.seq) for m in sent] == [(M.HEARTBEAT_REQUEST, 1)] * 3
    run_timers(node, 8.0)  # no answer by 8: lost, kept for 10 s
    assert [type(e) for e in events(node)] == [ev.PeerLost]
    assert node.associations()[0].state.value == "lost"
    # Still probed, on the heartbeat period (due at 10); an answer brings it back before
    # the release.
    sent = run_timers(node, 10.5)
    assert [(m.msg_type, m.seq) for m in sent] == [(M.HEARTBEAT_REQUEST, 2)]
    exchange(node, Message(M.HEARTBEAT_RESPONSE, sent[0].seq, [RecoveryTimeStamp(CP_TS)]), 10.5)
    assert [type(e) for e in events(node)] == [ev.PeerRecovered]
    assert handler.recovered == ["smf"]  # (the session handler is told too)
    # Lost again, and this time the graceful release period runs out.
    run_timers(node, 60.0)
    kinds = [type(e) for e in events(node)]
    assert kinds == [ev.PeerLost, ev.AssociationReleased]
    assert node.associations() == []
    assert handler.gone == [("smf", PeerGone.LOST, True)]
    assert node.metrics.peers_lost.get() == 2


def test_peer_restart_purges_per_config():
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    exchange(node, Message(M.HEARTBEAT_REQUEST, 5, [RecoveryTimeStamp(CP_TS + 1)]), 1.0)
    restarted = [e for e in events(node) if isinstance(e, ev.PeerRestarted)]
    assert restarted and not restarted[0].sessions_kept
    assert handler.gone == [("smf", PeerGone.RESTARTED, False)]
    # A new setup with the same Node ID and time stamp replaces the association, and
    # without PFCP Session Retention Information its sessions go (TS 29.244 6.2.6.2.2).
    exchange(node, setup(seq=6, ts=CP_TS + 1), 2.0)
    assert handler.gone == [("smf", PeerGone.RESTARTED, False), ("smf", PeerGone.RELEASED, False)]
    assert events(node)[0] == ev.AssociationEstablished("smf", CP, "cp", True)


def test_up_initiated_setup_retries_until_it_succeeds():
    node = PfcpNode(
        node_id="10.0.0.1",
        config=config(associate_retry_interval=3.0, associate_to=(Endpoint("127.0.0.9", 8805),)),
        recovery_time_stamp=UP_TS,
    )
    node.start(0.0)
    smf = ("127.0.0.9", 8805)
    sent = run_timers(node, 2.0)
    assert [m.seq for m in sent] == [1, 1, 1]  # first try and N1=2 retransmissions
    sent = run_timers(node, 6.0)  # timed out at 3, retried at 6
    assert [m.seq for m in sent] == [2]
    assert [type(e) for e in events(node)] == [ev.AssociationSetupFailed]
    response = Message(
        M.ASSOCIATION_SETUP_RESPONSE,
        2,
        [NodeID.from_text("smf9"), CauseIE(1), RecoveryTimeStamp(CP_TS)],
    )
    assert exchange(node, response, 6.5, smf) == []
    assert node.associations()[0].initiator == "up"
    assert [m.msg_type for m in run_timers(node, 12.0)] == [M.HEARTBEAT_REQUEST]  # no setup


def test_session_requests_without_association_unknown_seid_and_establishment():
    node = make_node()
    deletion = Message(M.SESSION_DELETION_REQUEST, 3, [], seid=77)
    [answer] = exchange(node, deletion, 0.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
    exchange(node, setup(), 0.0)
    [answer] = exchange(node, Message(M.SESSION_DELETION_REQUEST, 4, [], seid=77), 0.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SESSION_CONTEXT_NOT_FOUND)
    assert answer.seid == 0
    [answer] = exchange(
        node, Message(M.SESSION_SET_DELETION_REQUEST, 5, [NodeID.from_text("smf")]), 0
    )
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SERVICE_NOT_SUPPORTED)


def test_handler_errors_become_system_failure_not_a_crash():
    class Broken(NoSessionEngine):
        def handle_request(self, request, peer, local_node_id, now):
            raise RuntimeError("boom")

    node = PfcpNode(
        node_id="10.0.0.1", config=config(), recovery_time_stamp=UP_TS, session_handler=Broken()
    )
    exchange(node, setup(), 0.0)
    [answer] = exchange(node, Message(M.SESSION_MODIFICATION_REQUEST, 2, [], seid=1), 0.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SYSTEM_FAILURE)


def test_send_request_for_the_session_engine_reports_outcome():
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    report = Message(M.SESSION_REPORT_REQUEST, 0, [ReportType.of("USAR")], seid=0x55)
    seq = node.send_request("smf", report, 1.0)
    [tx] = node.datagrams_to_send()
    assert decode(tx.data).seq == seq and tx.addr == CP
    exchange(node, Message(M.SESSION_REPORT_RESPONSE, seq, [CauseIE(1)], seid=0x66), 1.5)
    assert handler.responses[0][0] == M.SESSION_REPORT_REQUEST
    assert handler.responses[0][1] is not None
    assert node.send_request("nobody", report, 2.0) is None


def test_allow_list_and_rate_limit_drop_and_count():
    node = make_node(rate_limit=RateLimitConfig(requests_per_second=1.0, burst=2))
    hb = Message(M.HEARTBEAT_REQUEST, 1, [RecoveryTimeStamp(CP_TS)])
    assert exchange(node, hb, 0.0, ("192.0.2.1", 8805)) == []
    assert node.metrics.dropped.get("not_allowed") == 1
    answered = []
    for seq in range(1, 6):
        hb.seq = seq
        answered += exchange(node, hb, 0.0)
    assert [m.seq for m in answered] == [1, 2]
    assert node.metrics.rate_limited.get() == 3
    hb.seq = 9
    assert len(exchange(node, hb, 1.0)) == 1  # one token back after a second
    node.reconfigure(None, RateLimitConfig(1.0, 2))  # SIGHUP: `any`
    hb.seq = 10
    assert len(exchange(node, hb, 5.0, ("192.0.2.1", 8805))) == 1


def test_undecodable_datagrams():
    node = make_node()
    for data in (b"", b"\x20", b"\x20\x01\x00\x04\x00\x00"):
        node.datagram_received(data, CP, 0.0)
    unknown = bytearray(encode(Message(M.HEARTBEAT_REQUEST, 1, [RecoveryTimeStamp(1)])))
    unknown[1] = 200
    node.datagram_received(bytes(unknown), CP, 0.0)
    assert node.datagrams_to_send() == []
    assert node.metrics.dropped.get("too_short") == 3
    assert node.metrics.dropped.get("unknown_type") == 1
    # A response nobody asked for.
    exchange(node, Message(M.HEARTBEAT_RESPONSE, 12345, [RecoveryTimeStamp(1)]), 0.0)
    assert node.metrics.dropped.get("unmatched_response") == 1


def test_ies_set_aside_are_answered_around_counted_and_reported():
    """TS 29.244 clause 7.6.8/7.6.9: the request is processed without an IE it should not
    carry there, and without an optional IE whose value is incorrect; both are reported."""
    node = make_node()
    request = setup()
    request.ies.append(CauseIE(Cause.REQUEST_ACCEPTED))  # no Cause in a setup request
    data = bytearray(encode(request))
    data += b"\x00\x59\x00\x00"  # CP Function Features (optional) without its octet
    data[2:4] = (len(data) - 4).to_bytes(2, "big")
    node.datagram_received(bytes(data), CP, 0.0)
    [answer] = [decode(t.data) for t in node.datagrams_to_send()]
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    [report] = [e for e in events(node) if isinstance(e, ev.IEsIgnored)]
    assert (report.addr, report.msg_type, report.seq) == (CP, M.ASSOCIATION_SETUP_REQUEST, 1)
    assert report.ignored[0] == "cause: not expected here"
    assert report.ignored[1].startswith("cp_function_features: incorrect, treated as absent")
    assert node.metrics.ies_ignored.get("unexpected") == 1
    assert node.metrics.ies_ignored.get("incorrect") == 1


def test_restored_associations_are_probed_at_start():
    assoc = Association("smf", CP, None, CP_TS, "cp", established_at=0.0)
    record = assoc.to_record(unix_offset=1000.0)
    back = Association.from_record(record, unix_offset=2000.0, now=50.0)
    assert back.established_at == -1000.0 and back.node_id == "smf"
    node = PfcpNode(
        node_id="10.0.0.1", config=config(), recovery_time_stamp=UP_TS, associations=[back]
    )
    node.start(50.0)
    assert node.get_timer() == 50.0
    node.handle_timer(50.0)
    assert decode(node.datagrams_to_send()[0].data).msg_type == M.HEARTBEAT_REQUEST


def test_sequence_numbers_wrap_in_one_series_for_the_node():
    """One series for every peer (29.244 6.4, `SequenceNumbers`): after 0xFFFFFF comes 1,
    and a request to another peer takes the next number, not its own first."""
    from pfcpd.node.transactions import SequenceNumbers

    numbers = SequenceNumbers(first=0xFFFFFF)
    assert [numbers.next(), numbers.next(), numbers.next()] == [0xFFFFFF, 1, 2]
    assert SequenceNumbers(first=1000).next() == 1000
    with pytest.raises(ValueError):
        SequenceNumbers(first=0)
    node = PfcpNode(
        node_id="10.0.0.1", config=config(), recovery_time_stamp=UP_TS, first_seq=0xFFFFFF
    )
    exchange(node, setup(), 0.0)
    exchange(node, setup(node_id="smf-2"), 0.0, ("127.0.0.3", 8805))
    node.handle_timer(5.0)
    sent = sorted((tx.addr, decode(tx.data).seq) for tx in node.datagrams_to_send())
    assert sent == [(CP, 0xFFFFFF), (("127.0.0.3", 8805), 1)]


def test_fqdn_node_id_is_sent_as_dns_labels():
    node = PfcpNode(node_id="upf.example.net", config=config(), recovery_time_stamp=UP_TS)
    [answer] = exchange(node, setup(), 0.0)
    node_id = answer.get(IEType.NODE_ID)
    assert isinstance(node_id, NodeID) and (node_id.kind, node_id.value) == (2, "upf.example.net")
    assert encode(answer).find(b"\x03upf\x07example\x03net") > 0


def test_release_cancels_the_heartbeat_in_flight():
    node = make_node()
    exchange(node, setup(), 0.0)
    assert [m.msg_type for m in run_timers(node, 5.0)] == [M.HEARTBEAT_REQUEST]
    assert node.in_flight == 1
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 2, [NodeID.from_text("smf")])
    [answer] = exchange(node, release, 5.5)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    assert node.in_flight == 0 and run_timers(node, 60.0) == []
    assert node.metrics.timeouts.get("heartbeat_request") == 0


def test_handler_timer_and_requests_through_the_node():
    class Reporter(RecordingHandler):
        """Sends a Session Report at t=3 through the node it is attached to."""

        due: float | None = 3.0

        def attach(self, sender) -> None:
            self.sender = sender

        def get_timer(self) -> float | None:
            return self.due

        def handle_timer(self, now: float) -> None:
            self.due = None
            report = Message(M.SESSION_REPORT_REQUEST, 0, [ReportType.of("USAR")], seid=9)
            self.sender.send_request("smf", report, now)

    handler = Reporter()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    assert node.get_timer() == 3.0
    sent = run_timers(node, 3.0)
    assert [(m.msg_type, m.seid) for m in sent] == [(M.SESSION_REPORT_REQUEST, 9)]
    run_timers(node, 6.0)  # unanswered: retransmitted N1 times, then the handler hears of it
    assert handler.responses == [(M.SESSION_REPORT_REQUEST, None)]


def test_rate_limiter_memory_is_bounded_under_a_many_source_flood():
    from pfcpd.node.rate_limit import RateLimiter

    limiter = RateLimiter(rate=1.0, burst=5, max_peers=100)
    for i in range(20_000):  # all at the same instant: no bucket has refilled
        assert limiter.admit(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 0.0)
        assert len(limiter) <= 100
    # A peer that keeps asking still runs out of tokens.
    assert [limiter.admit("127.0.0.2", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2


def test_messages_are_counted_per_peer_up_to_a_bound():
    """Each peer (source address) has its own series; the totals per type and cause are their
    sums; past PEER_LABELS peers, further ones share peer="other" (bounded series)."""
    from pfcpd.node.node_metrics import OTHER_PEER, PEER_LABELS

    node = make_node()
    hb = Message(M.HEARTBEAT_REQUEST, 1, [RecoveryTimeStamp(CP_TS)])
    peers = [(f"127.0.1.{i}", 8805) for i in range(PEER_LABELS + 3)]
    for peer in peers:
        assert len(exchange(node, hb, 0.0, peer)) == 1
    exchange(node, Message(M.HEARTBEAT_REQUEST, 2, [RecoveryTimeStamp(CP_TS)]), 0.0, peers[0])
    received = node.metrics.peer_received
    sent = node.metrics.peer_sent
    assert received.get(peers[0][0], "heartbeat_request", "none") == 2
    assert received.get(peers[PEER_LABELS - 1][0], "heartbeat_request", "none") == 1
    assert received.get(peers[PEER_LABELS][0], "heartbeat_request", "none") == 0
    assert received.get(OTHER_PEER, "heartbeat_request", "none") == 3
    assert sent.get(OTHER_PEER, "heartbeat_response", "none") == 3
    assert sent.get(peers[0][0], "heartbeat_response", "none") == 2
    assert len({labels[0] for labels in received.values}) == PEER_LABELS + 1
    text = node.metrics.registry.render()
    total = len(peers) + 1
    assert (
        f'\npfcpd_messages_received_total{{cause="none",type="heartbeat_request"}} {total}.0\n'
        in text
    )
    assert (
        f'\npfcpd_messages_sent_total{{cause="none",type="heartbeat_response"}} {total}.0\n' in text
    )


def test_heartbeat_answers_are_the_encoded_response_with_the_request_sequence_number():
    """The Heartbeat Response is copied from octets encoded once: each one is what encoding
    the response afresh gives (its sequence number the request's, the node's current
    Recovery Time Stamp), counted as sent, and cached only for an associated peer."""
    node = make_node()
    stranger = ("127.0.0.9", 8805)
    for seq in (1, 0x123456, 0xFFFFFF):
        request = Message(M.HEARTBEAT_REQUEST, seq, [RecoveryTimeStamp(CP_TS)])
        node.datagram_received(encode(request), stranger, 0.0)
        [tx] = node.datagrams_to_send()
        expected = Message(M.HEARTBEAT_RESPONSE, seq, [RecoveryTimeStamp(UP_TS)])
        assert tx.data == encode(expected)
        assert tx.addr == stranger
    assert len(node._cache) == 0  # (no association: answered afresh when retransmitted)
    sent = node.metrics.peer_sent.get("127.0.0.9", "heartbeat_response", "none")
    assert sent == 3
    assert node.metrics.requests_handled.get("heartbeat_request") == 3

    exchange(node, setup(), 0.0)
    request = encode(Message(M.HEARTBEAT_REQUEST, 77, [RecoveryTimeStamp(CP_TS)]))
    node.datagram_received(request, CP, 1.0)
    [first] = node.datagrams_to_send()
    node.recovery_time_stamp = UP_TS + 1  # (the cached answer still says what was sent)
    node.datagram_received(request, CP, 2.0)
    [again] = node.datagrams_to_send()
    assert again.data == first.data
    assert node.metrics.duplicates.get("heartbeat_request") == 1
    fresh = encode(Message(M.HEARTBEAT_REQUEST, 78, [RecoveryTimeStamp(CP_TS)]))
    node.datagram_received(fresh, CP, 3.0)
    [tx] = node.datagrams_to_send()
    assert decode(tx.data).get(IEType.RECOVERY_TIME_STAMP) == RecoveryTimeStamp(UP_TS + 1)


def test_a_heartbeat_with_a_new_recovery_time_stamp_still_reports_the_restart():
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(), 0.0)
    events(node)
    [answer] = exchange(node, Message(M.HEARTBEAT_REQUEST, 5, [RecoveryTimeStamp(CP_TS + 10)]), 1.0)
    assert answer.msg_type == M.HEARTBEAT_RESPONSE and answer.seq == 5
    assert any(isinstance(e, ev.PeerRestarted) for e in events(node))
    assert handler.gone == [("smf", PeerGone.RESTARTED, False)]


def test_the_timer_is_the_earliest_of_everything_that_waits():
    """get_timer: the first request in flight's retransmission, the response cache's next
    expiry (rounded up to the second), the next heartbeat, the handler's timer."""
    node = make_node(heartbeat_interval=30.0, response_cache_time=20.0)
    assert node.get_timer() is None
    exchange(node, setup(), 0.25)
    # The setup's answer is cached until 20.25 (the timer: 21); the heartbeat is due at 30.25.
    assert node.get_timer() == 21.0
    node.handle_timer(21.0)
    assert node.get_timer() == 30.25
    node.handle_timer(30.25)  # the heartbeat leaves; its retransmission is due after t1
    node.datagrams_to_send()
    assert node.get_timer() == 31.25
    node.stop()
    assert node.get_timer() == 31.25  # (in flight still; no new heartbeat once stopping)

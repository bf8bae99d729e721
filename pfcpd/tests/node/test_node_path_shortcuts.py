"""The per-request shortcuts of the node's path: each gives what the general code gives."""

from __future__ import annotations

import math

from test_node_sans_io import CP, CP_TS, UP_TS, exchange, make_node, setup

from pfcpd.config import RateLimitConfig
from pfcpd.node.allow_list import AllowList
from pfcpd.node.rate_limit import RateLimiter
from pfcpd.pfcp import Cause, IEType, Message, MessageType, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType
STRANGER = ("192.0.2.1", 8805)


def heartbeat(seq: int, ts: int = CP_TS) -> Message:
    return Message(M.HEARTBEAT_REQUEST, seq, [RecoveryTimeStamp(ts)])


def test_a_refused_peer_is_refused_again_from_the_allow_lists_verdicts():
    """The node reads a cached verdict before calling `allows`: a cached refusal (False)
    must not pass for an unknown address."""
    node = make_node()
    for seq in (1, 2, 3):
        assert exchange(node, heartbeat(seq), 0.0, STRANGER) == []
    assert node.allow_list.verdicts == {STRANGER[0]: False}
    assert node.metrics.dropped.get("not_allowed") == 3
    assert len(exchange(node, heartbeat(4), 0.0)) == 1
    assert node.allow_list.verdicts == {STRANGER[0]: False, CP[0]: True}


def test_allow_list_verdicts_are_bounded():
    allow = AllowList(())  # (no networks: refuses every address)
    for i in range(5000):
        assert not allow.allows(f"10.0.{i // 256}.{i % 256}")
    assert 0 < len(allow.verdicts) <= 4096


def test_rate_limiter_caps_a_refilled_bucket_at_the_burst():
    limiter = RateLimiter(rate=1.0, burst=2)
    assert [limiter.admit("a", 0.0) for _ in range(3)] == [True, True, False]
    # 100 s idle: 100 tokens earned, 2 kept.
    assert [limiter.admit("a", 100.0) for _ in range(3)] == [True, True, False]
    assert [limiter.admit("a", 100.5) for _ in range(1)] == [False]  # half a token
    assert limiter.admit("a", 101.0)


def test_rate_limiter_with_an_infinite_rate_admits_everything():
    """inf * 0 (no time elapsed) is NaN: min(burst, NaN) was the burst; so is the
    comparison that replaced it."""
    limiter = RateLimiter(rate=math.inf, burst=1)
    assert all(limiter.admit("a", 5.0) for _ in range(10))


def test_heartbeat_answer_metrics_and_duplicate():
    """The heartbeat's own path (called from datagram_received, answer copied from a
    template) counts and answers as every request does."""
    node = make_node(rate_limit=RateLimitConfig(requests_per_second=1e9, burst=10**9))
    exchange(node, setup(), 0.0)
    metrics = node.metrics
    data = encode(heartbeat(7))
    node.datagram_received(data, CP, 1.0)
    [first] = node.datagrams_to_send()
    assert first.data == encode(Message(M.HEARTBEAT_RESPONSE, 7, [RecoveryTimeStamp(UP_TS)]))
    assert first.addr == CP and first.local is None
    node.datagram_received(data, CP, 2.0)  # a retransmission: the cached octets again
    [again] = node.datagrams_to_send()
    assert again == first
    assert metrics.requests_handled.get("heartbeat_request") == 1
    assert metrics.duplicates.get("heartbeat_request") == 1
    assert metrics.handling_time.count("heartbeat_request") == 1
    # (a duplicate is answered before it is decoded: received counts decoded messages)
    assert metrics.peer_received.get(CP[0], "heartbeat_request", "none") == 1
    assert metrics.peer_sent.get(CP[0], "heartbeat_response", "none") == 2


def test_unassociated_heartbeat_is_answered_counted_and_not_cached():
    node = make_node()
    data = encode(heartbeat(3))
    for now in (1.0, 2.0):
        node.datagram_received(data, CP, now)
        [tx] = node.datagrams_to_send()
        assert tx.data == encode(Message(M.HEARTBEAT_RESPONSE, 3, [RecoveryTimeStamp(UP_TS)]))
    assert node.metrics.requests_handled.get("heartbeat_request") == 2
    assert node.metrics.duplicates.get("heartbeat_request") == 0
    assert node.metrics.handling_time.count("heartbeat_request") == 2
    assert len(node._cache) == 0


def test_session_answer_and_duplicate_count_the_same_labels():
    """`_answer` and a duplicate's answer count under the answer's (type, cause) labels."""
    node = make_node()
    exchange(node, setup(), 0.0)
    request = Message(M.SESSION_DELETION_REQUEST, 9, [], seid=0x77)
    data = encode(request)
    node.datagram_received(data, CP, 1.0)
    [first] = node.datagrams_to_send()
    node.datagram_received(data, CP, 1.5)
    [again] = node.datagrams_to_send()
    assert again == first
    sent = node.metrics.peer_sent.values
    labelled = {k: v for k, v in sent.items() if k[1] == "session_deletion_response"}
    assert list(labelled.values()) == [2.0]
    assert node.metrics.requests_handled.get("session_deletion_request") == 1
    assert node.metrics.duplicates.get("session_deletion_request") == 1
    assert node.metrics.handling_time.count("session_deletion_request") == 1


def deletion_cause(node, seq: int, addr) -> int:
    """The cause of the answer to a Session Deletion Request from ``addr``: 72 without an
    association there, else the handler's (65: no such session)."""
    [answer] = exchange(node, Message(M.SESSION_DELETION_REQUEST, seq, [], seid=7), 1.0, addr)
    return answer.get(IEType.CAUSE).value


def test_the_association_found_at_an_address_follows_association_changes():
    """`_association_at` keeps what it found per address: a release, a second association
    at the same IP (the port must then decide) and a roll-back each make it look again."""
    node = make_node()
    other_port = (CP[0], 9000)
    assert deletion_cause(node, 1, other_port) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    exchange(node, setup(), 0.0)
    # (the only association at that IP answers for any port; found twice: once kept)
    assert deletion_cause(node, 2, other_port) == Cause.SESSION_CONTEXT_NOT_FOUND
    assert deletion_cause(node, 3, other_port) == Cause.SESSION_CONTEXT_NOT_FOUND
    # A second CP at the same IP: port 9000 is neither's.
    exchange(node, setup(1, node_id="smf2"), 0.0, (CP[0], 9001))
    assert deletion_cause(node, 4, other_port) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    assert deletion_cause(node, 5, CP) == Cause.SESSION_CONTEXT_NOT_FOUND
    # The first released: the second is again the only one at that IP.
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 6, [NodeID.from_text("smf")])
    exchange(node, release, 1.0)
    assert deletion_cause(node, 7, other_port) == Cause.SESSION_CONTEXT_NOT_FOUND
    # Rolled back to no association at all.
    node.roll_back([], [])
    assert deletion_cause(node, 8, other_port) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    assert deletion_cause(node, 9, (CP[0], 9001)) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION


def test_a_heartbeat_after_the_release_is_not_taken_for_the_associations():
    """A heartbeat checks the recovery time stamp of the association at its address: after
    the release a new time stamp restarts nothing (and its answer is not cached)."""
    node = make_node()
    exchange(node, setup(), 0.0)
    exchange(node, heartbeat(2), 0.5)
    exchange(node, Message(M.ASSOCIATION_RELEASE_REQUEST, 3, [NodeID.from_text("smf")]), 1.0)
    while node.next_event() is not None:
        pass
    exchange(node, heartbeat(4, CP_TS + 1), 2.0)
    assert node.next_event() is None  # (no PeerRestarted)
    assert node.metrics.peer_restarts.get() == 0
    assert len(node._cache) == 3  # the setup, the first heartbeat, the release: not the last


def test_the_associations_kept_per_address_are_bounded_and_none_is_not_kept():
    node = make_node()
    for port in range(2000, 2005):  # (no association yet: nothing kept)
        assert deletion_cause(node, port, (CP[0], port)) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    assert len(node._association_at) == 0
    exchange(node, setup(), 0.0)
    for port in range(3000, 4500):  # (every port of the CP's address: the one association)
        assert node._association_at[(CP[0], port)] is node.associations()[0]
    assert 0 < len(node._association_at) <= 1024


def test_counts_and_observations_by_a_prebuilt_key_are_those_by_labels():
    node = make_node()
    counter = node.metrics.requests_handled
    counter.inc("heartbeat_request")
    counter.inc_key(("heartbeat_request",))
    counter.inc_key(("session_deletion_request",))
    assert counter.get("heartbeat_request") == 2
    assert counter.values == {("heartbeat_request",): 2.0, ("session_deletion_request",): 1.0}
    histogram = node.metrics.handling_time
    histogram.observe(0.5, "heartbeat_request")
    histogram.observe_key(0.5, ("heartbeat_request",))
    histogram.observe_key(2.0, ("session_deletion_request",))
    assert histogram.count("heartbeat_request") == 2
    assert histogram.series[("heartbeat_request",)][-1] == 1.0  # (the sum)
    assert histogram.count("session_deletion_request") == 1

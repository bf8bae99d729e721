"""Association life cycle details of the sans-IO node (TS 29.244 5.8, 6.2.2, 6.2.6):
replacement of an association, UP-initiated setup to names, heartbeat period, response cache
scope, and the mandatory IEs of every answer the node gives."""

from __future__ import annotations

import pytest
from sample_messages import all_samples
from test_node_sans_io import (
    CP,
    CP_TS,
    M,
    RecordingHandler,
    events,
    exchange,
    make_node,
    setup,
)

from pfcpd.config import Endpoint
from pfcpd.node import PfcpNode
from pfcpd.node import events as ev
from pfcpd.node.session_handler import PeerGone
from pfcpd.pfcp import MANDATORY_IES, Cause, IEType, Message, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_flags import CPFunctionFeatures
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
from pfcpd.pfcp.message_types import REQUEST_TYPES, RESPONSE_TO

UP_TS = 3_950_000_000


def drive(node: PfcpNode, until: float) -> list[tuple[Message, tuple[str, int]]]:
    """Run the node's timers up to ``until``; what it sent, with the destination."""
    sent = []
    while (t := node.get_timer()) is not None and t <= until:
        node.handle_timer(t)
        sent += [(decode(x.data), x.addr) for x in node.datagrams_to_send()]
    return sent


def accept(seq: int, node_id: str = "smf9") -> Message:
    return Message(
        M.ASSOCIATION_SETUP_RESPONSE,
        seq,
        [NodeID.from_text(node_id), CauseIE(Cause.REQUEST_ACCEPTED), RecoveryTimeStamp(CP_TS)],
    )


# -- one association per CP -------------------------------------------------------------------


def test_setup_with_another_node_id_from_the_same_address_retires_the_old_association():
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(seq=1, node_id="smf-old"), 0.0)
    events(node)
    [answer] = exchange(node, setup(seq=2, node_id="smf-new"), 1.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    assert [a.node_id for a in node.associations()] == ["smf-new"]
    assert handler.gone == [("smf-old", PeerGone.RELEASED, False)]
    released = [e for e in events(node) if isinstance(e, ev.AssociationReleased)]
    assert released == [ev.AssociationReleased("smf-old", CP, "replaced")]
    assert node.metrics.associations_released.get("replaced") == 1
    # Another CP on the same host (another port) is another association: left alone.
    exchange(node, setup(seq=3, node_id="smf-other"), 2.0, (CP[0], 9999))
    assert sorted(a.node_id for a in node.associations()) == ["smf-new", "smf-other"]
    assert len(handler.gone) == 1


def test_up_initiated_target_is_not_set_up_again_when_the_smf_set_one_up_itself():
    smf = ("127.0.0.9", 8805)
    node = make_node(associate_retry_interval=3.0, associate_to=(Endpoint(*smf),))
    [(request, to)] = drive(node, 0.0)
    assert request.msg_type == M.ASSOCIATION_SETUP_REQUEST and to == smf
    exchange(node, accept(request.seq), 0.1, smf)
    # The SMF then sets the association up from its own (ephemeral) port, same Node ID.
    exchange(node, setup(seq=50, node_id="smf9"), 1.0, ("127.0.0.9", 40000))
    assert [a.addr for a in node.associations()] == [("127.0.0.9", 40000)]
    sent = drive(node, 8.0)  # retries are due every 3 s; the association lives until 9
    assert M.ASSOCIATION_SETUP_REQUEST not in [m.msg_type for m, _ in sent]


def test_associate_to_a_name_is_resolved_before_each_attempt():
    node = make_node(
        associate_retry_interval=3.0,
        associate_to=(Endpoint("smf.localhost", 8805),),
    )
    assert drive(node, 0.0) == []
    assert node.resolutions_wanted() == [("smf.localhost", 8805)]
    assert node.get_timer() is None  # waiting for the resolver, nothing else to do
    node.resolved("smf.localhost", 8805, [], 0.2, "Name or service not known")
    [failed] = events(node)
    assert isinstance(failed, ev.AssociationSetupFailed) and "not known" in failed.reason
    assert node.get_timer() == pytest.approx(3.2)
    drive(node, 3.2)
    assert node.resolutions_wanted() == [("smf.localhost", 8805)]
    # Addresses outside the allow-list are skipped; the first admitted one is used.
    node.resolved("smf.localhost", 8805, ["192.0.2.7", "127.0.0.9"], 3.3)
    [tx] = node.datagrams_to_send()
    request = decode(tx.data)
    assert request.msg_type == M.ASSOCIATION_SETUP_REQUEST and tx.addr == ("127.0.0.9", 8805)
    exchange(node, accept(request.seq), 3.4, ("127.0.0.9", 8805))
    [assoc] = node.associations()
    assert (assoc.node_id, assoc.addr, assoc.initiator) == ("smf9", ("127.0.0.9", 8805), "up")
    drive(node, 11.0)  # (unanswered heartbeats would end it at 11.4)
    assert node.resolutions_wanted() == []  # associated: no more attempts


def test_associate_to_a_name_outside_the_allow_list_fails_clearly():
    node = make_node(associate_to=(Endpoint("smf.localhost", 8805),))
    drive(node, 0.0)
    assert node.resolutions_wanted() == [("smf.localhost", 8805)]
    node.resolved("smf.localhost", 8805, ["192.0.2.7"], 0.1)
    assert node.datagrams_to_send() == []
    [failed] = events(node)
    assert isinstance(failed, ev.AssociationSetupFailed)
    assert "192.0.2.7" in failed.reason and "allowed_peers" in failed.reason


# -- heartbeats --------------------------------------------------------------------------------


def test_heartbeats_keep_their_period_whatever_the_round_trip():
    node = make_node(heartbeat_interval=5.0)
    exchange(node, setup(), 0.0)
    due = []
    for _ in range(4):
        at = node.get_timer()
        assert at is not None
        [(hb, _)] = drive(node, at)
        due.append(at)
        # The CP answers 0.4 s later each time.
        exchange(node, Message(M.HEARTBEAT_RESPONSE, hb.seq, [RecoveryTimeStamp(CP_TS)]), at + 0.4)
    assert due == [5.0, 10.0, 15.0, 20.0]


# -- response cache ----------------------------------------------------------------------------


def test_answers_to_never_associated_peers_are_not_cached():
    node = make_node()
    for i in range(200):
        peer = (f"127.1.{i // 250}.{i % 250 + 1}", 8805)
        heartbeat = Message(M.HEARTBEAT_REQUEST, i + 1, [RecoveryTimeStamp(CP_TS)])
        assert len(exchange(node, heartbeat, 0.0, peer)) == 1
        deletion = Message(M.SESSION_DELETION_REQUEST, i + 1000, [], seid=5)
        [answer] = exchange(node, deletion, 0.0, peer)
        assert answer.get(IEType.CAUSE) == CauseIE(Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
    assert len(node._cache) == 0
    # A retransmitted heartbeat still gets the same octets (nothing in it varies).
    hb = encode(Message(M.HEARTBEAT_REQUEST, 7, [RecoveryTimeStamp(CP_TS)]))
    node.datagram_received(hb, ("127.3.0.1", 8805), 1.0)
    node.datagram_received(hb, ("127.3.0.1", 8805), 1.1)
    first, second = node.datagrams_to_send()
    assert first.data == second.data
    # An association setup, and what an associated peer asks, are cached.
    exchange(node, setup(seq=1), 2.0)
    exchange(node, Message(M.HEARTBEAT_REQUEST, 2, [RecoveryTimeStamp(CP_TS)]), 2.0)
    assert len(node._cache) == 2


def test_a_release_from_another_port_of_the_cp_is_answered_once():
    """A CP may release from another port than it set up from: its retransmission gets the
    same 'accepted' again, not a second processing that would say 72."""
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(seq=1, node_id="smf.example"), 0.0)
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 9, [NodeID.from_text("smf.example")])
    other_port = (CP[0], 9999)
    [first] = exchange(node, release, 1.0, other_port)
    [again] = exchange(node, release, 1.5, other_port)
    assert first.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    assert encode(again) == encode(first)
    assert node.metrics.requests_handled.get("association_release_request") == 1
    assert handler.gone == [("smf.example", PeerGone.RELEASED, False)]


@pytest.mark.parametrize(
    "request_type", [M.ASSOCIATION_UPDATE_REQUEST, M.ASSOCIATION_RELEASE_REQUEST]
)
def test_another_host_cannot_update_or_release_an_association_by_naming_its_node_id(
    request_type,
):
    """An allowed host that names another CP's Node ID gets 72 (no association of its own)
    and changes nothing: neither the association nor its sessions."""
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(seq=1, node_id="smf.example"), 0.0)
    events(node)
    node.state_dirty = False  # (the driver wrote the setup)
    ies: list = [NodeID.from_text("smf.example")]
    if request_type == M.ASSOCIATION_UPDATE_REQUEST:
        ies.append(CPFunctionFeatures.of("LOAD"))
    [answer] = exchange(node, Message(request_type, 9, ies), 1.0, ("127.0.0.3", CP[1]))
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
    [assoc] = node.associations()
    assert (assoc.node_id, assoc.addr, assoc.cp_features) == ("smf.example", CP, 0)
    assert handler.gone == [] and not node.state_dirty
    [rejected] = [e for e in events(node) if isinstance(e, ev.RequestRejected)]
    assert rejected.addr[0] == "127.0.0.3" and "smf.example" in rejected.detail
    # The association's own peer still can.
    [answer] = exchange(node, Message(request_type, 10, ies), 2.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)


def test_setups_beyond_max_associations_get_no_resources_available():
    node = make_node(max_associations=2)
    for i, name in enumerate(("smf-a", "smf-b")):
        [ok] = exchange(node, setup(seq=1, node_id=name), 0.0, (CP[0], 1000 + i))
        assert ok.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
    [refused] = exchange(node, setup(seq=1, node_id="smf-c"), 0.0, (CP[0], 1002))
    assert refused.get(IEType.CAUSE) == CauseIE(Cause.NO_RESOURCES_AVAILABLE)
    assert MANDATORY_IES[refused.msg_type] <= {ie.type for ie in refused.ies}
    assert sorted(a.node_id for a in node.associations()) == ["smf-a", "smf-b"]
    # A known CP setting its association up again, or a new Node ID from a known address
    # (replacing that association), still gets in.
    [again] = exchange(node, setup(seq=2, node_id="smf-a"), 1.0, (CP[0], 1000))
    [renamed] = exchange(node, setup(seq=2, node_id="smf-b2"), 1.0, (CP[0], 1001))
    assert {cause for cause in (again.get(IEType.CAUSE), renamed.get(IEType.CAUSE))} == {
        CauseIE(Cause.REQUEST_ACCEPTED)
    }
    assert sorted(a.node_id for a in node.associations()) == ["smf-a", "smf-b2"]


@pytest.mark.parametrize(
    ("configured", "coded"),
    [(0, None), (0.4, 2), (60, 60), (61, 62), (90, 120), (5000, 5400), (7200, 7200), (10**7, None)],
)
def test_graceful_release_period_is_coded_to_at_least_the_configured_time(configured, coded):
    node = make_node(graceful_release_period=float(configured))
    exchange(node, setup(), 0.0)
    assert node.request_release("smf", 1.0)
    [tx] = node.datagrams_to_send()
    update = decode(tx.data)
    grace = update.get(IEType.GRACEFUL_RELEASE_PERIOD)
    if configured == 0:
        assert grace is None
    else:
        assert grace is not None and grace.seconds == coded  # type: ignore[attr-defined]


# -- mandatory IEs of every answer ---------------------------------------------------------------


@pytest.mark.parametrize("associated", [False, True])
@pytest.mark.parametrize("request_type", sorted(REQUEST_TYPES))
def test_every_answer_carries_the_mandatory_ies_of_its_type(request_type, associated):
    """Whatever the node answers (accepted, refused, no association, unknown SEID, not
    supported), the answer holds every IE its type marks mandatory (MANDATORY_IES)."""
    [request] = [m for m in all_samples() if m.msg_type == request_type][:1]
    node = make_node()
    if associated and request_type != M.ASSOCIATION_SETUP_REQUEST:
        exchange(node, setup(seq=1, node_id="127.0.0.2"), 0.0)
    for broken in (False, True):
        msg = Message(request.msg_type, 40 + broken, list(request.ies), request.seid)
        if broken:  # a mandatory IE missing: the codec's cause, from the error path
            if not MANDATORY_IES[request_type] or request_type == M.HEARTBEAT_REQUEST:
                continue
            gone = min(MANDATORY_IES[request_type])
            msg.ies = [ie for ie in msg.ies if ie.type != gone]
        answers = exchange(node, msg, 1.0)
        assert len(answers) == 1, f"{msg.name} (broken={broken}) got {answers}"
        answer = answers[0]
        assert answer.msg_type == RESPONSE_TO[request_type] and answer.seq == msg.seq
        missing = MANDATORY_IES[answer.msg_type] - {ie.type for ie in answer.ies}
        assert not missing, f"{answer.name} lacks mandatory IE(s) {sorted(missing)}"
        assert (answer.seid is not None) == (answer.msg_type >= 50)


def test_a_heartbeat_from_an_unknown_port_of_a_shared_host_restarts_no_association():
    """Two CPs on one host: a heartbeat with a new Recovery Time Stamp from a third port
    cannot be pinned on either, so neither one's sessions are purged; from a CP's own port it
    is its restart."""
    handler = RecordingHandler()
    node = make_node(handler)
    exchange(node, setup(seq=1, node_id="smf-a"), 0.0, (CP[0], 1001))
    exchange(node, setup(seq=1, node_id="smf-b"), 0.0, (CP[0], 1002))
    heartbeat = Message(M.HEARTBEAT_REQUEST, 5, [RecoveryTimeStamp(CP_TS + 99)])
    assert len(exchange(node, heartbeat, 1.0, (CP[0], 1003))) == 1
    assert handler.gone == []
    exchange(node, heartbeat, 1.0, (CP[0], 1002))
    assert handler.gone == [("smf-b", PeerGone.RESTARTED, False)]
    # With one association on the host, another port of it is that CP.
    lone = RecordingHandler()
    node = make_node(lone)
    exchange(node, setup(seq=1, node_id="smf-a"), 0.0, (CP[0], 1001))
    exchange(node, heartbeat, 1.0, (CP[0], 8805))
    assert lone.gone == [("smf-a", PeerGone.RESTARTED, False)]

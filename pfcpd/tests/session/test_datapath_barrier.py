"""The datapath's barrier in the group commit (`Datapath.settle`): a datapath that takes
installs as the vpp datapath does when pipelined (sent at once, acknowledged later) has the
changes it refused undone and answered 77 System failure, each alone; the other changes of
the batch are confirmed; changes of one session reach the datapath in their order."""

from __future__ import annotations

from pipelined_datapath import Pipelined
from session_harness import CP, Harness, cause, created, establishment, standard_rules, up_seid

from pfcpd.datapath.interface import SessionProgram
from pfcpd.pfcp import IEType, Message, MessageType, encode
from pfcpd.smfsim import rules

T = IEType
M = MessageType


def _pipe(h: Harness) -> Pipelined:
    assert isinstance(h.dp, Pipelined)
    return h.dp


def _peer_of(program: SessionProgram) -> str:
    """The outer header creation peer of the DL FAR (FAR 2)."""
    far = next(f for f in program.fars if f.far_id == 2)
    return str(far.outer_header_creation[0]) if far.outer_header_creation else ""


def test_a_refused_change_is_answered_77_alone_and_leaves_no_state(hp: Harness) -> None:
    h, dp = hp, _pipe(hp)
    kept = up_seid(h.establish(cp_seid=0xA))
    records = dict(h.journal.records)
    pools, teids = h.engine.ue_pools.usage(), h.engine.teids.in_use
    settles = dp.settles
    refused = h.engine._next_seid + 1  # the second establishment of the batch
    dp.refuse = lambda seid, program: seid == refused

    h.send(establishment(*standard_rules(), cp_seid=0xB), 300)
    bad = h.send(establishment(*standard_rules(), cp_seid=0xC), 301)
    update = rules.update_dl_far(2, 0x999, "192.0.2.77")
    h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], kept), 302)
    answers = h._collect()

    assert [(a.seq, cause(a)) for a in answers] == [(300, 1), (301, 77), (302, 1)]
    assert [a.seid for a in answers] == [0xB, 0xC, 0xA]  # (the CP's SEIDs)
    assert dp.settles > settles  # the barrier ran before the answers left
    new = up_seid(answers[0])
    assert sorted(h.engine.sessions) == sorted([kept, new]) and refused not in h.engine.sessions
    assert sorted(dp.inner._programs) == sorted([kept, new])
    # The refused session holds nothing: one UE address and its TEID more, for the new one.
    assert h.engine.teids.in_use == teids + 1
    assert sum(h.engine.ue_pools.usage().values()) == sum(pools.values()) + 1
    assert sorted(h.journal.records) == sorted([*records, f"s:{new:x}"])
    assert f"s:{refused:x}" not in h.journal.records
    assert h.engine.metrics.requests.get("session_establishment_response", "system_failure") == 1
    # The modification of the other session is in the datapath and the journal.
    assert _peer_of(dp.applied[-1][1]) == "192.0.2.77" and dp.applied[-1][0] == kept
    assert h.journal.records[f"s:{kept:x}"] != records[f"s:{kept:x}"]
    # The retransmission is handled afresh (not from the response cache) once accepted.
    dp.refuse = lambda seid, program: False
    h.node.datagram_received(encode(bad), CP, h.now)
    (again,) = h._collect()
    assert cause(again) == 1 and len(h.engine.sessions) == 3


def test_a_refused_modification_leaves_the_session_as_before(hp: Harness) -> None:
    h, dp = hp, _pipe(hp)
    seid = up_seid(h.establish(cp_seid=0xA))
    program = dp.inner._programs[seid].tunnels
    record = h.journal.records[f"s:{seid:x}"]
    dp.refuse = lambda s, p: _peer_of(p) == "192.0.2.70"
    update = rules.update_dl_far(2, 0x900, "192.0.2.70")
    assert cause(h.modify(seid, update)) == 77
    assert dp.inner._programs[seid].tunnels == program
    assert h.journal.records[f"s:{seid:x}"] == record
    dp.refuse = lambda s, p: False
    assert cause(h.modify(seid, update)) == 1
    assert _peer_of(dp.applied[-1][1]) == "192.0.2.70"


def test_changes_of_one_session_reach_the_datapath_in_their_order(hp: Harness) -> None:
    h, dp = hp, _pipe(hp)
    seid = up_seid(h.establish(cp_seid=0xA))
    start = len(dp.applied)
    peers = [f"192.0.2.{70 + i}" for i in range(4)]
    for i, peer in enumerate(peers):
        update = rules.update_dl_far(2, 0x900 + i, peer)
        h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], seid), 400 + i)
    assert dp.queue  # (sent, not acknowledged yet: nothing applied before the barrier)
    assert [cause(a) for a in h._collect()] == [1, 1, 1, 1]
    assert [(s, _peer_of(p)) for s, p in dp.applied[start:]] == [(seid, p) for p in peers]


def test_a_refusal_rolls_back_every_change_of_its_session_in_the_batch(hp: Harness) -> None:
    """Two modifications of one session, the second refused: the session's changes of the
    batch are undone together (the first built on nothing the datapath holds for sure),
    a change of another session is not."""
    h, dp = hp, _pipe(hp)
    seid = up_seid(h.establish(cp_seid=0xA))
    other = up_seid(h.establish(cp_seid=0xB))
    tunnels = dp.inner._programs[seid].tunnels
    record = h.journal.records[f"s:{seid:x}"]
    dp.refuse = lambda s, p: _peer_of(p) == "192.0.2.71"
    for i, peer in enumerate(("192.0.2.70", "192.0.2.71")):
        update = rules.update_dl_far(2, 0x900 + i, peer)
        h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], seid), 500 + i)
    update = rules.update_dl_far(2, 0x990, "192.0.2.99")
    h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], other), 502)
    assert [cause(a) for a in h._collect()] == [77, 77, 1]
    assert dp.inner._programs[seid].tunnels == tunnels
    assert h.journal.records[f"s:{seid:x}"] == record
    assert (other, "192.0.2.99") in [(s, _peer_of(p)) for s, p in dp.applied]


def test_an_establishment_refused_then_deleted_in_the_same_batch(hp: Harness) -> None:
    """The deletion of a session whose establishment the datapath refuses (same batch): both
    answered 77, nothing left, its allocations freed once."""
    h, dp = hp, _pipe(hp)
    teids, pools = h.engine.teids.in_use, h.engine.ue_pools.usage()
    seid = h.engine._next_seid
    dp.refuse = lambda s, p: s == seid
    h.send(establishment(*standard_rules(), cp_seid=0xA), 600)
    h.send(Message(M.SESSION_DELETION_REQUEST, 0, [], seid), 601)
    answers = h._collect()
    assert [cause(a) for a in answers] == [77, 77]
    assert h.engine.sessions == {} and dp.inner._programs == {}
    assert h.engine.teids.in_use == teids and h.engine.ue_pools.usage() == pools
    assert h.records.keys() <= {"pfd"}
    dp.refuse = lambda s, p: False
    resp = h.establish(cp_seid=0xA)
    assert cause(resp) == 1 and created(resp)

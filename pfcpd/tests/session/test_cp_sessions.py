"""A CP's sessions taken from the CP index (`EngineState._cp_seids`): the loss, restart or
release of a CP's association and its Session Set Deletion delete exactly its sessions (of
the FQ-CSIDs named), whatever moved them between CPs, after a restart too, in the order of
the engine's sessions; a move undone never leaves a session out of the index or an entry
without its session, and an index that does not number the sessions is not trusted."""

from __future__ import annotations

import ipaddress

import pytest
from pipelined_datapath import Pipelined
from session_harness import CP, Harness, cause, establishment, restarted, standard_rules, up_seid
from test_cp_index import _move_csid_7, _refuse, _refuse_once, check_index
from test_pfd_and_sets import SMF2, _associate, fq_csid

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer, PeerGone
from pfcpd.pfcp import Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import IE
from pfcpd.session.engine import SessionEngine

M = MessageType
SMF3 = ("127.0.0.4", 8805)
NODES = {CP: "smf", SMF2: "smf2", SMF3: "smf3"}


def establish(
    h: Harness, addr: tuple[str, int], cp_seid: int, *ies: IE, at: str | None = None
) -> int:
    """A session of the CP at ``addr`` with CP F-SEID ``cp_seid`` at that address (or at
    ``at``) and ``ies``: its UP SEID."""
    h.seq += 1
    req = establishment(*standard_rules(), cp_seid=cp_seid, seq=h.seq)
    req.ies[0] = A.NodeID.from_text(NODES[addr])
    req.ies[1] = A.FSEID(cp_seid, at or addr[0])
    req.ies += list(ies)
    h.node.datagram_received(encode(req), addr, h.now)
    (resp,) = h._collect()
    assert cause(resp) == 1
    return up_seid(resp)


def from_cp(h: Harness, addr: tuple[str, int], msg: Message) -> Message:
    """``msg`` from the CP at ``addr``; its answer."""
    h.seq += 1
    msg.seq = h.seq
    h.node.datagram_received(encode(msg), addr, h.now)
    (resp,) = h._collect()
    return resp


def set_deletion(node: str, *ies: IE) -> Message:
    return Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text(node), *ies])


def two_cps(h: Harness) -> tuple[list[int], list[int]]:
    """Sessions of smf and smf2 established in turn (UP SEIDs 1 to 6): each CP's CP SEIDs
    are the other's UP SEIDs, both use FQ-CSIDs 7 and 8 of the same node. smf's sessions
    and smf2's, with FQ-CSIDs 7, 8, 7 each."""
    _associate(h, SMF2, "smf2")
    smf, smf2 = [], []
    for i, csid in enumerate((7, 8, 7)):
        smf.append(establish(h, CP, 2 * i + 2, fq_csid(csid)))
        smf2.append(establish(h, SMF2, 2 * i + 1, fq_csid(csid)))
    assert (smf, smf2) == ([1, 3, 5], [2, 4, 6])
    assert h.engine._by_cp == {"smf": {2: 1, 4: 3, 6: 5}, "smf2": {1: 2, 3: 4, 5: 6}}
    return smf, smf2


def check_left(h: Harness, left: list[int]) -> None:
    """Exactly the sessions ``left`` are in the engine, the datapath and the journal, and
    hold allocations (one TEID and one UE address each): the others' were freed. The index
    is the sessions', in their order, and was taken as it is."""
    engine = h.engine
    assert sorted(engine.sessions) == sorted(left)
    assert sorted(h.dp._programs) == sorted(left)
    assert sorted(h.records) == sorted(f"s:{seid:x}" for seid in left)
    assert engine.teids.in_use == len(left)
    assert sum(engine.ue_pools.usage().values()) == len(left)
    check_order(engine)
    assert engine.metrics.errors.get("cp_index") == 0  # (the index trusted: `_cp_seids`)


def check_order(engine: SessionEngine) -> None:
    """The index is the sessions', each CP's entries in the order of `sessions`."""
    check_index(engine)
    for node, by_seid in engine._by_cp.items():
        mine = [seid for seid, s in engine.sessions.items() if s.cp_node_id == node]
        assert list(by_seid.values()) == mine


def lose(h: Harness, addr: tuple[str, int], how: PeerGone) -> None:
    """The CP at ``addr`` released its association, restarted, or was lost."""
    node = NODES[addr]
    if how is PeerGone.RELEASED:
        release = Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text(node)])
        assert cause(from_cp(h, addr, release)) == 1
    elif how is PeerGone.RESTARTED:  # (a new Recovery Time Stamp in a heartbeat)
        heartbeat = Message(M.HEARTBEAT_REQUEST, 0, [S.RecoveryTimeStamp(7)])
        assert from_cp(h, addr, heartbeat).msg_type == M.HEARTBEAT_RESPONSE
    else:
        h.engine.peer_gone(Peer(node, addr), PeerGone.LOST, False, h.now)
        assert h._collect() == []  # (the node commits)


@pytest.mark.parametrize("how", list(PeerGone))
def test_a_cp_gone_takes_exactly_its_sessions(h: Harness, how: PeerGone) -> None:
    """Each CP's CP SEIDs are the other's UP SEIDs: taking the index's keys for UP SEIDs,
    or another CP's entries, deletes the wrong sessions."""
    smf, _ = two_cps(h)
    lose(h, SMF2, how)
    check_left(h, smf)
    assert h.engine.metrics.deleted.get(f"peer_{how.value}") == 3
    lose(h, CP, how)
    check_left(h, [])
    assert h.engine._by_cp == {}


@pytest.mark.parametrize("how", [*PeerGone, "set_deletion"])
def test_a_cps_sessions_of_one_seid_at_several_addresses_all_go(
    h: Harness, how: PeerGone | str
) -> None:
    """TS 29.244 5.6.2 (a SEID names a session at an IP address of the CP): smf's sessions
    of CP F-SEIDs (5, 127.0.0.2), (5, 127.0.0.7), (6, 127.0.0.2), (5, 127.0.0.7) again
    deleted and its F-SEID taken by a fourth; smf2's (5, 127.0.0.3). The loss, restart or
    release of smf's association (5.4.13, 6.2.6.3) or its Session Set Deletion naming no
    FQ-CSID (7.4.6) takes exactly smf's three, in the engine's order, after a restart
    too; smf2's stays."""
    _associate(h, SMF2, "smf2")
    first = establish(h, CP, 5)
    gone = establish(h, CP, 5, at="127.0.0.7")
    theirs = establish(h, SMF2, 5)
    third = establish(h, CP, 6)
    assert cause(h.delete(gone)) == 1
    again = establish(h, CP, 5, at="127.0.0.7")
    smf = [first, third, again]
    assert h.engine._cp_seids("smf") == smf
    check_left(h, [*smf, theirs])
    with restarted(h, 4) as engine:
        assert engine._cp_seids("smf") == smf and engine._cp_seids("smf2") == [theirs]
        check_order(engine)
    if how == "set_deletion":
        assert cause(h.request(set_deletion("smf"))) == 1
        assert h.engine.metrics.deleted.get("session_set") == 3
    else:
        assert isinstance(how, PeerGone)
        lose(h, CP, how)
        assert h.engine.metrics.deleted.get(f"peer_{how.value}") == 3
    check_left(h, [theirs])


@pytest.mark.parametrize("named", [(), (7,), (8, 9)])
def test_session_set_deletion_takes_the_requesting_cps_sessions(
    h: Harness, named: tuple[int, ...]
) -> None:
    """smf2's Session Set Deletion: its sessions of the FQ-CSIDs named (all of them when
    it names none), never smf's of the same FQ-CSIDs."""
    smf, smf2 = two_cps(h)
    gone = {(): smf2, (7,): [smf2[0], smf2[2]], (8, 9): [smf2[1]]}[named]
    ies = [fq_csid(*named)] if named else []
    assert cause(from_cp(h, SMF2, set_deletion("smf2", *ies))) == 1
    check_left(h, [s for s in smf + smf2 if s not in gone])
    assert h.engine.metrics.deleted.get("session_set") == len(gone)


def test_moved_sessions_go_with_their_new_cp(h: Harness) -> None:
    """A Session Set Modification gives smf's sessions of FQ-CSID 7 to smf2, a Session
    Modification gives one of smf's a new FQ-CSID and a new CP F-SEID (it stays smf's,
    under the new SEID): each CP's set deletion and loss take the sessions that are its
    own now."""
    smf, smf2 = two_cps(h)
    assert cause(h.request(_move_csid_7())) == 1
    moved = [smf[0], smf[2]]
    assert [h.engine.sessions[s].cp_node_id for s in moved] == ["smf2", "smf2"]
    assert h.engine._by_cp == {"smf": {4: 3}, "smf2": {1: 2, 2: 1, 3: 4, 5: 6, 6: 5}}
    check_index(h.engine)
    assert cause(h.modify(smf[1], fq_csid(9), A.FSEID(0x77, "127.0.0.9"))) == 1
    assert h.engine.sessions[smf[1]].cp_seid == 0x77
    assert h.engine._by_cp["smf"] == {0x77: smf[1]}
    check_index(h.engine)
    # smf names FQ-CSID 7: its sessions of it went to smf2, none is deleted.
    assert cause(h.request(set_deletion("smf", fq_csid(7)))) == 1
    check_left(h, smf + smf2)
    assert cause(h.request(set_deletion("smf", fq_csid(9)))) == 1
    check_left(h, moved + smf2)
    assert cause(from_cp(h, SMF2, set_deletion("smf2", fq_csid(7)))) == 1
    check_left(h, [smf2[1]])
    lose(h, SMF2, PeerGone.LOST)
    check_left(h, [])


def test_a_cp_gone_after_a_move_takes_the_moved_sessions(h: Harness) -> None:
    smf, smf2 = two_cps(h)
    assert cause(h.request(_move_csid_7())) == 1
    lose(h, CP, PeerGone.LOST)
    check_left(h, [smf[0], smf[2], *smf2])
    lose(h, SMF2, PeerGone.RELEASED)
    check_left(h, [])


def _engine_peer(engine: SessionEngine, addr: tuple[str, int], how: PeerGone) -> None:
    engine.peer_gone(Peer(NODES[addr], addr), how, False, 0.0)
    engine.commit()


def test_restored_sessions_are_their_cps(h: Harness) -> None:
    """After a restart the restored sessions, a moved one among them, are deleted with
    their CPs: by Session Set Deletion (by FQ-CSID, then all) and by the loss of the CP."""
    smf, smf2 = two_cps(h)
    assert cause(h.request(_move_csid_7())) == 1
    with restarted(h, 6) as engine:
        check_index(engine)
        node = A.NodeID.from_text("127.0.0.1")
        req = set_deletion("smf2", fq_csid(7))
        answer = engine.handle_request(req, Peer("smf2", SMF2), node, 0.0)
        assert cause(answer) == 1 and engine.commit() == []
        assert sorted(engine.sessions) == sorted([smf[1], smf2[1]])
        _engine_peer(engine, CP, PeerGone.RESTARTED)
        assert sorted(engine.sessions) == [smf2[1]]
        check_index(engine)
        answer = engine.handle_request(set_deletion("smf2"), Peer("smf2", SMF2), node, 0.0)
        assert cause(answer) == 1 and engine.commit() == []
        assert engine.sessions == {} and engine._by_cp == {}
        assert engine.teids.in_use == 0 and sum(engine.ue_pools.usage().values()) == 0


def _ue(h: Harness, seid: int) -> str:
    ((_, net),) = h.engine.sessions[seid].ue
    return net


@pytest.mark.parametrize("by", ["set_deletion", "peer_lost"])
def test_sessions_are_deleted_in_the_engines_order(h: Harness, by: str) -> None:
    """A moved session's index entry is added last where the engine's sessions keep its
    place: its CP's sessions are still deleted in the engine's order (main's), which the
    UE addresses handed out again follow (oldest freed first, once none is left unused)."""
    _associate(h, SMF2, "smf2")
    a = establish(h, CP, 1, fq_csid(7))
    c = establish(h, SMF2, 2)
    freed = [_ue(h, a), _ue(h, c)]
    assert cause(h.request(_move_csid_7())) == 1
    assert list(h.engine._by_cp["smf2"].values()) == [a, c]  # (the engine's order)
    if by == "set_deletion":
        assert cause(from_cp(h, SMF2, set_deletion("smf2"))) == 1
    else:
        lose(h, SMF2, PeerGone.LOST)
    check_left(h, [])
    fresh = [establish(h, CP, 10 + i) for i in range(4)]  # (the pool's unused addresses)
    again = [establish(h, CP, 20 + i) for i in range(2)]
    assert [_ue(h, s) for s in again] == freed
    assert not {_ue(h, s) for s in fresh} & set(freed)


@pytest.mark.parametrize("durable", [True, False])
def test_a_set_deletion_in_a_batch_with_its_cps_changes(
    datapath: LocalDatapath, durable: bool
) -> None:
    """One batch from smf2: an establishment, a deletion, a Session Set Modification moving
    smf's sessions of FQ-CSID 7 (by smf), then smf2's Session Set Deletion: it takes the new
    session and the moved ones, not the one deleted before it. When the journal fails, every
    change is undone: the sessions, the index and its order are back."""
    h = Harness(datapath, pools={"internet": (ipaddress.ip_network("10.45.0.0/28"),)})
    smf, smf2 = two_cps(h)
    before = list(h.engine.sessions)
    h.journal.fail_next = 0 if durable else 1
    new = establishment(*standard_rules(), cp_seid=77)
    new.ies[0] = A.NodeID.from_text("smf2")
    h.send(new, 300, SMF2)
    h.send(Message(M.SESSION_DELETION_REQUEST, 0, [], smf2[1]), 301, SMF2)
    h.send(_move_csid_7(), 302)
    check_order(h.engine)  # (a batch under way: the index follows each change)
    h.send(set_deletion("smf2"), 303, SMF2)
    assert sorted(h.engine.sessions) == [smf[1]]
    answers = sorted((m.seq, cause(m)) for m in h._collect())
    assert answers == [(s, 1 if durable else 77) for s in (300, 301, 302, 303)]
    if durable:
        check_left(h, [smf[1]])
        assert h.engine.metrics.deleted.get("session_set") == 5
    else:
        assert sorted(h.engine.sessions) == sorted(before)
        check_left(h, smf + smf2)
        assert h.engine._by_cp == {"smf": {2: 1, 4: 3, 6: 5}, "smf2": {1: 2, 3: 4, 5: 6}}
        lose(h, SMF2, PeerGone.LOST)
        check_left(h, smf)
    h.check_sent_with_tshark()


def test_an_undone_move_leaves_no_session_out_of_the_index(hp: Harness) -> None:
    """One batch: smf2's session C refused by the datapath, then deleted; smf's Session Set
    Modification moving A onto C's CP SEID at smf2; smf's establishment of B with A's CP
    SEID. C's changes are undone and the move with them, A back on its CP SEID: B's
    establishment is undone too (77), so that no two sessions share a CP F-SEID and A is
    still deleted with its CP."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = establish(h, CP, 1, fq_csid(7))
    _associate(h, SMF2, "smf2")
    c = establish(h, SMF2, 1)
    _refuse_once(h, c)
    batch = h.batch(
        (_refuse(h, c), SMF2),
        (Message(M.SESSION_DELETION_REQUEST, 0, [], c), SMF2),
        _move_csid_7(),
        establishment(*standard_rules(), cp_seid=1),
    )
    answers = sorted((m.seq, cause(m)) for m in batch)
    assert answers == [(300, 77), (301, 77), (302, 77), (303, 77)]
    assert sorted(h.engine.sessions) == sorted([a, c])
    assert h.engine._by_cp == {"smf": {1: a}, "smf2": {1: c}}
    check_index(h.engine)
    h.engine.peer_gone(Peer("smf", CP), PeerGone.LOST, False, h.now)
    h.engine.commit()
    assert sorted(h.engine.sessions) == [c] and sorted(h.dp.inner._programs) == [c]
    check_index(h.engine)


def test_a_move_undone_after_its_cp_is_gone_leaves_the_session_its_first_cp_s(
    h: Harness,
) -> None:
    """A Session Set Modification, then the release of the CP it moved the session to, in
    one batch whose journal commit fails: the release commits the batch first (the node),
    the move is undone, so the session was never the released CP's (the journal still has
    it as smf's): it stays smf's, indexed under its CP SEID, and smf's next establishment
    with that SEID is a duplicate."""
    seid = establish(h, CP, 1, fq_csid(7))
    _associate(h, SMF2, "smf2")
    h.journal.fail_next = 1
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text("smf2")])
    answers = h.batch(_move_csid_7(), (release, SMF2))
    assert [cause(m) for m in answers] == [77, 1]
    assert h.engine.sessions[seid].cp_node_id == "smf"
    assert h.engine._by_cp == {"smf": {1: seid}}
    check_index(h.engine)
    assert cause(h.request(establishment(*standard_rules(), cp_seid=1))) == 64


def test_an_index_that_does_not_number_the_sessions_is_not_trusted(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Should the index name another CP's session under a CP, or miss a session (bugs:
    logged and counted), a CP's sessions are found one by one: none is deleted with
    another CP or left behind."""
    _, smf2 = two_cps(h)
    by_cp = h.engine._by_cp
    del by_cp["smf2"][1]
    by_cp["smf"][1] = smf2[0]  # (as many entries as sessions, one under the wrong CP)
    assert cause(h.request(set_deletion("smf"))) == 1
    assert sorted(h.engine.sessions) == smf2
    assert h.engine.metrics.errors.get("cp_index") == 1
    assert "6 entries for 6 sessions, 4 under CP smf" in caplog.text
    by_cp.clear()
    by_cp["smf2"] = {1: smf2[0], 5: smf2[2]}  # (smf2's session of CP SEID 3 left out)
    lose(h, SMF2, PeerGone.LOST)
    assert h.engine.sessions == {} and by_cp == {} and h.records == {}
    assert h.engine.teids.in_use == 0 and sum(h.engine.ue_pools.usage().values()) == 0
    assert h.engine.metrics.errors.get("cp_index") == 2
    assert "2 entries for 3 sessions, 2 under CP smf2" in caplog.text


def test_a_cps_sessions_are_its_index_entries(h: Harness) -> None:
    """The CP's sessions are its index entries, checked only against the sessions they
    name: a session taken out of the index by hand, with the entries still numbering the
    sessions, is not found (a scan of every session would find it); an entry naming no
    session is not trusted."""
    smf, smf2 = two_cps(h)
    engine, by_cp = h.engine, h.engine._by_cp
    del by_cp["smf2"][3]
    by_cp["smf2"][99] = 99  # (no such session)
    assert engine._cp_seids("smf2") == smf2  # (found one by one)
    assert engine.metrics.errors.get("cp_index") == 1
    del by_cp["smf2"][99]
    by_cp["smf"][99] = smf[0]  # (smf's session twice: as many entries as sessions)
    assert engine._cp_seids("smf2") == [smf2[0], smf2[2]]
    assert engine._cp_seids("smf") == smf  # (named twice: found one by one)
    assert engine.metrics.errors.get("cp_index") == 2


def test_a_set_deletion_with_a_session_twice_in_the_index(h: Harness) -> None:
    """An index bug (an entry doubled, another missing: as many entries as sessions):
    the Session Set Deletion still deletes the CP's sessions, each once, and answers 1."""
    smf, smf2 = two_cps(h)
    by_cp = h.engine._by_cp
    del by_cp["smf2"][3]
    by_cp["smf"][99] = smf[0]
    assert cause(h.request(set_deletion("smf"))) == 1
    assert sorted(h.engine.sessions) == smf2


@pytest.mark.parametrize("purge_before", [False, True])
def test_a_move_is_not_undone_with_a_later_refused_change_of_its_session(
    hp: Harness, purge_before: bool
) -> None:
    """One batch: a Session Set Modification moving A (it depends on no other change of
    the batch), then a modification of A the datapath refuses: only the modification is
    refused, the move stands, whether or not a CP's sessions were purged just before (the
    purge's datapath work is no change's: it must not make the move depend on it)."""
    a = establish(hp, CP, 1, fq_csid(7))
    _associate(hp, SMF2, "smf2")
    if purge_before:
        _associate(hp, SMF3, "smf3")
        establish(hp, SMF3, 9)
        lose(hp, SMF3, PeerGone.LOST)
    _refuse_once(hp, a)
    batch = hp.batch(_move_csid_7(), (_refuse(hp, a), SMF2))
    answers = sorted((m.seq, cause(m)) for m in batch)
    assert answers == [(300, 1), (301, 77)]
    assert hp.engine.sessions[a].cp_node_id == "smf2"
    check_index(hp.engine)

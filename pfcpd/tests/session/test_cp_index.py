"""The engine's index of sessions by CP F-SEID (`EngineState._by_cp`, {CP node: {CP SEID: UP
SEID}}): it follows Session Set Modifications, their undo and peer purges, stays equal to the
index rebuilt from the sessions, and an undo never takes another session's entry."""

from __future__ import annotations

import pytest
from pipelined_datapath import Pipelined
from session_harness import CP, Harness, cause, establishment, standard_rules, up_seid
from test_pfd_and_sets import (
    SMF2,
    _associate,
    _change_info,
    _establish_with,
    _set_modification,
    fq_csid,
)

from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session.engine import SessionEngine
from pfcpd.smfsim import rules

M = MessageType


def rebuilt(engine: SessionEngine) -> dict[str, dict[int, int]]:
    """The index as the sessions give it."""
    want: dict[str, dict[int, int]] = {}
    for seid, s in engine.sessions.items():
        want.setdefault(s.cp_node_id, {})[s.cp_seid] = seid
    return want


def check_index(engine: SessionEngine) -> None:
    assert engine._by_cp == rebuilt(engine)
    assert all(engine._by_cp.values())  # (no dict left for a CP without sessions)


def establish_from(h: Harness, addr: tuple[str, int], cp_seid: int) -> Message:
    """An establishment by the CP at ``addr``; its answer."""
    h.seq += 1
    req = establishment(*standard_rules(), cp_seid=cp_seid, seq=h.seq)
    req.ies[0] = A.NodeID.from_text("smf2" if addr == SMF2 else "smf")
    h.node.datagram_received(encode(req), addr, h.now)
    (resp,) = [decode(t.data) for t in h.node.datagrams_to_send()]
    return resp


def _move_csid_7() -> Message:
    """A Session Set Modification moving the sessions of PGW-C/SMF FQ-CSID 7 to SMF2."""
    return _set_modification(_change_info(SMF2[0], fq_csid(7)))


def test_the_index_follows_a_session_set_modification(h: Harness) -> None:
    moved = _establish_with(h, 1, fq_csid(7))
    kept = _establish_with(h, 2, fq_csid(8))
    _associate(h, SMF2, "smf2")
    assert cause(h.request(_move_csid_7())) == 1
    assert h.engine.sessions[moved].cp_node_id == "smf2"
    check_index(h.engine)
    # The new CP has CP SEID 1 here: its establishment with it is a duplicate F-SEID.
    assert cause(establish_from(h, SMF2, 1)) == 64
    # The old CP no longer has it: it establishes with it again; SEID 2 is still its own.
    again = up_seid(establish_from(h, CP, 1))
    assert cause(establish_from(h, CP, 2)) == 64
    assert h.engine._by_cp == {"smf": {1: again, 2: kept}, "smf2": {1: moved}}
    assert h.engine.sessions[kept].cp_node_id == "smf"
    check_index(h.engine)


def test_a_set_modification_undone_by_the_journal_leaves_the_index(h: Harness) -> None:
    seid = _establish_with(h, 1, fq_csid(7))
    _establish_with(h, 2, fq_csid(8))
    _associate(h, SMF2, "smf2")
    before = {node: dict(seids) for node, seids in h.engine._by_cp.items()}
    h.journal.fail_next = 1
    assert cause(h.request(_move_csid_7())) == 77
    assert h.engine._by_cp == before and "smf2" not in h.engine._by_cp
    assert h.engine.sessions[seid].cp_node_id == "smf"
    check_index(h.engine)
    assert cause(establish_from(h, CP, 1)) == 64  # (still the old CP's)
    assert cause(establish_from(h, SMF2, 1)) == 1
    check_index(h.engine)


@pytest.mark.parametrize("restart", [True, False])
def test_a_peer_purge_frees_its_cp_seids(h: Harness, restart: bool) -> None:
    _establish_with(h, 1)
    _associate(h, SMF2, "smf2")
    gone = [up_seid(establish_from(h, SMF2, seid)) for seid in (1, 2)]
    check_index(h.engine)
    if restart:  # (a new Recovery Time Stamp: the CP restarted)
        setup = Message(
            M.ASSOCIATION_SETUP_REQUEST, 9, [A.NodeID.from_text("smf2"), S.RecoveryTimeStamp(2)]
        )
        h.node.datagram_received(encode(setup), SMF2, h.now)
        h.node.datagrams_to_send()
    else:
        from pfcpd.node.session_handler import Peer, PeerGone

        h.engine.peer_gone(Peer("smf2", SMF2), PeerGone.LOST, False, h.now)
        assert not h.engine._vacated  # (a purge is not undone: nothing kept per session)
        h.engine.commit()
        _associate(h, SMF2, "smf2")
    assert not set(gone) & set(h.engine.sessions)
    assert "smf2" not in h.engine._by_cp
    check_index(h.engine)
    again = up_seid(establish_from(h, SMF2, 1))
    assert h.engine._by_cp["smf2"] == {1: again}
    check_index(h.engine)


def _refuse_once(h: Harness, up_seid: int) -> None:
    """The datapath refuses the next install of session ``up_seid`` (not the undo's)."""
    assert isinstance(h.dp, Pipelined)
    left = [1]

    def refuse(seid: int, program: object) -> bool:
        if seid != up_seid or not left:
            return False
        left.pop()
        return True

    h.dp.refuse = refuse


def _refuse(h: Harness, up_seid: int) -> Message:
    """A modification of session ``up_seid`` (its DL FAR updated)."""
    update = rules.update_dl_far(2, 0x999, "192.0.2.77")
    return Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], up_seid)


def test_an_establishment_on_a_cp_seid_an_undone_deletion_left_is_undone_too(
    hp: Harness,
) -> None:
    """One batch: a change of A the datapath refuses, A's deletion, B's establishment with
    A's CP SEID. A's changes are undone, A is back on its CP SEID: B's establishment, which
    took it, is undone and refused 77 with them (the CP establishes again), so that no two
    sessions share a CP F-SEID and the index is the sessions'."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = up_seid(h.establish(cp_seid=0xA))
    other = up_seid(h.establish(cp_seid=0xB))
    records = dict(h.journal.records)
    _refuse_once(h, a)
    answers = h.batch(
        _refuse(h, a),
        Message(M.SESSION_DELETION_REQUEST, 0, [], a),
        establishment(*standard_rules(), cp_seid=0xA),
        _refuse(h, other),  # (another session's change goes on)
    )
    assert [(m.seq, cause(m)) for m in answers] == [(300, 77), (301, 77), (302, 77), (303, 1)]
    assert sorted(h.engine.sessions) == sorted([a, other])
    assert sorted(h.dp.inner._programs) == sorted([a, other])
    assert h.engine._by_cp == {"smf": {0xA: a, 0xB: other}}
    assert h.journal.records.keys() == records.keys()
    check_index(h.engine)
    assert cause(h.request(establishment(*standard_rules(), cp_seid=0xA))) == 64
    assert cause(h.delete(a)) == 1
    b = up_seid(h.request(establishment(*standard_rules(), cp_seid=0xA)))
    assert h.engine._by_cp == {"smf": {0xA: b, 0xB: other}}
    check_index(h.engine)


def test_a_set_modification_onto_a_cp_seid_an_undone_deletion_left_is_undone_too(
    hp: Harness,
) -> None:
    """The same with a Session Set Modification moving A onto the new CP's SEID that C's
    deletion, undone, left: the move is undone and refused 77 with it."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = _establish_with(h, 1, fq_csid(7))
    _associate(h, SMF2, "smf2")
    c = up_seid(establish_from(h, SMF2, 1))
    _refuse_once(h, c)
    answers = h.batch(
        (_refuse(h, c), SMF2),
        (Message(M.SESSION_DELETION_REQUEST, 0, [], c), SMF2),
        _move_csid_7(),
    )
    assert sorted((m.seq, cause(m)) for m in answers) == [(300, 77), (301, 77), (302, 77)]
    assert h.engine.sessions[a].cp_node_id == "smf" and c in h.engine.sessions
    assert h.engine._by_cp == {"smf": {1: a}, "smf2": {1: c}}
    check_index(h.engine)


def test_a_set_modification_onto_the_cp_a_session_has_is_not_undone_with_its_change(
    hp: Harness,
) -> None:
    """One batch: a change of A the datapath refuses, then a Session Set Modification moving
    A's FQ-CSID to the CP A already has (as one moving a Group Id's sessions of both SMFs
    of a set to one of them does). The move leaves A's entry and takes it again, which no
    other change of the batch took: it does not depend on A's change, and is kept (the
    randomized run, `test_restore_equivalence`, found it answered 77 with A's change)."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = _establish_with(h, 1, fq_csid(7))
    _refuse_once(h, a)
    answers = h.batch(_refuse(h, a), _set_modification(_change_info(CP[0], fq_csid(7))))
    assert [(m.seq, cause(m)) for m in answers] == [(300, 77), (301, 1)]
    assert h.engine.sessions[a].cp_node_id == "smf"
    assert h.engine._by_cp == {"smf": {1: a}}
    check_index(h.engine)


def test_the_index_keeps_a_live_sessions_entry(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """`_cp_put` leaves a live session's entry to it (logged) and `_cp_drop` removes only
    the entry of the session named."""
    a = _establish_with(h, 1)
    b = _establish_with(h, 2)
    h.engine._cp_put("smf", 1, b)
    assert h.engine._by_cp == {"smf": {1: a, 2: b}}
    assert "index left to it" in caplog.text and f"0x{a:x}" in caplog.text
    h.engine._cp_drop("smf", 1, b)
    h.engine._cp_drop("smf2", 1, b)
    assert h.engine._by_cp == {"smf": {1: a, 2: b}}
    h.engine._cp_drop("smf", 1, a)
    h.engine._cp_drop("smf", 2, b)
    assert h.engine._by_cp == {}  # (no dict left for the CP)
    h.engine._cp_put("smf", 1, a)
    h.engine._cp_put("smf", 2, b)
    check_index(h.engine)

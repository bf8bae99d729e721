"""The engine's index of sessions by CP F-SEID (`EngineState._by_cp`, {CP node: {CP SEID: UP
SEID}}, a SEID another session has at other addresses under (SEID, IPv4, IPv6)): a CP F-SEID
is a SEID at the CP's addresses (TS 29.244 5.6.2), the same SEID at another address another
session's; the index follows Session Set Modifications, their undo and peer purges, stays
equal to the index rebuilt from the sessions, and an undo never takes another session's
entry."""

from __future__ import annotations

import pytest
from pipelined_datapath import Pipelined
from session_harness import (
    CP,
    Harness,
    cause,
    establishment,
    g,
    restarted,
    standard_rules,
    up_seid,
)
from test_pfd_and_sets import (
    SMF2,
    _associate,
    _change_info,
    _establish_with,
    _set_modification,
    fq_csid,
)

from pfcpd.pfcp import IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session.engine import SessionEngine
from pfcpd.smfsim import rules

M = MessageType


def rebuilt(engine: SessionEngine) -> dict[str, dict[int, int]]:
    """The index as the sessions give it (when no CP has one SEID twice)."""
    want: dict[str, dict[int, int]] = {}
    for seid, s in engine.sessions.items():
        want.setdefault(s.cp_node_id, {})[s.cp_seid] = seid
    return want


def check_index(engine: SessionEngine) -> None:
    """Each session has one entry, under its CP and CP F-SEID: its SEID (the addresses
    its own) or (SEID, IPv4, IPv6) (another session had the SEID alone when it was put)."""
    entries: dict[tuple[str, int, str | None, str | None], int] = {}
    for node, by_key in engine._by_cp.items():
        for key, seid in by_key.items():
            s = engine.sessions[seid]
            entries[(node, key, s.cp_ipv4, s.cp_ipv6) if isinstance(key, int) else (node, *key)] = (
                seid
            )
    fseids = {
        (s.cp_node_id, s.cp_seid, s.cp_ipv4, s.cp_ipv6): x for x, s in engine.sessions.items()
    }
    assert entries == fseids
    assert sum(map(len, engine._by_cp.values())) == len(engine.sessions)
    if all(isinstance(key, int) for by_key in engine._by_cp.values() for key in by_key):
        assert engine._by_cp == rebuilt(engine)  # (every entry under its SEID alone)
    assert all(engine._by_cp.values())  # (no dict left for a CP without sessions)


def establish_from(h: Harness, addr: tuple[str, int], cp_seid: int) -> Message:
    """An establishment by the CP at ``addr``, its CP F-SEID at that address; its answer."""
    h.seq += 1
    req = establishment(*standard_rules(), cp_seid=cp_seid, seq=h.seq)
    req.ies[0] = A.NodeID.from_text("smf2" if addr == SMF2 else "smf")
    req.ies[1] = A.FSEID(cp_seid, addr[0])
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


OTHER = "127.0.0.7"  # another address of the CP "smf" (FQDN Node ID, TS 29.244 5.8.1)
V6 = "2001:db8::2"


def establish_at(h: Harness, cp_seid: int, ipv4: str | None, ipv6: str | None = None) -> Message:
    """An establishment by "smf" with CP F-SEID (``cp_seid``, ``ipv4``, ``ipv6``); its
    answer."""
    req = establishment(*standard_rules(), cp_seid=cp_seid)
    req.ies[1] = A.FSEID(cp_seid, ipv4, ipv6)
    return h.request(req)


def test_same_cp_seid_at_another_cp_address_is_another_session(h: Harness) -> None:
    """TS 29.244 5.6.2: "The SEID uniquely identifies a PFCP session at an IP address of a
    PFCP entity. The F-SEID is the Fully Qualified SEID and it contains the SEID and IP
    address." 5.8.1: a CP function whose Node ID is an FQDN may expose several IP
    addresses, and "The PFCP entities shall accept any new IP address allocated as part of
    F-SEID other than the one(s) communicated in the Node ID".

    The CP "smf" establishes a session with CP F-SEID (SEID 5, 127.0.0.2), then another
    with (SEID 5, 127.0.0.7): two CP F-SEIDs, two sessions (e.g. two PFCP entities of one
    SMF, each numbering its SEIDs). Each F-SEID again is a duplicate (64, as before);
    once the first session is deleted its F-SEID is free."""
    first = establish_at(h, 5, CP[0])
    assert cause(first) == 1
    second = establish_at(h, 5, OTHER)
    assert cause(second) == 1, second
    assert second.seid == 5 and up_seid(second) != up_seid(first)
    check_index(h.engine)
    assert h.engine._by_cp == {"smf": {5: up_seid(first), (5, OTHER, None): up_seid(second)}}
    assert cause(establish_at(h, 5, OTHER)) == 64
    assert cause(establish_at(h, 5, CP[0])) == 64
    assert cause(h.delete(up_seid(first))) == 1
    check_index(h.engine)
    assert cause(establish_at(h, 5, OTHER)) == 64
    third = establish_at(h, 5, CP[0])
    assert cause(third) == 1
    check_index(h.engine)
    assert h.engine._cp_seids("smf") == [up_seid(second), up_seid(third)]


def test_a_cp_fseid_sharing_an_address_with_a_session_of_its_seid_is_a_duplicate(
    h: Harness,
) -> None:
    """TS 29.244 5.6.2 (the SEID names one session at each IP address of the CP) and 8.2.37
    (an F-SEID with an IPv4 and an IPv6 address): a dual-stack CP F-SEID (5, 127.0.0.2,
    2001:db8::2) holds SEID 5 at both addresses. An establishment with SEID 5 at either
    of them, alone or with another address, is refused 64; SEID 5 at addresses of its own
    is another session. A Session Modification's CP F-SEID (7.5.4.1) likewise: onto an
    address another session of SEID 5 has, 64; the session's own SEID at a new address
    besides its own, accepted."""
    dual = establish_at(h, 5, CP[0], V6)
    assert cause(dual) == 1
    for ipv4, ipv6 in ((CP[0], None), (None, V6), (OTHER, V6), (CP[0], "2001:db8::7")):
        assert cause(establish_at(h, 5, ipv4, ipv6)) == 64, (ipv4, ipv6)
    assert cause(establish_at(h, 5, CP[0], V6)) == 64  # (the very F-SEID again)
    v4 = establish_at(h, 5, OTHER)
    v6 = establish_at(h, 5, None, "2001:db8::7")
    assert cause(v4) == cause(v6) == 1
    check_index(h.engine)
    answer = h.modify(up_seid(v4), A.FSEID(5, CP[0]))
    assert cause(answer) == 64 and answer.seid == 5
    answer = h.modify(up_seid(v4), A.FSEID(5, None, V6))
    assert cause(answer) == 64
    answer = h.modify(up_seid(v4), A.FSEID(5, OTHER, "2001:db8::9"))
    assert cause(answer) == 1
    assert h.engine.sessions[up_seid(v4)].cp_fseid == A.FSEID(5, OTHER, "2001:db8::9")
    check_index(h.engine)
    assert cause(establish_at(h, 5, None, "2001:db8::9")) == 64
    seids = [up_seid(dual), up_seid(v4), up_seid(v6)]
    assert h.engine._cp_seids("smf") == seids
    check_index(h.engine)
    with restarted(h, 3) as engine:  # (the index rebuilt from the journal)
        check_index(engine)
        assert engine._cp_seids("smf") == seids
        assert engine._cp_session("smf", 5, None, "2001:db8::9") == up_seid(v4)
        assert engine._cp_session("smf", 5, "127.0.0.99", V6) == up_seid(dual)
        assert engine._cp_session("smf", 5, "127.0.0.99", None) is None


@pytest.mark.parametrize("a_first", [True, False])
def test_a_modification_adding_an_address_another_session_has_for_its_seid_is_refused(
    h: Harness, a_first: bool
) -> None:
    """TS 29.244 5.6.2 ("The SEID uniquely identifies a PFCP session at an IP address of a
    PFCP entity") with 7.5.4.1 (the CP changes its F-SEID in a Session Modification
    Request): session A has CP F-SEID (5, 127.0.0.2), session B (5, 2001:db8::2). A asking
    for (5, 127.0.0.2, 2001:db8::2) would make SEID 5 at 2001:db8::2 name both: refused 64,
    whichever of them the index has under the SEID alone (the first established), and A
    keeps its CP F-SEID."""
    first, second = ((CP[0], None), (None, V6)) if a_first else ((None, V6), (CP[0], None))
    one, two = establish_at(h, 5, *first), establish_at(h, 5, *second)
    assert cause(one) == cause(two) == 1
    a = up_seid(one) if a_first else up_seid(two)
    answer = h.modify(a, A.FSEID(5, CP[0], V6))
    holders = [x for x, s in h.engine.sessions.items() if s.cp_seid == 5 and s.cp_ipv6 == V6]
    assert cause(answer) == 64, f"accepted: SEID 5 at {V6} now names sessions {holders}"
    assert h.engine.sessions[a].cp_fseid == A.FSEID(5, CP[0])
    check_index(h.engine)


def test_a_set_modification_onto_an_address_another_session_has_for_its_seid_is_refused(
    h: Harness,
) -> None:
    """TS 29.244 5.6.2 with 7.4.7 (Session Set Modification: the sessions of the set take the
    Alternative SMF IP Address, their SEIDs kept): CP "smf2" has session M, CP F-SEID
    (5, 127.0.0.3) (indexed under SEID 5), in FQ-CSID set 7, and session N, (5,
    2001:db8::3). Moving set 7 to the alternative (127.0.0.3, 2001:db8::3) would make SEID
    5 at 2001:db8::3 name both: refused 64 (the first holder found being M itself, one of
    the moved), nothing moves."""
    v6 = "2001:db8::3"
    _associate(h, SMF2, "smf2")

    def from_smf2(msg: Message) -> Message:
        h.seq += 1
        msg.seq = h.seq
        h.node.datagram_received(encode(msg), SMF2, h.now)
        [out] = h.node.datagrams_to_send()
        return decode(out.data)

    def establish(ipv4: str | None, ipv6: str | None, *ies: A.FQCSID) -> int:
        req = rules.establishment_request("smf2", SMF2[0], 5, standard_rules(), 1)
        req.ies[1] = A.FSEID(5, ipv4, ipv6)
        req.ies += list(ies)
        answer = from_smf2(req)
        assert cause(answer) == 1, answer
        return up_seid(answer)

    m = establish(SMF2[0], None, fq_csid(7))
    n = establish(None, v6)
    alternative = A.AlternativeSMFIPAddress(ipv4=SMF2[0], ipv6=v6)
    change = g(IEType.PFCP_SESSION_CHANGE_INFO, fq_csid(7), alternative)
    moving = Message(M.SESSION_SET_MODIFICATION_REQUEST, 0, [A.NodeID.from_text("smf2"), change])
    answer = from_smf2(moving)
    holders = [x for x, s in h.engine.sessions.items() if s.cp_seid == 5 and s.cp_ipv6 == v6]
    assert cause(answer) == 64, f"accepted: SEID 5 at {v6} now names sessions {holders}"
    assert h.engine.sessions[m].cp_fseid == A.FSEID(5, SMF2[0])
    assert h.engine.sessions[n].cp_fseid == A.FSEID(5, None, v6)
    check_index(h.engine)

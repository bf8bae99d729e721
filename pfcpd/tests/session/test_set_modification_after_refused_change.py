"""A Session Set Modification that moves a session whose CP reference an earlier change of
the same batch rewrote (a new CP F-SEID, or the same SEID at other addresses), when the
datapath refuses that change: the earlier change's undo
puts the session back as it was before it, the move included, so the move is refused with
it (77), not answered 1 and lost; and with it every later change of a session it moved
(its undo puts them all back). With the journal failing too, the session ends where it
was, not on the refused change's CP F-SEID. A refused change that moved nothing leaves the
move accepted."""

from __future__ import annotations

from session_harness import CP, Harness, cause
from test_smf_set_takeover import SMF2, establish, join_set, modification

from pfcpd.pfcp import Cause, Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A


def set_modification() -> Message:
    """smf moves its sessions (by its CP IP Address) to smf2 of its set."""
    info = Grouped(
        IEType.PFCP_SESSION_CHANGE_INFO,
        [A.CPIPAddress(ipv4=CP[0]), A.AlternativeSMFIPAddress(ipv4=SMF2[0])],
    )
    return Message(
        MessageType.SESSION_SET_MODIFICATION_REQUEST, 0, [A.NodeID.from_text("smf"), info]
    )


def refused_batch(
    h: Harness, cp_seid: int, journal_fails: bool, *later: tuple[Message, tuple[str, int]]
) -> tuple[int, list[int]]:
    """smf's session at ``cp_seid``; one batch: a Session Modification moving it to another
    CP SEID, whose program the datapath refuses, then smf's Session Set Modification
    (then ``later``). smf is in a set with smf2 (`join_set`)."""
    seid, _, _ = establish(h, cp_seid)
    h.dp.refuse = lambda s, program: s == seid  # type: ignore[attr-defined]
    if journal_fails:
        h.journal.fail_next = 1
    answers = h.batch(
        (modification(seid, A.FSEID(cp_seid + 0x100, CP[0])), CP),
        (set_modification(), CP),
        *later,
        seq=400,
    )
    h.dp.refuse = lambda s, program: False  # type: ignore[attr-defined]
    return seid, [cause(a) for a in answers]


def test_the_move_is_refused_with_the_change_it_followed(hp: Harness) -> None:
    join_set(hp)
    seid, causes = refused_batch(hp, 0xF2, journal_fails=False)
    assert causes == [Cause.SYSTEM_FAILURE, Cause.SYSTEM_FAILURE]  # (was 77, 1)
    session = hp.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf", 0xF2)
    assert hp.engine._by_cp["smf"][0xF2] == seid
    assert "smf2" not in hp.engine._by_cp


def test_with_the_journal_failing_too_the_session_stays_where_it_was(hp: Harness) -> None:
    join_set(hp)
    seid, causes = refused_batch(hp, 0xF3, journal_fails=True)
    assert causes == [Cause.SYSTEM_FAILURE, Cause.SYSTEM_FAILURE]
    session = hp.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf", 0xF3)  # (was 0x1F3)
    assert hp.engine._by_cp["smf"][0xF3] == seid


def test_a_later_change_of_another_moved_session_is_refused_too(hp: Harness) -> None:
    """smf2 (told by the move it owns smf's sessions) changes another of them in the same
    batch: refused with the move (was answered 1, then undone by the move's undo: smf2 held
    a CP SEID the session no longer had)."""
    join_set(hp)
    other, _, _ = establish(hp, 0xE2)
    later = (modification(other, A.FSEID(0x500, SMF2[0])), SMF2)
    seid, causes = refused_batch(hp, 0xF2, False, later)
    assert causes == [Cause.SYSTEM_FAILURE] * 3
    assert [(s.cp_node_id, s.cp_seid) for s in (hp.engine.sessions[x] for x in (seid, other))] == [
        ("smf", 0xF2),
        ("smf", 0xE2),
    ]
    assert "smf2" not in hp.engine._by_cp


def test_a_refused_change_that_moved_nothing_leaves_the_move_accepted(hp: Harness) -> None:
    join_set(hp)
    seid, _, _ = establish(hp, 0xF4)
    hp.dp.refuse = lambda s, program: s == seid  # type: ignore[attr-defined]
    answers = hp.batch((modification(seid), CP), (set_modification(), CP), seq=400)
    hp.dp.refuse = lambda s, program: False  # type: ignore[attr-defined]
    assert [cause(a) for a in answers] == [Cause.SYSTEM_FAILURE, Cause.REQUEST_ACCEPTED]
    session = hp.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf2", 0xF4)
    assert hp.engine._by_cp["smf2"][0xF4] == seid


def test_an_earlier_change_of_the_cp_f_seid_s_addresses_only(hp: Harness) -> None:
    """The same SEID at other addresses (an IPv6 one added) moves no index entry, yet its
    undo puts the session back on its CP (was: the move answered 1, the session smf's)."""
    join_set(hp)
    seid, _, _ = establish(hp, 0xF5)
    hp.dp.refuse = lambda s, program: s == seid  # type: ignore[attr-defined]
    answers = hp.batch(
        (modification(seid, A.FSEID(0xF5, CP[0], "2001:db8::9")), CP),
        (set_modification(), CP),
        seq=400,
    )
    hp.dp.refuse = lambda s, program: False  # type: ignore[attr-defined]
    assert [cause(a) for a in answers] == [Cause.SYSTEM_FAILURE, Cause.SYSTEM_FAILURE]
    session = hp.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_fseid.ipv6) == ("smf", 0xF5, None)
    assert "smf2" not in hp.engine._by_cp

"""A Session Report Response checked against the session's moves, not its owner: a session
that moved away and back (another CP F-SEID and back, an SMF Set takeover and back) before
the answer came holds the same (CP, CP SEID) as when the report went, yet the answer (a
retransmission's, given while it was away) may be about what that CP no longer held then:
stale (its 65 removes nothing; the counts go into the next report). And an answer from the
CP the report went to, the session unmoved, that does not accept the report (64, 72, 77:
an overloaded or failing SMF) puts its counts back for the next report, as a report never
answered does, also when the answer comes in a batch with changes of the session that a
refused commit undoes (their undo puts back the URR books they replaced)."""

from __future__ import annotations

import pytest
from session_harness import CP, Harness, cause, g, report_octets, restarted
from test_smf_set_takeover import SMF2, establish, from_, join_set, modification, report_to
from test_stale_report_answer import answer, baseline

from pfcpd.pfcp import IE, Cause, Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR


def test_cp_seid_changed_and_back_then_65_removes_nothing(h: Harness) -> None:
    join_set(h)
    seid, teid, ue = establish(h, 0xA7)
    _, first = report_to(h, teid, ue)
    assert h.modify(seid, A.FSEID(0xC7, CP[0])) is not None  # smf leaves CP SEID 0xA7
    assert h.modify(seid, A.FSEID(0xA7, CP[0])) is not None  # and comes back to it
    answer(h, CP, first, Cause.SESSION_CONTEXT_NOT_FOUND)  # (given while it was at 0xC7)
    assert seid in h.engine.sessions
    _, second = report_to(h, teid, ue)
    assert report_octets(second) == 2 * report_octets(first)  # (not accepted: reported again)


def test_taken_over_and_back_then_65_removes_nothing(h: Harness) -> None:
    join_set(h)
    seid, teid, ue = establish(h, 0xA8)
    _, first = report_to(h, teid, ue)
    from_(h, SMF2, modification(seid, A.FSEID(0xB8, SMF2[0])), 400)
    assert h.engine.sessions[seid].cp_node_id == "smf2"
    from_(h, CP, modification(seid, A.FSEID(0xA8, CP[0])), 401)
    s = h.engine.sessions[seid]
    assert (s.cp_node_id, s.cp_seid) == ("smf", 0xA8)  # as when the report went
    answer(h, CP, first, Cause.SESSION_CONTEXT_NOT_FOUND)
    assert seid in h.engine.sessions
    _, second = report_to(h, teid, ue)
    assert report_octets(second) == 2 * report_octets(first)


@pytest.mark.parametrize(
    "value",
    [Cause.REQUEST_REJECTED, Cause.PFCP_ENTITY_IN_CONGESTION, Cause.SYSTEM_FAILURE],
)
def test_owner_rejecting_the_report_keeps_its_counts(h: Harness, value: int) -> None:
    join_set(h)
    seid, teid, ue = establish(h, 0xAA)
    _, first = report_to(h, teid, ue)
    records = dict(h.journal.records)
    answer(h, CP, first, value)  # from the owner, at the CP SEID the report went to
    assert baseline(h.engine, seid) == report_octets(first)
    assert h.journal.records != records  # (the baseline, journaled)
    with restarted(h, 1) as engine:
        assert baseline(engine, seid) == report_octets(first)
    _, second = report_to(h, teid, ue)
    assert report_octets(second) == 2 * report_octets(first)


def modified_and_answered(h: Harness, seid: int, report: Message, value: int, *ies: IE) -> int:
    """One batch: a Session Modification of session ``seid`` (an Update URR, and ``ies``),
    then the answer with cause ``value`` to ``report``; the modification's cause."""
    update = g(IEType.UPDATE_URR, S.URRID(1), TR.VolumeThreshold(total=1000))
    h.send(modification(seid, update, *ies), 500)
    response = Message(MessageType.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(value)])
    response.seid = report.seid
    h.node.datagram_received(encode(response), CP, h.now)
    (answered,) = h._collect()
    assert h.engine._pending == {}
    return cause(answered)


# (moved, taken: main kept those counts already, in the books the modification left)
@pytest.mark.parametrize(("moved", "journal_fails"), [(False, False), (False, True), (True, True)])
def test_rejected_in_a_batch_with_a_change_of_the_session(
    h: Harness, moved: bool, journal_fails: bool
) -> None:
    """The owner's 64 after a modification of the session in the same batch (moving it to
    another CP SEID or not: stale or not); the journal takes the batch or refuses it (the
    modification undone, its new URR books dropped): the counts stay, once."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA9)
    _, first = report_to(h, teid, ue)
    h.journal.fail_next = int(journal_fails)
    fseid = (A.FSEID(0xC9, CP[0]),) if moved else ()
    expected = Cause.SYSTEM_FAILURE if journal_fails else Cause.REQUEST_ACCEPTED
    assert modified_and_answered(h, seid, first, Cause.REQUEST_REJECTED, *fseid) == expected
    s = h.engine.sessions[seid]
    assert s.cp_seid == (0xC9 if moved and not journal_fails else 0xA9)
    assert baseline(h.engine, seid) == report_octets(first)
    if journal_fails:
        assert h.engine.commit() == []  # (journaled at the next commit, no answer waiting)
    with restarted(h, 1) as engine:
        assert baseline(engine, seid) == report_octets(first)
    _, second = report_to(h, teid, ue)
    assert report_octets(second) == 2 * report_octets(first)


@pytest.mark.parametrize("journal_fails", [False, True])
def test_rejected_then_deleted_in_a_batch_with_another_session_s_change(
    h: Harness, journal_fails: bool
) -> None:
    """One batch: a change of another session, the owner's 64 to this session's report,
    then its Session Deletion. The deletion's final Usage Report carries the counts the
    64 gave back (they went back at once, not once the batch was committed: the deletion
    had taken the session by then); a refused batch keeps the session with them, once."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA9)
    other, _, _ = establish(h, 0xAB)
    _, first = report_to(h, teid, ue)
    h.journal.fail_next = int(journal_fails)
    update = g(IEType.UPDATE_URR, S.URRID(1), TR.VolumeThreshold(total=1000))
    h.send(modification(other, update), 500)
    response = Message(
        MessageType.SESSION_REPORT_RESPONSE, first.seq, [S.Cause(Cause.REQUEST_REJECTED)]
    )
    response.seid = first.seid
    h.node.datagram_received(encode(response), CP, h.now)
    h.send(Message(MessageType.SESSION_DELETION_REQUEST, 0, [], seid), 501)
    (deleted,) = [m for m in h._collect() if m.msg_type == MessageType.SESSION_DELETION_RESPONSE]
    if journal_fails:
        assert cause(deleted) == Cause.SYSTEM_FAILURE
        assert baseline(h.engine, seid) == report_octets(first)
        _, second = report_to(h, teid, ue)
        assert report_octets(second) == 2 * report_octets(first)
        return
    assert cause(deleted) == Cause.REQUEST_ACCEPTED
    (usage,) = deleted.get_all(IEType.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(usage, Grouped)
    volume = usage.get(IEType.VOLUME_MEASUREMENT)
    assert isinstance(volume, TR.VolumeMeasurement)
    assert volume.total == report_octets(first)

"""Downlink Data Reports across a pfcpd restart (TS 29.244 5.2.3.1): the open buffering
episodes (their reports out, owed, delayed or answered) are journaled apart from the
session's record. On a datapath that held the session across the restart with buffered
packets (as VPP does: its buffer and its reported marks kept; here the same local
datapath, the events it raised meanwhile thrown away) the restarted engine sends each
report the CP was not told of (unanswered, or raised while pfcpd was away), and none for an
episode the CP answered. On one that lost the session (the local datapath: its buffers die
with the process) no report is owed: the next buffered packet is reported. Sans-IO node,
engine on the real local datapath."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    qer,
    to_forw,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session.journal import MemoryJournal

T = IEType
M = MessageType
UE = "10.45.0.1"


def _buffering_session(h: Harness) -> int:
    """A session whose downlink FAR buffers and notifies the CP (BUFF+NOCP, BAR 1)."""
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    resp = h.establish(*rules)
    assert cause(resp) == 1
    return up_seid(resp)


def _dldrs(sent: list[Message]) -> list[tuple[int, int]]:
    """The sequence number and PDR ID of each Downlink Data Report in ``sent``."""
    out = []
    for m in sent:
        report = m.get(T.DOWNLINK_DATA_REPORT)
        if m.msg_type == M.SESSION_REPORT_REQUEST and isinstance(report, Grouped):
            out.append((m.seq, report.get(T.PDR_ID).value))  # type: ignore[union-attr]
    return out


def _episodes(h: Harness, seid: int) -> bytes | None:
    return h.journal.records.get("d:%x" % seid)  # noqa: UP031


@contextmanager
def _restarted(
    h: Harness, kept: bool, buffers: bool = True, away: float = 0.0
) -> Iterator[Harness]:
    """pfcpd killed and started again: a new engine and node, the CP associated again,
    ``h``'s journal restored; the datapath ``h``'s, its sessions, buffers and reported
    marks kept (VPP: the events it raised meanwhile are lost; its sessions' buffered
    packets found at start, `held_buffers`, unless not ``buffers``), or a new one (the
    local datapath: its buffers are lost with the process). ``away``: the seconds pfcpd
    was down (the restarted engine's NTP clock that much past ``h``'s)."""
    h.dp.poll_events()  # (raised while pfcpd was away: no one took them)
    dp = h.dp if kept else LocalDatapath(expected_sessions=16)
    if kept:
        held = {s: n for s in h.engine.sessions if (n := dp.buffered(s)) and buffers}
        dp.keeps_counts = lambda seid: True  # type: ignore[method-assign]
        dp.held_buffers = lambda: held  # type: ignore[method-assign]
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    try:
        again = Harness(dp, journal=journal)
        again.ntp = h.ntp + away
        assert again.engine.restore(journal.items(), again.now) == 1
        yield again
        again.check_sent_with_tshark()
    finally:
        if not kept:
            dp.close()


def test_a_report_out_at_a_restart_is_sent_again_by_a_datapath_that_kept_the_buffer(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: pfcpd stops while the Downlink Data Report of a buffering episode
    is out (unanswered); the datapath keeps the session, its buffered packets and the PDR
    marked reported (VPP across a pfcpd restart), so no packet raises the report again.
    The restarted engine sends it at its first poll (the CP may never have got it: the UE
    must be paged for the data), once: the next packets of the episode raise nothing."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert [pdr for _, pdr in _dldrs(h.advance(0.2))] == [2]  # (out, not answered)
    assert _episodes(h, seid) is not None
    with _restarted(h, kept=True) as again:
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)
        again.advance(0.1)
        assert _episodes(again, seid) == b"2:16393:a"  # (answered, open until it ends)
        assert again.dp.process_dl(dl_packet(UE, 10, ident=2)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(5.0)) == []
        assert again.dp.buffered(seid) == 3


def test_a_report_owed_at_a_restart_is_sent_once_the_cp_can_be_told(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1: a Downlink Data Report owed when pfcpd stops (no association with
    the CP when it was due) is sent by the restarted engine once the CP is associated,
    its data still buffered by the datapath that kept the session."""
    seid = _buffering_session(h)
    with monkeypatch.context() as m:
        m.delitem(h.node._associations, "smf")
        assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
        assert h.advance(0.5) == []
    assert _episodes(h, seid) is not None
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)
        assert _dldrs(again.advance(5.0)) == []


def test_a_report_answered_before_a_restart_is_not_sent_again(h: Harness) -> None:
    """TS 29.244 5.2.3.1 (one report per buffering episode): the CP answered the report of
    the episode before pfcpd stopped (it pages the UE); the datapath kept the session and
    its buffer. The restarted engine sends no report for that episode, at its start or
    for the episode's next packets."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = h.advance(0.2)
    assert len(_dldrs(sent)) == 1
    h.answer_all(sent)
    h.advance(0.1)
    assert _episodes(h, seid) == b"2:16393:a"
    with _restarted(h, kept=True) as again:
        assert _dldrs(again.advance(1.0)) == []
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(5.0)) == []
        assert again.dp.buffered(seid) == 2
        with _restarted(again, kept=True) as twice:  # (and after a second restart)
            assert _dldrs(twice.advance(1.0)) == []
    assert cause(h.modify(seid, to_forw())) == 1
    h.advance(0.1)
    assert _episodes(h, seid) is None  # (the episode ended)


def test_a_packet_buffered_while_pfcpd_was_away_is_reported_after_the_restart(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: the first DL packet of a buffering episode comes while pfcpd is
    away; the datapath that keeps the session (VPP) buffers it, marks the PDR reported and
    drops the event (no client subscribed). The restarted engine reports the PDR and the QFI
    the datapath marked reported (9, its QER's; the DSCP unknown: no Paging Policy
    Indication) at its first poll, once: the next packet of the pair raises nothing."""
    seid = _buffering_session(h)
    assert _dldrs(h.advance(0.5)) == []
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        (report,) = sent
        dldr = report.get(T.DOWNLINK_DATA_REPORT)
        assert isinstance(dldr, Grouped)
        info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
        assert info is not None and (info.qfi, info.ppi) == (9, None)  # type: ignore[attr-defined]
        again.answer_all(sent)
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(5.0)) == []
        assert again.dp.buffered(seid) == 2


def test_a_tunnel_s_packet_buffered_while_pfcpd_was_away_is_reported_with_its_qfi(
    h: Harness,
) -> None:
    """As above, for a PDR of a tunnel into the session (N4-u, sharing the buffering FAR
    with the N6 PDR) with neither a QER QFI nor a PDI QFI: its report carries the received
    PDU Session Container's QFI (9), which the restarted engine asks the datapath about
    too, and reports."""
    from test_gtpu_downlink import CP_FUNCTION, SMF, g_pdu, tunnel_pdr

    bar = g(T.CREATE_BAR, S.BARID(1))
    n4u = tunnel_pdr(3, 2, CP_FUNCTION)
    n4u.ies = [ie for ie in n4u.ies if ie.type != T.QER_ID]
    rules = [ul_pdr(), dl_pdr(qer=None), n4u, ul_far(), dl_far(action="BUFF+NOCP", bar=1)]
    resp = h.establish(*rules, qer(), urr(1), bar)
    assert cause(resp) == 1
    seid = up_seid(resp)
    teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    assert _dldrs(h.advance(0.5)) == []
    packet = g_pdu(dl_packet(UE, 10), teid, SMF)
    assert h.dp.process_ul(packet).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [3]
        dldr = sent[0].get(T.DOWNLINK_DATA_REPORT)
        assert isinstance(dldr, Grouped)
        info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
        assert info is not None and info.qfi == 9  # type: ignore[attr-defined]
        again.answer_all(sent)
        assert again.dp.buffered(seid) == 1


def test_a_report_out_at_a_restart_on_a_datapath_that_lost_the_buffer_is_not_owed(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: pfcpd stops while a Downlink Data Report is out, and the datapath
    loses the session with it (the local datapath: its buffers die with the process). No
    data is buffered: no report is owed at the restart (its record goes at the first
    commit); the session's next buffered packet is a new episode, reported."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert len(_dldrs(h.advance(0.2))) == 1
    with _restarted(h, kept=False) as again:
        assert _dldrs(again.advance(1.0)) == []
        assert _episodes(again, seid) is None
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)


def test_a_report_out_at_a_restart_with_the_buffer_emptied_meanwhile_is_re_armed(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1: pfcpd stops while a Downlink Data Report is out; the datapath
    keeps the session but holds no buffered packet of it any more: nothing to page the UE
    for, no report at the restart; the PDR's report is re-armed, so that the next buffered
    packet raises one."""
    _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert len(_dldrs(h.advance(0.2))) == 1
    with _restarted(h, kept=True, buffers=False) as again:
        assert _dldrs(again.advance(1.0)) == []
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)


def test_a_held_session_with_an_answered_report_owes_none_for_its_other_pdr(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 (one report per buffering episode): a session with two DL PDRs
    whose FARs buffer with NOCP (PDR 2, QFI 9; PDR 3, voice, QFI 5); one packet buffered
    on PDR 2, its report answered. After a restart on a datapath that kept the buffer (its
    count is per session, not per PDR) the CP, which answered the one report of that data,
    gets no report, neither for PDR 2 nor for PDR 3; PDR 3's report is re-armed, so its
    first packet raises one."""
    from test_dl_buffering import _two_flows, _voice

    seid = _two_flows(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = h.advance(0.2)
    assert [pdr for _, pdr in _dldrs(sent)] == [2]
    h.answer_all(sent)
    h.advance(0.1)
    assert _episodes(h, seid) == b"2:16393:a"
    with _restarted(h, kept=True) as again:
        assert _dldrs(again.advance(1.0)) == []
        assert again.dp.process_dl(_voice()).verdict == Verdict.BUFFER
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [3]
        again.answer_all(sent)


def _reported_pairs(sent: list[Message]) -> list[tuple[int, int | None]]:
    """The PDR ID and QFI of each Downlink Data Report in ``sent``, in order."""
    from test_dl_buffering import _dldrs as reports
    from test_dl_buffering import _reported

    return [_reported(m) for m in reports(sent)]


def test_a_pdr_buffering_while_pfcpd_was_away_beside_a_journaled_episode_is_reported(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: as above, but PDR 3's first packet comes while pfcpd is away (the
    datapath marks PDR 3 and QFI 5 reported, the event lost). The datapath counts buffered
    packets per session, but its reported mark is per PDR and QFI: the restarted engine
    finds PDR 3's marked and reports it (QFI 5) at its first poll, and not PDR 2's answered
    episode again; PDR 3's next packet raises nothing more."""
    from test_dl_buffering import _two_flows, _voice

    seid = _two_flows(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = h.advance(0.2)
    h.answer_all(sent)
    h.advance(0.1)
    assert h.dp.process_dl(_voice()).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.5)
        assert _reported_pairs(sent) == [(3, 5)]
        again.answer_all(sent)
        assert again.dp.process_dl(_voice(1)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(5.0)) == []
        assert again.dp.buffered(seid) == 3


def test_of_several_pdrs_without_a_journaled_episode_only_one_that_buffered_is_reported(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: a session with two DL PDRs buffering with NOCP (PDR 2, QFI 9; PDR
    3, voice, QFI 5) and no journaled episode; PDR 2's first packet comes while pfcpd is
    away. The restarted engine reports PDR 2 (QFI 9) alone: PDR 3 never buffered, and its
    first packet after the restart is reported then (once)."""
    from test_dl_buffering import _two_flows, _voice

    _two_flows(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.5)
        assert _reported_pairs(sent) == [(2, 9)]
        again.answer_all(sent)
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(1.0)) == []
        assert again.dp.process_dl(_voice()).verdict == Verdict.BUFFER
        sent = again.advance(0.5)
        assert _reported_pairs(sent) == [(3, 5)]
        again.answer_all(sent)
        assert _dldrs(again.advance(5.0)) == []


def test_several_pdrs_that_buffered_while_pfcpd_was_away_are_each_reported(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: as above, both PDRs' first packets coming while pfcpd is away:
    each is reported at the restart, with its QFI, once."""
    from test_dl_buffering import _two_flows, _voice

    _two_flows(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER  # (pfcpd away)
    assert h.dp.process_dl(_voice()).verdict == Verdict.BUFFER
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.5)
        assert sorted(_reported_pairs(sent)) == [(2, 9), (3, 5)]
        again.answer_all(sent)
        assert again.dp.process_dl(_voice(1)).verdict == Verdict.BUFFER
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert _dldrs(again.advance(5.0)) == []


def test_a_deleted_session_s_episodes_record_goes_with_its_deletion(h: Harness) -> None:
    """TS 29.244 7.5.6 (Session Deletion): the record of a deleted session's open buffering
    episodes is deleted in the deletion's own journal transaction, with the session's
    record (no record of a session that no longer exists)."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = h.advance(0.2)
    h.answer_all(sent)
    h.advance(0.1)
    assert _episodes(h, seid) == b"2:16393:a"
    assert cause(h.delete(seid)) == 1
    assert "s:%x" % seid not in h.journal.records  # noqa: UP031
    assert _episodes(h, seid) is None


def test_a_re_arm_failing_at_a_restart_costs_that_session_alone(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart re-arms the journaled reports of sessions the datapath kept with nothing
    buffered (as above): should the datapath fail one (an exception: a bug, or a record
    it cannot take), that session's failure is logged and counted, every session is
    restored and the others' reports are re-armed still."""
    first = _buffering_session(h)
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        ul_far(),
        dl_far(action="BUFF+NOCP", bar=1),
        qer(),
        urr(1),
        g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10)),
        cp_seid=0xC0FFEF,
    )
    second = up_seid(resp)
    ((_, text),) = h.engine.sessions[second].ue
    ue2 = text.partition("/")[0]
    for ue in (UE, ue2):
        assert h.dp.process_dl(dl_packet(ue, 10)).verdict == Verdict.BUFFER
    assert len(_dldrs(h.advance(0.2))) == 2
    rearm = h.dp.rearm_dl_data_report
    rearmed: list[int] = []

    def failing(seid: int, pdr_id: int, qfi: int) -> bool:
        if seid == first:
            raise ValueError("bad record")
        rearmed.append(seid)
        return rearm(seid, pdr_id, qfi)

    monkeypatch.setattr(h.dp, "rearm_dl_data_report", failing)
    h.dp.drop_buffered(first)
    h.dp.drop_buffered(second)
    h.dp.poll_events()
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    monkeypatch.setattr(h.dp, "keeps_counts", lambda seid: True)
    again = Harness(h.dp, journal=journal)
    assert again.engine.restore(journal.items(), again.now) == 2
    assert rearmed == [second]
    assert again.engine.metrics.restore_failures.get() == 1


def test_a_delayed_report_waits_out_the_rest_of_its_delay_after_a_restart(h: Harness) -> None:
    """TS 29.244 8.2.28 (DDND): the report of the first buffered packet waits for the BAR's
    Downlink Data Notification Delay (10 s). pfcpd stops 2 s into it and is away 5 s; the
    datapath kept the session, its buffer and the PDR's reported mark. The restarted engine
    sends the report when the delay ends, 3 s after its start (not at its first poll, and
    not a whole delay later), once."""
    from test_dl_buffering import _ddnd_session

    seid = _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(2.0)) == []
    assert _episodes(h, seid) is not None
    with _restarted(h, kept=True, away=7.0) as again:
        assert _dldrs(again.advance(2.9)) == []
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)
        assert _dldrs(again.advance(20.0)) == []


def test_a_delayed_report_whose_delay_ran_out_while_pfcpd_was_away_is_sent_at_once(
    h: Harness,
) -> None:
    """TS 29.244 8.2.28: as above, but the delay runs out while pfcpd is away (it is away
    20 s): the report is owed, sent at the restarted engine's first poll."""
    from test_dl_buffering import _ddnd_session

    _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(2.0)) == []
    with _restarted(h, kept=True, away=20.0) as again:
        sent = again.advance(0.2)
        assert [pdr for _, pdr in _dldrs(sent)] == [2]
        again.answer_all(sent)
        assert _dldrs(again.advance(20.0)) == []


def test_a_delayed_report_s_episode_ending_after_a_restart_sends_nothing(h: Harness) -> None:
    """TS 23.401 5.3.4.3: a report still inside its notification delay at the restart is
    not sent when its episode ends before the delay does (the UE reachable again: its FAR
    forwards)."""
    from test_dl_buffering import _ddnd_session

    seid = _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(2.0)) == []
    with _restarted(h, kept=True, away=1.0) as again:
        assert _dldrs(again.advance(1.0)) == []
        assert cause(again.modify(seid, to_forw())) == 1
        assert _dldrs(again.advance(20.0)) == []
        assert _episodes(again, seid) is None


def test_a_pair_reported_after_a_restart_is_not_reported_again_after_a_second_one(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 (one report per buffering episode): a packet buffered while pfcpd
    is away is reported after its restart (the datapath's reported mark taken off to learn
    it) and answered; pfcpd restarts again before any other packet. The episode's next
    packet raises the report in the datapath again: it is the answered episode's, not
    reported to the CP."""
    _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.5)
        assert _reported_pairs(sent) == [(2, 9)]
        again.answer_all(sent)
        again.advance(0.1)
        with _restarted(again, kept=True) as twice:
            assert _dldrs(twice.advance(1.0)) == []
            assert twice.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
            assert _dldrs(twice.advance(5.0)) == []


def test_an_owed_restored_pair_taking_a_packet_s_dscp_is_journaled(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1 with 7.5.8.2: a packet buffered while pfcpd is away; after the
    restart the CP is not associated yet, so the pair's report is owed, journaled with the
    QFI alone (the DSCP unknown). The pair's next packet raises the report again with its
    DSCP, which the owed episode takes: the journal takes it too, so after a second restart
    (the CP still away) the report goes with the Paging Policy Indication."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER  # (pfcpd away)
    with _restarted(h, kept=True) as again, monkeypatch.context() as m:
        m.delitem(again.node._associations, "smf")  # (the CP not back yet)
        assert again.advance(0.2) == []
        assert _episodes(again, seid) == b"2:9"
        assert again.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert again.advance(0.2) == []
        assert _episodes(again, seid) == b"2:16393"  # (the DSCP flag, DSCP 0, QFI 9)
        with _restarted(again, kept=True) as twice:
            sent = twice.advance(0.2)
            assert _reported_pairs(sent) == [(2, 9)]
            dldr = sent[0].get(T.DOWNLINK_DATA_REPORT)
            assert isinstance(dldr, Grouped)
            info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
            assert info is not None and (info.qfi, info.ppi) == (9, 0)  # type: ignore[attr-defined]
            twice.answer_all(sent)
            assert _dldrs(twice.advance(5.0)) == []

"""Volume thresholds (VOLTH) and quotas (VOLQU) reached while pfcpd is away: the datapath
raises each limit's event once and, with no client to take it (VPP drops the events it
raises with none subscribed), keeps the threshold marked reported and drops the traffic of
a used-up quota. The restarted engine reports each limit that counts no report took
reached, once, with those counts (`Reporting._lost_limits`): on a datapath that kept its
counters (as VPP does across a pfcpd restart: here the same local datapath, its events
while away thrown away) and on one that lost them (the counts the last checkpoint
journaled); a limit reported before the restart is not reported again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    g,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
    usage_reports,
)

from pfcpd.datapath.interface import DatapathError, DatapathEvent, Usage
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal
from pfcpd.session.reports import LATE_WINDOW_NS, LIMIT_CHECK_TRIES
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
M = MessageType
UE = "10.45.0.1"  # (the pool's first address)
FORWARD, DROP = Verdict.FORWARD, Verdict.DROP
PACKET = 500  # octets each uplink packet counts (the inner packet)
LIMIT = 2 * PACKET


def _session(h: Harness, rule: Grouped) -> tuple[int, int]:
    """A session whose uplink PDR counts in URR 1 (``rule``): its UP SEID and uplink TEID."""
    resp = h.establish(ul_pdr(), dl_pdr(urr=None), ul_far(), dl_far(), qer(), rule)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    return up_seid(resp), fteid.teid


def _threshold() -> Grouped:
    return urr(1, "VOLTH", threshold=TR.VolumeThreshold(total=LIMIT))


def _quota() -> Grouped:
    return urr(1, "VOLQU", quota=TR.VolumeQuota(total=LIMIT))


def _uplink(dp: LocalDatapath, teid: int, packets: int) -> list[Verdict]:
    packet = gtpu(ul_packet(UE, PACKET - 28), teid)
    return [dp.process_ul(packet).verdict for _ in range(packets)]


def _reports(sent: list[Message]) -> list[tuple[str, int, int]]:
    """(triggers, UR-SEQN, total octets) of each Usage Report of ``sent``."""
    out = []
    for report in usage_reports(sent):
        trigger = report.get(T.USAGE_REPORT_TRIGGER)
        volume = report.get(T.VOLUME_MEASUREMENT)
        assert isinstance(trigger, F.UsageReportTrigger)
        assert isinstance(volume, TR.VolumeMeasurement) and volume.total is not None
        names = ",".join(n for n in ("VOLTH", "VOLQU", "PERIO") if trigger.has(n))
        out.append((names, ie_value(report, T.UR_SEQN) or 0, volume.total))
    return out


def _checkpointed(h: Harness) -> None:
    """The engine's checkpoint of the datapath's counts, journaled (as its timer makes)."""
    h.engine.checkpoint(h.now)
    h.engine.commit()


@contextmanager
def _restarted(h: Harness, kept: bool) -> Iterator[Harness]:
    """pfcpd killed and started again: a new engine and node, the CP associated again,
    ``h``'s journal restored; the datapath ``h``'s, its counters and programs kept (VPP: the
    events it raised meanwhile are lost), or a new one (the local datapath: the counters
    are lost with the process)."""
    h.dp.poll_events()  # (raised while pfcpd was away: no one took them)
    dp = h.dp if kept else LocalDatapath(expected_sessions=16)
    if kept:
        dp.keeps_counts = lambda seid: True  # type: ignore[method-assign]
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        yield again
        again.check_sent_with_tshark()
        assert again.engine.metrics.errors.get("timer") == 0
    finally:
        if not kept:
            dp.close()


def test_a_quota_used_up_while_away_is_reported_after_the_restart(h: Harness) -> None:
    """One packet counted and checkpointed, then, pfcpd away, the next uses the quota up
    (the datapath drops the one after): the restarted engine reports VOLQU once, with both
    packets, and the traffic stays dropped."""
    _, teid = _session(h, _quota())
    assert _uplink(h.dp, teid, 1) == [FORWARD]
    _checkpointed(h)
    assert _uplink(h.dp, teid, 2) == [FORWARD, DROP]  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.1)
        assert _reports(sent) == [("VOLQU", 0, LIMIT)]
        again.answer_all(sent)
        assert _uplink(again.dp, teid, 2) == [DROP, DROP]
        assert again.advance(2.0) == []


def test_a_threshold_crossed_while_away_is_reported_after_the_restart(h: Harness) -> None:
    """A threshold reported once (UR-SEQN 0), then crossed again while pfcpd is away (its
    event lost, the datapath keeping it marked reported): the restarted engine reports it
    (UR-SEQN 1) with the counts since the first report, and the threshold counts whole
    again from there (a report at the next crossing, not before)."""
    _, teid = _session(h, _threshold())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    sent = h.advance(0.1)
    assert _reports(sent) == [("VOLTH", 0, LIMIT)]
    h.answer_all(sent)
    assert _uplink(h.dp, teid, 1) == [FORWARD]
    _checkpointed(h)
    assert _uplink(h.dp, teid, 1) == [FORWARD]  # (pfcpd away: the threshold crossed)
    with _restarted(h, kept=True) as again:
        sent = again.advance(0.1)
        assert _reports(sent) == [("VOLTH", 1, LIMIT)]
        again.answer_all(sent)
        assert _uplink(again.dp, teid, 1) == [FORWARD]
        assert again.advance(1.0) == []
        assert _uplink(again.dp, teid, 1) == [FORWARD]
        sent = again.advance(0.1)
        assert _reports(sent) == [("VOLTH", 2, LIMIT)]
        again.answer_all(sent)


@pytest.mark.parametrize("limit", ["VOLTH", "VOLQU"])
def test_a_limit_reported_before_the_restart_is_not_reported_again(h: Harness, limit: str) -> None:
    """The limit reached, reported and answered before pfcpd goes; a packet while it is
    away (below the threshold again; dropped for the used-up quota): nothing to report
    after the restart."""
    _, teid = _session(h, _threshold() if limit == "VOLTH" else _quota())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    sent = h.advance(0.1)
    assert _reports(sent) == [(limit, 0, LIMIT)]
    h.answer_all(sent)
    _checkpointed(h)
    after = [FORWARD] if limit == "VOLTH" else [DROP]
    assert _uplink(h.dp, teid, 1) == after  # (pfcpd away)
    with _restarted(h, kept=True) as again:
        assert again.advance(2.0) == []
        assert _uplink(again.dp, teid, 1) == after
        sent = again.advance(0.1)
        assert _reports(sent) == ([(limit, 1, LIMIT)] if limit == "VOLTH" else [])


@pytest.mark.parametrize("limit", ["VOLTH", "VOLQU"])
def test_a_limit_the_lost_counts_reached_is_reported_after_the_restart(
    h: Harness, limit: str
) -> None:
    """The local datapath loses its counters with pfcpd: the counts the last checkpoint
    journaled reached the limit, its event not yet handled. The restarted engine reports
    it once, with those counts; the quota's traffic is dropped, the threshold counts whole
    again from the report."""
    _, teid = _session(h, _threshold() if limit == "VOLTH" else _quota())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    _checkpointed(h)
    with _restarted(h, kept=False) as again:
        sent = again.advance(0.1)
        assert _reports(sent) == [(limit, 0, LIMIT)]
        again.answer_all(sent)
        after = [FORWARD] if limit == "VOLTH" else [DROP]
        assert _uplink(again.dp, teid, 1) == after
        assert again.advance(2.0) == []


def test_limits_the_datapath_lost_the_events_of_are_reported(h: Harness) -> None:
    """The datapath lost events (VPP: a packet thread's queue of them full): a threshold's
    and a quota's, of two sessions. Told so (`Datapath.events_lost`), the engine checks
    every session's volume limits against the counts: each is reported once."""
    _, teid = _session(h, _threshold())
    other = [*R.session_rules(gnb_teid=0x200)[:-1], _quota()]
    resp = h.establish(*other, cp_seid=0xC0FFEF)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    packet = gtpu(ul_packet("10.45.0.2", PACKET - 28), fteid.teid)
    assert [h.dp.process_ul(packet).verdict for _ in range(3)] == [FORWARD, FORWARD, DROP]
    assert len(h.dp.poll_events()) == 2  # (lost)
    lost = [True]
    h.dp.events_lost = lambda: bool(lost and lost.pop())  # type: ignore[method-assign]
    sent = h.advance(0.1)
    assert sorted(_reports(sent)) == [("VOLQU", 0, LIMIT), ("VOLTH", 0, LIMIT)]
    h.answer_all(sent)
    assert h.advance(2.0) == []


def _limit_event_held_back(h: Harness, teid: int) -> tuple[list[DatapathEvent], list[bool]]:
    """Two uplink packets reach URR 1's limit; the datapath's event of it, raised now, is
    held back to the second poll, and the datapath tells once that events were lost (the
    check of the counts then runs first): the late events and the loss, each emptied when
    handed over."""
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    raised = h.dp.now_ns()
    late = [dataclasses.replace(ev, time_ns=raised) for ev in h.dp.poll_events()]
    assert [ev.id for ev in late] == [1]
    polled, polls = h.dp.poll_events, [0]

    def held_back() -> list[DatapathEvent]:  # (the late events: at the second poll)
        polls[0] += 1
        return polled() + ([late.pop() for _ in list(late)] if polls[0] > 1 else [])

    h.dp.poll_events = held_back  # type: ignore[method-assign]
    lost = [True]
    h.dp.events_lost = lambda: bool(lost and lost.pop())  # type: ignore[method-assign]
    return late, lost


@pytest.mark.parametrize("limit", ["VOLTH", "VOLQU"])
def test_a_limit_the_check_reported_is_not_reported_again_on_its_late_event(
    h: Harness, limit: str
) -> None:
    """The check of the counts after lost events reads them past the limit before the
    datapath's event of it reaches the engine (VPP sends its events every few
    milliseconds): the check reports the limit, and the event, raised before that
    report's read and handed over at the next poll, is not reported again."""
    _, teid = _session(h, _threshold() if limit == "VOLTH" else _quota())
    late, lost = _limit_event_held_back(h, teid)
    h.engine.poll_datapath(h.now)  # (the check: the event still on its way)
    assert not lost and late
    sent = h.advance(0.1)  # (the event comes)
    assert not late
    assert _reports(sent) == [(limit, 0, LIMIT)]
    h.answer_all(sent)
    assert h.advance(2.0) == []


def test_a_checked_report_s_late_event_is_not_reported_after_a_rolled_back_update(
    h: Harness,
) -> None:
    """An Update URR of the session is staged (its URR's book replaced by a copy), then
    the check of the counts after lost events reports the threshold on that copy before
    the datapath's event of it reaches the engine (the node's timer runs before the
    batch's commit); the journal refuses the batch. The undo puts back the book the update
    replaced, which continues the same measurement: the time of the check's read goes
    with it, and the late event is not reported again (a duplicate of the counts the
    check's report carried)."""
    seid, teid = _session(h, _threshold())
    late, lost = _limit_event_held_back(h, teid)
    update = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], seid), 400)
    h.engine.poll_datapath(h.now)  # (the check: the event still on its way)
    assert not lost and late
    h.journal.fail_next = 1
    sent = h._collect()
    assert [cause(m) for m in sent if m.msg_type == M.SESSION_MODIFICATION_RESPONSE] == [77]
    assert _reports(sent) == [("VOLTH", 0, LIMIT)]
    h.answer_all(sent)
    assert h.advance(0.1) == []  # (the event comes)
    assert not late


@pytest.mark.parametrize("clock", ["begun anew", "past the window"])
def test_an_event_after_a_checked_report_is_reported(h: Harness, clock: str) -> None:
    """After the check reported a threshold, the datapath's clock begins anew (VPP
    restarted while pfcpd ran on: its events' times and pfcpd's estimate of its clock
    start again near 0), or more than LATE_WINDOW_NS pass: the next crossing's event,
    raised before that report by the time it carries, is not taken for late. A report
    lost would leave the CP without it; the check's window only drops what comes late."""
    _, teid = _session(h, _threshold())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    assert [ev.id for ev in h.dp.poll_events()] == [1]  # (lost)
    lost = [True]
    h.dp.events_lost = lambda: bool(lost and lost.pop())  # type: ignore[method-assign]
    h.engine.poll_datapath(h.now)  # (the check reports it)
    sent = h.advance(0.1)
    assert _reports(sent) == [("VOLTH", 0, LIMIT)]
    h.answer_all(sent)
    checked = h.dp.now_ns()
    now = 5_000 if clock == "begun anew" else checked + LATE_WINDOW_NS + 1
    h.dp.now_ns = lambda: now  # type: ignore[method-assign]
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]  # (the threshold again)
    polled = h.dp.poll_events
    h.dp.poll_events = lambda: [  # type: ignore[method-assign]
        dataclasses.replace(ev, time_ns=min(1_000, checked - 1)) for ev in polled()
    ]
    sent = h.advance(0.1)
    assert _reports(sent) == [("VOLTH", 1, LIMIT)]


@pytest.mark.parametrize("restart", [None, "kept", "lost"])
def test_a_refused_threshold_report_then_a_packet_reports_the_same_after_a_restart(
    h: Harness, restart: str | None
) -> None:
    """A threshold report the CP refuses (cause 64): its counts go back as the URR's
    baseline, and the datapath is given the threshold less it (here: 1 octet, the
    baseline at the threshold). The next packet reaches it: reported with the baseline,
    by the engine that refused it (the datapath's event) as by a restarted one, whether
    the datapath kept its counters (the check of the counts) or lost them (a counter
    anew, given the threshold less the journal's baseline)."""
    _, teid = _session(h, _threshold())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    (sent,) = h.advance(0.1)
    assert _reports([sent]) == [("VOLTH", 0, LIMIT)]
    h.answer(sent, 64)
    _checkpointed(h)
    if restart is None:
        assert _uplink(h.dp, teid, 1) == [FORWARD]
        sent2 = h.advance(0.1)
        assert _reports(sent2) == [("VOLTH", 1, LIMIT + PACKET)]
        return
    if restart == "kept":
        assert _uplink(h.dp, teid, 1) == [FORWARD]  # (pfcpd away)
    with _restarted(h, kept=restart == "kept") as again:
        if restart == "lost":
            assert _uplink(again.dp, teid, 1) == [FORWARD]
        sent2 = again.advance(0.1)
        assert _reports(sent2) == [("VOLTH", 1, LIMIT + PACKET)]
        again.answer_all(sent2)


def test_a_check_whose_read_fails_is_made_again(h: Harness) -> None:
    """The datapath fails the check's read of a session's counts (VPP: a timeout): the
    session is checked again at a later poll, and its limit reported once; a datapath
    that keeps failing is given up after LIMIT_CHECK_TRIES checks (nothing reported)."""
    _, teid = _session(h, _threshold())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    h.dp.poll_events()  # (lost)
    reads = h.dp.read_usage
    failing = [True, True]  # (the first two reads without reset fail)

    def read_usage(seid: int, urr_id: int, reset: bool = False) -> Usage:
        if not reset and failing:
            failing.pop()
            raise DatapathError("VPP did not answer within 1 s")
        return reads(seid, urr_id, reset)

    h.dp.read_usage = read_usage  # type: ignore[method-assign]
    lost = [True]
    h.dp.events_lost = lambda: bool(lost and lost.pop())  # type: ignore[method-assign]
    sent = h.advance(0.5)
    assert not failing
    assert _reports(sent) == [("VOLTH", 0, LIMIT)]
    h.answer_all(sent)
    assert h.advance(2.0) == []
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    h.dp.poll_events()  # (lost again)
    failing += [True] * LIMIT_CHECK_TRIES
    lost.append(True)
    assert h.advance(2.0) == []
    assert not failing and h.engine._limit_checks == []


@pytest.mark.parametrize("change", ["quota", "trigger"])
def test_a_limit_found_at_restore_is_not_reported_once_a_change_made_it_stale(
    h: Harness, change: str
) -> None:
    """A quota the journal's counts used up (found at the restore of the local datapath,
    reported at the first poll) is then checked as the datapath's event of it would be
    (`_urr_reports`): a new quota the CP grants before that poll is not used up, and a
    URR whose triggers no longer have VOLQU does not report it: nothing reported."""
    seid, teid = _session(h, _quota())
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    _checkpointed(h)
    if change == "quota":
        update = g(T.UPDATE_URR, S.URRID(1), TR.VolumeQuota(total=10 * LIMIT))
    else:
        update = g(
            T.UPDATE_URR,
            S.URRID(1),
            F.ReportingTriggers.of("VOLTH"),
            TR.VolumeThreshold(total=10**12),
        )
    with _restarted(h, kept=False) as again:
        assert again.engine._limits_found  # (found at restore)
        assert cause(again.modify(seid, update)) == 1
        assert _reports(again.advance(2.0)) == []


def _sessions_over_threshold(h: Harness, n: int) -> list[int]:
    """``n`` sessions whose URR 1's threshold two uplink packets crossed, their events lost;
    and a session with the same URR and no traffic. Their UP SEIDs, the idle one last."""
    seids = []
    for i in range(n + 1):
        rules = [*R.session_rules(gnb_teid=0x200 + i)[:-1], _threshold()]
        resp = h.establish(*rules, cp_seid=0xC0FFEE + i)
        assert cause(resp) == 1
        fteid = created(resp)[1][T.F_TEID]
        assert isinstance(fteid, A.FTEID) and fteid.teid is not None
        seids.append(up_seid(resp))
        if i < n:
            packet = gtpu(ul_packet(f"10.45.0.{i + 1}", PACKET - 28), fteid.teid)
            assert [h.dp.process_ul(packet).verdict for _ in range(2)] == [FORWARD, FORWARD]
    assert len(h.dp.poll_events()) == n  # (lost)
    return seids


def test_lost_events_check_every_session_a_slice_per_poll(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After lost events, the sessions are checked ``checkpoint_batch`` per poll (here 1)
    from a cursor over them; another loss midway starts it again: each threshold is
    reported once. A URR with no octets since its last report is not compiled."""
    from pfcpd.session import reports

    h.engine.settings = dataclasses.replace(h.engine.settings, checkpoint_batch=1)
    seids = _sessions_over_threshold(h, 3)
    compiled: list[int] = []
    limits = reports.volume_limits_reached

    def counted(urr_id: int, *args: object) -> list[str]:
        compiled.append(urr_id)
        return limits(urr_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reports, "volume_limits_reached", counted)
    losses = [True, False, True]  # (lost at the first poll and again at the third)
    h.dp.events_lost = lambda: bool(losses and losses.pop())  # type: ignore[method-assign]
    per_poll = []
    for _ in range(7):
        h.engine.poll_datapath(h.now)
        per_poll.append(len(usage_reports(h._collect())))
    # (the second loss starts again from the first session: the two reported are
    # checked again, their counts since zero, then the third reported)
    assert per_poll == [1, 1, 0, 0, 1, 0, 0]
    assert len(compiled) == 3 and h.engine._limit_sweep is None
    assert all(h.engine.sessions[s].urrs[1].seqn == 1 for s in seids[:3])


def test_the_check_waits_for_the_datapath_s_usage_cache(h: Harness) -> None:
    """A datapath whose reads would wait for it until its usage cache is filled (VPP, just
    connected): the check reads no counts until it is (`Datapath.usage_cached`)."""
    _sessions_over_threshold(h, 1)
    cached = [False]
    h.dp.usage_cached = lambda: cached[0]  # type: ignore[method-assign]
    reads = h.dp.read_usage
    read: list[int] = []

    def read_usage(seid: int, urr_id: int, reset: bool = False) -> Usage:
        read.append(seid)
        return reads(seid, urr_id, reset)

    h.dp.read_usage = read_usage  # type: ignore[method-assign]
    lost = [True]
    h.dp.events_lost = lambda: bool(lost and lost.pop())  # type: ignore[method-assign]
    for _ in range(3):
        h.engine.poll_datapath(h.now)
    assert read == [] and usage_reports(h._collect()) == []
    cached[0] = True
    h.engine.poll_datapath(h.now)
    assert _reports(h._collect()) == [("VOLTH", 0, LIMIT)]

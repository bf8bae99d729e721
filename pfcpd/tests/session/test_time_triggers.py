"""Time-driven usage reports: time threshold (the datapath's clock), periodic, start and stop
of traffic, quota holding time. The datapath's clock follows the harness's node clock."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest
from oracles import tshark_ies
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    g,
    gtpu,
    qer,
    restarted,
    ul_far,
    ul_packet,
    ul_pdr,
    urr,
    usage_reports,
)
from test_pfd_and_sets import dl, pfd_request

from pfcpd.datapath.interface import DatapathEvent, EventType, SessionProgram, Usage
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal
from pfcpd.session.usage import Counts

T = IEType
M = MessageType
UE = "10.45.0.1"


def _triggers(sent: list[Message]) -> list[tuple[int, list[str]]]:
    return [
        (r.get(T.URR_ID).value, r.get(T.USAGE_REPORT_TRIGGER).names())  # type: ignore[union-attr]
        for r in usage_reports(sent)
    ]


def _teid(h: Harness, *rules: Grouped) -> int:
    resp = h.establish(*rules)
    return created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def test_time_threshold(ht: Harness) -> None:
    teid = _teid(
        ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMTH", t=S.TimeThreshold(2))
    )
    ht.dp.process_ul(gtpu(ul_packet(UE), teid))
    assert _triggers(ht.advance(1.5)) == []
    sent = ht.advance(1.0)
    assert _triggers(sent) == [(1, ["TIMTH"])]
    ht.answer_all(sent)


def test_start_stop_and_holding_time(ht: Harness) -> None:
    rule = urr(
        1, "START", "STOPT", "QUHTI", idt=S.InactivityDetectionTime(2), qht=S.QuotaHoldingTime(5)
    )
    teid = _teid(ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    ht.dp.process_ul(gtpu(ul_packet(UE), teid))
    sent = ht.advance(0.2)
    assert _triggers(sent) == [(1, ["START"])]
    ht.answer_all(sent)
    sent = ht.advance(2.5)
    assert _triggers(sent) == [(1, ["STOPT"])]
    ht.answer_all(sent)
    sent = ht.advance(3.0)
    assert _triggers(sent) == [(1, ["QUHTI"])]
    ht.answer_all(sent)


def _holding(h: Harness) -> tuple[int, bytes]:
    """A session whose URR has a Volume Quota and a Quota Holding Time of 2 s (QUHTI); its
    UP SEID and an uplink packet of it."""
    rule = urr(1, "VOLQU", "QUHTI", vq=TR.VolumeQuota(total=10**6), qht=S.QuotaHoldingTime(2))
    teid = _teid(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    return book_seid(h), gtpu(ul_packet(UE), teid)


def _idle(h: Harness, seconds: float) -> list[tuple[int, list[str]]]:
    """The reports of ``seconds`` more, each answered as it comes."""
    out = []
    for _ in range(round(seconds / 0.5)):
        sent = h.advance(0.5)
        out += _triggers(sent)
        h.answer_all(sent)
    return out


def test_quota_holding_time_is_reported_once_until_traffic(ht: Harness) -> None:
    """TS 29.244 5.2.2.2.1, TS 32.299 7.2.160: the quota is deemed expired once the Quota
    Holding Time passes without traffic: one QUHTI report, none more however long the UE
    stays idle; traffic starts the holding time again (one more report a holding time
    after it)."""
    _, packet = _holding(ht)
    ht.dp.process_ul(packet)
    assert _idle(ht, 10.0) == [(1, ["QUHTI"])]
    ht.dp.process_ul(packet)
    assert _idle(ht, 1.5) == []
    assert _idle(ht, 8.5) == [(1, ["QUHTI"])]


def test_a_quota_holding_time_report_the_cp_refuses_is_sent_again(ht: Harness) -> None:
    """A QUHTI report the CP does not take (refused here; never answered alike) did not
    tell it the quota was deemed expired: it is reported again a holding time later, until
    one is taken, then no more."""
    _, packet = _holding(ht)
    ht.dp.process_ul(packet)
    refused: list[tuple[float, list[str]]] = []
    for _ in range(16):  # 8 s, each report refused
        sent = ht.advance(0.5)
        refused += [(ht.now, trig) for _, trig in _triggers(sent)]
        for m in sent:
            ht.answer(m, 64)
    times = [t for t, trig in refused if trig == ["QUHTI"]]
    assert len(times) == 3 and all(b - a >= 2.0 for a, b in itertools.pairwise(times)), refused
    assert _idle(ht, 2.5) == [(1, ["QUHTI"])]  # taken: no more
    assert _idle(ht, 8.0) == []


@pytest.mark.parametrize(
    "grant",
    [TR.VolumeQuota(total=10**6), S.TimeQuota(60), S.QuotaHoldingTime(2)],
    ids=["volume quota", "time quota", "holding time"],
)
def test_a_new_grant_starts_the_quota_holding_time_again(ht: Harness, grant: IE) -> None:
    """After its QUHTI report the holding time counts again from an Update URR with a new
    Volume or Time Quota or a new Quota Holding Time, not from one changing something else;
    nor from a grant the journal refused (the change undone)."""
    seid, packet = _holding(ht)
    ht.dp.process_ul(packet)
    assert _idle(ht, 5.0) == [(1, ["QUHTI"])]
    other = g(T.UPDATE_URR, S.URRID(1), TR.VolumeThreshold(total=10**7))
    assert cause(ht.modify(seid, other)) == 1
    assert _idle(ht, 5.0) == []
    ht.journal.fail_next = 1
    (answer,) = ht.batch(
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [g(T.UPDATE_URR, S.URRID(1), grant)], seid)
    )
    assert cause(answer) == 77
    assert _idle(ht, 5.0) == []
    assert cause(ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), grant))) == 1
    assert _idle(ht, 1.5) == []
    assert _idle(ht, 5.0) == [(1, ["QUHTI"])]


@pytest.mark.parametrize("kept", [True, False], ids=["counters kept", "counters lost"])
def test_a_reported_quota_holding_time_stays_reported_after_a_restart(
    ht: Harness, kept: bool
) -> None:
    """The journal keeps that the holding time was reported: the restarted engine reports
    no QUHTI while the UE stays idle, on a datapath that kept its counters (VPP) or lost
    them (the local one); traffic after the restart starts the holding time again."""
    _, packet = _holding(ht)
    ht.dp.process_ul(packet)
    assert _idle(ht, 3.0) == [(1, ["QUHTI"])]
    (record,) = (v for k, v in ht.records.items() if k != "pfd")
    assert json.loads(record)["urrs"]["1"]["held"] is True
    dp = ht.dp if kept else LocalDatapath(expected_sessions=16)
    dp.keeps_counts = lambda seid: kept  # type: ignore[method-assign]
    journal = MemoryJournal()
    journal.records = dict(ht.journal.records)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        assert _idle(again, 10.0) == []
        dp.process_ul(packet)
        assert _idle(again, 5.0) == [(1, ["QUHTI"])]
        again.check_sent_with_tshark()
    finally:
        if not kept:
            dp.close()


def test_periodic_reports_every_period(ht: Harness) -> None:
    teid = _teid(
        ht,
        ul_pdr(),
        dl_pdr(),
        ul_far(),
        dl_far(),
        qer(),
        urr(1, "PERIO", mp=S.MeasurementPeriod(2)),
    )
    ht.dp.process_ul(gtpu(ul_packet(UE), teid))
    sent = ht.advance(4.1)
    assert _triggers(sent) == [(1, ["PERIO"]), (1, ["PERIO"])]
    seqns = {
        m.seq: m.get(T.USAGE_REPORT_REPORT_REQUEST).get(T.UR_SEQN).value  # type: ignore[union-attr]
        for m in sent
        if m.msg_type == M.SESSION_REPORT_REQUEST
    }
    assert sorted(seqns.values()) == [0, 1]
    ht.answer_all(sent)


def test_time_quota_reports_and_stops_traffic(ht: Harness) -> None:
    from pfcpd.datapath.local.engine import Verdict

    rule = urr(1, "TIMQU", tq=S.TimeQuota(2))
    teid = _teid(ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    assert ht.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == Verdict.FORWARD
    sent = ht.advance(2.5)
    assert _triggers(sent) == [(1, ["TIMQU"])]
    ht.answer_all(sent)
    assert ht.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == Verdict.DROP


def test_time_quota_counts_from_its_grant_across_reports(ht: Harness) -> None:
    """A Time Quota the datapath meters counts from its grant: the periodic reports and a
    Query URR meanwhile read the counts with reset, each starting a measurement period, not
    a quota (with 1 s periods, a 3 s quota metered per period would never run out). A new
    grant starts a new quota, reported in turn (not taken for an event of the quota before)."""
    rule = urr(1, "PERIO", "TIMQU", mp=S.MeasurementPeriod(1), tq=S.TimeQuota(3))
    teid = _teid(ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    seid = next(iter(ht.engine.sessions))
    reports: list[tuple[float, list[str]]] = []
    verdicts: list[tuple[float, int]] = []

    def traffic(until: float) -> None:
        while ht.now < until - 1e-9:
            verdicts.append((ht.now, ht.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict))
            sent = ht.advance(0.1)
            reports.extend((ht.now, trig) for _, trig in _triggers(sent))
            ht.answer_all(sent)

    start = ht.now  # the first packet: the quota starts
    traffic(start + 1.5)
    resp = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    assert resp.get(T.USAGE_REPORT_MODIFICATION_RESPONSE) is not None
    traffic(start + 5.0)
    timqu = [t for t, trig in reports if "TIMQU" in trig]
    assert len(timqu) == 1 and start + 3.0 <= timqu[0] <= start + 3.5, reports
    assert len([t for t, trig in reports if trig == ["PERIO"] and t < timqu[0]]) >= 2
    assert all(v == Verdict.FORWARD for t, v in verdicts if t < start + 2.9)
    assert all(v == Verdict.DROP for t, v in verdicts if t > timqu[0])
    # granted again: forwarded, used up 2 s after the grant, periodic reports meanwhile
    reports.clear()
    verdicts.clear()
    granted = ht.now
    assert cause(ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(2)))) == 1
    traffic(granted + 4.0)
    timqu = [t for t, trig in reports if "TIMQU" in trig]
    assert len(timqu) == 1 and granted + 2.0 <= timqu[0] <= granted + 2.5, reports
    assert any(trig == ["PERIO"] for t, trig in reports if t < timqu[0])
    assert all(v == Verdict.FORWARD for t, v in verdicts if t < granted + 1.9)
    assert all(v == Verdict.DROP for t, v in verdicts if t > timqu[0])


def test_time_quota_grants_are_journaled(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restored engine installs each Time Quota with the grant the datapath holds (the vpp
    datapath keeps its sessions across a pfcpd restart): the quota goes on from its start,
    not re-armed by the restore. A session whose quota was granted again is journaled as
    JSON (the binary record holds no grants) and reads back whole."""
    installed: dict[int, SessionProgram] = {}
    install = LocalDatapath.install

    def spy(dp: LocalDatapath, seid: int, program: SessionProgram, **kwargs: Any) -> None:
        installed[seid] = program
        install(dp, seid, program, **kwargs)

    monkeypatch.setattr(LocalDatapath, "install", spy)
    _teid(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMQU", tq=S.TimeQuota(60)))
    seid = next(iter(h.engine.sessions))
    for _ in range(2):
        assert cause(h.modify(seid, g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(60)))) == 1
    assert [u.time_quota_grant for u in installed.pop(seid).urrs] == [2]
    with restarted(h, 1) as engine:
        assert engine.sessions[seid].urrs[1].time_grants == 2
        assert [u.time_quota_grant for u in installed.pop(seid).urrs] == [2]


def test_time_threshold_and_quota_count_the_time_metered(ht: Harness) -> None:
    """With an Inactivity Detection Time the time metered pauses without traffic; the
    Time Threshold and the Time Quota count that time, not the time since the first packet
    (the engine applies them: the datapath meters without pause)."""
    from pfcpd.datapath.local.engine import Verdict

    rule = urr(
        1,
        "TIMTH",
        "TIMQU",
        t=S.TimeThreshold(3),
        tq=S.TimeQuota(5),
        idt=S.InactivityDetectionTime(1),
    )
    teid = _teid(ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)

    sent: list[Message] = []

    def packet_at(t: float) -> int:
        sent.extend(ht.advance(t - ht.now))
        return ht.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict

    packet_at(1.0)  # metered 1..2
    packet_at(5.0)  # (the datapath's clock: 3 s at 4)
    packet_at(5.9)
    packet_at(6.8)  # metered 5..7.8: 3 s reached at 7
    assert _triggers(sent) == []
    sent.extend(ht.advance(7.6 - ht.now))
    [report] = usage_reports(sent)
    assert report.get(T.USAGE_REPORT_TRIGGER).names() == ["TIMTH"]  # type: ignore[union-attr]
    assert report.get(T.DURATION_MEASUREMENT).value == 3  # type: ignore[union-attr]
    ht.answer_all(sent)
    sent.clear()
    # The quota counts across reports: 3.8 s metered by 7.8, then from 20.
    assert packet_at(20.0) == Verdict.FORWARD
    sent.extend(ht.advance(1.0))
    assert _triggers(sent) == []
    assert packet_at(21.0) == Verdict.FORWARD  # 5 s reached at 21.2
    sent.extend(ht.advance(0.6))
    assert _triggers(sent) == [(1, ["TIMQU"])]
    ht.answer_all(sent)
    assert packet_at(23.0) == Verdict.DROP
    # A new Time Quota: forwarded again.
    seid = next(iter(ht.engine.sessions))
    update = g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(60))
    assert ht.modify(seid, update).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    assert packet_at(24.0) == Verdict.FORWARD


def test_no_reads_without_reset_until_the_usage_cache_is_filled(ht: Harness) -> None:
    """A datapath whose reads would wait for it, a session at a time, until its usage cache
    is filled (VPP just (re)connected: `Datapath.usage_cached`): traffic activity and the
    checkpoints read nothing meanwhile, the timer does not fire over and over, and the
    first poll after the cache is filled reads and reports (START) and checkpoints."""
    teid = _teid(ht, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "START"))
    cached = [False]
    ht.dp.usage_cached = lambda: cached[0]  # type: ignore[method-assign]
    reads = ht.dp.read_usage
    unreset: list[int] = []

    def read_usage(seid: int, urr_id: int, reset: bool = False) -> Usage:
        if not reset:
            unreset.append(seid)
        return reads(seid, urr_id, reset)

    ht.dp.read_usage = read_usage  # type: ignore[method-assign]
    fired = [0]
    handle = ht.node.handle_timer

    def handle_timer(now: float) -> None:
        fired[0] += 1
        handle(now)

    ht.node.handle_timer = handle_timer  # type: ignore[method-assign]
    ht.dp.process_ul(gtpu(ul_packet(UE), teid))
    settings = ht.engine.settings
    waited = 2 * max(settings.checkpoint_interval, settings.activity_interval)
    assert _triggers(ht.advance(waited)) == [] and unreset == []
    assert fired[0] <= 2 * waited / settings.poll_interval + 2  # (no timer due at once)
    (book,) = (session.urrs[1] for session in ht.engine.sessions.values())
    assert not any(book.dp_seen.values)  # (no checkpoint read the packet's counts)
    cached[0] = True
    sent = ht.advance(settings.poll_interval)
    assert _triggers(sent) == [(1, ["START"])]
    ht.answer_all(sent)
    assert book.dp_seen == Counts.of(reads(book_seid(ht), 1)) and any(book.dp_seen.values)


def book_seid(h: Harness) -> int:
    """The UP SEID of the harness's one session."""
    (seid,) = h.engine.sessions
    return seid


@pytest.mark.parametrize("pause", ["rolled back", "ended"])
def test_a_used_up_time_quota_stays_used_up_after_a_pause(ht: Harness, pause: str) -> None:
    """A Time Quota the datapath meters, used up and reported (TIMQU: its traffic dropped).
    The CP pauses the measurement (INAM: its program has no quota), in a batch the journal
    refuses (rolled back), or pauses it and ends the pause without a new quota: the used-up
    quota is in force again, its traffic dropped, after a restart too, and TIMQU is not
    reported a second time (the datapath's install re-arms a time quota whose value
    changes, with no clock to see it used up). While paused no quota applies; a new Time
    Quota forwards again."""
    h = ht
    teid = _teid(
        h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMQU", tq=S.TimeQuota(2))
    )
    seid = next(iter(h.engine.sessions))
    packet = gtpu(ul_packet(UE), teid)
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    sent = h.advance(2.5)
    assert _triggers(sent) == [(1, ["TIMQU"])]
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    paused = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP", "INAM"))
    if pause == "rolled back":
        h.journal.fail_next = 1
        (answer,) = h.batch(Message(M.SESSION_MODIFICATION_REQUEST, 0, [paused], seid))
        assert cause(answer) == 77
    else:
        assert cause(h.modify(seid, paused)) == 1
        assert h.dp.process_ul(packet).verdict == Verdict.FORWARD  # (no quota applies)
        resumed = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
        assert cause(h.modify(seid, resumed)) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    assert _triggers(h.advance(5.0)) == []
    with restarted(h, 1) as engine:
        assert isinstance(engine.datapath, LocalDatapath)
        assert engine.datapath.process_ul(packet).verdict == Verdict.DROP
    granted = g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(60))
    assert cause(h.modify(seid, granted)) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD


def test_a_time_quota_event_from_before_a_grant_is_not_reported(ht: Harness) -> None:
    """The datapath's TIMQU event of a used-up Time Quota reaches the engine after the CP
    granted a new one (VPP sends its events every few milliseconds; the event carries the
    time it was raised): it is about the quota before, not reported, and the new quota is
    not taken for used up (a later change's program still forwards)."""
    h = ht
    rule = urr(1, "TIMQU", tq=S.TimeQuota(2))
    teid = _teid(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    seid = next(iter(h.engine.sessions))
    packet = gtpu(ul_packet(UE), teid)
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    polled, held, release = h.dp.poll_events, [], [False]

    def poll_events() -> list[DatapathEvent]:  # (the events raised: held until released)
        now = h.dp.now_ns()
        held.extend(dataclasses.replace(ev, time_ns=now) for ev in polled())
        if not release[0]:
            return []
        out = list(held)
        held.clear()
        return out

    h.dp.poll_events = poll_events  # type: ignore[method-assign]
    assert _triggers(h.advance(2.5)) == []
    assert [ev.type for ev in held] == [EventType.TIME_QUOTA]
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    assert cause(h.modify(seid, g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(60)))) == 1
    release[0] = True
    assert _triggers(h.advance(0.5)) == []
    assert not held
    assert cause(h.modify(seid, g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("TIMQU")))) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD


def _application_session(h: Harness, *app_pdi_ue: IE) -> int:
    """The PFDs of "web" (UDP from port 443) provisioned; PDRs 1 and 2 (no application) link
    URR 1, and PDR 3, downlink, whose PDI names "web" (with the UE IP Address given, none
    if none is), links URR 2: both report START and STOPT (an Inactivity Detection Time of
    2 s), as an SMF sets up for the PCF's APP_STA/APP_STO. The uplink TEID."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    pdi = g(T.PDI, S.SourceInterface(1), X.NetworkInstance("internet"), *app_pdi_ue)
    pdi.ies.append(X.ApplicationID("web"))
    pdr3 = g(T.CREATE_PDR, S.PDRID(3), S.Precedence(10), pdi, S.FARID(3), S.URRID(2))
    idt = S.InactivityDetectionTime(2)
    rules = (urr(1, "START", "STOPT", idt=idt), urr(2, "START", "STOPT", idt=idt))
    return _teid(h, ul_pdr(), dl_pdr(), pdr3, ul_far(), dl_far(), far3, qer(), *rules)


_ADI_FIELDS = ("pfcp.application_id_str", "pfcp.application_instance_id", "pfcp.pdr_id")
Fields = dict[str, list[str]]  # tshark's fields of an IE: name -> every value shown


def _application_reports(
    sent: list[Message],
) -> dict[int, tuple[list[str], Fields | None, Fields | None]]:
    """URR ID -> (its Usage Report's triggers, its Application Detection Information (as
    tshark's PFCP dissector reads it: field -> values, of it and its IEs) or None, its UE IP
    Address (tshark's fields) or None); tshark reads each Usage Report as pfcpd built it."""
    out: dict[int, tuple[list[str], Fields | None, Fields | None]] = {}
    reports = [m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
    for message in tshark_ies([encode(m) for m in reports]):
        for report in (ie for ie in message if ie.type == T.USAGE_REPORT_REPORT_REQUEST):
            (urr_id,) = report.all(T.URR_ID)
            (trigger,) = report.all(T.USAGE_REPORT_TRIGGER)
            on = [name for name, values in trigger.fields.items() if values == ["1"]]
            names = sorted(name.split(".")[-1].upper() for name in on)
            adis = report.all(T.APPLICATION_DETECTION_INFORMATION)
            adi: Fields | None = None
            if adis:
                (one,) = adis
                adi = {k: v for c in one.children for k, v in c.fields.items() if k in _ADI_FIELDS}
            ues = report.all(T.UE_IP_ADDRESS)
            ue = ues[0].fields if ues else None
            out[int(urr_id.fields["pfcp.urr_id"][0])] = (names, adi, ue)
    return out


def test_start_and_stop_of_application_traffic_report_the_application(ht: Harness) -> None:
    """TS 29.244 8.2.19 (START, STOPT: the start or stop of an SDF's or an application's
    traffic), Table 7.5.8.3-1 (Usage Report in the Session Report Request: the Application
    Detection Information "shall be present if application detection information needs to
    be reported"), Table 7.5.8.3-2 (its Application ID identifies the application whose
    traffic started or stopped; the PDR ID, optional, the PDR that detected it).

    A packet of "web" matches PDR 3, whose PDI names the application: the START and then
    the STOPT Usage Reports of its URR 2 carry an Application Detection Information with
    Application ID "web" and PDR ID 3 (read by tshark's PFCP dissector), and no UE IP
    Address (PDR 3's PDI gives one). URR 1, of PDRs naming no application, reports START
    and STOPT of its traffic without one."""
    teid = _application_session(ht, A.UEIPAddress(choose_v4=True))
    assert ht.dp.process_dl(dl(443)).pdr_id == 3  # the application's traffic
    assert ht.dp.process_ul(gtpu(ul_packet(UE), teid)).pdr_id == 1
    web = {"pfcp.application_id_str": ["web"], "pfcp.pdr_id": ["3"]}
    for step, trigger in ((1.0, "START"), (2.5, "STOPT")):
        sent = ht.advance(step)
        reports = _application_reports(sent)
        assert reports == {1: ([trigger], None, None), 2: ([trigger], web, None)}
        ht.answer_all(sent)


def test_application_traffic_of_a_pdi_without_ue_address_reports_the_ue_address(
    ht: Harness,
) -> None:
    """TS 29.244 Table 7.5.8.3-1: the Usage Report carries the UE IP Address when the start
    or stop of an application is detected and no UE IP address was provided in the PDI.
    PDR 3's PDI names "web" and gives no UE IP Address: its URR's START report carries the
    session's (the one chosen for PDR 1, 10.45.0.1; S/D 0, outside a PDI)."""
    _application_session(ht)
    assert ht.dp.process_dl(dl(443)).pdr_id == 3
    reports = _application_reports(ht.advance(1.0))
    [(triggers, adi, ue)] = reports.values()
    assert list(reports) == [2] and triggers == ["START"] and adi is not None
    assert ue is not None and ue["pfcp.ue_ip_addr_ipv4"] == [UE]
    assert ue["pfcp.ue_ip_address_flag.sd"] == ["0"]

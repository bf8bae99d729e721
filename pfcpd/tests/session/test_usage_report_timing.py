"""When usage reports are due (TS 29.244 5.2.2): the periodic schedule across an Update URR
that gives no Measurement Period and across a restart; the start of traffic and a volume
threshold's event when another report read the counts first; linked usage reporting in a
chain of URRs, whatever their order. The ``ht`` fixture (conftest.py): node clock, datapath
clock and NTP clock move together; NTP_NOW is the NTP time at t=0.
"""

from __future__ import annotations

import pytest
from session_harness import (
    NTP_NOW,
    Harness,
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

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import Grouped, IEType, MessageType
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal

T = IEType
M = MessageType
UE = "10.45.0.1"


def _start(ht: Harness, *rules: Grouped) -> tuple[int, int]:
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), *rules)
    return up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def _value(report: Grouped, ie_type: int) -> int | None:
    ie = report.get(ie_type)
    return None if ie is None else ie.value  # type: ignore[attr-defined]


def _seen(reports: list[Grouped]) -> list[tuple[int, list[str], float | None, float | None]]:
    """(URR ID, triggers, Start Time, End Time) of each report, times relative to NTP_NOW."""
    out = []
    for r in reports:
        start, end = _value(r, T.START_TIME), _value(r, T.END_TIME)
        out.append(
            (
                _value(r, T.URR_ID),
                r.get(T.USAGE_REPORT_TRIGGER).names(),  # type: ignore[union-attr]
                None if start is None else start - NTP_NOW,
                None if end is None else end - NTP_NOW,
            )
        )
    return out


# The periodic schedule --------------------------------------------------------------------
def test_update_urr_without_a_new_measurement_period_keeps_the_periodic_schedule(
    ht: Harness,
) -> None:
    """TS 29.244 5.2.2.2.1 (Periodic Reporting, Measurement Period) and 7.5.4.4 (Update URR):
    the UP function reports a URR with PERIO each time its Measurement Period elapses. An
    Update URR that changes something else (here its Volume Threshold, as an SMF does on
    every re-grant from the OCS/PCF) leaves the Measurement Period as it was, so the
    periodic reports stay on their schedule: with a period of 10 s, the first one covers
    [0 s, 10 s].

    (Restarting the periodic timer at every Update URR moved the report to 18 s, the period
    reported [0 s, 18 s]: an SMF updating the URR more often than the period got no
    periodic report at all.)"""
    seid, _ = _start(
        ht,
        urr(1, "PERIO", "VOLTH", mp=S.MeasurementPeriod(10), vt=TR.VolumeThreshold(total=10**9)),
    )
    ht.advance(8.0)
    answer = ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), TR.VolumeThreshold(total=10**8)))
    assert _value(answer, T.CAUSE) == 1
    sent = ht.advance(2.5)  # t = 10.5 s
    assert _seen(usage_reports(sent)) == [(1, ["PERIO"], 0, 10)]
    ht.answer_all(sent)


def test_the_periodic_schedule_goes_on_across_a_restart(ht: Harness) -> None:
    """TS 29.244 5.2.2.2.1 (Periodic Reporting): a report each Measurement Period. A restart
    at 7 s of a 10 s period: the next report is due a period after the start of the period
    the journal holds, at 10 s, [0 s, 10 s] (restore.py), not a whole period after the
    restart ([0 s, 17 s])."""
    _start(ht, urr(1, "PERIO", mp=S.MeasurementPeriod(10)))
    ht.advance(7.0)
    ht.engine.commit()
    journal = MemoryJournal()
    journal.records = dict(ht.journal.records)
    dp = LocalDatapath(expected_sessions=16)
    try:
        again = Harness(dp, journal=journal)
        again.engine._ntp = lambda: NTP_NOW + 7.0 + again.now  # type: ignore[method-assign]
        assert again.engine.restore(journal.items(), again.now) == 1
        sent = again.advance(3.5)  # NTP 10.5 s
        assert _seen(usage_reports(sent)) == [(1, ["PERIO"], 0, 10)]
        again.answer_all(sent)
    finally:
        dp.close()


# Reports that read the counts first --------------------------------------------------------
def _reads_before_the_activity_check(ht: Harness, seid: int, how: str) -> list[Grouped]:
    """A report that reads the URR's counts with reset before the activity check saw them:
    the datapath's VOLTH event (polled every 50 ms), or a Query URR."""
    if how == "VOLTH":
        sent = ht.advance(0.1)
        ht.answer_all(sent)  # (not retransmitted later)
        return usage_reports(sent)
    answer = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    return [
        r for r in answer.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE) if isinstance(r, Grouped)
    ]


@pytest.mark.parametrize("how", ["VOLTH", "Query URR"])
def test_start_of_traffic_is_reported_when_another_report_read_the_counts_first(
    ht: Harness, how: str
) -> None:
    """TS 29.244 5.2.2.2.1 / 8.2.19 (Reporting Triggers START): the UP function reports when
    it detects the start of traffic of the URR. Traffic that starts and is read by another
    report (a volume threshold reached, a Query URR) before pfcpd's activity check is still
    the start of traffic: a START report is due (and a STOPT one after the Inactivity
    Detection Time).

    pfcpd detects START/STOPT/QUHTI activity by comparing the datapath's packet count with
    the one at the last activity check (timers.py `_time_triggers`, every 0.5 s); a report
    reads the counts with reset, and the packets it took that the check had not seen are
    traffic at the check's next pass (`UrrBook.read_with_reset`): START, then STOPT after
    the Inactivity Detection Time."""
    idt = S.InactivityDetectionTime(2)
    if how == "VOLTH":
        rule = urr(1, "START", "STOPT", "VOLTH", vt=TR.VolumeThreshold(total=100), idt=idt)
    else:
        rule = urr(1, "START", "STOPT", idt=idt)
    seid, teid = _start(ht, rule)
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # one packet of 128 octets, then idle
    first = _reads_before_the_activity_check(ht, seid, how)
    read = ["VOLTH"] if how == "VOLTH" else ["IMMER"]
    assert [t for _, t, _, _ in _seen(first)][:1] == [read]
    sent = ht.advance(5.0)
    triggers = [t for _, t, _, _ in _seen(first[1:] + usage_reports(sent))]
    assert triggers == [["START"], ["STOPT"]], triggers
    ht.answer_all(sent)


def test_a_volume_threshold_event_read_by_a_query_first_is_not_reported_as_reached(
    ht: Harness,
) -> None:
    """TS 29.244 8.2.41 (Usage Report Trigger VOLTH: "the data volume usage reaches a volume
    threshold") and 5.2.2.2.1: a threshold is reported once per crossing, with the volume
    that reached it. Three packets (384 octets) cross a 300-octet threshold; a Query URR
    answered before the datapath's event is handled reports them (IMMER, 384 octets): that
    crossing is reported, the measurement restarted from 0. Nothing reaches the threshold
    after it, so no VOLTH report is due.

    The datapath's threshold event, handled after the query's read (50 ms poll here, VPP's
    event batching plus the poll in production), is late (reports.py `_late`): without
    that, a Session Report Request with trigger VOLTH and a Volume Measurement of 0 octets
    said a threshold was reached by nothing."""
    seid, teid = _start(ht, urr(1, "VOLTH", vt=TR.VolumeThreshold(total=300)))
    ht.advance(1.0)
    for _ in range(3):
        ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    answer = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    [immer] = answer.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(immer, Grouped)
    assert immer.get(T.VOLUME_MEASUREMENT).total == 384  # type: ignore[union-attr]
    sent = ht.advance(2.0)
    bogus = [
        (r.get(T.USAGE_REPORT_TRIGGER).names(), r.get(T.VOLUME_MEASUREMENT).total)  # type: ignore[union-attr]
        for r in usage_reports(sent)
    ]
    assert bogus == []
    ht.answer_all(sent)


# Linked usage reporting --------------------------------------------------------------------
def test_linked_usage_reporting_does_not_depend_on_the_order_of_the_urrs(ht: Harness) -> None:
    """TS 29.244 5.2.2.4 (linked usage reporting): a URR with LIUSA and Linked URR ID(s) is
    reported whenever a usage report is generated for a URR it links. URR 3 links URR 2,
    URR 2 links URR 1: when URR 1 reports, URR 2 reports (LIUSA), and that is a usage report
    of URR 2, so URR 3 reports too. Whatever that rule, the order in which the CP lists the
    Create URR IEs cannot change it.

    (One pass over the URRs in creation order reported URR 3 only when created after URR 2;
    created 3, 2, 1, below, it did not.)"""
    _start(
        ht,
        urr(3, "LIUSA", l=S.LinkedURRID(2)),
        urr(2, "LIUSA", l=S.LinkedURRID(1)),
        urr(1, "PERIO", mp=S.MeasurementPeriod(5)),
    )
    sent = ht.advance(5.5)
    got = sorted((u, t) for u, t, _, _ in _seen(usage_reports(sent)))
    assert got == [(1, ["PERIO"]), (2, ["LIUSA"]), (3, ["LIUSA"])]
    ht.answer_all(sent)

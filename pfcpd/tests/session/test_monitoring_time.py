"""A URR's Monitoring Time (TS 29.244 5.2.2.3.1, e.g. a tariff time change): when it is
reached the usage measured so far is kept apart, not reported then; the URR's next report
carries the usage before it and the usage after it as two Usage Reports (Usage Information
BEF, then AFT), each with its own UR-SEQN and period, the BEF one ending at the Monitoring
Time; from then on the Subsequent Volume Threshold and Quota apply. The split is journaled
and survives a restart; counts of a report no CP took go back to their side. The node
clock, the datapath clock and the NTP clock move together here (``ht``)."""

from __future__ import annotations

import dataclasses
import json

from session_harness import (
    NTP_NOW,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
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

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import IE, RawIE
from pfcpd.session import MemoryJournal
from pfcpd.session.usage import Counts, UrrBook

T = IEType
M = MessageType
UE = "10.45.0.1"
PACKET = 128  # octets each uplink packet counts (the inner IP packet)
MT = NTP_NOW + 5  # the Monitoring Time: 5 s after the establishment


@dataclasses.dataclass(frozen=True)
class Seen:
    """What a test checks of one Usage Report."""

    info: str | None  # "BEF", "AFT" or None (no Usage Information)
    seqn: int
    start: int | None
    end: int | None
    octets: int
    triggers: tuple[str, ...]


def _seen(report: Grouped) -> Seen:
    info = report.get(T.USAGE_INFORMATION)
    names = [n for n in ("BEF", "AFT") if isinstance(info, F.UsageInformation) and info.has(n)]
    assert info is None or len(names) == 1, info
    volume = report.get(T.VOLUME_MEASUREMENT)
    trigger = report.get(T.USAGE_REPORT_TRIGGER)
    assert isinstance(volume, TR.VolumeMeasurement) and volume.total is not None
    assert isinstance(trigger, F.UsageReportTrigger)
    return Seen(
        names[0] if names else None,
        _value(report, T.UR_SEQN) or 0,
        _value(report, T.START_TIME),
        _value(report, T.END_TIME),
        volume.total,
        tuple(trigger.names()),
    )


def _brief(sent: list[Message]) -> list[tuple[str | None, int, int | None, int | None, int]]:
    """(Usage Information, UR-SEQN, Start Time, End Time, octets) of each Usage Report."""
    return [(s.info, s.seqn, s.start, s.end, s.octets) for s in map(_seen, usage_reports(sent))]


def _value(report: Grouped, ie_type: int) -> int | None:
    ie = report.get(ie_type)
    return None if ie is None else ie.value  # type: ignore[attr-defined]


def _start(h: Harness, rule: Grouped) -> tuple[int, int]:
    resp = h.establish(ul_pdr(), dl_pdr(urr=None), ul_far(), dl_far(), qer(), rule)
    assert cause(resp) == 1
    return up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def _uplink(h: Harness, teid: int, packets: int) -> list[Verdict]:
    return [h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict for _ in range(packets)]


def _periodic(at: float = MT) -> Grouped:
    return urr(1, "PERIO", mp=S.MeasurementPeriod(10), mt=S.MonitoringTime(int(at)))


def test_the_next_periodic_report_carries_the_usage_before_and_after(ht: Harness) -> None:
    _, teid = _start(ht, _periodic())
    ht.advance(1.0)
    _uplink(ht, teid, 1)
    assert ht.advance(5.0) == []  # the Monitoring Time passed: no report of it
    _uplink(ht, teid, 2)
    sent = ht.advance(4.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("PERIO",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 10, 2 * PACKET, ("PERIO",)),
    ]
    before, after = usage_reports(sent)
    assert _value(before, T.DURATION_MEASUREMENT) == 4  # metered from the packet at 1 s
    assert _value(after, T.DURATION_MEASUREMENT) == 5
    assert _value(after, T.TIME_OF_FIRST_PACKET) == int(NTP_NOW) + 6
    ht.answer_all(sent)
    _uplink(ht, teid, 1)
    sent = ht.advance(10.0)  # the next period: one report again
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen(None, 2, int(NTP_NOW) + 10, int(NTP_NOW) + 20, PACKET, ("PERIO",))
    ]
    ht.answer_all(sent)


def test_a_query_carries_the_split(ht: Harness) -> None:
    seid, teid = _start(ht, _periodic())
    _uplink(ht, teid, 3)
    ht.advance(6.0)
    _uplink(ht, teid, 1)
    resp = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)), S.QueryURRReference(0x51))
    reports = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), 3 * PACKET, ("IMMER",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 6, PACKET, ("IMMER",)),
    ]
    # the query's reference is in both reports it produced (TS 29.244 Table 7.5.5.2-1)
    refs = [r.get(T.QUERY_URR_REFERENCE) for r in reports if isinstance(r, Grouped)]
    assert refs == [S.QueryURRReference(0x51)] * 2
    ht.advance(2.0)
    _uplink(ht, teid, 2)
    final = ht.delete(seid)
    reports = final.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen(None, 2, int(NTP_NOW) + 6, int(NTP_NOW) + 8, 2 * PACKET, ("TERMR",)),
    ]


def test_the_final_report_carries_the_split(ht: Harness) -> None:
    seid, teid = _start(ht, _periodic(NTP_NOW + 3))
    _uplink(ht, teid, 1)
    ht.advance(4.0)
    _uplink(ht, teid, 2)
    final = ht.delete(seid)
    reports = final.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen("BEF", 0, int(NTP_NOW), int(NTP_NOW) + 3, PACKET, ("TERMR",)),
        Seen("AFT", 1, int(NTP_NOW) + 3, int(NTP_NOW) + 4, 2 * PACKET, ("TERMR",)),
    ]


def test_tshark_reads_the_usage_information(ht: Harness) -> None:
    from oracles import tshark_fields

    seid, teid = _start(ht, _periodic())
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    _uplink(ht, teid, 2)
    final = ht.delete(seid)
    fields = [
        "pfcp.usage_information.bef",
        "pfcp.usage_information.aft",
        "pfcp.ur_seqn",
        "pfcp.volume_measurement.tovol",
    ]
    (row,) = tshark_fields([encode(final)], fields)
    truth = {"1": "1", "True": "1", "0": "0", "False": "0"}
    assert [truth[v] for v in row["pfcp.usage_information.bef"]] == ["1", "0"]
    assert [truth[v] for v in row["pfcp.usage_information.aft"]] == ["0", "1"]
    assert row["pfcp.ur_seqn"] == ["0", "1"]
    assert row["pfcp.volume_measurement.tovol"] == [str(PACKET), str(2 * PACKET)]


def test_the_subsequent_volume_threshold_applies_after_the_monitoring_time(ht: Harness) -> None:
    """Before it the Volume Threshold (1,000,000 octets), after it the Subsequent one (3
    packets), counted from the Monitoring Time: 2 packets before and 2 after report
    nothing, a third after does (VOLTH, with the usage before apart)."""
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        svt=TR.SubsequentVolumeThreshold(total=3 * PACKET),
    )
    _, teid = _start(ht, rule)
    _uplink(ht, teid, 2)
    assert ht.advance(6.0) == []
    _uplink(ht, teid, 2)
    assert ht.advance(1.0) == []
    _uplink(ht, teid, 1)
    sent = ht.advance(0.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), 2 * PACKET, ("VOLTH",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 7, 3 * PACKET, ("VOLTH",)),
    ]
    ht.answer_all(sent)
    _uplink(ht, teid, 2)
    assert ht.advance(1.0) == []  # the subsequent threshold counts whole again
    _uplink(ht, teid, 1)
    assert [_seen(r) for r in usage_reports(ht.advance(0.5))] == [
        Seen(None, 2, int(NTP_NOW) + 7, int(NTP_NOW) + 8, 3 * PACKET, ("VOLTH",))
    ]


def test_the_subsequent_volume_quota_replaces_what_is_left_of_the_quota(ht: Harness) -> None:
    """A quota of 8 packets, 5 used before the Monitoring Time; after it the Subsequent
    Volume Quota of 4 packets is the quota, counted from it (not the 3 packets left)."""
    rule = urr(
        1,
        "VOLQU",
        vq=TR.VolumeQuota(total=8 * PACKET),
        mt=S.MonitoringTime(int(MT)),
        svq=TR.SubsequentVolumeQuota(total=4 * PACKET),
    )
    _, teid = _start(ht, rule)
    assert _uplink(ht, teid, 5) == [Verdict.FORWARD] * 5
    assert ht.advance(6.0) == []
    assert _uplink(ht, teid, 3) == [Verdict.FORWARD] * 3
    assert ht.advance(1.0) == []
    assert _uplink(ht, teid, 2) == [Verdict.FORWARD, Verdict.DROP]
    sent = ht.advance(0.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), 5 * PACKET, ("VOLQU",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 7, 4 * PACKET, ("VOLQU",)),
    ]
    ht.answer_all(sent)


def test_the_subsequent_quota_starts_the_quota_holding_time_again(ht: Harness) -> None:
    """A Subsequent Volume Quota is a new grant: a Quota Holding Time reported before the
    Monitoring Time (the quota deemed expired, once) counts again from it, as after an
    Update URR's new quota."""
    rule = urr(
        1,
        "VOLQU",
        "QUHTI",
        vq=TR.VolumeQuota(total=8 * PACKET),
        qht=S.QuotaHoldingTime(2),
        mt=S.MonitoringTime(int(MT)),
        svq=TR.SubsequentVolumeQuota(total=4 * PACKET),
    )
    _, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    held: list[float] = []
    for _ in range(20):  # 10 s idle
        sent = ht.advance(0.5)
        held += [ht.now for r in usage_reports(sent) if _seen(r).triggers == ("QUHTI",)]
        ht.answer_all(sent)
    # once before the Monitoring Time (5 s); once more a holding time after it (two Usage
    # Reports then: the usage before and after it)
    assert len(held) == 3 and held[0] < MT - NTP_NOW <= held[1] - 2.0, held
    assert held[1] == held[2]


def test_without_a_subsequent_quota_the_quota_goes_on(ht: Harness) -> None:
    """No Subsequent Volume Quota: the Volume Quota in force goes on across the Monitoring
    Time, what was used of it before still used (5 of 8 packets: 3 more after it)."""
    rule = urr(1, "VOLQU", vq=TR.VolumeQuota(total=8 * PACKET), mt=S.MonitoringTime(int(MT)))
    _, teid = _start(ht, rule)
    _uplink(ht, teid, 5)
    assert ht.advance(6.0) == []
    assert _uplink(ht, teid, 4) == [Verdict.FORWARD] * 3 + [Verdict.DROP]
    sent = ht.advance(0.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), 5 * PACKET, ("VOLQU",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 6, 3 * PACKET, ("VOLQU",)),
    ]
    ht.answer_all(sent)


def test_a_report_no_cp_took_goes_back_to_each_side(ht: Harness) -> None:
    """A BEF/AFT report refused: the next report carries the usage before apart again
    (the same counts, its own period) and the usage after with what came since: no count
    lost or counted twice."""
    _, teid = _start(ht, _periodic())
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    _uplink(ht, teid, 2)
    sent = ht.advance(4.5)
    assert len(usage_reports(sent)) == 2
    for m in sent:
        ht.answer(m, 64)  # (request rejected)
    _uplink(ht, teid, 4)
    sent = ht.advance(10.0)
    assert _brief(sent) == [
        ("BEF", 2, int(NTP_NOW), int(MT), PACKET),
        ("AFT", 3, int(NTP_NOW) + 10, int(NTP_NOW) + 20, 6 * PACKET),
    ]
    ht.answer_all(sent)


def test_the_split_survives_a_restart(ht: Harness) -> None:
    """pfcpd restarts between the Monitoring Time and the report (the local datapath loses
    its counters): the restored URR still keeps the usage before apart, with its counts and
    period, and applies the Subsequent Volume Threshold (its rule after the Monitoring
    Time is the one journaled)."""
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        svt=TR.SubsequentVolumeThreshold(total=2 * PACKET),
    )
    seid, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    ht.engine.commit()
    journal = MemoryJournal()
    journal.records = dict(ht.journal.records)
    dp = LocalDatapath(expected_sessions=16)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        again.ntp = NTP_NOW + 7
        book = again.engine.sessions[seid].urrs[1]
        assert (book.before.values[0], book.before_end, book.monitoring_ntp) == (PACKET, MT, 0)
        _uplink(again, teid, 2)
        sent = again.advance(0.5)  # the subsequent threshold (2 packets), not 1,000,000
        assert _brief(sent) == [
            ("BEF", 0, int(NTP_NOW), int(MT), PACKET),
            ("AFT", 1, int(MT), int(NTP_NOW) + 7, 2 * PACKET),
        ]
        again.answer_all(sent)
        again.check_sent_with_tshark()
    finally:
        dp.close()


def test_a_monitoring_time_past_at_receipt_applies_the_subsequent_limits_at_once(
    ht: Harness,
) -> None:
    """A Monitoring Time before the rule came: no usage was measured before it; the
    Subsequent Volume Threshold applies from the start, reports carry no Usage Information."""
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(NTP_NOW) - 60),
        svt=TR.SubsequentVolumeThreshold(total=2 * PACKET),
    )
    _, teid = _start(ht, rule)
    ht.advance(1.0)
    _uplink(ht, teid, 2)
    assert [_seen(r) for r in usage_reports(ht.advance(0.5))] == [
        Seen(None, 0, int(NTP_NOW), int(NTP_NOW) + 1, 2 * PACKET, ("VOLTH",))
    ]


def test_an_update_urr_sets_a_new_monitoring_time(ht: Harness) -> None:
    seid, teid = _start(ht, _periodic())
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    _uplink(ht, teid, 1)
    ht.answer_all(ht.advance(4.5))  # (BEF/AFT at 10 s)
    update = g(
        T.UPDATE_URR,
        S.URRID(1),
        S.MonitoringTime(int(NTP_NOW) + 15),
        TR.SubsequentVolumeThreshold(total=10 * PACKET),
    )
    assert cause(ht.modify(seid, update)) == 1
    _uplink(ht, teid, 2)
    ht.advance(6.0)  # (NTP_NOW + 16.5)
    _uplink(ht, teid, 3)
    sent = ht.advance(4.5)
    assert _brief(sent) == [
        ("BEF", 2, int(NTP_NOW) + 10, int(NTP_NOW) + 15, 2 * PACKET),
        ("AFT", 3, int(NTP_NOW) + 15, int(NTP_NOW) + 20, 3 * PACKET),
    ]
    ht.answer_all(sent)
    rules = ht.engine.sessions[seid].rules.urr[1]
    assert rules.get(T.MONITORING_TIME) is None
    threshold = rules.get(T.VOLUME_THRESHOLD)
    assert isinstance(threshold, TR.VolumeThreshold) and threshold.total == 10 * PACKET


def test_the_usage_before_is_journaled() -> None:
    """The book's JSON text is its dict's (`to_json`), and reads back the same."""
    book = UrrBook(
        seqn=4,
        period_start_ntp=MT,
        before=Counts((10, 4, 6, 2, 1, 1)),
        before_start=NTP_NOW,
        before_end=MT,
        before_metered=3.0,
    )
    text = book.json_text()
    assert json.loads(text) == book.to_json()
    assert json.dumps(book.to_json(), separators=(",", ":")) == text
    back = UrrBook.from_json(json.loads(text))
    assert (back.before, back.before_start, back.before_end, back.before_metered) == (
        book.before,
        NTP_NOW,
        MT,
        3.0,
    )
    assert not book.as_established(MT)


def test_a_refused_query_or_deletion_leaves_the_split_as_it_was(ht: Harness) -> None:
    """A Query URR, then a Session Deletion, whose batch the journal refuses: their reports
    are not delivered; the URR keeps the usage before apart as it was (not in the counts
    after it), and the deletion that goes through reports each side once."""
    seid, teid = _start(ht, _periodic())
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    _uplink(ht, teid, 2)
    ht.journal.fail_next = 1
    assert cause(ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))) != 1
    _uplink(ht, teid, 1)
    ht.journal.fail_next = 1
    assert cause(ht.delete(seid)) != 1
    _uplink(ht, teid, 1)
    final = ht.delete(seid)
    assert cause(final) == 1
    reports = final.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("TERMR",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 6, 4 * PACKET, ("TERMR",)),
    ]


def test_a_second_monitoring_time_reports_the_first_split_at_once(ht: Harness) -> None:
    """An Update URR sets a new Monitoring Time while the usage before the first one is not
    reported yet: when it is reached, the URR reports at once (MONIT) the usage before and
    after the first one; the usage after the second one goes into the next report."""
    seid, teid = _start(ht, _periodic())
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    update = g(T.UPDATE_URR, S.URRID(1), S.MonitoringTime(int(NTP_NOW) + 8))
    assert cause(ht.modify(seid, update)) == 1
    _uplink(ht, teid, 2)
    sent = ht.advance(2.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("MONIT",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 8, 2 * PACKET, ("MONIT",)),
    ]
    ht.answer_all(sent)
    _uplink(ht, teid, 3)
    final = ht.delete(seid)
    reports = final.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen(None, 2, int(NTP_NOW) + 8, int(NTP_NOW) + 8, 3 * PACKET, ("TERMR",)),
    ]


# Additional Monitoring Time (TS 29.244 5.2.2.3.1, 7.5.2.4-2): further tariff switches, each
# with its own Subsequent limits, reached in time order after the Monitoring Time.


def _amt(at: float, *limits: IE) -> Grouped:
    return g(T.ADDITIONAL_MONITORING_TIME, S.MonitoringTime(int(at)), *limits)


def _additional(rule: Grouped) -> list[int]:
    """The times of the Additional Monitoring Times the URR's rule still holds."""
    return [
        int(amt.get(T.MONITORING_TIME).value)  # type: ignore[union-attr]
        for amt in rule.get_all(T.ADDITIONAL_MONITORING_TIME)
        if isinstance(amt, Grouped)
    ]


def test_two_tariff_switches_before_a_report(ht: Harness) -> None:
    """The Monitoring Time at 5 s, an Additional one at 8 s, a periodic report at 10 s: at 8
    s the usage before the first switch is not reported yet, so the URR reports at once
    (MONIT) the usage before and after it; the periodic report carries the usage since the
    second switch alone."""
    rule = urr(
        1,
        "PERIO",
        mp=S.MeasurementPeriod(10),
        mt=S.MonitoringTime(int(MT)),
        amt=_amt(NTP_NOW + 8),
    )
    seid, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    assert ht.advance(6.0) == []  # the first switch: the usage before it kept apart
    assert ht.engine.sessions[seid].urrs[1].monitoring_ntp == NTP_NOW + 8
    _uplink(ht, teid, 2)
    sent = ht.advance(2.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("MONIT",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 8, 2 * PACKET, ("MONIT",)),
    ]
    ht.answer_all(sent)
    _uplink(ht, teid, 3)
    sent = ht.advance(2.0)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen(None, 2, int(NTP_NOW) + 8, int(NTP_NOW) + 10, 3 * PACKET, ("PERIO",))
    ]
    ht.answer_all(sent)
    kept = ht.engine.sessions[seid]
    assert (kept.urrs[1].monitoring_ntp, _additional(kept.rules.urr[1])) == (0, [])


def test_the_additional_subsequent_volume_threshold_applies_after_its_time(
    ht: Harness,
) -> None:
    """A Volume Threshold of 1,000,000 octets, kept at the Monitoring Time (5 s: no
    Subsequent one), replaced at the Additional Monitoring Time (8 s) by its Subsequent
    Volume Threshold of 3 packets, counted from it: the usage before the first switch is
    reported by a query at 6 s; 3 packets between the switches report nothing (they are the
    usage before the second, kept apart), 3 after it do (VOLTH, BEF and AFT of 8 s)."""
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        amt=_amt(NTP_NOW + 8, TR.SubsequentVolumeThreshold(total=3 * PACKET)),
    )
    seid, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    assert ht.advance(6.0) == []
    resp = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    reports = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert [_seen(r) for r in reports if isinstance(r, Grouped)] == [
        Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("IMMER",)),
        Seen("AFT", 1, int(MT), int(NTP_NOW) + 6, 0, ("IMMER",)),
    ]
    _uplink(ht, teid, 3)
    assert ht.advance(2.5) == []  # (8.5 s: the second switch passed, no report of it)
    _uplink(ht, teid, 2)
    assert ht.advance(0.5) == []
    _uplink(ht, teid, 1)
    sent = ht.advance(0.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 2, int(NTP_NOW) + 6, int(NTP_NOW) + 8, 3 * PACKET, ("VOLTH",)),
        Seen("AFT", 3, int(NTP_NOW) + 8, int(NTP_NOW) + 9, 3 * PACKET, ("VOLTH",)),
    ]
    ht.answer_all(sent)
    threshold = ht.engine.sessions[seid].rules.urr[1].get(T.VOLUME_THRESHOLD)
    assert isinstance(threshold, TR.VolumeThreshold) and threshold.total == 3 * PACKET


def test_an_update_urr_replaces_the_additional_monitoring_times(ht: Harness) -> None:
    """Additional Monitoring Times at 8 and 9 s (Subsequent Volume Threshold 2 packets);
    an Update URR at 6 s with one at 12 s (3 packets) replaces both (one the journal
    refuses leaves them): nothing happens at 8 or 9 s (2 packets at 9.5 s report nothing),
    the split and the new threshold come at 12 s."""
    two = TR.SubsequentVolumeThreshold(total=2 * PACKET)
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        a8=_amt(NTP_NOW + 8, two),
        a9=_amt(NTP_NOW + 9, two),
    )
    seid, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    assert ht.advance(6.0) == []
    assert (
        len(
            ht.modify(seid, g(T.QUERY_URR, S.URRID(1))).get_all(
                T.USAGE_REPORT_MODIFICATION_RESPONSE
            )
        )
        == 2
    )  # (BEF and AFT of the Monitoring Time)
    assert _additional(ht.engine.sessions[seid].rules.urr[1]) == [
        int(NTP_NOW) + 8,
        int(NTP_NOW) + 9,
    ]
    three = TR.SubsequentVolumeThreshold(total=3 * PACKET)
    update = g(T.UPDATE_URR, S.URRID(1), _amt(NTP_NOW + 12, three))
    ht.journal.fail_next = 1  # (refused: the Additional Monitoring Times stay as they were)
    assert cause(ht.modify(seid, update)) != 1
    assert _additional(ht.engine.sessions[seid].rules.urr[1]) == [
        int(NTP_NOW) + 8,
        int(NTP_NOW) + 9,
    ]
    assert ht.engine.sessions[seid].urrs[1].monitoring_ntp == NTP_NOW + 8
    assert cause(ht.modify(seid, update)) == 1
    assert _additional(ht.engine.sessions[seid].rules.urr[1]) == [int(NTP_NOW) + 12]
    assert ht.engine.sessions[seid].urrs[1].monitoring_ntp == NTP_NOW + 12
    assert ht.advance(3.5) == []
    _uplink(ht, teid, 2)
    assert ht.advance(2.75) == []  # (12.25 s: split at 12, the 2 packets before it)
    _uplink(ht, teid, 3)
    sent = ht.advance(0.5)
    assert [_seen(r) for r in usage_reports(sent)] == [
        Seen("BEF", 2, int(NTP_NOW) + 6, int(NTP_NOW) + 12, 2 * PACKET, ("VOLTH",)),
        Seen("AFT", 3, int(NTP_NOW) + 12, int(NTP_NOW) + 12, 3 * PACKET, ("VOLTH",)),
    ]
    ht.answer_all(sent)


def test_a_restart_between_two_switches_keeps_the_rest_pending(ht: Harness) -> None:
    """pfcpd restarts after the Monitoring Time (5 s), before the Additional one (8 s): the
    restored URR keeps the usage before the first apart and the second pending (in its
    journaled rule); at 8 s it reports the first split (MONIT), then the Additional
    Monitoring Time's Subsequent Volume Threshold (2 packets) applies."""
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        amt=_amt(NTP_NOW + 8, TR.SubsequentVolumeThreshold(total=2 * PACKET)),
    )
    seid, teid = _start(ht, rule)
    _uplink(ht, teid, 1)
    ht.advance(6.0)
    ht.engine.commit()
    journal = MemoryJournal()
    journal.records = dict(ht.journal.records)
    clock: dict[str, Harness] = {}
    dp = LocalDatapath(
        expected_sessions=16,
        clock=lambda: int(h.now * 1e9) + 1 if (h := clock.get("h")) else 1,
    )
    try:
        again = clock["h"] = Harness(dp, journal=journal)
        again.engine._ntp = lambda: NTP_NOW + 6 + again.now  # type: ignore[method-assign]
        assert again.engine.restore(journal.items(), again.now) == 1
        book = again.engine.sessions[seid].urrs[1]
        assert (book.before.values[0], book.before_end, book.monitoring_ntp) == (
            PACKET,
            MT,
            NTP_NOW + 8,
        )
        restored = again.engine.sessions[seid].rules.urr[1]
        assert restored.get(T.MONITORING_TIME) is None
        assert _additional(restored) == [int(NTP_NOW) + 8]
        _uplink(again, teid, 2)
        sent = again.advance(2.5)
        assert [_seen(r) for r in usage_reports(sent)] == [
            Seen("BEF", 0, int(NTP_NOW), int(MT), PACKET, ("MONIT",)),
            Seen("AFT", 1, int(MT), int(NTP_NOW) + 8, 2 * PACKET, ("MONIT",)),
        ]
        again.answer_all(sent)
        _uplink(again, teid, 2)
        assert _brief(again.advance(0.5)) == [
            (None, 2, int(NTP_NOW) + 8, int(NTP_NOW) + 8, 2 * PACKET)
        ]
        again.check_sent_with_tshark()
    finally:
        dp.close()


def test_additional_monitoring_times_round_trip_and_tshark_reads_them() -> None:
    """A Create URR with two Additional Monitoring Times, one with each kind of Subsequent
    limit (its event limits by the Subsequent Event IE types, the other's by the Event
    ones, as table 7.5.2.4-2 names them): decoded as sent, and tshark reads them."""
    from oracles import tshark_fields, tshark_problems

    first = _amt(
        NTP_NOW + 8,
        TR.SubsequentVolumeThreshold(total=3 * PACKET),
        S.SubsequentTimeThreshold(60),
        TR.SubsequentVolumeQuota(total=10 * PACKET),
        S.SubsequentTimeQuota(600),
        RawIE(T.SUBSEQUENT_EVENT_THRESHOLD, (7).to_bytes(4, "big")),
        RawIE(T.SUBSEQUENT_EVENT_QUOTA, (9).to_bytes(4, "big")),
    )
    second = _amt(NTP_NOW + 9, S.EventThreshold(5), S.EventQuota(6))
    rule = urr(
        1,
        "VOLTH",
        vt=TR.VolumeThreshold(total=10**6),
        mt=S.MonitoringTime(int(MT)),
        a1=first,
        a2=second,
    )
    request = establishment(ul_pdr(), dl_pdr(urr=None), ul_far(), dl_far(), qer(), rule)
    data = encode(request)
    back = decode(data).get(T.CREATE_URR)
    assert isinstance(back, Grouped)
    got = back.get_all(T.ADDITIONAL_MONITORING_TIME)
    assert [[(c.type, c.encode()) for c in a.ies] for a in got if isinstance(a, Grouped)] == [
        [(c.type, c.encode()) for c in a.ies] for a in (first, second)
    ]
    assert tshark_problems([data]) == []
    fields = [
        "pfcp.ie_type",
        "pfcp.subseq_volume_threshold.tovol",
        "pfcp.subsequent_time_quota",
        "pfcp.subsequent_event_threshold",
        "pfcp.subsequent_event_quota",
        "pfcp.event_threshold",
        "pfcp.event_quota",
    ]
    (row,) = tshark_fields([data], fields)
    assert row["pfcp.ie_type"].count(str(int(T.ADDITIONAL_MONITORING_TIME))) == 2
    assert row["pfcp.subseq_volume_threshold.tovol"] == [str(3 * PACKET)]
    assert row["pfcp.subsequent_time_quota"] == ["600"]
    assert (row["pfcp.subsequent_event_threshold"], row["pfcp.subsequent_event_quota"]) == (
        ["7"],
        ["9"],
    )
    assert (row["pfcp.event_threshold"], row["pfcp.event_quota"]) == (["5"], ["6"])

"""What a Usage Report carries (TS 29.244 5.2.2.3.1, Tables 7.5.5.2-1, 7.5.7.2-1, 7.5.8.3-1):
Start/End Time except for start/stop of traffic, Time of First/Last Packet when packets were
counted, no measurement in a report triggered by START alone (the counts go on), packet
counts only with Measurement Information MNOP, time metering from the first packet unless
ISTM, measurement paused by INAM. The node clock, the datapath clock and the NTP clock move
together here."""

from __future__ import annotations

from session_harness import (
    NTP_NOW,
    Harness,
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
    up_seid,
    urr,
    usage_reports,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, MessageType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_traffic import VolumeMeasurement
from pfcpd.session.usage import UrrBook

T = IEType
M = MessageType
UE = "10.45.0.1"


def _start(ht: Harness, rule: Grouped) -> tuple[int, int]:
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    return up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def _value(report: Grouped, ie_type: int) -> int | None:
    ie = report.get(ie_type)
    return None if ie is None else ie.value  # type: ignore[attr-defined]


def test_periodic_reports_carry_packet_times_and_metered_duration(ht: Harness) -> None:
    _, teid = _start(ht, urr(1, "PERIO", mp=S.MeasurementPeriod(10)))
    ht.advance(3.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(2.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    sent = ht.advance(5.5)
    [first] = usage_reports(sent)
    assert _value(first, T.START_TIME) == NTP_NOW
    assert _value(first, T.END_TIME) == NTP_NOW + 10
    assert _value(first, T.TIME_OF_FIRST_PACKET) == NTP_NOW + 3
    assert _value(first, T.TIME_OF_LAST_PACKET) == NTP_NOW + 5
    # No ISTM: time metering started with the first packet (TS 29.244 5.2.2.2.1).
    assert _value(first, T.DURATION_MEASUREMENT) == 7
    vm = first.get(T.VOLUME_MEASUREMENT)
    assert isinstance(vm, VolumeMeasurement) and (vm.ul, vm.ul_packets) == (
        2 * 128,
        2,
    )  # IP packets of 128 octets
    ht.answer_all(sent)
    # A period without packets: no packet times, and metering goes on for the whole period.
    sent = ht.advance(10.0)
    [second] = usage_reports(sent)
    assert (_value(second, T.START_TIME), _value(second, T.END_TIME)) == (
        NTP_NOW + 10,
        NTP_NOW + 20,
    )
    assert second.get(T.TIME_OF_FIRST_PACKET) is None
    assert second.get(T.TIME_OF_LAST_PACKET) is None
    assert _value(second, T.DURATION_MEASUREMENT) == 10
    ht.answer_all(sent)


def test_a_start_of_traffic_report_carries_no_measurement_and_resets_nothing(
    ht: Harness,
) -> None:
    seid, teid = _start(ht, urr(1, "START", "STOPT", idt=S.InactivityDetectionTime(2)))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    sent = ht.advance(0.5)
    [start] = usage_reports(sent)
    assert start.get(T.USAGE_REPORT_TRIGGER).names() == ["START"]  # type: ignore[union-attr]
    for absent in (T.START_TIME, T.END_TIME, T.VOLUME_MEASUREMENT, T.DURATION_MEASUREMENT):
        assert start.get(absent) is None, absent
    assert _value(start, T.TIME_OF_FIRST_PACKET) == NTP_NOW + 1
    ht.answer_all(sent)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    sent = ht.advance(3.5)  # idle: stop of traffic, with the measurement since the start
    [stop] = usage_reports(sent)
    assert stop.get(T.USAGE_REPORT_TRIGGER).names() == ["STOPT"]  # type: ignore[union-attr]
    assert stop.get(T.START_TIME) is None and stop.get(T.END_TIME) is None
    vm = stop.get(T.VOLUME_MEASUREMENT)
    assert isinstance(vm, VolumeMeasurement) and vm.ul == 2 * 128  # not reset by START
    ht.answer_all(sent)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped)
    assert final.get(T.START_TIME) is not None and final.get(T.TIME_OF_FIRST_PACKET) is None


def test_packets_only_with_mnop_and_metering_at_once_with_istm(ht: Harness) -> None:
    info = F.MeasurementInformation.of("ISTM")
    seid, teid = _start(ht, urr(1, mi=info))
    ht.advance(4.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(2.0)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped)
    vm = final.get(T.VOLUME_MEASUREMENT)
    assert isinstance(vm, VolumeMeasurement) and vm.ul == 128
    assert (vm.total_packets, vm.ul_packets, vm.dl_packets) == (None, None, None)
    assert _value(final, T.DURATION_MEASUREMENT) == 6  # from the establishment (ISTM)
    assert _value(final, T.TIME_OF_FIRST_PACKET) == NTP_NOW + 4


def test_inactive_measurement_pauses_and_resumes(ht: Harness) -> None:
    """INAM (TS 29.244 5.2.2.3.1): pausing keeps the counts so far, traffic while paused is
    not measured (nor held against the threshold), resuming measures again."""
    seid, teid = _start(ht, urr(1, "VOLTH", vt=TR.VolumeThreshold(total=300)))

    def send(n: int) -> None:
        for _ in range(n):
            ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))

    def update(*flags: str) -> None:
        info = F.MeasurementInformation.of(*flags)
        resp = ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), info))
        assert resp.get(T.CAUSE).value == 1  # type: ignore[union-attr]

    send(1)
    update("INAM", "MNOP")
    send(5)  # 640 octets, beyond the threshold: not measured, no report
    assert usage_reports(ht.advance(1.0)) == []
    query = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    [paused] = query.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert paused.get(T.VOLUME_MEASUREMENT).ul == 128  # type: ignore[union-attr]
    update("MNOP")  # resumed
    send(1)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    vm = final.get(T.VOLUME_MEASUREMENT)  # type: ignore[union-attr]
    assert (vm.ul, vm.ul_packets) == (128, 1)  # type: ignore[union-attr]


def test_duration_stops_after_the_inactivity_detection_time(ht: Harness) -> None:
    """With an Inactivity Detection Time (TS 29.244 5.2.2.2.1), time metering stops when
    that time passes without a packet (the period itself is metered) and starts again with
    the next packet: the idle time after it is not in the Duration Measurement."""
    rule = urr(1, "PERIO", mp=S.MeasurementPeriod(20), idt=S.InactivityDetectionTime(2))
    seid, teid = _start(ht, rule)

    def packet_at(t: float) -> None:
        ht.advance(t - ht.now)
        ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))

    packet_at(1.0)
    packet_at(2.0)  # metered from 1 until 2 + 2
    packet_at(10.0)
    packet_at(11.0)  # metered from 10 until 11 + 2
    sent = ht.advance(20.0 - ht.now + 0.1)
    [first] = usage_reports(sent)
    assert _value(first, T.DURATION_MEASUREMENT) == (4 - 1) + (13 - 10)
    assert _value(first, T.TIME_OF_FIRST_PACKET) == NTP_NOW + 1
    assert _value(first, T.TIME_OF_LAST_PACKET) == NTP_NOW + 11
    ht.answer_all(sent)
    sent = ht.advance(20.0)  # a period without packets: nothing metered
    [second] = usage_reports(sent)
    assert _value(second, T.DURATION_MEASUREMENT) == 0
    assert second.get(T.TIME_OF_FIRST_PACKET) is None
    ht.answer_all(sent)
    packet_at(41.0)
    ht.advance(1.5)  # metering goes on for the detection time after the packet
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped)
    assert _value(final, T.DURATION_MEASUREMENT) == 1
    assert _value(final, T.TIME_OF_FIRST_PACKET) == NTP_NOW + 41


def test_duration_with_istm_stops_after_the_inactivity_detection_time(ht: Harness) -> None:
    """ISTM starts metering at once; without a packet it stops after the Inactivity
    Detection Time, and starts again with the next packet."""
    info = F.MeasurementInformation.of("ISTM")
    seid, teid = _start(ht, urr(1, mi=info, idt=S.InactivityDetectionTime(3)))
    ht.advance(12.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(5.0)  # metered from 12 until 12 + 3
    [query] = ht.modify(seid, g(T.QUERY_URR, S.URRID(1))).get_all(
        T.USAGE_REPORT_MODIFICATION_RESPONSE
    )
    assert isinstance(query, Grouped)
    assert _value(query, T.DURATION_MEASUREMENT) == 3 + 3


def test_a_paused_measurement_meters_no_time(ht: Harness) -> None:
    """INAM (5.2.2.3.1): a paused measurement meters no time; once resumed, metering
    starts again with the next packet."""
    seid, teid = _start(ht, urr(1))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(4.0)
    paused = F.MeasurementInformation.of("INAM", "MNOP")
    assert ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), paused)).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    ht.advance(2.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # not measured
    ht.advance(2.0)
    resumed = F.MeasurementInformation.of("MNOP")
    assert ht.modify(seid, g(T.UPDATE_URR, S.URRID(1), resumed)).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    ht.advance(3.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(2.0)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped)
    assert _value(final, T.DURATION_MEASUREMENT) == (5 - 1) + (14 - 12)
    vm = final.get(T.VOLUME_MEASUREMENT)
    assert isinstance(vm, VolumeMeasurement) and vm.ul_packets == 2


def test_an_update_urr_without_measurement_information_resumes_a_paused_urr(
    ht: Harness,
) -> None:
    """TS 29.244 Table 7.5.4.4-1 (Update URR, Measurement Information): "The measurement
    shall be performed (active) if the bit is set to 0 or if the Measurement Information
    IE is not present in the Update URR IE". A URR created paused (INAM), then updated
    with a Volume Threshold alone, measures again (the packets after the update are in
    its report), and keeps its other flags (MNOP: the packets are counted)."""
    paused = urr(1, mi=F.MeasurementInformation.of("INAM", "MNOP"))
    seid, teid = _start(ht, paused)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # not measured
    update = g(
        T.UPDATE_URR,
        S.URRID(1),
        F.ReportingTriggers.of("VOLTH"),
        TR.VolumeThreshold(total=10**9),
    )
    assert ht.modify(seid, update).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    for _ in range(2):
        ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    resp = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    [report] = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(report, Grouped)
    vm = report.get(T.VOLUME_MEASUREMENT)
    assert isinstance(vm, VolumeMeasurement)
    assert (vm.total, vm.ul_packets) == (256, 2)


def _packet_times(report: Grouped) -> tuple[int | None, int | None]:
    return _value(report, T.TIME_OF_FIRST_PACKET), _value(report, T.TIME_OF_LAST_PACKET)


def test_a_refused_modification_keeps_the_packet_times_it_read(ht: Harness) -> None:
    """Tables 7.5.5.2-1, 7.5.8.3-1 (Usage Report): Time of First Packet and Time of Last
    Packet "shall be present if available for this URR". A modification that reads the
    URR's usage (Query URR) and is then refused (73: an Update FAR naming an unknown
    network instance) keeps the counts it read for the next report, and their packet
    times too (the read reset the datapath's): the retried Query URR reports the first
    packet of the usage and the last."""
    from pfcpd.pfcp import ies_text as X

    seid, teid = _start(ht, urr(1))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(2.0)
    bad = g(T.UPDATE_FAR, S.FARID(1), g(T.UPDATE_FORWARDING_PARAMETERS, X.NetworkInstance("no")))
    refused = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)), bad)
    assert refused.get(T.CAUSE).value == 73  # type: ignore[union-attr]
    ht.advance(2.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(1.0)
    [report] = ht.modify(seid, g(T.QUERY_URR, S.URRID(1))).get_all(
        T.USAGE_REPORT_MODIFICATION_RESPONSE
    )
    assert isinstance(report, Grouped)
    assert report.get(T.VOLUME_MEASUREMENT).total == 256  # type: ignore[union-attr]
    assert _packet_times(report) == (NTP_NOW + 1, NTP_NOW + 5)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped) and _packet_times(final) == (None, None)  # (reported)


def test_a_deletion_the_journal_refuses_keeps_the_packet_times(ht: Harness) -> None:
    """The same for a Session Deletion undone by the group commit (the journal fails: 77):
    the session comes back with the final counts as usage not reported, and their packet
    times; the retried deletion's final Usage Report (TERMR) carries them."""
    seid, teid = _start(ht, urr(1))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(1.0)
    ht.journal.fail_next = 1
    assert ht.delete(seid).get(T.CAUSE).value == 77  # type: ignore[union-attr]
    ht.advance(1.0)
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(final, Grouped)
    assert final.get(T.VOLUME_MEASUREMENT).total == 128  # type: ignore[union-attr]
    assert _packet_times(final) == (NTP_NOW + 1, NTP_NOW + 1)


def test_a_paused_measurement_reports_the_packet_times_before_the_pause(ht: Harness) -> None:
    """INAM (5.2.2.3.1): the counts before the pause are kept and reported (Table 7.5.5.2-1,
    "if available"), with the times of their first and last packet."""
    seid, teid = _start(ht, urr(1))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(1.0)
    paused = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("INAM", "MNOP"))
    assert ht.modify(seid, paused).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    # Journaled with the change, with those counts: a restart keeps them for the report.
    with restarted(ht, 1) as engine:
        book = engine.sessions[seid].urrs.book  # type: ignore[union-attr]
        assert book.held_times == (NTP_NOW + 1, NTP_NOW + 1)
        assert (book.baseline.values[0], book.inactive) == (128, True)
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # not measured
    ht.advance(1.0)
    [report] = ht.modify(seid, g(T.QUERY_URR, S.URRID(1))).get_all(
        T.USAGE_REPORT_MODIFICATION_RESPONSE
    )
    assert isinstance(report, Grouped)
    assert report.get(T.VOLUME_MEASUREMENT).total == 128  # type: ignore[union-attr]
    assert _packet_times(report) == (NTP_NOW + 1, NTP_NOW + 1)


def test_a_report_no_cp_took_leaves_its_packet_times_to_the_next(ht: Harness) -> None:
    """The same for a Session Report Request never answered (T1 x N1 pass): its counts go
    into the next report, with the times of their first and last packet."""
    _, teid = _start(ht, urr(1, "PERIO", mp=S.MeasurementPeriod(10)))
    ht.advance(3.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    [lost] = usage_reports(ht.advance(7.5))  # (not answered)
    assert _packet_times(lost) == (NTP_NOW + 3, NTP_NOW + 3)
    ht.advance(5.0)  # (given up)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    sent = ht.advance(5.0)
    [report] = [r for r in usage_reports(sent) if _value(r, T.UR_SEQN) == 1]
    assert report.get(T.VOLUME_MEASUREMENT).total == 256  # type: ignore[union-attr]
    assert _packet_times(report) == (NTP_NOW + 3, NTP_NOW + 15)
    ht.answer_all(sent)


def test_a_checkpoints_packet_times_come_back_with_its_counts(ht: Harness) -> None:
    """A checkpoint journals the datapath's counts (not read with reset) with the times of
    their first and last packet: a restart whose datapath lost its counters (the local
    one) holds those times with the counts for the next report; one whose datapath kept
    them (VPP) leaves them there."""
    seid, teid = _start(ht, urr(1))
    ht.advance(1.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(2.0)
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    ht.advance(1.0)
    ht.engine.checkpoint(ht.now)
    ht.engine.commit()
    book = ht.engine.sessions[seid].urrs.book  # type: ignore[union-attr]
    assert book.seen_times == (NTP_NOW + 1, NTP_NOW + 3) and book.held_times is None
    with restarted(ht, 1) as engine:
        again = engine.sessions[seid].urrs.book  # type: ignore[union-attr]
        assert again.baseline.values[0] == 256 and again.dp_seen.values[0] == 0
        assert (again.held_times, again.seen_times) == ((NTP_NOW + 1, NTP_NOW + 3), None)
    kept = UrrBook.from_json(book.to_json())  # (restored onto a datapath that kept them)
    kept.kept_by_datapath()
    assert kept.baseline.values[0] == 0 and kept.dp_seen.values[0] == 256
    assert (kept.held_times, kept.seen_times) == (None, None)
    # A report reads the counts with reset: nothing seen is left, nor its times.
    [report] = ht.modify(seid, g(T.QUERY_URR, S.URRID(1))).get_all(
        T.USAGE_REPORT_MODIFICATION_RESPONSE
    )
    assert isinstance(report, Grouped) and _packet_times(report) == (NTP_NOW + 1, NTP_NOW + 3)
    book = ht.engine.sessions[seid].urrs.book  # type: ignore[union-attr]
    assert book.seen_times is None and "st" not in book.to_json()


def test_held_packet_times_are_journaled() -> None:
    """The packet times of counts no report carried yet (`UrrBook.held_times`) are in the
    book's record ("pt"), its JSON text its dict's, and read back; a book holding them is
    not as established (so the binary record, which has no room for them, is not used)."""
    import json

    from pfcpd.session.usage import Counts

    book = UrrBook(
        seqn=2, period_start_ntp=100.0, baseline=Counts((128, 128, 0, 1, 1, 0)), held_times=None
    )
    assert "pt" not in book.to_json()
    book.held_times, book.seen_times = (101.25, 103.5), (104.0, 104.75)
    text = book.json_text()
    assert json.loads(text) == book.to_json()
    assert (book.to_json()["pt"], book.to_json()["st"]) == ([101.25, 103.5], [104.0, 104.75])
    assert json.dumps(book.to_json(), separators=(",", ":")) == text
    back = UrrBook.from_json(json.loads(text))
    assert (back.held_times, back.seen_times) == ((101.25, 103.5), (104.0, 104.75))
    bare = UrrBook(period_start_ntp=100.0)
    assert bare.as_established(bare.period_start_ntp)
    bare.held_times = (101.0, 101.0)
    assert not bare.as_established(bare.period_start_ntp)
    bare.held_times, bare.seen_times = None, (101.0, 101.0)
    assert not bare.as_established(bare.period_start_ntp)


def test_time_metering_state_is_journaled() -> None:
    """What time metering keeps (the time metered so far in the period, the running
    stretch, the last packet and look) comes back from the journal record."""
    book = UrrBook()
    rule = urr(1, "TIMTH", idt=S.InactivityDetectionTime(5), t=S.TimeThreshold(9))
    book.configure(rule)
    assert book.pauses and book.own_time and book.time_threshold == 9
    book.period_start_ntp, book.metering_ntp, book.metered_s = 100.0, 130.0, 12.5
    book.last_packet_ntp, book.seen_ntp = 131.0, 131.5
    book.time_threshold_done, book.time_quota_used, book.time_quota_over = True, 7.5, True
    back = UrrBook.from_json(book.to_json())
    back.configure(rule)
    assert back.report_marks() == book.report_marks() and back.time_quota_over
    plain = UrrBook()
    plain.configure(urr(1))
    assert not plain.pauses and "last" not in plain.to_json()


def test_measurement_before_qos_enforcement_counts_what_the_qers_drop(ht: Harness) -> None:
    """MBQE (8.2.68): URR 1 measures before QoS enforcement, URR 2 after it, both on the
    session's PDRs, whose QER has an MBR (accepted). A packet forwarded counts in both; one
    the uplink gate drops once a modification closed it counts in URR 1 alone."""
    from pfcpd.smfsim.rules import GATE_CLOSED, GATE_OPEN

    ul, dl = ul_pdr(), dl_pdr()
    for pdr in (ul, dl):
        pdr.ies.append(S.URRID(2))
    before_qos = urr(1, mi=F.MeasurementInformation.of("MBQE", "MNOP"))
    rules = (ul, dl, ul_far(), dl_far(), before_qos, urr(2))
    resp = ht.establish(*rules, qer(mbr_kbps=(1000, 1000)))
    assert resp.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    seid, teid = up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    ue = created(resp)[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    assert ht.dp.process_ul(gtpu(ul_packet(ue, 100), teid)).verdict == Verdict.FORWARD
    closing = g(T.UPDATE_QER, S.QERID(1), TR.GateStatus(GATE_CLOSED, GATE_OPEN))
    assert ht.modify(seid, closing).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    assert ht.dp.process_ul(gtpu(ul_packet(ue, 100), teid)).verdict == Verdict.DROP
    final = {
        r.get(T.URR_ID).value: r.get(T.VOLUME_MEASUREMENT)  # type: ignore[union-attr]
        for r in ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    }
    one, two = final[1], final[2]
    assert isinstance(one, VolumeMeasurement) and isinstance(two, VolumeMeasurement)
    assert (one.ul_packets, two.ul_packets) == (2, 1)
    assert one.ul == 2 * two.ul and two.ul


def test_each_measurement_only_with_its_measurement_method(ht: Harness) -> None:
    """Volume Measurement with VOLUM only, Duration Measurement with DURAT only."""
    for method, volume, duration in (("VOLUM", True, False), ("DURAT", False, True)):
        rule = g(
            T.CREATE_URR,
            S.URRID(1),
            F.MeasurementMethod.of(method),
            F.ReportingTriggers.of(),
        )
        seid, teid = _start(ht, rule)
        ue = next(iter(ht.engine.sessions[seid].ue))[1].split("/")[0]
        ht.dp.process_ul(gtpu(ul_packet(ue, 100), teid))
        ht.advance(2.0)
        [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
        assert isinstance(final, Grouped)
        assert (final.get(T.VOLUME_MEASUREMENT) is not None) == volume, method
        assert (final.get(T.DURATION_MEASUREMENT) is not None) == duration, method
        assert final.get(T.TIME_OF_FIRST_PACKET) is not None
        assert final.get(T.START_TIME) is not None and final.get(T.END_TIME) is not None
        vm = final.get(T.VOLUME_MEASUREMENT)
        assert vm is None or (vm.ul, vm.ul_packets) == (128, None)  # type: ignore[attr-defined]
        assert duration is False or _value(final, T.DURATION_MEASUREMENT) == 2

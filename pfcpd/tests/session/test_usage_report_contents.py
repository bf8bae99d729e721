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
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
    usage_reports,
)

from pfcpd.pfcp import Grouped, IEType, MessageType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_traffic import VolumeMeasurement

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

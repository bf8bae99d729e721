"""Quota Validity Time (VTIME) and the Dropped DL Traffic Threshold (DROTH), TS 29.244
5.2.2.2.1 and 5.2.2.3.1: a QUVTI report when the granted quota's validity ends, its traffic
dropped until a new quota is granted; a DROTH report, without measurement, each time the
DL traffic dropped since the last one (buffered downlink discarded too) reaches the
threshold. The clocks follow the node clock (``ht``)."""

from __future__ import annotations

from session_harness import (
    Harness,
    created,
    dl_far,
    dl_packet,
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

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, MessageType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
M = MessageType
UE = "10.45.0.1"  # the first address of the pool


def _trigger(report: Grouped) -> list[str]:
    return report.get(T.USAGE_REPORT_TRIGGER).names()  # type: ignore[union-attr]


def test_quota_validity_time_reports_then_drops_until_a_new_quota(ht: Harness) -> None:
    rule = urr(
        1,
        "QUVTI",
        "VOLQU",
        vq=TR.VolumeQuota(total=1_000_000),
        qvt=S.QuotaValidityTime(3),
    )
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    seid, teid = up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    assert ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD
    assert usage_reports(ht.advance(2.5)) == []
    sent = ht.advance(1.0)
    [report] = usage_reports(sent)
    assert _trigger(report) == ["QUVTI"]
    vm = report.get(T.VOLUME_MEASUREMENT)
    assert vm is not None and vm.ul == 128  # type: ignore[attr-defined]
    ht.answer_all(sent)
    # The quota is no longer valid: the URR's traffic is dropped (both ways) ...
    assert ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.DROP
    assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    assert ht.engine.journal.records  # (the expiry is journaled with the session)
    # ... until the CP grants a new quota, valid again for 3 s.
    update = g(T.UPDATE_URR, S.URRID(1), TR.VolumeQuota(total=1_000_000))
    assert ht.modify(seid, update).get(T.CAUSE).value == 1  # type: ignore[union-attr]
    assert ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD
    sent = ht.advance(3.5)
    assert [_trigger(r) for r in usage_reports(sent)] == [["QUVTI"]]
    ht.answer_all(sent)


def test_dropped_dl_traffic_threshold_reports_without_measurement(ht: Harness) -> None:
    rule = urr(1, "DROTH", dt=TR.DroppedDLTrafficThreshold(packets=3))
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(action="DROP"), qer(), rule)
    seid, teid = up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    ht.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # forwarded: counted
    for _ in range(2):
        assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    assert usage_reports(ht.advance(1.0)) == []
    ht.dp.process_dl(dl_packet(UE))
    sent = ht.advance(1.0)
    [report] = usage_reports(sent)
    assert _trigger(report) == ["DROTH"]
    assert report.get(T.VOLUME_MEASUREMENT) is None
    assert report.get(T.DURATION_MEASUREMENT) is None
    assert report.get(T.START_TIME) is not None and report.get(T.END_TIME) is not None
    ht.answer_all(sent)
    # Re-armed: three more dropped packets, another report; fewer, none.
    for _ in range(2):
        ht.dp.process_dl(dl_packet(UE))
    assert usage_reports(ht.advance(1.0)) == []
    ht.dp.process_dl(dl_packet(UE))
    sent = ht.advance(1.0)
    assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
    ht.answer_all(sent)
    # The forwarded uplink packet was not reset by the DROTH reports.
    [final] = ht.delete(seid).get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert final.get(T.VOLUME_MEASUREMENT).ul == 128  # type: ignore[union-attr]


def test_buffered_downlink_packets_discarded_count_as_dropped_dl_traffic(ht: Harness) -> None:
    """TS 29.244 5.2.2.2.1 / 8.2.19 (DROTH) and 8.2.49: the UP function reports when the DL
    traffic it drops reaches the threshold (a UE that cannot be reached, its downlink buffered
    then discarded). Downlink packets it buffered and then discarded, here at the CP's DROBU
    (PFCPSMReq-Flags), are dropped DL traffic of the URRs of their PDR: 4 discarded >= 3, a
    DROTH report."""
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rule = urr(1, "DROTH", dt=TR.DroppedDLTrafficThreshold(packets=3))
    resp = ht.establish(
        ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF", bar=1), qer(), rule, bar
    )
    seid = up_seid(resp)
    for i in range(4):
        assert ht.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    assert usage_reports(ht.advance(1.0)) == []  # (buffered: not dropped)
    answer = ht.modify(seid, F.PFCPSMReqFlags.of("DROBU"))
    assert answer.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    assert ht.dp.buffered(seid) == 0
    sent = ht.advance(2.0)
    assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
    ht.answer_all(sent)

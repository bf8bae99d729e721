"""Quota Validity Time (VTIME) and the Dropped DL Traffic Threshold (DROTH), TS 29.244
5.2.2.2.1 and 5.2.2.3.1: a QUVTI report when the granted quota's validity ends, its traffic
dropped until a new quota is granted; a DROTH report, without measurement, each time the
DL traffic dropped since the last one (buffered downlink discarded too; other reports reset
nothing of it) reaches the threshold. The clocks follow the node clock (``ht``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_harness import (
    Harness,
    cause,
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

from pfcpd.datapath.interface import DatapathError
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal

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


def test_dropped_dl_traffic_counts_on_across_another_report(ht: Harness) -> None:
    """TS 29.244 5.2.2.2.1 / 8.2.19 (DROTH) and 8.2.49: a report when the DL traffic dropped
    since the last DROTH report reaches the Dropped DL Traffic Threshold. Dropped traffic is
    in no Volume Measurement: a report of another trigger (here an IMMER, a Query URR's, which
    reads the counts with reset) neither tells the CP of it nor resets it. 2 packets dropped,
    a Query URR, 2 more dropped: 4 >= 3, a DROTH report."""
    rule = urr(1, "DROTH", dt=TR.DroppedDLTrafficThreshold(packets=3))
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(action="DROP"), qer(), rule)
    seid = up_seid(resp)
    for _ in range(2):
        assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    assert usage_reports(ht.advance(1.0)) == []
    answer = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    assert answer.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    for _ in range(2):
        assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    sent = ht.advance(2.0)
    assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
    ht.answer_all(sent)
    # Re-armed from that report: 2 more dropped is below the threshold.
    for _ in range(2):
        ht.dp.process_dl(dl_packet(UE))
    assert usage_reports(ht.advance(1.0)) == []


@pytest.mark.parametrize("kept", [True, False], ids=["counters kept", "counters lost"])
def test_dropped_dl_traffic_counts_on_across_a_restart(ht: Harness, kept: bool) -> None:
    """TS 29.244 5.2.2.2.1 / 8.2.49 (DROTH: the DL traffic dropped since the last such
    report). What a read with reset took of it is journaled ("db") and counts on after a
    restart. 1 packet dropped, a Query URR, 1 dropped, pfcpd restarted: on a datapath that
    kept its counters (VPP) 1 more reaches the threshold of 3; on one that lost them (the
    local datapath: the drop after the query goes with them) 2 more do. After a DROTH report,
    a datapath that lost its counters counts the threshold whole again from 0."""
    rule = urr(1, "DROTH", dt=TR.DroppedDLTrafficThreshold(packets=3))
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(action="DROP"), qer(), rule)
    seid = up_seid(resp)
    ht.dp.process_dl(dl_packet(UE))
    answer = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    assert answer.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    ht.dp.process_dl(dl_packet(UE))
    assert usage_reports(ht.advance(1.0)) == []
    ht.engine.commit()
    (record,) = (v for k, v in ht.records.items() if k != "pfd")
    assert json.loads(record)["urrs"]["1"]["db"] == [-1, -len(dl_packet(UE))]
    dp = ht.dp if kept else LocalDatapath(expected_sessions=16)
    dp.keeps_counts = lambda seid: kept  # type: ignore[method-assign]
    journal = MemoryJournal()
    journal.records = dict(ht.journal.records)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        if not kept:
            dp.process_dl(dl_packet(UE))
            assert usage_reports(again.advance(1.0)) == []
        dp.process_dl(dl_packet(UE))
        sent = again.advance(1.0)
        assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
        again.answer_all(sent)
        # Reached: the threshold counts from that report (counts lost after it: from 0).
        again.engine.commit()
        if not kept:
            again.check_sent_with_tshark()
            again.dp.close()
            dp = LocalDatapath(expected_sessions=16)
            journal.records = dict(again.journal.records)
            again = Harness(dp, journal=journal)
            assert again.engine.restore(journal.items(), again.now) == 1
        for _ in range(2):
            dp.process_dl(dl_packet(UE))
        assert usage_reports(again.advance(1.0)) == []
        dp.process_dl(dl_packet(UE))
        sent = again.advance(1.0)
        assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
        again.check_sent_with_tshark()
    finally:
        if not kept:
            dp.close()


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


def _dropping(ht: Harness, paused: bool = False) -> int:
    """A session whose DL FAR drops, its URR 1 with a Dropped DL Traffic Threshold of 3
    packets (``paused``: its measurement paused, INAM), 2 DL packets dropped (no report
    yet); its UP SEID."""
    info = F.MeasurementInformation.of("MNOP", *(("INAM",) if paused else ()))
    rule = urr(1, "DROTH", dt=TR.DroppedDLTrafficThreshold(packets=3), mi=info)
    resp = ht.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(action="DROP"), qer(), rule)
    for _ in range(2):
        assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    assert usage_reports(ht.advance(1.0)) == []
    return up_seid(resp)


def _refused(ht: Harness, refusal: str, *requests: Message) -> list[Message]:
    """The answers to ``requests``, in one batch: ``refusal`` "datapath": the datapath
    refuses the first install; "journal": the batch's commit fails; "none": accepted."""
    if refusal == "journal":
        ht.journal.fail_next = 1
    if refusal != "datapath":
        return ht.batch(*requests)
    real = ht.dp.install
    calls: list[int] = []

    def refuse_once(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise DatapathError("refused (test)")
        real(*args, **kwargs)

    ht.dp.install = refuse_once  # type: ignore[method-assign]
    try:
        return ht.batch(*requests)
    finally:
        ht.dp.install = real  # type: ignore[method-assign]


def _droth_after_two_more(ht: Harness) -> None:
    """2 more DL packets dropped: 4 since the URR began, a DROTH report."""
    for _ in range(2):
        assert ht.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    sent = ht.advance(2.0)
    assert [_trigger(r) for r in usage_reports(sent)] == [["DROTH"]]
    ht.answer_all(sent)


def _modification(seid: int, *ies: IE) -> Message:
    return Message(M.SESSION_MODIFICATION_REQUEST, 0, list(ies), seid)


@pytest.mark.parametrize("refusal", ["datapath", "journal"])
def test_a_refused_modification_keeps_the_dropped_dl_traffic_its_query_took(
    ht: Harness, refusal: str
) -> None:
    """TS 29.244 5.2.2.2.1 / 8.2.49 (DROTH: the DL traffic dropped since the last such
    report). A Query URR reads the counts with reset; the modification refused (by the
    datapath, or its batch's commit by the journal), the book put back still counts what
    that read took: 2 dropped, the refused query, 2 more dropped: 4 >= 3, a DROTH report."""
    seid = _dropping(ht)
    query = _modification(seid, g(T.QUERY_URR, S.URRID(1)), g(T.UPDATE_QER, S.QERID(1), S.QFI(9)))
    (answer,) = _refused(ht, refusal, query)
    assert cause(answer) != 1
    _droth_after_two_more(ht)


@pytest.mark.parametrize("refusal", ["none", "datapath", "journal"])
def test_a_refused_resumption_keeps_the_dropped_dl_traffic_its_discard_took(
    ht: Harness, refusal: str
) -> None:
    """TS 29.244 5.2.2.3.1 (INAM) and 8.2.49: an Update URR that resumes a paused measurement
    discards what the datapath counted meanwhile (a read with reset), its dropped DL traffic
    counting on towards the Dropped DL Traffic Threshold; refused, the paused book put back
    counts it too. 2 dropped while paused, the resumption, 2 more dropped: a DROTH report."""
    seid = _dropping(ht, paused=True)
    assert ht.engine.sessions[seid].urrs[1].inactive
    resume = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    (answer,) = _refused(ht, refusal, _modification(seid, resume))
    assert (cause(answer) == 1) == (refusal == "none")
    assert ht.engine.sessions[seid].urrs[1].inactive == (refusal != "none")
    _droth_after_two_more(ht)


@pytest.mark.parametrize("request_", ["deletion", "set deletion"])
def test_an_undone_deletion_keeps_the_dropped_dl_traffic(ht: Harness, request_: str) -> None:
    """TS 29.244 7.5.6, 7.4.6 and 8.2.49: a deletion whose batch the journal fails to make
    durable is undone, the session installed again (its datapath counts from 0): the DL
    traffic dropped before it still counts towards the Dropped DL Traffic Threshold."""
    seid = _dropping(ht)
    if request_ == "deletion":
        request = Message(M.SESSION_DELETION_REQUEST, 0, [], seid)
    else:
        request = Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf")])
    (answer,) = _refused(ht, "journal", request)
    assert cause(answer) == 77 and seid in ht.engine.sessions
    _droth_after_two_more(ht)


@pytest.mark.parametrize("then", ["query", "deletion"])
def test_an_earlier_undo_keeps_the_dropped_dl_traffic_a_later_read_took(
    ht: Harness, then: str
) -> None:
    """TS 29.244 8.2.49: a batch's commit fails; its first change (an Update URR: the book a
    copy) is undone after the next one (a Query URR, or a deletion, whose reads took the
    dropped DL counts), putting back the book before both: it still counts them."""
    seid = _dropping(ht)
    update = _modification(
        seid, g(T.UPDATE_URR, S.URRID(1), TR.DroppedDLTrafficThreshold(packets=3))
    )
    if then == "query":
        later = _modification(seid, g(T.QUERY_URR, S.URRID(1)))
    else:
        later = Message(M.SESSION_DELETION_REQUEST, 0, [], seid)
    book = ht.engine.sessions[seid].urrs[1]
    assert [cause(a) for a in _refused(ht, "journal", update, later)] == [77, 77]
    assert ht.engine.sessions[seid].urrs[1] is book
    _droth_after_two_more(ht)

"""A VOLQU event whose URR's counts the datapath cannot read when the engine compares them
with the quota in force (VPP: a read that times out): the engine cannot tell the event is
about an older quota, and reports it as the datapath raised it, with the counts the
report's own read takes. The local datapath, its clock the harness's node clock."""

from __future__ import annotations

from session_harness import (
    Harness,
    created,
    dl_far,
    dl_pdr,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    urr,
    usage_reports,
)

from pfcpd.datapath.interface import DatapathError, Usage
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IEType
from pfcpd.pfcp import ies_traffic as TR

T = IEType
UE = "10.45.0.1"
QUOTA = 1000


def test_a_quota_event_whose_counts_cannot_be_read_is_reported(ht: Harness) -> None:
    h = ht
    resp = h.establish(
        ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "VOLQU", vq=TR.VolumeQuota(QUOTA))
    )
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    inner = ul_packet(UE)
    packet = gtpu(inner, teid)
    per_quota = -(-QUOTA // len(inner))  # (the last one crosses the quota)
    verdicts = [h.dp.process_ul(packet).verdict for _ in range(per_quota + 1)]
    assert verdicts == [Verdict.FORWARD] * per_quota + [Verdict.DROP]
    reads = h.dp.read_usage
    failed: list[int] = []

    def read_usage(seid: int, urr_id: int, reset: bool = False) -> Usage:
        if not reset:  # (the comparison's read; the report's resets the counts)
            failed.append(urr_id)
            raise DatapathError("VPP did not answer within 2 s")
        return reads(seid, urr_id, reset)

    h.dp.read_usage = read_usage  # type: ignore[method-assign]
    sent = h.advance(0.5)
    assert failed == [1]
    (report,) = usage_reports(sent)
    assert report.get(T.USAGE_REPORT_TRIGGER).names() == ["VOLQU"]  # type: ignore[union-attr]
    volume = report.get(T.VOLUME_MEASUREMENT)
    assert volume.total == volume.ul == per_quota * len(inner)  # type: ignore[union-attr]
    h.answer_all(sent)

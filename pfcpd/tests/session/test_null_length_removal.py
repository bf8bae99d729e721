"""A zero-length IE in an Update rule group removes that IE from the rule (TS 29.244 5.6.3:
"updating the Rule including the IEs to be removed with a null length"; a zero-length QER
ID or URR ID in an Update PDR stops applying the PDR's QERs or URRs). An IE the rule keeps
(an ID, Precedence, Apply Action, ...) or one anywhere else is refused (69, naming it)."""

from __future__ import annotations

import tempfile

import pytest
from oracles import _pcap_of, _tshark, tshark_problems
from scapy.layers.inet import IP
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

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, RawIE, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
UE = "10.45.0.1"


def null(ie_type: int) -> RawIE:
    return RawIE(ie_type, b"")


def modify(h: Harness, seid: int, *ies: IE) -> Message:
    """``h.modify``, the request first checked with tshark: it decodes cleanly, each
    zero-length IE as one "to be removed"."""
    request = encode(Message(MessageType.SESSION_MODIFICATION_REQUEST, 1, list(ies), seid))
    assert tshark_problems([request]) == []
    with tempfile.TemporaryDirectory() as tmp:
        text = _tshark(_pcap_of([request], tmp), "-V")
    assert text.count("[IE to be removed]") == _nulls(list(ies))
    return h.modify(seid, *ies)


def _nulls(ies: list[IE]) -> int:
    return sum(
        _nulls(ie.ies) if isinstance(ie, Grouped) else int(isinstance(ie, RawIE) and not ie.data)
        for ie in ies
    )


def offending(resp: Message) -> int:
    return int(resp.get(T.OFFENDING_IE).value)  # type: ignore[union-attr]


def marked_far() -> Grouped:
    far = dl_far()
    fp = far.get(T.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    fp.ies.append(TR.TransportLevelMarking(0xB8FC))
    return far


def test_null_qer_id_unlinks_the_qers_of_that_pdr_only(h: Harness) -> None:
    closed = g(T.CREATE_QER, S.QERID(1), TR.GateStatus(1, 1), S.QFI(9))
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), closed, urr(1))
    seid, teid = up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    assert h.dp.process_dl(dl_packet(UE)).verdict == Verdict.DROP
    # Update PDR 1 (a zero-length URR ID) and Update PDR 2 (a zero-length QER ID): each
    # removes its own IE from its own PDR
    r = modify(
        h,
        seid,
        g(T.UPDATE_PDR, S.PDRID(1), null(T.URR_ID)),
        g(T.UPDATE_PDR, S.PDRID(2), null(T.QER_ID)),
    )
    assert cause(r) == 1
    assert h.dp.process_dl(dl_packet(UE)).verdict == Verdict.FORWARD
    assert h.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == Verdict.DROP  # QER 1 still
    rules = h.engine.sessions[seid].rules
    assert rules.pdr[1].get_all(T.URR_ID) == [] and rules.pdr[1].get(T.QER_ID) is not None
    assert rules.pdr[2].get(T.QER_ID) is None and rules.pdr[2].get(T.URR_ID) is not None


def test_null_urr_ids_let_the_urr_be_removed(h: Harness) -> None:
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)))
    # URR 1 is still named by the PDRs: refused, as without zero-length URR IDs
    assert cause(h.modify(seid, g(T.REMOVE_URR, S.URRID(1)))) == 73
    r = modify(
        h,
        seid,
        g(T.UPDATE_PDR, S.PDRID(1), null(T.URR_ID)),
        g(T.UPDATE_PDR, S.PDRID(2), null(T.URR_ID)),
        g(T.REMOVE_URR, S.URRID(1)),
    )
    assert cause(r) == 1
    assert h.engine.sessions[seid].rules.urr == {}


def test_null_transport_level_marking_in_update_forwarding_parameters(h: Harness) -> None:
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), marked_far(), qer(), urr(1)))
    assert IP(h.dp.process_dl(dl_packet(UE)).output).tos == 0xB8
    # (a request of Update FARs only: the quick path leaves it to the long way)
    r = modify(
        h,
        seid,
        g(
            T.UPDATE_FAR,
            S.FARID(2),
            g(T.UPDATE_FORWARDING_PARAMETERS, null(T.TRANSPORT_LEVEL_MARKING)),
        ),
    )
    assert cause(r) == 1
    assert IP(h.dp.process_dl(dl_packet(UE)).output).tos == 0
    fp = h.engine.sessions[seid].rules.far[2].get(T.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped) and fp.get(T.TRANSPORT_LEVEL_MARKING) is None
    assert fp.get(T.OUTER_HEADER_CREATION) is not None


def test_null_mbr_in_update_qer(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[SessionProgram] = []
    install = h.dp.install

    def recorded(
        seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        installed.append(program)
        install(seid, program, end_markers)

    monkeypatch.setattr(h.dp, "install", recorded)
    seid = up_seid(
        h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(mbr_kbps=(8, 8)), urr(1))
    )
    assert [(q.mbr_ul, q.mbr_dl) for q in installed[-1].qers] == [(8000, 8000)]
    r = modify(h, seid, g(T.UPDATE_QER, S.QERID(1), null(T.MBR)))
    assert cause(r) == 1
    assert h.engine.sessions[seid].rules.qer[1].get(T.MBR) is None
    assert [(q.mbr_ul, q.mbr_dl, q.gate_dl_open) for q in installed[-1].qers] == [(0, 0, True)]


def test_null_volume_threshold_stops_volth_reports(h: Harness) -> None:
    u = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=300))
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u))
    r = modify(h, seid, g(T.UPDATE_URR, S.URRID(1), null(T.VOLUME_THRESHOLD)))
    assert cause(r) == 1
    assert h.engine.sessions[seid].rules.urr[1].get(T.VOLUME_THRESHOLD) is None
    for _ in range(10):
        assert h.dp.process_dl(dl_packet(UE, 100)).verdict == Verdict.FORWARD
    assert [m for m in h.advance(2.0) if m.msg_type == MessageType.SESSION_REPORT_REQUEST] == []


def test_volume_threshold_kept_reports(h: Harness) -> None:
    """(The control of the test above: the same traffic reports VOLTH.)"""
    u = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=300))
    h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u)
    for _ in range(10):
        assert h.dp.process_dl(dl_packet(UE, 100)).verdict == Verdict.FORWARD
    sent = h.advance(2.0)
    assert [m for m in sent if m.msg_type == MessageType.SESSION_REPORT_REQUEST] != []
    h.answer_all(sent)


def test_null_volume_quota_lifts_the_quota(h: Harness) -> None:
    u = urr(1, "VOLQU", vq=TR.VolumeQuota(total=500))
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u))
    verdicts = [h.dp.process_dl(dl_packet(UE, 100)).verdict for _ in range(8)]
    assert verdicts[-1] == Verdict.DROP  # the quota used up
    h.answer_all(h.advance(0.5))
    r = modify(h, seid, g(T.UPDATE_URR, S.URRID(1), null(T.VOLUME_QUOTA)))
    assert cause(r) == 1
    verdicts = [h.dp.process_dl(dl_packet(UE, 100)).verdict for _ in range(20)]
    assert verdicts == [Verdict.FORWARD] * 20
    h.answer_all(h.advance(0.5))


def test_null_quota_validity_time_lifts_the_expired_quota(h: Harness) -> None:
    u = urr(1, "VOLQU", vq=TR.VolumeQuota(total=10**6), qvt=S.QuotaValidityTime(10))
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u))
    h.ntp += 11
    h.answer_all(h.advance(11.0))
    assert h.dp.process_dl(dl_packet(UE, 100)).verdict == Verdict.DROP  # validity over
    r = modify(
        h, seid, g(T.UPDATE_URR, S.URRID(1), null(T.QUOTA_VALIDITY_TIME), null(T.VOLUME_QUOTA))
    )
    assert cause(r) == 1
    assert h.dp.process_dl(dl_packet(UE, 100)).verdict == Verdict.FORWARD
    book = h.engine.sessions[seid].urrs[1]
    assert not book.quota and not book.validity and not book.quota_expired


def test_null_ie_the_rule_keeps_is_refused(h: Harness) -> None:
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), marked_far(), qer(), urr(1)))
    before = h.engine.sessions[seid].rules_blob
    for update, ie_type in [
        (g(T.UPDATE_PDR, S.PDRID(2), null(T.FAR_ID)), T.FAR_ID),
        (g(T.UPDATE_PDR, S.PDRID(2), null(T.PRECEDENCE)), T.PRECEDENCE),
        (g(T.UPDATE_FAR, S.FARID(2), null(T.APPLY_ACTION)), T.APPLY_ACTION),
        (
            g(
                T.UPDATE_FAR,
                S.FARID(2),
                g(T.UPDATE_FORWARDING_PARAMETERS, null(T.DESTINATION_INTERFACE)),
            ),
            T.DESTINATION_INTERFACE,
        ),
        (g(T.UPDATE_QER, S.QERID(1), null(T.GATE_STATUS)), T.GATE_STATUS),
        (g(T.UPDATE_URR, S.URRID(1), null(T.REPORTING_TRIGGERS)), T.REPORTING_TRIGGERS),
        (g(T.UPDATE_URR, S.URRID(1), null(T.MEASUREMENT_METHOD)), T.MEASUREMENT_METHOD),
    ]:
        r = modify(h, seid, update)
        assert (cause(r), offending(r)) == (69, ie_type)
    assert h.engine.sessions[seid].rules_blob == before


def test_null_ie_elsewhere_keeps_its_refusal(h: Harness) -> None:
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)))
    before = h.engine.sessions[seid].rules_blob
    pdi = g(T.PDI, S.SourceInterface(1), null(T.NETWORK_INSTANCE), A.UEIPAddress(ipv4=UE))
    create = g(T.CREATE_QER, S.QERID(2), TR.GateStatus(0, 0), null(T.MBR))
    for request, ie_type in [
        (g(T.UPDATE_PDR, S.PDRID(2), pdi), T.NETWORK_INSTANCE),  # inside the PDI
        (create, T.MBR),  # in a Create group
        # one removal with one refusal: nothing changes
        (g(T.UPDATE_PDR, S.PDRID(2), null(T.QER_ID), null(T.FAR_ID)), T.FAR_ID),
    ]:
        r = modify(h, seid, request)
        assert (cause(r), offending(r)) == (69, ie_type)
    assert h.engine.sessions[seid].rules_blob == before
    assert h.dp.process_dl(dl_packet(UE)).verdict == Verdict.FORWARD


@pytest.mark.parametrize("own_time", [False, True], ids=["datapath_meters", "engine_meters"])
def test_null_time_quota_lifts_the_used_up_quota(ht: Harness, own_time: bool) -> None:
    """A Time Quota used up (TIMQU reported, the traffic dropped) and then removed: the
    traffic is forwarded again, and no TIMQU comes (the datapath's metering, or the
    engine's: a URR with an Inactivity Detection Time)."""
    h = ht
    extra = {"idt": S.InactivityDetectionTime(60)} if own_time else {}
    resp = h.establish(
        ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMQU", tq=S.TimeQuota(2), **extra)
    )
    seid, teid = up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    packet = gtpu(ul_packet(UE), teid)
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    sent: list[Message] = []
    for _ in range(6):
        h.dp.process_ul(packet)
        sent += h.advance(0.5)
    triggers = [r.get(T.USAGE_REPORT_TRIGGER).names() for r in usage_reports(sent)]  # type: ignore[union-attr]
    assert ["TIMQU"] in triggers
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    r = modify(h, seid, g(T.UPDATE_URR, S.URRID(1), null(T.TIME_QUOTA)))
    assert cause(r) == 1
    book = h.engine.sessions[seid].urrs[1]
    assert not book.time_quota_over and not book.time_quota
    sent = []
    for _ in range(8):
        assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
        sent += h.advance(0.5)
    assert usage_reports(sent) == []

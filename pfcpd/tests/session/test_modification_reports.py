"""Session modification and Session Report Requests (USAR, DLDR, ERIR), sans-IO node with
the engine on the real local datapath."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP
from scapy.packet import raw
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    gtpu,
    ohc,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
M = MessageType
UE = "10.45.0.1"


def _session(h: Harness, *rules: Grouped) -> tuple[int, int]:
    resp = h.establish(*rules)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    return up_seid(resp), fteid.teid


def _volume(report: Grouped) -> tuple[int | None, int | None]:
    vm = report.get(T.VOLUME_MEASUREMENT)
    return vm.ul, vm.dl  # type: ignore[union-attr]


def test_update_far_path_switch_sends_end_marker(h: Harness) -> None:
    seid, _ = _session(h)
    ufp = g(T.UPDATE_FORWARDING_PARAMETERS, ohc(0x200, "192.0.2.10"), F.PFCPSMReqFlags.of("SNDEM"))
    resp = h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), ufp))
    assert cause(resp) == 1
    (marker,) = h.dp.take_pending()
    gtp = IP(marker.output)[GTP_U_Header]
    assert gtp.gtp_type == 254 and gtp.teid == 0x100  # End Marker on the old path
    res = h.dp.process_dl(dl_packet(UE))
    out = IP(res.output)
    assert out.dst == "192.0.2.10" and out[GTP_U_Header].teid == 0x200


@pytest.mark.parametrize("other", ["switched", "removed"])
def test_end_marker_only_on_the_far_whose_update_asks_for_it(h: Harness, other: str) -> None:
    """SNDEM is an Update Forwarding Parameters flag (TS 29.244 7.5.4.3, 8.2.58): only the
    FAR whose update carries it sends an End Marker on its old tunnel; FAR 3, switched in
    the same request without SNDEM, or removed, gets none."""
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(), dl_pdr(3, 3, urr=None, qer=None)]
    rules += [dl_far(3, teid=0x300), qer(), urr(1)]
    seid, _ = _session(h, *rules)
    if other == "switched":
        change = [g(T.UPDATE_FAR, S.FARID(3), g(T.UPDATE_FORWARDING_PARAMETERS, ohc(0x301)))]
    else:
        change = [g(T.REMOVE_PDR, S.PDRID(3)), g(T.REMOVE_FAR, S.FARID(3))]
    ufp = g(T.UPDATE_FORWARDING_PARAMETERS, ohc(0x200, "192.0.2.10"), F.PFCPSMReqFlags.of("SNDEM"))
    assert cause(h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), ufp), *change)) == 1
    markers = [IP(p.output)[GTP_U_Header] for p in h.dp.take_pending()]
    assert [(m.gtp_type, m.teid) for m in markers] == [(254, 0x100)]


def test_create_remove_rules_and_query_urr(h: Harness) -> None:
    seid, teid = _session(h)
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    resp = h.modify(
        seid,
        g(T.CREATE_URR, S.URRID(2), F.MeasurementMethod.of("VOLUM"), F.ReportingTriggers.of()),
        g(T.UPDATE_PDR, S.PDRID(1), S.URRID(2)),
        g(T.QUERY_URR, S.URRID(1)),
    )
    assert cause(resp) == 1
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(rep, Grouped) and rep.get(T.USAGE_REPORT_TRIGGER).has("IMMER")  # type: ignore[union-attr]
    assert _volume(rep) == (128, 0)
    h.dp.process_ul(gtpu(ul_packet(UE, 50), teid))  # counted by URR 2 now
    resp = h.modify(seid, g(T.REMOVE_URR, S.URRID(2)), g(T.UPDATE_PDR, S.PDRID(1), S.URRID(1)))
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(rep, Grouped) and rep.get(T.URR_ID).value == 2  # type: ignore[union-attr]
    assert _volume(rep) == (78, 0)
    resp = h.modify(seid, g(T.REMOVE_FAR, S.FARID(2)))  # PDR 2 still names it
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(1, 2)
    assert h.dp.process_dl(dl_packet(UE)).verdict == Verdict.FORWARD  # nothing changed
    resp = h.modify(seid, g(T.QUERY_URR, S.URRID(9)))
    assert cause(resp) == 73
    assert cause(h.modify(0xDEAD, g(T.QUERY_URR, S.URRID(1)))) == 65


def test_qaurr_reports_every_urr(h: Harness) -> None:
    seid, teid = _session(h, ul_pdr(), dl_pdr(urr=2), ul_far(), dl_far(), qer(), urr(1), urr(2))
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    h.dp.process_dl(dl_packet(UE, 10))
    resp = h.modify(seid, F.PFCPSMReqFlags.of("QAURR"))
    reports = {
        r.get(T.URR_ID).value: _volume(r)
        for r in resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    }  # type: ignore[union-attr, arg-type]
    assert reports == {1: (128, 0), 2: (0, 38)}


def _references(resp: Message) -> dict[int, list[str]]:
    """URR ID -> the Query URR References tshark finds inside its Usage Report of the
    Session Modification Response ``resp``; none may be outside a Usage Report."""
    from oracles import tshark_ies

    (ies,) = tshark_ies([encode(resp)])
    assert not [ie for ie in ies if ie.type == T.QUERY_URR_REFERENCE]
    out: dict[int, list[str]] = {}
    for report in (ie for ie in ies if ie.type == T.USAGE_REPORT_MODIFICATION_RESPONSE):
        (urr_id,) = report.all(T.URR_ID)
        refs = report.all(T.QUERY_URR_REFERENCE)
        out[int(urr_id.fields["pfcp.urr_id"][0])] = [
            v for r in refs for v in r.fields["pfcp.query_urr_reference"]
        ]
    return out


def test_query_urr_reference_is_in_the_reports_the_query_produced(h: Harness) -> None:
    """TS 29.244 Table 7.5.5.2-1: a Usage Report of the Session Modification Response sent
    as a result of the request's Query URR (or QAURR) carries the request's Query URR
    Reference; the final report of a URR the request removes (TERMR) does not, nor any
    report of a request without one."""
    seid, teid = _session(h, ul_pdr(), dl_pdr(urr=2), ul_far(), dl_far(), qer(), urr(1), urr(2))
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    reference = S.QueryURRReference(0xABCD)
    queried = h.modify(
        seid,
        g(T.QUERY_URR, S.URRID(1)),
        g(T.UPDATE_PDR, S.PDRID(2), S.URRID(1)),
        g(T.REMOVE_URR, S.URRID(2)),
        reference,
    )
    assert cause(queried) == 1
    reports = {
        r.get(T.URR_ID).value: r  # type: ignore[union-attr]
        for r in queried.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    }
    assert reports[1].get(T.QUERY_URR_REFERENCE) == reference  # type: ignore[union-attr]
    assert reports[2].get(T.QUERY_URR_REFERENCE) is None  # type: ignore[union-attr]
    assert _references(queried) == {1: ["43981"], 2: []}
    everything = h.modify(seid, F.PFCPSMReqFlags.of("QAURR"), S.QueryURRReference(7))
    assert _references(everything) == {1: ["7"]}
    assert _references(h.modify(seid, g(T.QUERY_URR, S.URRID(1)))) == {1: []}


def test_removing_the_last_pdr_of_a_urr_reports_its_usage(h: Harness) -> None:
    """TS 29.244 Table 7.5.5.1-1: the Session Modification Response carries a Usage Report
    also when "the last PDR associated to a URR has been removed" and non-null usage is
    available for that URR (trigger TERMR, 8.2.41). The URR stays: its counts start again
    from 0. A removal that leaves the URR another PDR, or leaves it without usage,
    reports nothing."""
    rules = [ul_pdr(1, 1, urr=2), dl_pdr(urr=2), ul_far(), dl_far(), qer(), urr(1), urr(2)]
    seid, teid = _session(h, *rules)
    for _ in range(3):
        assert h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD
    resp = h.modify(seid, g(T.UPDATE_PDR, S.PDRID(2), S.URRID(1)))  # PDR 1 still has URR 2
    assert cause(resp) == 1 and resp.get(T.USAGE_REPORT_MODIFICATION_RESPONSE) is None
    resp = h.modify(seid, g(T.REMOVE_PDR, S.PDRID(1)))
    assert cause(resp) == 1
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(rep, Grouped) and rep.get(T.URR_ID) == S.URRID(2)
    assert rep.get(T.USAGE_REPORT_TRIGGER) == F.UsageReportTrigger.of("TERMR")
    assert _volume(rep) == (384, 0)
    assert [m for m in h.advance(1.0) if m.msg_type == M.SESSION_REPORT_REQUEST] == []
    # URR 2 stays, from 0: given a PDR again and removed without traffic, no report.
    resp = h.modify(seid, ul_pdr(3, 1, urr=2))
    assert cause(resp) == 1
    resp = h.modify(seid, g(T.REMOVE_PDR, S.PDRID(3)), g(T.QUERY_URR, S.URRID(2)))
    assert cause(resp) == 1
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert rep.get(T.USAGE_REPORT_TRIGGER) == F.UsageReportTrigger.of("IMMER")  # type: ignore[union-attr]
    assert _volume(rep) == (0, 0)  # type: ignore[arg-type]


def test_volume_threshold_report_and_seqn(h: Harness) -> None:
    threshold = TR.VolumeThreshold(total=1000)
    seid, teid = _session(
        h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "VOLTH", vt=threshold)
    )
    for _ in range(8):
        h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))  # 8 x 128 = 1024 bytes
    sent = h.advance(0.2)
    (report,) = [m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.seid == 0xC0FFEE and report.get(T.REPORT_TYPE).has("USAR")  # type: ignore[union-attr]
    (ur,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert isinstance(ur, Grouped)
    assert ur.get(T.UR_SEQN).value == 0 and ur.get(T.USAGE_REPORT_TRIGGER).has("VOLTH")  # type: ignore[union-attr]
    assert _volume(ur) == (1024, 0)
    h.answer(report)
    for _ in range(8):
        h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    (report2,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    (ur2,) = report2.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert ur2.get(T.UR_SEQN).value == 1 and _volume(ur2) == (1024, 0)  # type: ignore[union-attr, arg-type]
    # The CP no longer knows the session: cause 65 removes it here too.
    h.answer(report2, 65)
    assert seid not in h.engine.sessions and h.engine.teids.in_use == 0


def test_unanswered_report_counts_go_into_the_next(h: Harness) -> None:
    seid, teid = _session(
        h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "PERIO", mp=S.MeasurementPeriod(1))
    )
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    sent = h.advance(1.1)
    (report,) = [m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
    (ur,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert ur.get(T.USAGE_REPORT_TRIGGER).has("PERIO") and _volume(ur) == (128, 0)  # type: ignore[union-attr, arg-type]
    # Never answered (T1 x N1 pass): its 128 bytes go into a later report, once.
    seen: set[int] = {report.seq}
    later_ul = 0
    for _ in range(50):
        for m in h.advance(0.1):
            if m.msg_type == M.SESSION_REPORT_REQUEST and m.seq not in seen:
                seen.add(m.seq)
                (ur2,) = m.get_all(T.USAGE_REPORT_REPORT_REQUEST)
                later_ul += _volume(ur2)[0] or 0  # type: ignore[arg-type]
                h.answer(m)
    assert later_ul == 128
    resp = h.delete(seid)
    (final,) = resp.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert _volume(final) == (0, 0)  # type: ignore[arg-type]


def test_a_threshold_given_less_a_baseline_counts_whole_after_its_report(h: Harness) -> None:
    """A threshold report not accepted (its counts go back as the URR's baseline), then a
    modification installs the program with the threshold less that baseline: the next
    packet reaches it. The report that takes the baseline installs the program again: the
    threshold counts whole from there (no report at every packet)."""
    threshold = urr(1, "VOLTH", threshold=TR.VolumeThreshold(total=1000))
    seid, teid = _session(h, ul_pdr(), dl_pdr(urr=None), ul_far(), dl_far(), qer(), threshold)
    packet = gtpu(ul_packet(UE, 500 - 28), teid)  # (500 octets counted)

    def uplink(n: int) -> None:
        assert [h.dp.process_ul(packet).verdict for _ in range(n)] == [Verdict.FORWARD] * n

    def reports(sent: list[Message]) -> list[tuple[int, int | None]]:
        out = []
        for m in sent:
            for r in m.get_all(T.USAGE_REPORT_REPORT_REQUEST):
                assert isinstance(r, Grouped)
                out.append((r.get(T.UR_SEQN).value, r.get(T.VOLUME_MEASUREMENT).total))  # type: ignore[union-attr]
        return out

    uplink(2)
    (sent,) = h.advance(0.1)
    h.answer(sent, 64)
    assert cause(h.modify(seid, g(T.UPDATE_QER, S.QERID(1)))) == 1
    uplink(1)
    sent2 = h.advance(0.1)
    assert reports(sent2) == [(1, 1500)]
    h.answer_all(sent2)
    uplink(1)
    assert h.advance(1.0) == []
    uplink(1)
    assert reports(h.advance(0.1)) == [(2, 1000)]


def test_dl_data_report_buffering_flush_and_drobu(h: Harness) -> None:
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    seid, _ = _session(
        h, ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar
    )
    for i in range(3):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.get(T.REPORT_TYPE).has("DLDR")  # type: ignore[union-attr]
    dldr = report.get(T.DOWNLINK_DATA_REPORT)
    assert isinstance(dldr, Grouped) and dldr.get(T.PDR_ID).value == 2  # type: ignore[union-attr]
    assert dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION).qfi == 9  # type: ignore[union-attr]
    h.answer(report)
    # The FAR turns to FORW: the buffered packets leave in order.
    fp = g(T.UPDATE_FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(0x100))
    resp = h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("FORW"), fp))
    assert cause(resp) == 1
    flushed = h.dp.take_pending()
    assert [IP(r.output)[GTP_U_Header].payload.id for r in flushed] == [0, 1, 2]
    # Back to buffering, then DROBU drops what was buffered.
    h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF")))
    h.dp.process_dl(dl_packet(UE, 10))
    assert h.dp.buffered(seid) == 1
    h.modify(seid, F.PFCPSMReqFlags.of("DROBU"))
    assert h.dp.buffered(seid) == 0


def test_error_indication_report_names_the_remote_fteid(h: Harness) -> None:
    _session(h)
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication

    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x100)])
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.get(T.REPORT_TYPE).has("ERIR")  # type: ignore[union-attr]
    eir = report.get(T.ERROR_INDICATION_REPORT)
    assert isinstance(eir, Grouped)
    assert eir.get(T.F_TEID) == A.FTEID(0x100, "192.0.2.9")
    h.answer(report)


def test_a_burst_of_error_indications_for_one_tunnel_gives_one_report_at_a_time(
    h: Harness,
) -> None:
    """TS 29.281 7.3.1: a gNB that lost a UE's context answers every G-PDU on that TEID with
    an Error Indication. One ERIR per session and Remote F-TEID while one is outstanding
    (TS 29.244 5.9, 7.5.8): 20 indications in one poll give one Session Report Request;
    once it is answered, the next indication gives the next one."""
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication, IE_GSNAddress

    _session(h)
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=0x100), IE_GSNAddress(ipv4_address="192.0.2.9")]
    )
    for _ in range(20):
        h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    sent = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert len({m.seq for m in sent}) == 1
    for _ in range(5):  # (still outstanding: none more)
        h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    assert [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST] == []
    h.answer(sent[0])
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    (again,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert again.get(T.REPORT_TYPE).has("ERIR") and again.seq != sent[0].seq  # type: ignore[union-attr]
    h.answer(again)


def test_peer_lost_policies(h: Harness) -> None:
    from pfcpd.node.session_handler import Peer, PeerGone

    seid, _ = _session(h)
    h.engine.peer_gone(Peer("smf", ("127.0.0.2", 8805)), PeerGone.LOST, True, h.now)
    assert seid in h.engine.sessions
    h.engine.peer_gone(Peer("smf", ("127.0.0.2", 8805)), PeerGone.RESTARTED, False, h.now)
    assert h.engine.sessions == {}
    h.engine.commit()  # (as the node does before anything leaves)
    assert h.records == {}
    _ = Message


def test_report_response_update_bar_and_drobu(h: Harness) -> None:
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seid, _ = _session(h, *rules)
    h.dp.process_dl(dl_packet(UE, 10))
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    update = g(
        T.UPDATE_BAR_SESSION_REPORT_RESPONSE,
        S.BARID(1),
        S.DLBufferingDuration(0, 2),  # 4 s
        S.DLBufferingSuggestedPacketCount(2),
    )
    h.answer(report, 1, update, F.PFCPSRRspFlags.of("DROBU"))
    assert h.dp.buffered(seid) == 0  # DROBU
    bar_now = h.dp._programs[seid].bar  # the program installed
    assert bar_now is not None and (bar_now.max_packets, bar_now.duration_ns) == (2, 4 * 10**9)
    verdicts = [h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict for i in range(3)]
    assert verdicts == [Verdict.BUFFER, Verdict.BUFFER, Verdict.DROP]


def _buffering_session(h: Harness) -> int:
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    return _session(h, *rules)[0]


def _dldrs(sent: list[Message]) -> list[Message]:
    return [
        m
        for m in sent
        if m.msg_type == M.SESSION_REPORT_REQUEST and m.get(T.REPORT_TYPE).has("DLDR")  # type: ignore[union-attr]
    ]


def test_downlink_data_after_drobu_is_reported_again(h: Harness) -> None:
    """Paging failed: the SMF answers DROBU and leaves the FAR buffering (TS 23.502
    4.2.3.3). Downlink data arriving after the discard is new: its first packet is reported
    again (the next paging), once."""
    seid = _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    (report,) = _dldrs(h.advance(0.2))
    h.answer(report, 1, F.PFCPSRRspFlags.of("DROBU"))
    assert h.dp.buffered(seid) == 0
    h.dp.process_dl(dl_packet(UE, 10, ident=1))
    h.dp.process_dl(dl_packet(UE, 10, ident=2))
    (again,) = _dldrs(h.advance(0.2))
    h.answer(again)
    assert h.dp.buffered(seid) == 2


def test_buffering_duration_counts_from_the_answer(ht: Harness) -> None:
    """The DL Buffering Duration of the report's answer (Update BAR) counts from the answer,
    not from the first packet buffered before it (TS 29.244 8.2.29); when it ends, what was
    buffered is discarded and the next downlink packet is reported again."""
    h = ht
    seid = _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    (report,) = _dldrs(h.advance(0.2))
    h.advance(1.0)  # (the SMF pages before it answers)
    update = g(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, S.BARID(1), S.DLBufferingDuration(0, 1))
    h.answer(report, 1, update)  # buffer 2 s from now
    assert _dldrs(h.advance(1.5)) == []
    assert h.dp.buffered(seid) == 1  # 2.7 s after the packet, 1.5 s after the answer
    assert _dldrs(h.advance(1.0)) == []
    assert h.dp.buffered(seid) == 0  # the duration ended: discarded
    h.dp.process_dl(dl_packet(UE, 10, ident=7))
    (again,) = _dldrs(h.advance(0.2))
    h.answer(again)


def test_sessions_view_and_metrics(h: Harness) -> None:
    seid, teid = _session(h)
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    (view,) = h.engine.sessions_view(seid)
    assert view["cp_seid"] == 0xC0FFEE and view["ue_addresses"] == ["10.45.0.1/32"]
    assert view["urrs"]["1"]["bytes"] == [128, 128, 0]  # type: ignore[index]
    assert h.engine.sessions_view(seid + 1) == [] and len(h.engine.sessions_view()) == 1
    text = h.node.metrics.registry.render()
    assert "\npfcpd_sessions_active 1.0\n" in text
    accepted = 'cause="request_accepted",type="session_establishment_response"'
    assert f"\npfcpd_session_requests_total{{{accepted}}} 1.0\n" in text
    assert '\npfcpd_allocations_in_use{pool="teid"} 1.0\n' in text
    assert '\npfcpd_allocations_in_use{pool="internet:10.45.0.0/29"} 1.0\n' in text


def test_dl_data_notification_delay(h: Harness) -> None:
    bar = g(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(10))  # 500 ms
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seid, _ = _session(h, *rules)
    h.dp.process_dl(dl_packet(UE, 10))
    assert [m for m in h.advance(0.3) if m.msg_type == M.SESSION_REPORT_REQUEST] == []
    (report,) = [m for m in h.advance(0.3) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.get(T.REPORT_TYPE).has("DLDR")  # type: ignore[union-attr]
    h.answer(report)
    # The FAR forwards before the delay is over: no report is due any more.
    fp = g(T.UPDATE_FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(0x100))
    forward = g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("FORW"), fp)
    assert cause(h.modify(seid, forward)) == 1
    assert cause(h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP")))) == 1
    h.dp.process_dl(dl_packet(UE, 10))
    h.advance(0.1)
    assert len(h.engine._delayed_dldr) == 1  # the report waits for its delay
    assert cause(h.modify(seid, forward)) == 1
    assert [m for m in h.advance(1.0) if m.msg_type == M.SESSION_REPORT_REQUEST] == []


def test_many_sessions_sending_to_one_remote_teid(datapath: LocalDatapath) -> None:
    """gNBs number their TEIDs alike: many sessions send to TEID 0x100, each at its own
    gNB. The index by remote TEID keeps them all (in a set past SHARED_AS_SET, changed in
    place); an Error Indication naming 0x100 and its sender (an IPv4 GTP-U Peer Address)
    reports on that gNB's session alone, one naming no sender on each of them; the index
    empties as they go."""
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication, IE_GSNAddress

    from pfcpd.session.state import SHARED_AS_SET, seids_of
    from pfcpd.smfsim import rules as R

    h = Harness(datapath, pools={"internet": (ipaddress.ip_network("10.45.0.0/24"),)})
    count = 3 * SHARED_AS_SET
    seids = []
    for i in range(count):
        far = R.dl_far(2, 0x100, f"192.0.2.{10 + i}")
        resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), far, qer(), urr(), cp_seid=0xC000 + i)
        assert cause(resp) == 1
        seids.append(up_seid(resp))
    entry = h.engine._by_peer_teid[0x100]
    assert isinstance(entry, set) and entry == set(seids)
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x100)])
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    reports = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert sorted(m.seid for m in reports) == sorted(0xC000 + i for i in range(count))
    h.answer_all(reports)
    # One naming its sender (the GTP-U Peer Address, TS 29.281 7.3.1): that gNB's alone.
    sender = IE_GSNAddress(length=4, ipv4_address="192.0.2.13")
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=0x100), sender]
    )
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.seid == 0xC000 + 3
    eir = report.get(T.ERROR_INDICATION_REPORT)
    assert isinstance(eir, Grouped) and eir.get(T.F_TEID) == A.FTEID(0x100, "192.0.2.13")
    h.answer(report)
    for n, seid in enumerate(seids, 1):
        assert cause(h.delete(seid)) == 1
        left = set(seids[n:])
        assert set(seids_of(h.engine._by_peer_teid.get(0x100, ()))) == left
    assert 0x100 not in h.engine._by_peer_teid
    h.check_sent_with_tshark()


def test_error_indication_from_an_ipv6_gnb_names_its_session_alone(
    datapath: LocalDatapath,
) -> None:
    """Two sessions send to TEID 0x100, each at its own IPv6 gNB (gNBs number their TEIDs
    alike). An Error Indication naming 0x100 with the IPv6 GTP-U Peer Address of one
    (TS 29.281 7.3.1) reports on that gNB's session alone, its Remote F-TEID the IPv6 one;
    without a peer address, the TEID alone names both."""
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication, IE_GSNAddress

    from pfcpd.smfsim import rules as R

    h = Harness(datapath, n3="2001:db8:3::1")
    gnbs = ("2001:db8:9::9", "2001:db8:9::a")
    seids = []
    for n, gnb in enumerate(gnbs):
        ul = ul_pdr(fteid=A.FTEID(choose=True, choose_v6=True))
        ul.ies = [
            TR.OuterHeaderRemoval(1) if ie.type == T.OUTER_HEADER_REMOVAL else ie for ie in ul.ies
        ]
        far = R.dl_far(2, 0x100, gnb)
        resp = h.establish(ul, dl_pdr(), ul_far(), far, qer(), urr(), cp_seid=0xC000 + n)
        assert cause(resp) == 1
        seids.append(up_seid(resp))
    # its sender: the second gNB
    sender = IE_GSNAddress(length=16, ipv6_address=gnbs[1])
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=0x100), sender]
    )
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert report.seid == 0xC001
    assert report.get(T.REPORT_TYPE).has("ERIR")  # type: ignore[union-attr]
    eir = report.get(T.ERROR_INDICATION_REPORT)
    assert isinstance(eir, Grouped)
    assert eir.get(T.F_TEID) == A.FTEID(0x100, None, gnbs[1])
    h.answer(report)
    # the same TEID from a gNB no session sends to: nothing
    other = IE_GSNAddress(length=16, ipv6_address="2001:db8:9::b")
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=0x100), other]
    )
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    assert [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST] == []
    # no GTP-U Peer Address: the TEID alone, both sessions
    ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x100)])
    h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    reports = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert sorted(m.seid for m in reports) == [0xC000, 0xC001]
    for m in reports:
        eir = m.get(T.ERROR_INDICATION_REPORT)
        assert isinstance(eir, Grouped)
        assert eir.get(T.F_TEID) == A.FTEID(0x100, None, gnbs[m.seid - 0xC000])
    h.answer_all(reports)
    h.check_sent_with_tshark()

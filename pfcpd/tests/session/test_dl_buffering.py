"""DL buffering (TS 29.244 5.2.3.1): a Downlink Data Report for the first packet of each
PDR (and QoS flow) whose FAR buffers and notifies the CP, in each buffering episode (after
the DDND, not once its episode ended; raised again when the CP never got it); what a
PDR buffered sent once it no longer buffers (per FAR, or moved to another FAR); and the DL
Buffering Duration of each Session Report Response's Update BAR counting from that answer;
sans-IO node, engine on the real local datapath."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from session_harness import (
    DN,
    Harness,
    _with_pdi,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    qer,
    restarted,
    to_forw,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
M = MessageType
UE = "10.45.0.1"
VOICE_PORT = 3000  # the source port of PDR 3's packets (its SDF filter)


def _service(report: Message) -> TR.DownlinkDataServiceInformation:
    dldr = report.get(T.DOWNLINK_DATA_REPORT)
    assert isinstance(dldr, Grouped)
    info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
    assert isinstance(info, TR.DownlinkDataServiceInformation)
    return info


def _two_flows(h: Harness) -> int:
    """A session buffering for the UE: PDR 2 (any DL packet, QER 1: QFI 9) to FAR 2, PDR 3
    (UDP from port VOICE_PORT, precedence before PDR 2's, QER 2: QFI 5) to FAR 3; both FARs
    buffer and notify the CP (BAR 1)."""
    voice = _with_pdi(
        dl_pdr(3, 3, qer=2),
        TR.SDFFilter(flow_description=f"permit out 17 from any {VOICE_PORT} to assigned"),
    )
    voice.ies = [S.Precedence(100) if ie.type == T.PRECEDENCE else ie for ie in voice.ies]
    qer2 = qer(2)
    qer2.ies = [S.QFI(5) if ie.type == T.QFI else ie for ie in qer2.ies]
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(20))
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        voice,
        ul_far(),
        dl_far(action="BUFF+NOCP", bar=1),
        dl_far(3, action="BUFF+NOCP", bar=1),
        qer(),
        qer2,
        urr(1),
        bar,
    )
    assert cause(resp) == 1 and created(resp)
    return up_seid(resp)


def _voice(ident: int = 0) -> bytes:
    return raw(IP(src=DN, dst=UE, id=ident) / UDP(sport=VOICE_PORT, dport=1000) / Raw(b"v" * 40))


def _dldrs(sent: list[Message]) -> list[Message]:
    return [
        m
        for m in sent
        if m.msg_type == M.SESSION_REPORT_REQUEST and m.get(T.REPORT_TYPE).has("DLDR")  # type: ignore[union-attr]
    ]


def _reported(report: Message) -> tuple[int, int | None]:
    """The PDR ID and QFI of the report's Downlink Data Report."""
    dldr = report.get(T.DOWNLINK_DATA_REPORT)
    assert isinstance(dldr, Grouped)
    info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
    return dldr.get(T.PDR_ID).value, info.qfi if info is not None else None  # type: ignore[union-attr]


def test_each_pdr_s_first_buffered_packet_is_reported(h: Harness) -> None:
    """Downlink data of another PDR (another QoS flow) while the first report's paging runs
    is reported too: the CP pages again for a flow of a higher priority (TS 23.502 4.2.3.3).
    The later packets of a PDR reported are not."""
    seid = _two_flows(h)
    for i in range(3):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    (first,) = _dldrs(h.advance(0.2))
    assert _reported(first) == (2, 9)
    h.answer(first)
    assert h.dp.process_dl(_voice()).verdict == Verdict.BUFFER
    assert h.dp.process_dl(_voice(1)).verdict == Verdict.BUFFER
    assert h.dp.process_dl(dl_packet(UE, 10, ident=3)).verdict == Verdict.BUFFER
    (second,) = _dldrs(h.advance(0.2))
    assert _reported(second) == (3, 5)
    h.answer(second)
    assert h.dp.buffered(seid) == 6
    assert _dldrs(h.advance(1.0)) == []


def test_a_far_buffering_anew_reports_its_pdrs_alone(h: Harness) -> None:
    """The CP changes one FAR (forwards, buffers again): its PDR's next packet is reported;
    the other PDR, buffering under a FAR left as it was, is not reported again."""
    seid = _two_flows(h)
    h.dp.process_dl(dl_packet(UE, 10))
    h.dp.process_dl(_voice())
    sent = _dldrs(h.advance(0.2))
    assert sorted(_reported(m) for m in sent) == [(2, 9), (3, 5)]
    h.answer_all(sent)
    drop = g(T.UPDATE_FAR, S.FARID(3), F.ApplyAction.of("DROP"))
    assert cause(h.modify(seid, drop)) == 1
    again = g(T.UPDATE_FAR, S.FARID(3), F.ApplyAction.of("BUFF", "NOCP"))
    assert cause(h.modify(seid, again)) == 1
    h.dp.process_dl(dl_packet(UE, 10, ident=1))
    h.dp.process_dl(_voice(1))
    (report,) = _dldrs(h.advance(0.2))
    assert _reported(report) == (3, 5)
    h.answer(report)


def _forwarded_ids(h: Harness) -> list[int]:
    """The IP IDs of the packets the datapath sent since the last call (flushed ones)."""
    sent = [r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]
    return [int(IP(r.output)[GTP_U_Header].payload.id) for r in sent]


def test_a_far_forwarding_again_gets_its_buffered_packets_while_another_far_buffers(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1: buffering is per FAR (Apply Action BUFF, with its BAR); when the
    CP changes a FAR from BUFF to FORW the UP function forwards what it buffered for that
    FAR. Two QoS flows buffer (FAR 2, FAR 3); the SMF activates FAR 2 only (FAR 3 stays
    BUFF, e.g. its QoS flow's resources are not set up by the RAN yet): FAR 2's packets go
    in their order with that install, FAR 3's stays buffered and is not reported again."""
    seid = _two_flows(h)
    for i in range(3):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    assert h.dp.process_dl(_voice(9)).verdict == Verdict.BUFFER
    h.answer_all(h.advance(0.2))
    assert cause(h.modify(seid, to_forw())) == 1
    assert _forwarded_ids(h) == [0, 1, 2]
    assert h.dp.buffered(seid) == 1  # the voice packet: FAR 3 still buffers
    assert _dldrs(h.advance(0.2)) == []


def _parking_far_session(h: Harness) -> int:
    """FAR 2 forwards to the gNB; FAR 4 buffers and notifies (BAR 1). The SMF idles and
    resumes the UE's downlink by pointing PDR 2 at FAR 4 or FAR 2 (Update PDR, FAR ID)."""
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        ul_far(),
        dl_far(),
        dl_far(4, action="BUFF+NOCP", bar=1),
        qer(),
        urr(1),
        bar,
    )
    assert cause(resp) == 1
    return up_seid(resp)


def _pdr_to(far_id: int) -> Grouped:
    return g(T.UPDATE_PDR, S.PDRID(2), S.FARID(far_id))


def test_a_pdr_moved_back_to_a_buffering_far_reports_its_next_episode(h: Harness) -> None:
    """TS 29.244 5.2.3.1: a PDR whose FAR buffers with NOCP has its first downlink packet
    reported (DLDR) so that the SMF pages the UE; each idle period is a new episode. The SMF
    idles PDR 2 by moving it onto a buffering FAR (Update PDR, 7.5.4.2: FAR ID 4, BUFF+NOCP)
    and resumes it by moving it back onto the forwarding FAR 2, no FAR changing its Apply
    Action: the second idle period is reported too."""
    seid = _parking_far_session(h)
    assert cause(h.modify(seid, _pdr_to(4))) == 1
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    first = _dldrs(h.advance(0.2))
    assert len(first) == 1
    h.answer_all(first)
    assert cause(h.modify(seid, _pdr_to(2))) == 1  # UE back
    h.dp.take_pending()
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.FORWARD
    assert cause(h.modify(seid, _pdr_to(4))) == 1  # idle again
    assert h.dp.process_dl(dl_packet(UE, 10, ident=2)).verdict == Verdict.BUFFER
    second = _dldrs(h.advance(0.2))
    h.answer_all(second)
    assert len(second) == 1, "second idle period: no Downlink Data Report, UE never paged"
    assert _reported(second[0])[0] == 2


def test_a_pdr_moved_to_a_forwarding_far_gets_its_buffered_packets(h: Harness) -> None:
    """TS 29.244 5.2.3.1: when a PDR's packets are forwarded again, the UP function sends
    what it buffered for them. The SMF resumes PDR 2 by pointing it back at the forwarding
    FAR 2 (Update PDR): its 2 buffered packets go with that install, in their order, though
    FAR 4 (now used by no PDR) still has BUFF."""
    seid = _parking_far_session(h)
    assert cause(h.modify(seid, _pdr_to(4))) == 1
    for i in range(2):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    h.answer_all(h.advance(0.2))
    assert cause(h.modify(seid, _pdr_to(2))) == 1
    assert _forwarded_ids(h) == [0, 1]
    assert h.dp.buffered(seid) == 0


def test_the_report_carries_the_packet_s_dscp(h: Harness) -> None:
    """The Downlink Data Service Information carries the DSCP of the packet that raised
    the report as its Paging Policy Indication (TS 29.244 7.5.8.2, for Paging Policy
    Differentiation: the SMF chooses the paging policy from it) with the QFI."""
    _two_flows(h)
    voice = IP(_voice())
    voice.tos = 46 << 2  # DSCP EF
    del voice.chksum
    h.dp.process_dl(raw(voice))
    h.dp.process_dl(dl_packet(UE, 10))  # DSCP 0
    sent = sorted(_dldrs(h.advance(0.2)), key=_reported)
    assert [(_service(m).ppi, _service(m).qfi) for m in sent] == [(0, 9), (46, 5)]
    h.answer_all(sent)


def _buffering_session(h: Harness, *extra: IE) -> int:
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    rules += extra
    resp = h.establish(*rules)
    assert cause(resp) == 1
    return up_seid(resp)


def _duration(seconds_by_2: int) -> Grouped:
    return g(
        T.UPDATE_BAR_SESSION_REPORT_RESPONSE, S.BARID(1), S.DLBufferingDuration(0, seconds_by_2)
    )


def test_the_same_buffering_duration_again_counts_from_its_answer(ht: Harness) -> None:
    """The next paging's answer gives the same DL Buffering Duration: it counts from that
    answer too, not from the episode's first packet (TS 29.244 8.2.29: the duration during
    which the UP function is requested to buffer)."""
    h = ht
    seid = _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    (report,) = _dldrs(h.advance(0.2))
    h.answer(report, 1, _duration(1))  # buffer 2 s
    assert _dldrs(h.advance(2.2)) == []
    assert h.dp.buffered(seid) == 0  # the duration ended: discarded
    h.dp.process_dl(dl_packet(UE, 10, ident=1))
    (again,) = _dldrs(h.advance(0.2))
    h.advance(1.0)  # (the SMF pages before it answers)
    h.answer(again, 1, _duration(1))  # the same 2 s, from now
    h.advance(1.5)
    assert h.dp.buffered(seid) == 1  # 2.7 s after the packet, 1.5 s after the answer
    h.advance(1.0)
    assert h.dp.buffered(seid) == 0


@pytest.mark.parametrize("flush", [False, True])
def test_a_far_forwarding_again_leaves_the_other_far_s_buffering_duration_running(
    ht: Harness, flush: bool
) -> None:
    """TS 29.244 8.2.29: the DL Buffering Duration is how long the UP function buffers; a
    flush for another FAR (buffering is per FAR, 5.2.3.1) does not restart it for the packets
    of a PDR that still buffers (stored again by the flush). Both FARs buffer, the answer
    gives 2 s; 1.5 s later FAR 2 turns to FORW: FAR 3's packet still goes at 2 s, as it does
    with no flush."""
    h = ht
    seid = _two_flows(h)
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    assert h.dp.process_dl(_voice(9)).verdict == Verdict.BUFFER
    first, second = _dldrs(h.advance(0.2))
    h.answer(first, 1, _duration(1))  # buffer 2 s from now
    h.answer(second)
    h.advance(1.5)
    assert h.dp.buffered(seid) == 2
    if flush:
        forw = to_forw()
        assert cause(h.modify(seid, forw)) == 1
        assert _forwarded_ids(h) == [1]
        assert h.dp.buffered(seid) == 1  # the voice packet: FAR 3 still buffers
    h.advance(0.8)  # 2.3 s after the answer
    assert h.dp.buffered(seid) == 0


def test_the_buffering_duration_grant_is_journaled(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Update BAR giving a DL Buffering Duration is another grant; the grants are
    journaled with the duration and a restored engine installs them (the vpp datapath keeps
    its sessions and their buffers across a pfcpd restart: the duration goes on from its
    start, not restarted by the restore). A removed BAR takes its grants with it."""
    installed: dict[int, SessionProgram] = {}
    install = LocalDatapath.install

    def spy(dp: LocalDatapath, seid: int, program: SessionProgram, **kwargs: Any) -> None:
        installed[seid] = program
        install(dp, seid, program, **kwargs)

    monkeypatch.setattr(LocalDatapath, "install", spy)
    seid = _buffering_session(h)
    for i in range(2):
        h.dp.process_dl(dl_packet(UE, 10, ident=i))
        (report,) = _dldrs(h.advance(0.2))
        h.answer(report, 1, _duration(1), F.PFCPSRRspFlags.of("DROBU"))
    bar = installed.pop(seid).bar
    assert bar is not None and (bar.duration_ns, bar.duration_grant) == (2 * 10**9, 2)
    assert h.engine.sessions[seid].bar_grant == 2
    # another change of the session keeps the grant
    assert cause(h.modify(seid, g(T.UPDATE_QER, S.QERID(1), S.QFI(8)))) == 1
    bar = installed.pop(seid).bar
    assert bar is not None and bar.duration_grant == 2
    with restarted(h, 1) as engine:
        assert engine.sessions[seid].bar_grant == 2
        bar = installed.pop(seid).bar
        assert bar is not None and (bar.duration_ns, bar.duration_grant) == (2 * 10**9, 2)
    new_bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(3))
    assert cause(h.modify(seid, g(T.REMOVE_BAR, S.BARID(1)), new_bar)) == 1
    assert h.engine.sessions[seid].bar_grant == 0
    bar = installed.pop(seid).bar
    assert bar is not None and (bar.duration_ns, bar.duration_grant) == (0, 0)


def _three_buffered(h: Harness) -> int:
    """`_buffering_session` with three DL packets buffered, its DLDR answered; an Update
    FAR of its UL FAR before (its stored rules' layout learned: the next Update-FAR-only
    request is made from it, `Modification._modify_fars`)."""
    seid = _buffering_session(h)
    assert cause(h.modify(seid, g(T.UPDATE_FAR, S.FARID(1), F.ApplyAction.of("FORW")))) == 1
    for i in range(3):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    h.answer_all(h.advance(0.2))
    assert h.dp.buffered(seid) == 3
    h.dp.take_pending()
    return seid


@pytest.mark.parametrize("long_way", [False, True], ids=["update_far_only", "with_update_qer"])
def test_drobu_drops_the_buffer_before_the_far_forwards(
    h: Harness, long_way: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 8.2.58 (PFCPSMReq-Flags DROBU): the UP function drops the packets buffered
    for the session "prior to further applying the action specified in the Apply Action
    value of the FARs": a request with DROBU and an Update FAR from BUFF to FORW sends none
    of them on (the Update-FAR-only request, `Modification._modify_fars`, and the long way
    alike); what arrives after it is forwarded."""
    from pfcpd.session.modification import Modification

    seid = _three_buffered(h)
    fast: list[bool] = []
    modify_fars = Modification._modify_fars

    def spy(engine: Modification, *args: Any) -> Message | None:
        answer = modify_fars(engine, *args)
        fast.append(answer is not None)
        return answer

    monkeypatch.setattr(Modification, "_modify_fars", spy)
    ies: list[Grouped | F.PFCPSMReqFlags] = [to_forw(), F.PFCPSMReqFlags.of("DROBU")]
    if long_way:
        ies.append(g(T.UPDATE_QER, S.QERID(1), S.QFI(9)))
    assert cause(h.modify(seid, *ies)) == 1
    assert fast == ([] if long_way else [True])
    assert h.dp.buffered(seid) == 0
    assert [r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD] == []
    assert h.dp.process_dl(dl_packet(UE, 10, ident=9)).verdict == Verdict.FORWARD


def test_drobu_drops_the_buffer_before_a_later_request_of_its_batch(h: Harness) -> None:
    """The same (8.2.58) when DROBU comes alone and the Update FAR to FORW in the next
    request of the same batch (one read of the socket, one group commit): the packets are
    dropped before the second request is applied, none sent on."""
    seid = _three_buffered(h)
    first = Message(M.SESSION_MODIFICATION_REQUEST, 0, [F.PFCPSMReqFlags.of("DROBU")], seid)
    second = Message(M.SESSION_MODIFICATION_REQUEST, 0, [to_forw()], seid)
    assert [cause(a) for a in h.batch(first, second)] == [1, 1]
    assert [r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD] == []


@pytest.mark.parametrize("together", [True, False], ids=["one_request", "next_request"])
def test_drobu_drops_the_buffer_before_a_pipelined_install(hp: Harness, together: bool) -> None:
    """The same (8.2.58) on a datapath that pipelines as the vpp datapath does (installs
    applied in order at the barrier, or before a call such as the drop): the drop comes
    after the changes before it and before the change of its own request, whether the FAR
    turns to FORW in that request or in the next one of the batch."""
    dp = hp.dp.inner  # type: ignore[attr-defined]
    seid = _buffering_session(hp)
    for i in range(3):
        assert dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
    hp.answer_all(hp.advance(0.2))
    dp.take_pending()
    drobu = F.PFCPSMReqFlags.of("DROBU")
    if together:
        answers = [hp.modify(seid, to_forw(), drobu)]
    else:
        first = Message(M.SESSION_MODIFICATION_REQUEST, 0, [drobu], seid)
        second = Message(M.SESSION_MODIFICATION_REQUEST, 0, [to_forw()], seid)
        answers = hp.batch(first, second)
    assert [cause(a) for a in answers] == [1] * len(answers)
    assert [r for r in dp.take_pending() if r.verdict == Verdict.FORWARD] == []
    assert dp.process_dl(dl_packet(UE, 10, ident=9)).verdict == Verdict.FORWARD


def test_a_modification_the_datapath_refuses_keeps_the_open_episode(hp: Harness) -> None:
    """TS 29.244 5.2.3.1 with 6.4: a Session Modification moving the buffering FAR to FORW
    while its Downlink Data Report is out (unanswered), which the datapath refuses (as VPP
    refusing the message: answered 77 System failure, rolled back): the datapath keeps its
    buffer and its reported mark, so the buffering episode goes on. Its journal record
    stays, and the report, never answered, is sent again while the data stays buffered."""
    dp = hp.dp.inner  # type: ignore[attr-defined]
    seid = _buffering_session(hp)
    assert dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = _dldrs(hp.advance(0.2))  # (out, not answered)
    assert [_reported(m) for m in sent] == [(2, 9)]
    key = "d:%x" % seid  # noqa: UP031
    record = hp.journal.records[key]
    hp.dp.refuse = lambda s, program: s == seid  # type: ignore[attr-defined]
    assert cause(hp.modify(seid, to_forw())) == 77
    hp.dp.refuse = lambda s, program: False  # type: ignore[attr-defined]
    assert dp.buffered(seid) == 1
    assert hp.journal.records.get(key) == record
    later = [m for m in _dldrs(hp.advance(3.5)) if m.seq != sent[0].seq]  # (fails at 3 s)
    assert [_reported(m) for m in later] == [(2, 9)]
    hp.answer_all(later)
    assert _dldrs(hp.advance(5.0)) == []


def _ddnd_session(h: Harness) -> int:
    """`_buffering_session` whose BAR delays each Downlink Data Report by a Downlink Data
    Notification Delay of 10 s (200 x 50 ms)."""
    bar = g(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(200))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    resp = h.establish(*rules)
    assert cause(resp) == 1
    return up_seid(resp)


def _idle() -> Grouped:
    return g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"))


def test_a_delayed_report_of_an_episode_that_ended_is_not_sent(h: Harness) -> None:
    """TS 29.244 5.2.3.1 / 8.2.28 (DDND): the Downlink Data Report of the first buffered
    packet waits for the BAR's Downlink Data Notification Delay; if the UE becomes reachable
    meanwhile (its FAR forwards: the packet is delivered) it is not sent (TS 23.401
    5.3.4.3), even when the UE is idle again by the time the delay ends: packet at 0 s, the
    UE back at 2 s, idle again at 7 s, no downlink data since: no report at 10 s."""
    seid = _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(2.0)) == []
    assert cause(h.modify(seid, to_forw())) == 1
    assert len([r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]) == 1
    assert _dldrs(h.advance(5.0)) == []
    assert cause(h.modify(seid, _idle())) == 1
    assert h.dp.buffered(seid) == 0
    assert _dldrs(h.advance(4.0)) == []  # (t = 11 s: no downlink data since 0 s)


def test_a_delayed_report_is_of_its_own_episode_alone(h: Harness) -> None:
    """TS 29.244 5.2.3.1 / 8.2.28: one Downlink Data Report per PDR per buffering episode, each
    delayed by the DDND from its own first packet. The UE comes back and goes idle again
    while the first episode's report waits; the second episode's first packet (at 8 s) is
    reported once, at 18 s, and the first episode's report is not sent at 10 s. A change
    of another PDR's FAR leaves the waiting report as it is."""
    seid = _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    h.advance(2.0)
    assert cause(h.modify(seid, to_forw())) == 1
    h.advance(5.0)
    assert cause(h.modify(seid, _idle())) == 1
    h.advance(1.0)
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(5.0)) == []  # (t = 13 s)
    uplink = g(T.UPDATE_FAR, S.FARID(1), F.ApplyAction.of("FORW"))
    assert cause(h.modify(seid, uplink)) == 1
    assert _dldrs(h.advance(4.9)) == []
    sent = _dldrs(h.advance(0.3))
    assert [_reported(m) for m in sent] == [(2, 9)]
    h.answer_all(sent)
    assert _dldrs(h.advance(20.0)) == []


def test_a_delayed_report_of_a_discarded_buffer_is_not_sent(h: Harness) -> None:
    """TS 29.244 5.2.3.1 / 8.2.28, 8.2.58: the CP discards what is buffered (PFCPSMReq-Flags
    DROBU) while the report of its first packet waits for the DDND: that report is not
    sent; the next packet is new downlink data, reported after its own delay."""
    seid = _ddnd_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    h.advance(3.0)
    assert cause(h.modify(seid, F.PFCPSMReqFlags.of("DROBU"))) == 1
    assert h.dp.buffered(seid) == 0
    h.advance(1.0)
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(9.9)) == []  # (t = 13.9 s)
    sent = _dldrs(h.advance(0.3))
    assert [_reported(m) for m in sent] == [(2, 9)]
    h.answer_all(sent)


def test_a_downlink_data_report_the_cp_never_got_is_raised_again(h: Harness) -> None:
    """TS 29.244 5.2.3.1 with 6.4: the Downlink Data Report tells the CP of the first packet
    buffered for the PDR (and QFI) so that it pages the UE; the next packets of the episode
    are not reported. A report the CP never got (every retransmission unanswered) does
    not count: its data still buffered, it is sent again at once (a new request), and an
    answered one is not raised again."""
    seid = _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    sent = h.advance(2.9)  # T1 = 1 s, N1 = 2: three tries, no answer
    assert len(_dldrs(sent)) == 3 and len({m.seq for m in sent}) == 1
    for i in range(3):
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i + 1)).verdict == Verdict.BUFFER
    again = _dldrs(h.advance(0.5))  # (the first one fails at 3 s)
    assert [_reported(m) for m in again] == [(2, 9)]
    assert again[0].seq != sent[0].seq
    h.answer_all(again)
    assert h.dp.process_dl(dl_packet(UE, 10, ident=4)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(5.0)) == []
    assert h.dp.buffered(seid) == 5


def test_a_packet_buffered_while_the_report_was_out_is_reported_after_its_failure(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 (BUFF+NOCP: the UP function notifies the CP function of the
    buffered downlink data, so that the CP pages the UE) and 6.4 (a request unanswered after
    N1 retransmissions has failed). The report of the first buffered packet is never
    answered (the SMF overloaded or restarting for a few seconds); a packet buffered while
    it is still out raises nothing (one report per episode). When the report fails, the
    data still buffered, a report follows without waiting for a further packet (audit E of
    session 29, bug 1)."""
    _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    first = {m.seq for m in _dldrs(h.advance(2.5))}  # sent at 0, retransmitted at 1 and 2
    assert len(first) == 1
    assert h.dp.process_dl(dl_packet(UE, 10, ident=2)).verdict == Verdict.BUFFER
    later = {m.seq for m in _dldrs(h.advance(5.0))}  # (the first one fails at 3 s)
    assert later - first, "no Downlink Data Report after the failed one"


def test_a_failed_report_with_nothing_buffered_any_more_is_re_armed(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1: a Downlink Data Report the CP never got whose datapath holds no
    buffered packet any more (it lost them: nothing to page the UE for now) is not sent
    again; its PDR's report is re-armed, so that the next buffered packet raises it."""
    seid = _buffering_session(h)
    rearms = _rearms(h, monkeypatch)
    h.dp.process_dl(dl_packet(UE, 10))
    assert len({m.seq for m in _dldrs(h.advance(2.9))}) == 1
    with monkeypatch.context() as m:
        m.setattr(h.dp, "buffered", lambda seid: 0)
        assert _dldrs(h.advance(2.0)) == []
    assert rearms == [(seid, 2, 9)]
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)


def _rearms(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The datapath's DLDR re-arms from now on (SEID, PDR ID, QFI), as they are made."""
    calls: list[tuple[int, int, int]] = []
    real = h.dp.rearm_dl_data_report

    def counting(seid: int, pdr_id: int, qfi: int) -> bool:
        calls.append((seid, pdr_id, qfi))
        return real(seid, pdr_id, qfi)

    monkeypatch.setattr(h.dp, "rearm_dl_data_report", counting)
    return calls


def test_a_downlink_data_report_not_sent_is_sent_once_the_cp_can_be_told(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1: a Downlink Data Report that could not be sent (no association
    with the session's CP: its sessions kept) is sent once the CP can be told, while its
    data is still buffered (without waiting for another packet); the next packets of the
    episode are not reported again, and none of them is re-armed meanwhile."""
    seid = _buffering_session(h)
    rearms = _rearms(h, monkeypatch)
    with monkeypatch.context() as m:
        m.delitem(h.node._associations, "smf")
        h.dp.process_dl(dl_packet(UE, 10))
        assert h.advance(2.0) == []
        assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
        assert h.advance(2.0) == []
    sent = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in sent] == [(2, 9)]
    h.answer_all(sent)
    assert h.dp.process_dl(dl_packet(UE, 10, ident=2)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(5.0)) == []
    assert h.dp.buffered(seid) == 3
    assert rearms == []


def test_no_association_raises_no_report_per_buffered_packet(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1 (one Downlink Data Report per buffering episode): while the CP has
    no association (its sessions kept), the report that could not be sent is not re-armed
    for each buffered packet (each would raise a datapath event, a failed send, a log line
    and a re-arm: on VPP an API call that stops the workers)."""
    _buffering_session(h)
    rearms = _rearms(h, monkeypatch)
    monkeypatch.delitem(h.node._associations, "smf")
    for i in range(8):  # (the BAR buffers 10 packets)
        assert h.dp.process_dl(dl_packet(UE, 10, ident=i)).verdict == Verdict.BUFFER
        h.advance(0.2)
    assert rearms == [], f"{len(rearms)} re-arms with no CP"
    assert h.dp.poll_events() == []


def test_a_report_owed_to_the_cp_is_not_sent_once_its_episode_ended(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1 with TS 23.401 5.3.4.3: a Downlink Data Report that could not be
    sent (no association with the CP) is not sent once the episode it reports ended
    meanwhile (its FAR forwarded: the data went); the PDR's next buffered packet is a new
    episode, reported."""
    seid = _buffering_session(h)
    with monkeypatch.context() as m:
        m.delitem(h.node._associations, "smf")
        h.dp.process_dl(dl_packet(UE, 10))
        assert h.advance(1.0) == []
        assert cause(h.modify(seid, to_forw())) == 1
        assert len([r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]) == 1
        assert cause(h.modify(seid, _idle())) == 1
        assert h.advance(1.0) == []
    assert _dldrs(h.advance(2.0)) == []
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    sent = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in sent] == [(2, 9)]
    h.answer_all(sent)


def test_a_session_deleted_with_its_report_unanswered_leaves_no_episode(h: Harness) -> None:
    """TS 29.244 5.2.3.1 with 7.5.6 (Session Deletion): a session deleted while its
    Downlink Data Report waits for the CP's answer takes its buffering episode with it
    (none is left for a later session of that UP SEID to inherit, nor kept for ever)."""
    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    assert len(_dldrs(h.advance(0.2))) == 1  # (out, not answered)
    assert seid in h.engine._dldr_open
    assert cause(h.delete(seid)) == 1
    h.advance(0.1)
    assert seid not in h.engine._dldr_open


def _owed_sessions(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Three buffering sessions of "smf" (CP SEIDs 0xA1 to 0xA3; smf in an SMF Set with
    "smf2"), each with a Downlink Data Report owed to smf (no association with it when the
    reports were due: its sessions kept); smf associated again since, no poll yet. Their
    UP SEIDs."""
    from test_smf_set_takeover import join_set

    join_set(h)
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seids = []
    for cp_seid in (0xA1, 0xA2, 0xA3):
        resp = h.establish(*rules, cp_seid=cp_seid)
        assert cause(resp) == 1
        seids.append(up_seid(resp))
    with monkeypatch.context() as m:
        m.delitem(h.node._associations, "smf")
        for seid in seids:
            ((_, ue),) = h.engine.sessions[seid].ue
            packet = dl_packet(ue.partition("/")[0], 10)
            assert h.dp.process_dl(packet).verdict == Verdict.BUFFER
        assert h.advance(1.0) == []
    assert h.engine._dldr_owed == {"smf": set(seids)}
    return seids


@pytest.mark.parametrize("moved", [0, 1, 2])
def test_a_report_owed_to_a_cp_is_sent_to_the_smf_that_takes_its_session_over(
    h: Harness, monkeypatch: pytest.MonkeyPatch, moved: int
) -> None:
    """TS 29.244 5.2.3.1 with 5.22.3 (an SMF of the owner's SMF Set takes a session over with
    its own CP F-SEID): a Downlink Data Report owed to a CP (no association with it when it
    was due) whose session another SMF of the set takes over (the owner associated again,
    before the report could go) is owed to the new owner and sent to it at the next poll,
    even when the first CP has no association again by then and other sessions' reports
    still wait for it; its answer closes the episode."""
    from test_smf_set_takeover import SMF2, from_, modification

    seids = _owed_sessions(h, monkeypatch)
    seid = seids[moved]
    others = set(seids) - {seid}
    answer = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    assert cause(answer) == 1
    assert h.engine._dldr_owed == {"smf": others, "smf2": {seid}}
    monkeypatch.delitem(h.node._associations, "smf")  # (smf lost again)
    sent = _dldrs(h.advance(0.01))  # (one poll)
    assert [(m.seid, _reported(m)) for m in sent] == [(0xB1, (2, 9))]
    assert h.engine._dldr_owed == {"smf": others}
    for m in sent:
        reply = Message(M.SESSION_REPORT_RESPONSE, m.seq, [S.Cause(1)], 0xB1)
        h.node.datagram_received(encode(reply), SMF2, h.now)
    assert [e.answered for e in h.engine._dldr_open[seid].values()] == [True]
    assert all(e.owed for s in others for e in h.engine._dldr_open[s].values())
    assert _dldrs(h.advance(5.0)) == []


def test_an_undone_takeover_gives_the_owed_report_back_to_its_cp(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 5.2.3.1, 5.22.3: a takeover whose batch is undone (the journal refused its
    commit) leaves the session its first CP's, and the report owed with it owed to that CP
    (sent to it once it can be told), not to the SMF whose takeover was undone."""
    from test_smf_set_takeover import SMF2, modification

    seids = _owed_sessions(h, monkeypatch)
    seid = seids[0]
    h.journal.fail_next = 1
    (answer,) = h.batch((modification(seid, A.FSEID(0xB1, SMF2[0])), SMF2), seq=400)
    assert cause(answer) != 1
    assert h.engine.sessions[seid].cp_node_id == "smf"
    assert h.engine._dldr_owed == {"smf": set(seids)}
    sent = _dldrs(h.advance(0.5))
    assert sorted(m.seid for m in sent) == [0xA1, 0xA2, 0xA3]
    h.answer_all(sent)


def test_a_report_answered_by_the_cp_its_session_moved_away_from_is_sent_to_the_new_owner(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 with 5.22.3: a Downlink Data Report sent to "smf" whose session
    "smf2" of its SMF Set takes over (its own CP F-SEID) before smf answers: smf's answer
    is about a session it no longer holds (not applied, as any stale answer), so the
    episode is not answered: its data still buffered, the report goes to smf2 at once, and
    smf2's answer closes it."""
    from session_harness import CP
    from test_smf_set_takeover import SMF2, from_, join_set, modification

    join_set(h)
    seid = _buffering_session(h)
    h.dp.process_dl(dl_packet(UE, 10))
    first = _dldrs(h.advance(0.1))
    assert [_reported(m) for m in first] == [(2, 9)]
    answer = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    assert cause(answer) == 1
    # smf answers, the session moved away from it
    stale = Message(M.SESSION_REPORT_RESPONSE, first[0].seq, [S.Cause(1)], 0xC0FFEE)
    h.node.datagram_received(encode(stale), CP, h.now)
    again = _dldrs(h._collect())
    assert [(m.seid, _reported(m)) for m in again] == [(0xB1, (2, 9))]
    assert [e.answered for e in h.engine._dldr_open[seid].values()] == [False]
    reply = Message(M.SESSION_REPORT_RESPONSE, again[0].seq, [S.Cause(1)], 0xB1)
    h.node.datagram_received(encode(reply), SMF2, h.now)
    assert [e.answered for e in h.engine._dldr_open[seid].values()] == [True]
    assert _dldrs(h.advance(5.0)) == []


def test_a_cp_that_never_answers_gets_a_bounded_number_of_reports_per_episode(
    h: Harness,
) -> None:
    """TS 29.244 6.4 (the UP function ceases a request unanswered after N1 retransmissions;
    how often it tries is its own to set) with 5.2.3.1 (one report per buffering episode):
    a CP that stays associated but never answers a Downlink Data Report gets the episode's
    report and `DLDR_RESENDS` new ones (each with its T1 and N1), no more, however long
    the data waits; the data stays buffered. A new episode (the FAR forwarding, then
    buffering again) is reported anew."""
    from pfcpd.session.dldr import DLDR_RESENDS

    seid = _buffering_session(h)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = _dldrs(h.advance(120.0))  # T1 = 1 s, N1 = 2: a request fails 3 s after it goes
    assert len({m.seq for m in sent}) == 1 + DLDR_RESENDS
    assert len(sent) == 3 * (1 + DLDR_RESENDS)
    assert {_reported(m) for m in sent} == {(2, 9)}
    assert h.dp.process_dl(dl_packet(UE, 10, ident=1)).verdict == Verdict.BUFFER
    assert _dldrs(h.advance(60.0)) == []
    assert h.dp.buffered(seid) == 2
    assert cause(h.modify(seid, to_forw())) == 1
    assert len([r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]) == 2
    assert cause(h.modify(seid, _idle())) == 1
    assert h.dp.process_dl(dl_packet(UE, 10, ident=2)).verdict == Verdict.BUFFER
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)
    assert _dldrs(h.advance(10.0)) == []


def _capped(h: Harness, *extra: IE, **config: object) -> int:
    """A buffering session of smf (with ``extra`` IEs; `pfcp.on_peer_lost: keep`,
    ``config``) whose episode's report smf, associated, left unanswered `DLDR_RESENDS` + 1
    times: no more are sent. Its UP SEID."""
    from pfcpd.session.dldr import DLDR_RESENDS

    h.node.config = dataclasses.replace(h.node.config, on_peer_lost="keep", **config)
    seid = _buffering_session(h, *extra)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = _dldrs(h.advance(60.0))
    assert len({m.seq for m in sent}) == 1 + DLDR_RESENDS
    assert _dldrs(h.advance(60.0)) == []
    return seid


def test_a_capped_episode_is_reported_once_its_cp_is_associated_again(h: Harness) -> None:
    """TS 29.244 5.2.3.1 with 6.4: the CP, its association not yet found lost, answered
    none of an episode's reports (the cap, `DLDR_RESENDS`, reached); its heartbeats then
    fail and its association ends, its sessions kept. The episode's report is owed (its
    re-sends counted anew): sent once the CP is associated again, the data still buffered
    (the CP never learnt of it), and not again once answered."""
    from test_reassociation import CP_TS, setup

    seid = _capped(h, graceful_release_period=0.0)
    during = h.advance(1003.5 - h.now)  # heartbeat at 1000, N1 retransmissions: lost at 1003
    assert "smf" not in h.node._associations and seid in h.engine.sessions
    assert _dldrs(during + h.advance(30.0)) == []
    assert h.dp.buffered(seid) == 1
    assert cause(h.request(setup(CP_TS))) == 1  # (the same Recovery Time Stamp: its own)
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)
    assert _dldrs(h.advance(60.0)) == []
    assert h.dp.buffered(seid) == 1


def test_a_capped_episode_is_reported_once_its_cp_sets_its_association_up_again(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 with 6.2.6.2.2: a CP that left an episode's reports unanswered
    (the cap reached) sets its association up again, its sessions retained (PFCP Session
    Retention Information): the episode's report is sent to it (it never got one)."""
    from test_reassociation import CP_TS, retention, setup

    seid = _capped(h)
    assert cause(h.request(setup(CP_TS, retention()))) == 1
    assert seid in h.engine.sessions
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)
    assert _dldrs(h.advance(60.0)) == []


def test_a_capped_episode_is_reported_once_its_lost_cp_answers_heartbeats_again(
    h: Harness,
) -> None:
    """TS 29.244 5.2.3.1 with 6.4: a CP left an episode's reports unanswered (the cap
    reached), then its heartbeats too: its association is LOST, kept for the graceful
    release period. Once it answers a heartbeat again (recovered within that period) the
    episode's report is sent to it (it never got one), and not again once answered."""
    from session_harness import CP
    from test_reassociation import CP_TS

    seid = _capped(h, graceful_release_period=1500.0)
    during = h.advance(1003.5 - h.now)  # heartbeat at 1000, N1 retransmissions: lost at 1003
    assert h.node._associations["smf"].state.value == "lost"
    assert _dldrs(during) == []
    probe = [m for m in h.advance(2000.5 - h.now) if m.msg_type == M.HEARTBEAT_REQUEST]
    assert _dldrs(probe) == [] and h.dp.buffered(seid) == 1
    reply = Message(M.HEARTBEAT_RESPONSE, probe[0].seq, [S.RecoveryTimeStamp(CP_TS)])
    h.node.datagram_received(encode(reply), CP, h.now)
    assert h.node._associations["smf"].state.value == "established"
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)
    assert _dldrs(h.advance(60.0)) == []
    assert h.dp.buffered(seid) == 1


@pytest.mark.parametrize("how", ["takeover", "set_modification"])
def test_a_capped_episode_is_reported_to_the_cp_its_session_moves_to(h: Harness, how: str) -> None:
    """TS 29.244 5.2.3.1 with 5.22.3 and 5.22.4: "smf" left an episode's reports unanswered
    (the cap reached); the session moves to "smf2" of its SMF Set (smf2 takes it over with
    its own CP F-SEID, or smf moves its sessions there by a Session Set Modification). smf2
    never got the episode's report: it is sent to it at the next poll."""
    from test_pfd_and_sets import _change_info, _set_modification, fq_csid
    from test_smf_set_takeover import SMF2, from_, join_set, modification

    join_set(h)
    seid = _capped(h, fq_csid(7))
    if how == "takeover":
        answer = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    else:
        answer = h.request(_set_modification(_change_info(SMF2[0], fq_csid(7))))
    assert cause(answer) == 1
    assert h.engine.sessions[seid].cp_node_id == "smf2"
    again = _dldrs(h.advance(0.5))
    assert [(h.engine.sessions[seid].cp_seid, _reported(m)) for m in again] == [
        (m.seid, (2, 9)) for m in again
    ]
    assert len(again) == 1
    reply = Message(M.SESSION_REPORT_RESPONSE, again[0].seq, [S.Cause(1)], again[0].seid)
    h.node.datagram_received(encode(reply), SMF2, h.now)
    assert [e.answered for e in h.engine._dldr_open[seid].values()] == [True]
    assert _dldrs(h.advance(60.0)) == []


def test_a_report_capped_after_its_cp_s_association_ended_is_owed(h: Harness) -> None:
    """TS 29.244 5.2.3.1: the episode's last report (the cap's) still out when the CP's
    association ends (its sessions kept), then unanswered: the report is owed, sent once
    the CP is associated again; the one out is not sent twice meanwhile."""
    from test_reassociation import CP_TS, setup

    from pfcpd.session.dldr import DLDR_RESENDS

    h.node.config = dataclasses.replace(
        h.node.config, on_peer_lost="keep", graceful_release_period=0.0
    )
    seid = _buffering_session(h)
    h.now = 992.0  # (the last re-send goes at 1001: out when smf's heartbeats fail at 1003)
    assert h.dp.process_dl(dl_packet(UE, 10)).verdict == Verdict.BUFFER
    sent = _dldrs(h.advance(1003.5 - h.now))
    assert len({m.seq for m in sent}) == 1 + DLDR_RESENDS
    assert "smf" not in h.node._associations
    assert h.engine._dldr_owed == {}  # (the last report still out)
    assert _dldrs(h.advance(30.0)) == [] and h.dp.buffered(seid) == 1
    assert h.engine._dldr_owed == {"smf": {seid}}
    assert cause(h.request(setup(CP_TS))) == 1
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]
    h.answer_all(again)
    assert _dldrs(h.advance(60.0)) == []


def test_a_move_refused_with_its_batch_owes_no_capped_episode(h: Harness) -> None:
    """A Session Set Modification moving a session whose episode's reports reached
    the cap, refused with its batch (the journal failed: 77): the session stays smf's, its
    episode stays capped (owed to nobody, no report sent); the move made again, committed,
    owes it to smf2."""
    from test_pfd_and_sets import _change_info, _set_modification, fq_csid
    from test_smf_set_takeover import SMF2, join_set

    from pfcpd.pfcp import MessageType

    join_set(h)
    seid = _capped(h, fq_csid(7))
    h.journal.fail_next = 1
    (answer,) = h.batch(_set_modification(_change_info(SMF2[0], fq_csid(7))))
    assert answer.msg_type == MessageType.SESSION_SET_MODIFICATION_RESPONSE and cause(answer) == 77
    assert h.engine.sessions[seid].cp_node_id == "smf"
    assert not h.engine._dldr_owed and not any(e.owed for e in h.engine._dldr_open[seid].values())
    assert _dldrs(h.advance(0.5)) == []
    answer = h.request(_set_modification(_change_info(SMF2[0], fq_csid(7))))
    assert cause(answer) == 1 and h.engine.sessions[seid].cp_node_id == "smf2"
    again = _dldrs(h.advance(0.5))
    assert [_reported(m) for m in again] == [(2, 9)]

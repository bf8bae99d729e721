"""GTP-U into a session from the core or the CP function (TS 23.501 I-UPF, UL classifier,
branching point: a remote PSA sends downlink over N9 to this UPF's F-TEID; TS 29.244 BUCP:
the SMF sends the data it buffered back over N4-u). A PDR with a local F-TEID and source
interface Core or CP-function takes its F-TEID's G-PDUs as downlink: forwarded by its FAR
(to the gNB, encapsulated), counted as downlink. A FAR that buffers them buffers the G-PDU,
which the flush classifies by its F-TEID again (an I-UPF's or V-UPF's DL buffering while the
UE is idle; a PSA's N4-u data as Open5GS's SMF sends it). An F-TEID an Access PDR also has is
refused with 73. The sans-IO node with the engine on the real local datapath."""

from __future__ import annotations

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from session_harness import (
    GNB,
    N3,
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    establishment,
    g,
    gtpu,
    ohc,
    qer,
    to_forw,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
M = MessageType
UE = "10.45.0.1"
PSA = "192.0.2.77"  # the remote PSA (N9)
SMF = "192.0.2.88"  # the SMF's N4-u address (BUCP)
CORE, CP_FUNCTION = 1, 3


def tunnel_pdr(pdr_id: int, far_id: int, source: int, choose_id: int | None = 2) -> Grouped:
    """A PDR from ``source`` to the UE address with a local F-TEID the UP function chooses
    (CHOOSE ID ``choose_id``), GTP-U removed."""
    pdr = dl_pdr(pdr_id, far_id)
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    fteid = A.FTEID(choose=True, choose_v4=True, choose_id=choose_id)
    pdi.ies = [
        S.SourceInterface(source) if ie.type == T.SOURCE_INTERFACE else ie for ie in pdi.ies
    ] + [fteid]
    pdr.ies.append(TR.OuterHeaderRemoval(0))
    return pdr


def g_pdu(inner: bytes, teid: int, src: str) -> bytes:
    """A G-PDU from ``src`` to our N3 address with a DL PDU Session Container (QFI 9)."""
    gtp = GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=0, QFI=9)
    return raw(IP(src=src, dst=str(N3)) / UDP(sport=2152, dport=2152) / gtp / Raw(inner))


def i_upf_rules(source: int = CORE) -> list[Grouped]:
    """An I-UPF's session: uplink from the gNB (PDR 1, FAR 1), downlink from ``source`` on
    an F-TEID of its own (PDR 3) to the gNB (FAR 2, TEID 0x100)."""
    return [
        ul_pdr(),
        tunnel_pdr(3, 2, source),
        ul_far(),
        dl_far(2, teid=0x100),
        qer(),
        urr(1),
    ]


@pytest.mark.parametrize("qer_ppi", [None, 6], ids=["relayed", "qer-wins"])
def test_the_psas_paging_policy_indicator_reaches_the_gnb(h: Harness, qer_ppi: int | None) -> None:
    """TS 38.415 5.5.2.1: the PSA's DL PDU Session Container carries PPP = 1 and the PPI; the
    I-UPF's container towards the gNB carries them on (with the QFI), unless its QER sets a
    PPI of its own. Read by scapy's decoder."""
    rules = i_upf_rules()
    if qer_ppi is not None:
        rules[4].ies.append(S.PagingPolicyIndicator(qer_ppi))
    resp = h.establish(*rules)
    assert cause(resp) == 1
    dl_teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    inner = dl_packet(UE, 200)
    gtp = GTP_U_Header(teid=dl_teid, gtp_type=255) / GTPPDUSessionContainer(
        type=0, QFI=9, PPP=1, PPI=4
    )
    psa = raw(IP(src=PSA, dst=str(N3)) / UDP(sport=2152, dport=2152) / gtp / Raw(inner))
    res = h.dp.process_ul(psa)
    assert res.verdict == Verdict.FORWARD and res.encapsulated
    out = IP(res.output)
    psc = out[GTPPDUSessionContainer]
    want = 4 if qer_ppi is None else qer_ppi
    assert (psc.type, psc.QFI, psc.PPP, psc.PPI) == (0, 9, 1, want)
    assert raw(out[GTP_U_Header].payload).endswith(inner)
    # without PPP from the PSA (and no QER PPI): none towards the gNB
    if qer_ppi is None:
        plain = raw(IP(g_pdu(inner, dl_teid, PSA)))
        psc = IP(h.dp.process_ul(plain).output)[GTPPDUSessionContainer]
        assert (psc.PPP, psc.ExtHdrLen) == (0, 1)


@pytest.mark.parametrize("source", [CORE, CP_FUNCTION], ids=["core", "cp-function"])
def test_a_tunnel_into_the_session_is_downlink_to_the_gnb(h: Harness, source: int) -> None:
    resp = h.establish(*i_upf_rules(source))
    assert cause(resp) == 1
    pdrs = created(resp)
    ul_teid = pdrs[1][T.F_TEID].teid  # type: ignore[attr-defined]
    dl_teid = pdrs[3][T.F_TEID].teid  # type: ignore[attr-defined]
    assert dl_teid != ul_teid
    seid = up_seid(resp)
    inner = dl_packet(UE, 200)
    res = h.dp.process_ul(g_pdu(inner, dl_teid, PSA if source == CORE else SMF))
    assert res.verdict == Verdict.FORWARD and res.encapsulated
    out = IP(res.output)
    assert out.src == str(N3) and out.dst == GNB
    assert out[GTP_U_Header].teid == 0x100
    assert raw(out[GTP_U_Header].payload).endswith(inner)
    usage = h.dp.read_usage(seid, 1)
    assert (usage.bytes_dl, usage.packets_dl, usage.bytes_ul) == (len(inner), 1, 0)
    # the uplink as before: decapsulated, counted as uplink
    res = h.dp.process_ul(gtpu(ul_packet(UE, 100), ul_teid))
    assert res.verdict == Verdict.FORWARD and not res.encapsulated
    assert h.dp.read_usage(seid, 1).bytes_ul == len(ul_packet(UE, 100))
    # an N6 packet to the UE matches no PDR of the session (PDR 3 takes its tunnel only)
    assert h.dp.process_dl(inner).verdict == Verdict.DROP
    h.check_sent_with_tshark()


def test_bucp_downlink_to_the_cp_function_and_back(h: Harness) -> None:
    """BUCP: while the UE is idle the SMF has the downlink (FAR 2) sent to it; it sends the
    data back on the F-TEID of a PDR from the CP function (PDR 3), whose FAR (3) forwards
    to the gNB."""
    to_cp = g(
        T.CREATE_FAR,
        S.FARID(2),
        F.ApplyAction.of("FORW"),
        g(T.FORWARDING_PARAMETERS, S.DestinationInterface(CP_FUNCTION), ohc(0x77, SMF)),
    )
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        tunnel_pdr(3, 3, CP_FUNCTION),
        ul_far(),
        to_cp,
        dl_far(3, teid=0x100),
        qer(),
        urr(1),
    )
    assert cause(resp) == 1
    back_teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    inner = dl_packet(UE, 120)
    res = h.dp.process_dl(inner)
    assert res.verdict == Verdict.FORWARD
    out = IP(res.output)
    assert out.dst == SMF and out[GTP_U_Header].teid == 0x77
    res = h.dp.process_ul(g_pdu(inner, back_teid, SMF))
    assert res.verdict == Verdict.FORWARD
    out = IP(res.output)
    assert out.dst == GNB and out[GTP_U_Header].teid == 0x100
    assert raw(out[GTP_U_Header].payload).endswith(inner)
    # both passes counted as downlink (the URR is on PDRs 2 and 3)
    assert h.dp.read_usage(up_seid(resp), 1).packets_dl == 2


def test_bucp_advertised(h: Harness) -> None:
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        9,
        [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(3_900_000_000)],
    )
    (resp,) = h.exchange(setup)
    feats = resp.get(T.UP_FUNCTION_FEATURES)
    assert isinstance(feats, F.UPFunctionFeatures) and "BUCP" in feats.names()


def _dl_data_report(sent: list[Message]) -> list[tuple[int, int | None]]:
    """The (PDR ID, QFI or None) of the Downlink Data Reports in ``sent``."""
    out = []
    for m in sent:
        report = m.get(T.DOWNLINK_DATA_REPORT)
        if m.msg_type == M.SESSION_REPORT_REQUEST and isinstance(report, Grouped):
            info = report.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
            qfi = getattr(info, "qfi", None)
            out.append((report.get(T.PDR_ID).value, qfi))  # type: ignore[union-attr]
    return out


def test_an_i_upfs_tunnel_buffers_while_the_ue_is_idle_and_flushes_through_its_f_teid(
    h: Harness,
) -> None:
    """An I-UPF (or a home-routed roaming V-UPF) with the UE idle: its only downlink PDR
    (3) takes the PSA's N9 tunnel, and its FAR (2) buffers and notifies the CP (BAR 1);
    there is no N6 PDR. G-PDUs from the PSA are buffered (with their outer header, or at
    the GTP-U layer as the daemon's N3 socket reads them), reported once naming PDR 3 and
    the PDU Session Container's QFI, counted for no URR while they wait; the Update FAR
    to the gNB's new tunnel sends them, in order, through PDR 3 (classified by the F-TEID
    they came to), counted then."""
    rules = i_upf_rules()
    rules[3] = dl_far(action="BUFF+NOCP", bar=1)
    resp = h.establish(*rules, g(T.CREATE_BAR, S.BARID(1)))
    assert cause(resp) == 1
    seid = up_seid(resp)
    teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    first, second = dl_packet(UE, 150, ident=7), dl_packet(UE, 90, ident=8)
    assert h.dp.process_ul(g_pdu(first, teid, PSA)).verdict == Verdict.BUFFER
    gtp = raw(UDP(g_pdu(second, teid, PSA)[20:]).payload)
    assert h.dp.process_ul_gtpu(N3, gtp).verdict == Verdict.BUFFER
    assert h.dp.buffered(seid) == 2
    assert h.dp.read_usage(seid, 1).packets_dl == 0
    sent = h.advance(0.2)
    assert _dl_data_report(sent) == [(3, 9)]
    h.answer_all(sent)
    assert cause(h.modify(seid, to_forw(2, 0x102))) == 1
    out = [IP(r.output) for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]
    assert [p.dst for p in out] == [GNB, GNB]
    assert [p[GTP_U_Header].teid for p in out] == [0x102, 0x102]
    assert raw(out[0][GTP_U_Header].payload).endswith(first)
    assert raw(out[1][GTP_U_Header].payload).endswith(second)
    assert h.dp.buffered(seid) == 0
    usage = h.dp.read_usage(seid, 1)
    assert usage.packets_dl == 2 and usage.bytes_dl == len(first) + len(second)
    # forwarding now: the next G-PDU goes straight to the gNB
    res = h.dp.process_ul(g_pdu(dl_packet(UE), teid, PSA))
    assert res.verdict == Verdict.FORWARD and IP(res.output)[GTP_U_Header].teid == 0x102


def test_an_update_far_to_buffer_for_a_tunnel_buffers_and_drobu_discards(h: Harness) -> None:
    """The UE of an I-UPF's session goes idle: Update FAR 2 to BUFF+NOCP (a BAR created
    with it) is accepted and the PSA's G-PDUs are buffered; a modification with DROBU and
    the Update FAR to FORW sends none of them (TS 29.244 8.2.58), counted as dropped."""
    resp = h.establish(*i_upf_rules())
    seid = up_seid(resp)
    teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    idle = g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1))
    assert cause(h.modify(seid, g(T.CREATE_BAR, S.BARID(1)), idle)) == 1
    idle_packet = dl_packet(UE, 120)
    assert h.dp.process_ul(g_pdu(idle_packet, teid, PSA)).verdict == Verdict.BUFFER
    assert h.dp.buffered(seid) == 1
    h.answer_all(h.advance(0.2))
    assert cause(h.modify(seid, to_forw(), F.PFCPSMReqFlags.of("DROBU"))) == 1
    assert [r for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD] == []
    assert h.dp.buffered(seid) == 0
    usage = h.dp.read_usage(seid, 1)
    assert usage.packets_dl == 0
    assert usage.dropped_dl_packets == 1 and usage.dropped_dl_bytes == len(idle_packet)


def _tunnel_only_pdr(pdr_id: int, far_id: int, source: int, choose_id: int) -> Grouped:
    """A PDR whose PDI is an F-TEID the UP function chooses and nothing else (no UE IP
    Address), Precedence 65535, GTP-U not removed: as Open5GS's V-SMF sends them."""
    pdi = g(
        T.PDI,
        S.SourceInterface(source),
        A.FTEID(choose=True, choose_v4=True, choose_id=choose_id),
    )
    return g(T.CREATE_PDR, S.PDRID(pdr_id), S.Precedence(65535), pdi, S.FARID(far_id))


def test_a_v_upfs_session_buffers_both_ways_until_both_tunnels_are_known(h: Harness) -> None:
    """Home-routed roaming as Open5GS's V-SMF sets up the V-UPF (a public capture's
    establishment, 5g-roaming-hr): PDR 1 takes the H-UPF's N9 downlink on an F-TEID, PDR 2
    the gNB's uplink on another; neither PDI has a UE address; FARs 1 and 2 both buffer
    and notify (BAR 1) until the modifications give the gNB's and the H-UPF's tunnels.
    The downlink G-PDU is buffered and reported naming PDR 1; the uplink one is buffered
    with no report (NOCP is about downlink data). The modification that gives both tunnels
    sends each on its way: the downlink one to the gNB, the uplink one to the H-UPF, each
    re-encapsulated (a V-UPF relays G-PDUs between N3 and N9)."""
    h_upf = "192.0.2.66"
    far1 = g(T.CREATE_FAR, S.FARID(1), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1))
    far2 = g(T.CREATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1))
    resp = h.establish(
        _tunnel_only_pdr(1, 1, CORE, 1),
        _tunnel_only_pdr(2, 2, 0, 2),
        far1,
        far2,
        g(T.CREATE_BAR, S.BARID(1)),
    )
    assert cause(resp) == 1
    seid = up_seid(resp)
    n9_teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    n3_teid = created(resp)[2][T.F_TEID].teid  # type: ignore[attr-defined]
    down, up = dl_packet(UE, 60, ident=1), ul_packet(UE, 70)
    assert h.dp.process_ul(g_pdu(down, n9_teid, h_upf)).verdict == Verdict.BUFFER
    uplink = GTP_U_Header(teid=n3_teid, gtp_type=255) / Raw(up)
    res = h.dp.process_ul(raw(IP(src=GNB, dst=str(N3)) / UDP(sport=2152, dport=2152) / uplink))
    assert res.verdict == Verdict.BUFFER and not res.events
    assert h.dp.buffered(seid) == 2
    sent = h.advance(0.2)
    assert _dl_data_report(sent) == [(1, 9)]
    h.answer_all(sent)
    to_gnb = g(
        T.UPDATE_FAR,
        S.FARID(1),
        F.ApplyAction.of("FORW"),
        g(T.UPDATE_FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(0x501)),
    )
    to_h_upf = g(
        T.UPDATE_FAR,
        S.FARID(2),
        F.ApplyAction.of("FORW"),
        g(T.UPDATE_FORWARDING_PARAMETERS, S.DestinationInterface(CORE), ohc(0x601, h_upf)),
    )
    assert cause(h.modify(seid, to_gnb, to_h_upf)) == 1
    out = [IP(r.output) for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]
    assert [(p.dst, p[GTP_U_Header].teid) for p in out] == [(GNB, 0x501), (h_upf, 0x601)]
    assert raw(out[0][GTP_U_Header].payload).endswith(down)
    assert raw(out[1][GTP_U_Header].payload).endswith(up)
    assert h.dp.buffered(seid) == 0


def test_a_tunnel_sharing_a_buffering_far_with_an_n6_pdr_is_buffered_and_flushed(
    h: Harness,
) -> None:
    """A PSA's session as Open5GS's SMF establishes every one (public capture
    pfcp-upf-smf-sessions.pcap): the N6 PDR of the UE's address (2) and a PDR from the CP
    function on an F-TEID of its own (3, N4-u) share the downlink FAR (2), which buffers
    and notifies the CP (BAR 1) until the gNB's tunnel is known. A G-PDU the SMF sends on
    PDR 3's F-TEID meanwhile is buffered, reported naming PDR 3, and sent to the gNB when
    FAR 2 forwards, classified by its F-TEID again (PDR 3, URR 1)."""
    bar = g(T.CREATE_BAR, S.BARID(1))
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        tunnel_pdr(3, 2, CP_FUNCTION),
        ul_far(),
        dl_far(action="BUFF+NOCP", bar=1),
        qer(),
        urr(1),
        bar,
    )
    assert cause(resp) == 1
    seid = up_seid(resp)
    teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    inner = dl_packet(UE, 150, ident=7)
    assert h.dp.process_ul(g_pdu(inner, teid, SMF)).verdict == Verdict.BUFFER
    # (and as the daemon's N3 socket reads one: the UDP payload)
    second = dl_packet(UE, 90, ident=8)
    gtp = raw(UDP(g_pdu(second, teid, SMF)[20:]).payload)
    assert h.dp.process_ul_gtpu(N3, gtp).verdict == Verdict.BUFFER
    assert h.dp.buffered(seid) == 2
    sent = h.advance(0.2)
    assert _dl_data_report(sent) == [(3, 9)]
    h.answer_all(sent)
    assert cause(h.modify(seid, to_forw())) == 1
    out = [IP(r.output) for r in h.dp.take_pending() if r.verdict == Verdict.FORWARD]
    assert [p.dst for p in out] == [GNB, GNB]
    assert [p[GTP_U_Header].teid for p in out] == [0x100, 0x100]
    assert raw(out[0][GTP_U_Header].payload).endswith(inner)
    assert raw(out[1][GTP_U_Header].payload).endswith(second)
    assert h.dp.buffered(seid) == 0
    assert h.dp.read_usage(seid, 1).packets_dl == 2


def test_an_f_teid_of_both_directions_is_refused(h: Harness) -> None:
    """The Core PDR chooses its F-TEID with the Access PDR's CHOOSE ID: one tunnel would
    carry both directions. Refused naming the PDR, nothing allocated."""
    rules = i_upf_rules()
    rules[1] = tunnel_pdr(3, 2, CORE, choose_id=1)
    resp = h.request(establishment(*rules))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(TR.RULE_ID_PDR, 3)
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0


def test_sessions_of_one_shape_each_take_their_own_tunnel(h: Harness) -> None:
    """The second session of the shape is filled from the first's compile (the
    allocations only): each N9 F-TEID reaches its own session."""
    out = []
    for i in range(2):
        resp = h.establish(*i_upf_rules(), cp_seid=0x50 + i)
        assert cause(resp) == 1
        pdrs = created(resp)
        ue = pdrs[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
        out.append((up_seid(resp), str(ue), pdrs[3][T.F_TEID].teid))  # type: ignore[attr-defined]
    assert out[0][1] != out[1][1] and out[0][2] != out[1][2]
    for seid, ue, teid in out:
        res = h.dp.process_ul(g_pdu(dl_packet(ue), teid, PSA))
        assert res.verdict == Verdict.FORWARD and res.seid == seid
        assert IP(res.output)[GTP_U_Header].teid == 0x100
        assert IP(bytes(IP(res.output)[GTPPDUSessionContainer].payload)).dst == ue
        assert h.dp.read_usage(seid, 1).packets_dl == 1


@pytest.mark.parametrize("source", [2, 4], ids=["sgi-lan", "vn-internal"])
def test_a_local_f_teid_of_another_source_interface_is_refused(h: Harness, source: int) -> None:
    """GTP-U is received into a session from the access, the core and the CP function: a
    local F-TEID of an SGi-LAN/N6-LAN or 5G VN internal PDR is refused, naming the PDR,
    nothing allocated."""
    rules = i_upf_rules()
    rules[1] = tunnel_pdr(3, 2, source)
    resp = h.request(establishment(*rules))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(TR.RULE_ID_PDR, 3)
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0

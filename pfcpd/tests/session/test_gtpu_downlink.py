"""GTP-U into a session from the core or the CP function (TS 23.501 I-UPF, UL classifier,
branching point: a remote PSA sends downlink over N9 to this UPF's F-TEID; TS 29.244 BUCP:
the SMF sends the data it buffered back over N4-u). A PDR with a local F-TEID and source
interface Core or CP-function takes its F-TEID's G-PDUs as downlink: forwarded by its FAR
(to the gNB, encapsulated), counted as downlink. A FAR that buffers them buffers the inner
packet, flushed as N6 downlink: accepted when an N6 PDR has that FAR too (as Open5GS's SMF
makes every session), refused with 73 otherwise; so is an F-TEID an Access PDR also has.
The sans-IO node with the engine on the real local datapath."""

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


@pytest.mark.parametrize("action", [("BUFF",), ("BUFF", "NOCP")])
def test_a_buffering_far_for_a_tunnel_into_the_session_is_refused(
    h: Harness, action: tuple[str, ...]
) -> None:
    """The DL buffer is replayed through N6, where the tunnel's PDR matches nothing: a FAR
    that buffers or notifies for it, and for no N6 PDR, is refused, naming the FAR, nothing
    allocated."""
    rules = i_upf_rules()
    rules[3] = g(T.CREATE_FAR, S.FARID(2), F.ApplyAction.of(*action))
    resp = h.request(establishment(*rules))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(TR.RULE_ID_FAR, 2)
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0


def test_an_update_far_to_buffer_for_a_tunnel_is_refused(h: Harness) -> None:
    resp = h.establish(*i_upf_rules())
    seid = up_seid(resp)
    dl_teid = created(resp)[3][T.F_TEID].teid  # type: ignore[attr-defined]
    ok = g(
        T.UPDATE_FAR,
        S.FARID(2),
        g(T.UPDATE_FORWARDING_PARAMETERS, ohc(0x101)),
    )
    assert cause(h.modify(seid, ok)) == 1
    for action in (("BUFF",), ("BUFF", "NOCP")):
        resp = h.modify(seid, g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of(*action)))
        assert cause(resp) == 73
        assert resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(TR.RULE_ID_FAR, 2)
    # the session still forwards the tunnel's packets, to the gNB's new TEID
    res = h.dp.process_ul(g_pdu(dl_packet(UE), dl_teid, PSA))
    assert res.verdict == Verdict.FORWARD and IP(res.output)[GTP_U_Header].teid == 0x101


def _dldr_pdr(sent: list[Message]) -> list[int]:
    """The PDR IDs of the Downlink Data Reports in ``sent``."""
    out = []
    for m in sent:
        report = m.get(T.DOWNLINK_DATA_REPORT)
        if m.msg_type == M.SESSION_REPORT_REQUEST and isinstance(report, Grouped):
            out.append(report.get(T.PDR_ID).value)  # type: ignore[union-attr]
    return out


def test_a_tunnel_sharing_a_buffering_far_with_an_n6_pdr_is_buffered_and_flushed_as_n6(
    h: Harness,
) -> None:
    """A PSA's session as Open5GS's SMF establishes every one (public capture
    pfcp-upf-smf-sessions.pcap): the N6 PDR of the UE's address (2) and a PDR from the CP
    function on an F-TEID of its own (3, N4-u) share the downlink FAR (2), which buffers
    and notifies the CP (BAR 1) until the gNB's tunnel is known. A G-PDU the SMF sends on
    PDR 3's F-TEID meanwhile is buffered (its inner packet), reported naming PDR 3, and sent
    to the gNB when FAR 2 forwards, classified as N6 downlink (PDR 2, URR 1)."""
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
    assert _dldr_pdr(sent) == [3]
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

"""Builders of what an SMF sends: session rules (TS 29.244 clause 7.5.2) and requests.

The defaults make the usual PDU session: an uplink PDR (CH F-TEID, CHV4 UE address), a
downlink PDR, their FARs, one QER and one URR shared by both PDRs. ``v6`` asks for an IPv6
UE address instead (CHV6), ``dual_stack`` for both (CHV4 and CHV6 in one UE IP Address,
TS 29.244 8.2.62).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..pfcp import Grouped, IEType, Message, MessageType
from ..pfcp import ies_address as A
from ..pfcp import ies_flags as F
from ..pfcp import ies_scalar as S
from ..pfcp import ies_text as X
from ..pfcp import ies_traffic as TR
from ..pfcp.ie import IE

T = IEType
M = MessageType
ACCESS, CORE = 0, 1
GATE_OPEN, GATE_CLOSED = 0, 1


def group(ie_type: int, *ies: IE) -> Grouped:
    return Grouped(ie_type, list(ies))


def ue_ip(v6: bool = False, address: str | None = None, dual_stack: bool = False) -> A.UEIPAddress:
    """A UE IP Address to allocate (CHV4, CHV6 with ``v6``, both with ``dual_stack``), or a
    given one."""
    if address is not None:
        return A.UEIPAddress(ipv6=address) if ":" in address else A.UEIPAddress(ipv4=address)
    return A.UEIPAddress(choose_v4=dual_stack or not v6, choose_v6=dual_stack or v6)


def ul_pdr(
    pdr_id: int = 1,
    far_id: int = 1,
    qer_id: int | None = 1,
    urr_id: int | None = 1,
    v6: bool = False,
    network_instance: str | None = "internet",
    dual_stack: bool = False,
) -> Grouped:
    """Uplink: from the access side, F-TEID chosen by the UPF (CHOOSE ID 1), the UE address
    chosen by the UPF (source), GTP-U removed."""
    ue = ue_ip(v6, dual_stack=dual_stack)
    ue_src = A.UEIPAddress(source=True, choose_v4=ue.choose_v4, choose_v6=ue.choose_v6)
    pdi: list[IE] = [S.SourceInterface(ACCESS), A.FTEID(choose=True, choose_v4=True, choose_id=1)]
    if network_instance is not None:
        pdi.append(X.NetworkInstance(network_instance))
    pdi.append(ue_src)
    ies: list[IE] = [
        S.PDRID(pdr_id),
        S.Precedence(200),
        group(T.PDI, *pdi),
        TR.OuterHeaderRemoval(0),
        S.FARID(far_id),
    ]
    if qer_id is not None:
        ies.append(S.QERID(qer_id))
    if urr_id is not None:
        ies.append(S.URRID(urr_id))
    return group(T.CREATE_PDR, *ies)


def dl_pdr(
    pdr_id: int = 2,
    far_id: int = 2,
    qer_id: int | None = 1,
    urr_id: int | None = 1,
    v6: bool = False,
    network_instance: str | None = "internet",
    dual_stack: bool = False,
) -> Grouped:
    """Downlink: from the core side to the UE address the uplink PDR allocated."""
    pdi: list[IE] = [S.SourceInterface(CORE)]
    if network_instance is not None:
        pdi.append(X.NetworkInstance(network_instance))
    pdi.append(ue_ip(v6, dual_stack=dual_stack))
    ies: list[IE] = [S.PDRID(pdr_id), S.Precedence(200), group(T.PDI, *pdi), S.FARID(far_id)]
    if qer_id is not None:
        ies.append(S.QERID(qer_id))
    if urr_id is not None:
        ies.append(S.URRID(urr_id))
    return group(T.CREATE_PDR, *ies)


def ul_far(far_id: int = 1, network_instance: str | None = "internet") -> Grouped:
    fp: list[IE] = [S.DestinationInterface(CORE)]
    if network_instance is not None:
        fp.append(X.NetworkInstance(network_instance))
    return group(
        T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), group(T.FORWARDING_PARAMETERS, *fp)
    )


def gnb_tunnel(teid: int, gnb: str) -> A.OuterHeaderCreation:
    """GTP-U towards the gNB's ``teid`` at ``gnb`` (IPv4 or IPv6)."""
    if ":" in gnb:
        return A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV6, teid=teid, ipv6=gnb)
    return A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV4, teid=teid, ipv4=gnb)


def dl_far(far_id: int = 2, teid: int = 0x100, gnb: str | None = "192.0.2.9") -> Grouped:
    """Forward to the gNB (``gnb`` None: buffer, as before the N2 answer)."""
    if gnb is None:
        return group(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("BUFF", "NOCP"))
    fp = group(T.FORWARDING_PARAMETERS, S.DestinationInterface(ACCESS), gnb_tunnel(teid, gnb))
    return group(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), fp)


def qer(qer_id: int = 1, mbr_kbps: tuple[int, int] | None = None, open_: bool = True) -> Grouped:
    """Gates open (or both closed), QFI 9, MBR (UL, DL) in kbit/s when given."""
    gate = GATE_OPEN if open_ else GATE_CLOSED
    ies: list[IE] = [S.QERID(qer_id), TR.GateStatus(gate, gate)]
    if mbr_kbps is not None:
        ies.append(TR.MBR(*mbr_kbps))
    ies.append(S.QFI(9))
    return group(T.CREATE_QER, *ies)


def urr(urr_id: int = 1, volume_threshold: int | None = None, period: int | None = None) -> Grouped:
    """Volume (octets and packets: Measurement Information MNOP) and duration measured; a
    volume threshold (total bytes) and a measurement period (seconds, periodic reports) when
    given."""
    triggers = ["VOLTH"] if volume_threshold is not None else []
    if period is not None:
        triggers.append("PERIO")
    ies: list[IE] = [
        S.URRID(urr_id),
        F.MeasurementMethod.of("VOLUM", "DURAT"),
        F.ReportingTriggers.of(*triggers),
        F.MeasurementInformation.of("MNOP"),
    ]
    if volume_threshold is not None:
        ies.append(TR.VolumeThreshold(total=volume_threshold))
    if period is not None:
        ies.append(S.MeasurementPeriod(period))
    return group(T.CREATE_URR, *ies)


def session_rules(
    v6: bool = False,
    gnb: str | None = "192.0.2.9",
    gnb_teid: int = 0x100,
    mbr_kbps: tuple[int, int] | None = None,
    gate_open: bool = True,
    volume_threshold: int | None = None,
    dual_stack: bool = False,
) -> list[IE]:
    """The usual PDU session: 2 PDRs, 2 FARs, 1 QER, 1 URR, CH F-TEID, CHV4 (or CHV6, or
    both with ``dual_stack``)."""
    return [
        ul_pdr(v6=v6, dual_stack=dual_stack),
        dl_pdr(v6=v6, dual_stack=dual_stack),
        ul_far(),
        dl_far(teid=gnb_teid, gnb=gnb),
        qer(mbr_kbps=mbr_kbps, open_=gate_open),
        urr(volume_threshold=volume_threshold),
    ]


def establishment_request(
    node_id: str, cp_address: str, cp_seid: int, rules: Sequence[IE], seq: int = 0
) -> Message:
    fseid = A.FSEID(cp_seid, ipv6=cp_address) if ":" in cp_address else A.FSEID(cp_seid, cp_address)
    return Message(
        M.SESSION_ESTABLISHMENT_REQUEST,
        seq,
        [A.NodeID.from_text(node_id), fseid, *rules],
        seid=0,
    )


def update_dl_far(far_id: int, teid: int, gnb: str, end_marker: bool = False) -> Grouped:
    """Forward to a (new) gNB tunnel; ``end_marker``: SNDEM on the old path (handover)."""
    params: list[IE] = [S.DestinationInterface(ACCESS), gnb_tunnel(teid, gnb)]
    if end_marker:
        params.append(F.PFCPSMReqFlags.of("SNDEM"))
    return group(
        T.UPDATE_FAR,
        S.FARID(far_id),
        F.ApplyAction.of("FORW"),
        group(T.UPDATE_FORWARDING_PARAMETERS, *params),
    )


def modification_request(up_seid: int, ies: Sequence[IE], seq: int = 0) -> Message:
    return Message(M.SESSION_MODIFICATION_REQUEST, seq, list(ies), seid=up_seid)


def deletion_request(up_seid: int, seq: int = 0) -> Message:
    return Message(M.SESSION_DELETION_REQUEST, seq, [], seid=up_seid)


def update_qer_gates(qer_id: int, open_: bool) -> Grouped:
    """Open (or close) both gates of a QER."""
    gate = GATE_OPEN if open_ else GATE_CLOSED
    return group(T.UPDATE_QER, S.QERID(qer_id), TR.GateStatus(gate, gate))


def usage_volumes(msg: Message, report_type: int) -> list[TR.VolumeMeasurement]:
    """The Volume Measurements of the Usage Reports of type ``report_type`` in ``msg``
    (IEType.USAGE_REPORT_DELETION_RESPONSE, ..._REPORT_REQUEST, ..._MODIFICATION_RESPONSE)."""
    out = []
    for report in msg.get_all(report_type):
        assert isinstance(report, Grouped)
        volume = report.get(T.VOLUME_MEASUREMENT)
        if isinstance(volume, TR.VolumeMeasurement):
            out.append(volume)
    return out


def pfd_management_request(app_id: str, flow_descriptions: Sequence[str], seq: int = 0) -> Message:
    """Replace the PFDs of ``app_id`` with one PFD context per flow description."""
    contexts = [group(T.PFD_CONTEXT, TR.PFDContents(fd=fd.encode())) for fd in flow_descriptions]
    return Message(
        M.PFD_MANAGEMENT_REQUEST,
        seq,
        [group(T.APPLICATION_IDS_PFDS, X.ApplicationID(app_id), *contexts)],
    )


def application_dl_pdr(pdr_id: int, far_id: int, app_id: str, precedence: int = 10) -> Grouped:
    """A downlink PDR matching the flows of an application's PFDs."""
    pdi = group(
        T.PDI,
        S.SourceInterface(CORE),
        X.NetworkInstance("internet"),
        A.UEIPAddress(choose_v4=True),
        X.ApplicationID(app_id),
    )
    return group(T.CREATE_PDR, S.PDRID(pdr_id), S.Precedence(precedence), pdi, S.FARID(far_id))

"""Session programs and addresses shared by the datapath tests."""

from __future__ import annotations

import dataclasses
import ipaddress

from pfcpd.datapath.interface import (
    ApplyAction,
    DuplicateEncap,
    DuplicatingParameters,
    Far,
    Interface,
    IPAddress,
    Pdr,
    Qer,
    SessionProgram,
    Urr,
)

N3_UPF = ipaddress.IPv4Address("10.200.0.2")
N3_GNB = ipaddress.IPv4Address("10.200.0.1")
UE = ipaddress.IPv4Address("10.45.0.7")
DN = ipaddress.IPv4Address("10.201.0.9")
UL_TEID = 0x100
DL_TEID = 0x200
QFI = 9
# IPv6 (ULA) counterparts, used by the IPv6 end-to-end runs
N3_UPF6 = ipaddress.IPv6Address("fd00:200::2")
N3_GNB6 = ipaddress.IPv6Address("fd00:200::1")
UE6 = ipaddress.IPv6Address("fd00:45::7")
# LI-style collector on the gNB side that receives FAR DUPL copies
LI = ipaddress.IPv4Address("10.200.0.3")
LI_PORT = 9999
LI_TEID = 0x777
# a second UE in a second N6 network instance (index 1, its own TUN)
UE_IMS = ipaddress.IPv4Address("10.46.0.7")
IMS_UL_TEID = 0x101
IMS_DL_TEID = 0x201


def basic_program(
    *,
    ul_teid: int = UL_TEID,
    ue: IPAddress = UE,
    n3_upf: IPAddress = N3_UPF,
    n3_gnb: IPAddress = N3_GNB,
    dl_action: ApplyAction = ApplyAction.FORW,
    extra_pdrs: tuple[Pdr, ...] = (),
    extra_fars: tuple[Far, ...] = (),
    qer: Qer | None = None,
    urr: Urr | None = None,
    dscp: int | None = 46,
) -> SessionProgram:
    """UL PDR 1 (F-TEID) -> FAR 1 (to CORE, decap); DL PDR 2 (UE IP) -> FAR 2 (GTP-U to the
    gNB with QFI); QER 1 (QFI 9); URR 1 counting both. The UE and N3 addresses may be IPv4
    or IPv6 (independently)."""
    ue_net = ipaddress.ip_network(f"{ue}/{ue.max_prefixlen}")
    return SessionProgram(
        pdrs=(
            Pdr(
                pdr_id=1,
                precedence=100,
                source_interface=Interface.ACCESS,
                far_id=1,
                local_fteid=(n3_upf, ul_teid),
                ue_ip=ue_net,
                outer_header_removal=0 if n3_upf.version == 4 else 1,
                qer_ids=(1,),
                urr_ids=(1,),
            ),
            Pdr(
                pdr_id=2,
                precedence=100,
                source_interface=Interface.CORE,
                far_id=2,
                ue_ip=ue_net,
                qer_ids=(1,),
                urr_ids=(1,),
            ),
            *extra_pdrs,
        ),
        fars=(
            Far(far_id=1, apply_action=ApplyAction.FORW, destination_interface=Interface.CORE),
            Far(
                far_id=2,
                apply_action=dl_action,
                destination_interface=Interface.ACCESS,
                outer_header_creation=(n3_gnb, DL_TEID),
                ohc_source=n3_upf,
                dscp=dscp,
            ),
            *extra_fars,
        ),
        qers=(qer or Qer(qer_id=1, qfi=QFI),),
        urrs=(urr or Urr(urr_id=1),),
    )


def duplicating_program() -> SessionProgram:
    """basic_program whose FARs also copy every forwarded packet to the LI collector: UL as
    UDP to LI:LI_PORT, DL as GTP-U to LI with TEID LI_TEID."""
    prog = basic_program()
    ul, dl = prog.fars
    ul = dataclasses.replace(
        ul,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        duplicating=(
            DuplicatingParameters(
                destination_interface=Interface.CP_FUNCTION,
                encap=DuplicateEncap.UDP,
                peer=LI,
                source=N3_UPF,
                port=LI_PORT,
            ),
        ),
    )
    dl = dataclasses.replace(
        dl,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        duplicating=(
            DuplicatingParameters(
                destination_interface=Interface.ACCESS,
                encap=DuplicateEncap.GTPU,
                peer=LI,
                source=N3_UPF,
                teid=LI_TEID,
                pdu_session_container=True,
            ),
        ),
    )
    return dataclasses.replace(prog, fars=(ul, dl))


def ims_program() -> SessionProgram:
    """basic_program for UE_IMS with its PDRs and FARs in network instance 1."""
    prog = basic_program(ul_teid=IMS_UL_TEID, ue=UE_IMS)
    ul, dl = prog.fars
    return dataclasses.replace(
        prog,
        pdrs=tuple(dataclasses.replace(p, network_instance=1) for p in prog.pdrs),
        fars=(
            dataclasses.replace(ul, network_instance=1),
            dataclasses.replace(
                dl, network_instance=1, outer_header_creation=(N3_GNB, IMS_DL_TEID)
            ),
        ),
    )

"""Session programs and addresses shared by the datapath tests."""

from __future__ import annotations

import ipaddress

from pfcpd.datapath.interface import (
    ApplyAction,
    Far,
    Interface,
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


def basic_program(
    *,
    ul_teid: int = UL_TEID,
    ue: ipaddress.IPv4Address = UE,
    dl_action: ApplyAction = ApplyAction.FORW,
    extra_pdrs: tuple[Pdr, ...] = (),
    extra_fars: tuple[Far, ...] = (),
    qer: Qer | None = None,
    urr: Urr | None = None,
    dscp: int | None = 46,
) -> SessionProgram:
    """UL PDR 1 (F-TEID) -> FAR 1 (to CORE, decap); DL PDR 2 (UE IP) -> FAR 2 (GTP-U to the
    gNB with QFI); QER 1 (QFI 9); URR 1 counting both."""
    return SessionProgram(
        pdrs=(
            Pdr(
                pdr_id=1,
                precedence=100,
                source_interface=Interface.ACCESS,
                far_id=1,
                local_fteid=(N3_UPF, ul_teid),
                ue_ip=ipaddress.ip_network(f"{ue}/32"),
                outer_header_removal=0,
                qer_ids=(1,),
                urr_ids=(1,),
            ),
            Pdr(
                pdr_id=2,
                precedence=100,
                source_interface=Interface.CORE,
                far_id=2,
                ue_ip=ipaddress.ip_network(f"{ue}/32"),
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
                outer_header_creation=(N3_GNB, DL_TEID),
                ohc_source=N3_UPF,
                dscp=dscp,
            ),
            *extra_fars,
        ),
        qers=(qer or Qer(qer_id=1, qfi=QFI),),
        urrs=(urr or Urr(urr_id=1),),
    )

"""A QER's Paging Policy Indicator (TS 29.244 Table 7.5.2.5-1, Create QER: "This IE shall be
present if the UPF is required to set the Paging Policy Indicator (PPI) in outgoing packets
(see clause 5.4.3.2 of 3GPP TS 23.501). When present, it shall be set to the PPI value to
set."; 8.2.116). The downlink G-PDUs of the PDRs using that QER carry it in their DL PDU
SESSION INFORMATION (TS 38.415 5.5.2.1): PPP = 1 in octet 2 and the PPI in octet 3, the
PDU Session Container growing from 4 to 8 octets. An Update QER changes it, a zero-length
one (5.6.3) or removing the QER takes it away. The engine on the real local datapath, PFCP
as bytes; the G-PDUs read by scapy's and tshark's decoders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP
from scapy.packet import raw
from scapy.utils import wrpcap
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    qer,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, Message, RawIE
from pfcpd.pfcp import ies_scalar as S

T = IEType


def _qer_with_ppi(ppi: int | None, qer_id: int = 1) -> Grouped:
    q = qer(qer_id)
    if ppi is not None:
        q.ies.append(S.PagingPolicyIndicator(ppi))
    return q


def _ue(resp: Message) -> str:
    return created(resp)[2][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined, no-any-return]


def _dl_gpdu(h: Harness, ue: str) -> bytes:
    res = h.dp.process_dl(dl_packet(ue))
    assert res.verdict == Verdict.FORWARD
    return res.output


def _container(h: Harness, ue: str) -> GTPPDUSessionContainer:
    out = IP(_dl_gpdu(h, ue))
    psc = out[GTP_U_Header].getlayer(GTPPDUSessionContainer)
    assert psc is not None
    assert raw(psc.payload) == dl_packet(ue), "the user packet follows the container"
    return psc


@pytest.mark.parametrize("ppi", [5, 0, 7])
def test_qer_paging_policy_indicator_is_set_in_downlink_packets(h: Harness, ppi: int) -> None:
    """TS 29.244 Table 7.5.2.5-1 (Create QER), Paging Policy Indicator: "When present, it
    shall be set to the PPI value to set" in outgoing packets (TS 23.501 5.4.3.2). TS 38.415
    5.5.2.1: the DL PDU SESSION INFORMATION carries PPP = 1 and the PPI (0 is a value)."""
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), _qer_with_ppi(ppi), urr(1))
    assert cause(resp) == 1, resp
    psc = _container(h, _ue(resp))
    assert (psc.type, psc.QFI, psc.RQI) == (0, 9, 0)
    paging = (psc.PPP, psc.PPI)
    assert paging == (1, ppi)
    # length 2 (8 octets): PDU type 0 | PPP, QFI 9 | PPI, spare | padding | no next header
    assert raw(psc)[:8] == bytes([2, 0x00, 0x80 | 9, ppi << 5, 0, 0, 0, 0])


def test_qer_without_paging_policy_indicator_keeps_ppp_zero(h: Harness) -> None:
    """Without the IE, PPP = 0 and the container is 4 octets (TS 38.415 5.5.2.1)."""
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert cause(resp) == 1, resp
    psc = _container(h, _ue(resp))
    assert (psc.ExtHdrLen, psc.PPP, psc.QFI) == (1, 0, 9)
    assert raw(psc)[:4] == bytes([1, 0x00, 9, 0])


def test_update_qer_changes_and_removes_the_paging_policy_indicator(h: Harness) -> None:
    """TS 29.244 7.5.4.5 (Update QER): an Update QER carrying the Paging Policy Indicator
    changes it; a zero-length one removes it (5.6.3), and a QER given it again sets it
    again."""
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), _qer_with_ppi(5), urr(1))
    assert cause(resp) == 1, resp
    seid, ue = up_seid(resp), _ue(resp)
    assert _container(h, ue).PPI == 5

    r = h.modify(seid, g(T.UPDATE_QER, S.QERID(1), S.PagingPolicyIndicator(2)))
    assert cause(r) == 1, r
    psc = _container(h, ue)
    assert (psc.PPP, psc.PPI, psc.QFI) == (1, 2, 9)

    r = h.modify(seid, g(T.UPDATE_QER, S.QERID(1), RawIE(T.PAGING_POLICY_INDICATOR, b"")))
    assert cause(r) == 1, r
    psc = _container(h, ue)
    assert (psc.ExtHdrLen, psc.PPP, psc.QFI) == (1, 0, 9)

    r = h.modify(seid, g(T.UPDATE_QER, S.QERID(1), S.PagingPolicyIndicator(6)))
    assert cause(r) == 1, r
    psc = _container(h, ue)
    assert (psc.PPP, psc.PPI) == (1, 6)
    h.check_sent_with_tshark()


def test_removed_qer_takes_its_paging_policy_indicator(h: Harness) -> None:
    """The DL PDR has QER 1 (QFI 9) and QER 2 (PPI 4): its packets carry PPI 4. The PDR
    then names QER 1 alone and QER 2 is removed (Remove QER): PPP = 0."""
    dl = dl_pdr()
    dl.ies.append(S.QERID(2))
    resp = h.establish(ul_pdr(), dl, ul_far(), dl_far(), qer(1), _qer_with_ppi(4, qer_id=2), urr(1))
    assert cause(resp) == 1, resp
    seid, ue = up_seid(resp), _ue(resp)
    psc = _container(h, ue)
    assert (psc.PPP, psc.PPI, psc.QFI) == (1, 4, 9)

    r = h.modify(seid, g(T.UPDATE_PDR, S.PDRID(2), S.QERID(1)), g(T.REMOVE_QER, S.QERID(2)))
    assert cause(r) == 1, r
    psc = _container(h, ue)
    assert (psc.ExtHdrLen, psc.PPP, psc.QFI) == (1, 0, 9)


def test_paging_policy_indicator_decoded_by_tshark(h: Harness, tmp_path: Path) -> None:
    """tshark's GTP-U dissector reads the DL G-PDU with PPP and the PPI cleanly."""
    if not shutil.which("tshark"):
        pytest.skip("tshark not installed (Debian package tshark)")
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), _qer_with_ppi(5), urr(1))
    assert cause(resp) == 1, resp
    ue = _ue(resp)
    pcap = tmp_path / "ppi.pcap"
    wrpcap(str(pcap), [IP(_dl_gpdu(h, ue))])
    fields = [
        "gtp.teid",
        "gtp.ext_hdr.pdu_ses_con.pdu_type",
        "gtp.ext_hdr.pdu_ses_cont.ppp",
        "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
        "gtp.ext_hdr.pdu_ses_cont.ppi",
        "ip.dst",
        "_ws.malformed",
    ]
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "occurrence=l"]
        + [arg for f in fields for arg in ("-e", f)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    teid, pdu_type, ppp, qfi, ppi, inner_dst, malformed = out.split("|")
    assert int(teid, 0) == 0x100
    assert int(pdu_type) == 0 and ppp in ("1", "True") and int(qfi) == 9 and int(ppi) == 5
    assert inner_dst == ue
    assert malformed == ""

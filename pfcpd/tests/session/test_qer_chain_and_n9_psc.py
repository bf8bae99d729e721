"""Two QERs on one PDR (TS 29.244 5.2.1: a PDR has zero, one or more QERs and all of them
apply; TS 23.501 5.7.2.6: the session AMBR bounds all the session's non-GBR flows): a packet
one QER drops takes no tokens from the other. And the PDU Session Container of an uplink G-PDU
an I-UPF sends to the PSA over N9 (TS 29.281 5.2.2.7, TS 38.415 5.5.2): UL PDU SESSION
INFORMATION, PDU type 1. The engine on the real local datapath, PFCP as bytes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from scapy.utils import wrpcap
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    g,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    urr,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IEType, Message
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR

T = IEType
UE = "10.45.0.1"  # the pool's first address
PSA = "192.0.2.77"


def _teid(r: Message) -> int:
    return created(r)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def _dl(src: str, size: int) -> bytes:
    return raw(IP(src=src, dst=UE) / UDP(sport=1, dport=2) / Raw(b"x" * (size - 28)))


def test_packets_dropped_by_second_qer_do_not_use_the_first_qers_rate(h: Harness) -> None:
    """PDR 2 (flow A, from 198.51.100.1) has [QER 1: session AMBR 200 kbit/s, QER 3: flow MBR
    8 kbit/s]; PDR 3 (any other flow B) has [QER 1]. A sends 800 kbit/s, which QER 3 cuts to
    8 kbit/s; B sends 100 kbit/s. The AMBR sees 108 kbit/s: B loses nothing."""
    q1 = g(T.CREATE_QER, S.QERID(1), TR.GateStatus(0, 0), TR.MBR(200, 200), S.QFI(9))
    q3 = g(T.CREATE_QER, S.QERID(3), TR.GateStatus(0, 0), TR.MBR(8, 8), S.QFI(9))
    dl2 = dl_pdr()
    dl2.ies.append(S.QERID(3))
    dl2.get(T.PDI).ies.append(  # type: ignore[union-attr]
        TR.SDFFilter(flow_description="permit out 17 from 198.51.100.1 to assigned")
    )
    dl3 = g(
        T.CREATE_PDR,
        S.PDRID(3),
        S.Precedence(250),
        g(
            T.PDI,
            S.SourceInterface(1),
            X.NetworkInstance("internet"),
            A.UEIPAddress(choose_v4=True),
        ),
        S.FARID(2),
        S.QERID(1),
    )
    r = h.establish(ul_pdr(), dl2, dl3, ul_far(), dl_far(), q1, q3, urr(1))
    assert cause(r) == 1
    a_fwd = b_fwd = 0
    for i in range(200):  # 2 s: A 1000 bytes and B 125 bytes every 10 ms
        now = 10**9 + i * 10_000_000
        a = h.dp.process_dl(_dl("198.51.100.1", 1000), now_ns=now)
        b = h.dp.process_dl(_dl("198.51.100.2", 125), now_ns=now + 1)
        assert a.pdr_id == 2 and b.pdr_id == 3
        a_fwd += a.verdict == Verdict.FORWARD
        b_fwd += b.verdict == Verdict.FORWARD
    # QER 3: a 16 KiB bucket, then 1000 bytes a second: 16 + 2 packets of A
    assert 16 <= a_fwd <= 19
    assert b_fwd == 200, f"flow B: {200 - b_fwd}/200 dropped, A sent {a_fwd} packets"


def _n9_uplink(h: Harness, rqi: bool) -> bytes:
    """An I-UPF: the UL FAR sends to the PSA over N9 (destination Core, GTP-U); one UL G-PDU
    through it, the bytes sent."""
    far = g(
        T.CREATE_FAR,
        S.FARID(1),
        F.ApplyAction.of("FORW"),
        g(
            T.FORWARDING_PARAMETERS,
            S.DestinationInterface(1),
            A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV4, teid=0x777, ipv4=PSA),
        ),
    )
    q = qer()
    if rqi:
        q.ies.append(F.RQI.of("RQI"))
    r = h.establish(ul_pdr(), dl_pdr(), far, dl_far(), q, urr(1))
    assert cause(r) == 1
    res = h.dp.process_ul(gtpu(ul_packet(UE), _teid(r)))
    assert res.verdict == Verdict.FORWARD
    return res.output


@pytest.mark.parametrize("rqi", [False, True])
def test_n9_uplink_pdu_session_container_is_ul_type(h: Harness, rqi: bool) -> None:
    out = IP(_n9_uplink(h, rqi))
    assert out.dst == PSA and out[GTP_U_Header].teid == 0x777
    psc = out.getlayer(GTPPDUSessionContainer)
    assert psc is not None
    assert psc.type == 1, f"UL N9 G-PDU with PDU Session Container type {psc.type}"
    assert psc.QFI == 9
    # octet 2 of a UL container: N3/N9 Delay Ind, spare (New IE Flag), QFI: no RQI
    assert raw(psc)[2] == 9
    assert raw(psc.payload) == ul_packet(UE)


def test_n9_uplink_pdu_session_container_decoded_by_tshark(h: Harness, tmp_path: Path) -> None:
    if not shutil.which("tshark"):
        pytest.skip("tshark not installed (Debian package tshark)")
    pcap = tmp_path / "n9.pcap"
    wrpcap(str(pcap), [IP(_n9_uplink(h, rqi=True))])
    fields = [
        "ip.dst",
        "gtp.teid",
        "gtp.ext_hdr.pdu_ses_con.pdu_type",
        "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
        "_ws.malformed",
    ]
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
        + [arg for f in fields for arg in ("-e", f)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dst, teid, pdu_type, qfi, malformed = out.split("|")
    assert dst == PSA and int(teid, 0) == 0x777
    assert int(pdu_type) == 1 and int(qfi) == 9
    assert malformed == ""

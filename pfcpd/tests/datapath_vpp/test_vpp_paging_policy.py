"""pfcpd (datapath vpp, driven over PFCP by the SMF simulator) with a QER carrying a Paging
Policy Indicator (TS 29.244 Table 7.5.2.5-1, Create QER: the UPF sets it in outgoing
packets, TS 23.501 5.4.3.2): the downlink G-PDUs VPP sends to the gNB carry PPP = 1 and the
PPI in their DL PDU SESSION INFORMATION (TS 38.415 5.5.2.1), read by scapy; an Update QER
changes it and a zero-length one (5.6.3) removes it. Skipped, naming what is missing,
without VPP and the plugin."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from test_vpp_churn import DN, DN_MAC, GNB, mac_of, stream_running
from vpp_instance import VppInstance
from vpp_pfcpd import PfcpdOnVpp

from pfcpd.pfcp import Cause, Grouped, IEType, RawIE
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import cause_of

T = IEType


def downlink(vpp: VppInstance, ue: str, name: str, where: Path, n: int = 2) -> list[Any]:
    """``n`` packets from the DN to ``ue`` into pg0 (N6); the G-PDUs pg1 (N3) sends."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    packets = [
        Ether(src=DN_MAC, dst=mac_of(vpp, "pg0"))
        / IP(src=DN, dst=ue, id=i)
        / UDP(sport=9, dport=1000 + i)
        / Raw(b"p" * 40)
        for i in range(n)
    ]
    pcap_in, pcap_out = where / f"{name}.pcap", vpp.dir / f"{name}-n3.pcap"
    wrpcap(str(pcap_in), packets)
    vpp.cli(f"packet-generator capture pg1 pcap {pcap_out} count {n}")
    vpp.cli(f"packet-generator new pcap {pcap_in} source pg0 name {name} rate 1000")
    vpp.cli(f"packet-generator enable-stream {name}")
    deadline = time.monotonic() + 10
    while (stream_running(vpp, name) or not pcap_out.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    vpp.cli(f"packet-generator delete {name}")
    assert pcap_out.exists(), vpp.cli("show errors")
    got = [p for p in rdpcap(str(pcap_out)) if not str(p.dst).startswith("33:33:")]
    assert len(got) == n, (len(got), vpp.cli("show errors"))
    return got


def test_qer_paging_policy_indicator_through_pfcpd_and_vpp(
    pfcpd_vpp2w: PfcpdOnVpp, tmp_path: Path
) -> None:
    from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
    from scapy.layers.inet import IP

    vpp, cp = pfcpd_vpp2w.vpp, pfcpd_vpp2w.cp
    session_rules = rules.session_rules(gnb=GNB, gnb_teid=0x100)
    qer = session_rules[4]
    assert isinstance(qer, Grouped) and qer.type == T.CREATE_QER
    qer.ies.append(S.PagingPolicyIndicator(5))
    s = cp.establish(session_rules)
    ue = s.ue_address(4)
    assert ue is not None

    def containers(name: str) -> list[Any]:
        out = []
        for p in downlink(vpp, ue, name, tmp_path):
            assert p[GTP_U_Header].teid == 0x100
            psc = p[GTPPDUSessionContainer]
            assert IP(bytes(psc.payload)).dst == ue
            out.append(psc)
        return out

    for psc in containers("ppi5"):
        assert (psc.ExtHdrLen, psc.type, psc.PPP, psc.QFI, psc.PPI) == (2, 0, 1, 9, 5)

    r = cp.modify(s.up_seid, [rules.group(T.UPDATE_QER, S.QERID(1), S.PagingPolicyIndicator(2))])
    assert cause_of(r) == Cause.REQUEST_ACCEPTED, r
    for psc in containers("ppi2"):
        assert (psc.ExtHdrLen, psc.PPP, psc.QFI, psc.PPI) == (2, 1, 9, 2)

    removal = RawIE(T.PAGING_POLICY_INDICATOR, b"")
    r = cp.modify(s.up_seid, [rules.group(T.UPDATE_QER, S.QERID(1), removal)])
    assert cause_of(r) == Cause.REQUEST_ACCEPTED, r
    for psc in containers("noppi"):
        assert (psc.ExtHdrLen, psc.PPP, psc.QFI) == (1, 0, 9)

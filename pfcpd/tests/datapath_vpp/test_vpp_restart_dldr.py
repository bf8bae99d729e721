"""pfcpd (datapath vpp, driven over PFCP by the SMF simulator) killed with -9 while a
session buffers downlink data for an idle UE (BUFF+NOCP): the first packet comes while
pfcpd is away. VPP buffers it, marks the PDR reported and drops the DL data report event
(no client subscribed), so no later packet raises it. The restarted pfcpd reads VPP's
buffered count at connect, asks VPP which PDR and QFI it marked reported and sends their
Downlink Data Report (TS 29.244 5.2.3.1), once.
Skipped, naming what is missing, without VPP and the plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_vpp_churn import DN, DN_MAC, GNB, mac_of, pg_send
from vpp_instance import VppInstance
from vpp_pfcpd import PfcpdOnVpp

from pfcpd.pfcp import Grouped, IEType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import Established

T = IEType


def downlink(s: Established, n6_mac: str, first: int, n: int) -> list[Any]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    return [
        Ether(src=DN_MAC, dst=n6_mac)
        / IP(src=DN, dst=s.ue_address(4), id=i)
        / UDP(sport=9, dport=1000 + i)
        / Raw(b"d" * 72)
        for i in range(first, first + n)
    ]


def send(vpp: VppInstance, packets: list[Any], name: str, where: Path) -> None:
    """``packets`` into pg0 (N6), all of them, before it returns."""
    pg_send(vpp, packets, "pg0", name, where)


def _buffered(vpp: VppInstance, seid: int) -> int:
    from pfcpd.datapath.vpp.client import ApiClient

    client = ApiClient(str(vpp.api_socket), 5.0, lambda _: None, lambda: None)
    try:
        client.connect()
        _, details = client.call("upf_session_dump", seid=seid)
        return sum(int(d.buffered_pkts) for d in details)
    finally:
        client.close()


def _dldr_pdrs(reports: list[Any]) -> list[int]:
    out = []
    for report in reports:
        dldr = report.get(T.DOWNLINK_DATA_REPORT)
        if isinstance(dldr, Grouped):
            out.append(dldr.get(T.PDR_ID).value)
    return out


def test_a_dl_packet_buffered_while_pfcpd_is_down_is_reported_after_its_restart(
    pfcpd_vpp2w: PfcpdOnVpp, tmp_path: Path
) -> None:
    vpp, daemon, cp = pfcpd_vpp2w.vpp, pfcpd_vpp2w.daemon, pfcpd_vpp2w.cp
    idle_far = rules.group(T.CREATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1))
    bar = rules.group(T.CREATE_BAR, S.BARID(1))
    session_rules = rules.session_rules(gnb=GNB)
    session_rules[3] = idle_far
    s = cp.establish([*session_rules, bar])
    n6_mac = mac_of(vpp, "pg0")
    cp.poll(0.5)
    assert cp.reports == []

    pfcpd_vpp2w.kill()
    send(vpp, downlink(s, n6_mac, 0, 2), "away", tmp_path)  # (buffered, its event lost)
    assert _buffered(vpp, s.up_seid) == 2, vpp.cli("show errors")
    daemon.start()
    assert "1 session(s) restored (1 VPP kept)" in daemon.log()

    (report,) = cp.wait_report(10.0)
    assert _dldr_pdrs([report]) == [2], report
    # (the pair VPP marked reported: PDR 2 and its QER's QFI, 9; the DSCP not known)
    info = report.get(T.DOWNLINK_DATA_REPORT).get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
    assert info is not None and (info.qfi, info.ppi) == (9, None), report
    send(vpp, downlink(s, n6_mac, 2, 2), "after", tmp_path)  # (the same episode)
    cp.poll(2.0)
    assert len(cp.reports) == 1, cp.reports  # (reported once)
    assert _buffered(vpp, s.up_seid) == 4

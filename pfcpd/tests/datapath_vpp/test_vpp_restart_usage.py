"""pfcpd (datapath vpp, driven over PFCP by the SMF simulator) killed with -9 while a
session's traffic uses its volume quota up in VPP: VPP raises the quota's event with no
client subscribed (it is lost) and drops the URR's traffic from then on. The restarted
pfcpd reports the exhaustion (USAR, VOLQU) once, with every octet of the quota counted, and
the traffic stays dropped. Skipped, naming what is missing, without VPP and the plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_vpp_churn import DN, GNB, GNB_MAC, N3, mac_of, pg_send
from vpp_instance import VppInstance
from vpp_pfcpd import PfcpdOnVpp

from pfcpd.pfcp import Grouped, IEType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import Established

T = IEType
INNER = 100  # octets of each uplink packet the URR counts (IP, UDP, 72 of payload)
QUOTA = 10 * INNER


def quota_urr() -> Grouped:
    return rules.group(
        T.CREATE_URR,
        S.URRID(1),
        F.MeasurementMethod.of("VOLUM"),
        F.ReportingTriggers.of("VOLQU"),
        F.MeasurementInformation.of("MNOP"),
        TR.VolumeQuota(total=QUOTA),
    )


def uplink(s: Established, n3_mac: str, first: int, n: int) -> list[Any]:
    from scapy.contrib.gtp import GTP_U_Header
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    addr, teid = s.teids[1]
    assert addr == N3
    return [
        Ether(src=GNB_MAC, dst=n3_mac)
        / IP(src=GNB, dst=N3)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=teid, gtp_type=255)
        / IP(src=s.ue_address(4), dst=DN, id=i)
        / UDP(sport=1000 + i, dport=9)
        / Raw(b"q" * (INNER - 28))
        for i in range(first, first + n)
    ]


def send(vpp: VppInstance, packets: list[Any], name: str, where: Path) -> None:
    """``packets`` into pg1 (N3), all of them, before it returns."""
    pg_send(vpp, packets, "pg1", name, where)


def test_a_quota_used_up_while_pfcpd_is_down_is_reported_after_its_restart(
    pfcpd_vpp2w: PfcpdOnVpp, tmp_path: Path
) -> None:
    from scapy.utils import rdpcap

    vpp, daemon, cp = pfcpd_vpp2w.vpp, pfcpd_vpp2w.daemon, pfcpd_vpp2w.cp
    session_rules = rules.session_rules(gnb=GNB, gnb_teid=0x100)[:-1]
    s = cp.establish([*session_rules, quota_urr()])
    n3_mac = mac_of(vpp, "pg1")
    pcap_out = vpp.dir / "n6.pcap"
    vpp.cli(f"packet-generator capture pg0 pcap {pcap_out} count 1000")

    send(vpp, uplink(s, n3_mac, 0, 4), "before", tmp_path)  # (under the quota)
    cp.poll(0.5)
    assert cp.reports == []
    pfcpd_vpp2w.kill()
    # pfcpd away: the 10th packet uses the quota up (its event lost), the rest is dropped
    send(vpp, uplink(s, n3_mac, 4, 10), "away", tmp_path)
    daemon.start()
    assert "1 session(s) restored (1 VPP kept)" in daemon.log()

    (report,) = cp.wait_report(10.0)
    (usage,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert isinstance(usage, Grouped)
    trigger = usage.get(T.USAGE_REPORT_TRIGGER)
    assert isinstance(trigger, F.UsageReportTrigger) and trigger.has("VOLQU"), usage
    (volume,) = rules.usage_volumes(report, T.USAGE_REPORT_REPORT_REQUEST)
    assert (volume.total, volume.ul, volume.ul_packets) == (QUOTA, QUOTA, 10), volume
    send(vpp, uplink(s, n3_mac, 14, 3), "after", tmp_path)  # (still used up: dropped)
    cp.poll(2.0)
    assert len(cp.reports) == 1, cp.reports  # (reported once)

    vpp.cli("packet-generator capture pg0 disable")
    got = [p for p in rdpcap(str(pcap_out)) if not str(p.dst).startswith("33:33:")]
    assert len(got) == 10, (len(got), vpp.cli("show errors"))

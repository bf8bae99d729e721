"""pfcpd (datapath vpp, driven over PFCP by the SMF simulator) and a VPP with 2 worker
threads: uplink traffic over many sessions flows while pfcpd establishes, modifies and
deletes other sessions and is killed with -9 and restarted. Every packet of the sessions
that stay arrives, once; their final usage reports count exactly what was sent; VPP is
alive afterwards and holds no buffer more than before. Skipped, naming what is missing,
without VPP and the plugin."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

from vpp_instance import VppInstance
from vpp_pfcpd import PfcpdOnVpp

from pfcpd.pfcp import Cause, IEType
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import Established, SmfClient, cause_of

N3 = "10.0.3.1"  # pg1
GNB = "10.0.3.2"
GNB_MAC = "02:00:00:00:03:02"
DN = "198.51.100.1"  # beyond pg0 (N6)
DN_MAC = "02:00:00:00:06:02"
STEADY = 12  # sessions carrying traffic throughout
PACKETS = 100  # per steady session
RATE = 400  # packets/s: the stream lasts ~3 s, long enough to churn and restart under it
PAYLOAD = 40


def overrides(vpp: VppInstance) -> dict[str, Any]:
    return {
        "pfcp": {"t1": 2, "n1": 3},
        "interfaces": {"n3": {"address": N3}},
        "datapath": {
            "kind": "vpp",
            "vpp": {
                "api_socket": str(vpp.api_socket),
                "connect_timeout": 10,
                "n3_interfaces": ["pg1"],
                "network_instances": {"internet": {"n6_interfaces": ["pg0"]}},
            },
        },
        "network_instances": {"internet": {"ue_pools": ["198.18.40.0/24"]}},
    }


def mac_of(vpp: VppInstance, name: str) -> str:
    m = re.search(r"Ethernet address ([0-9a-f:]{17})", vpp.cli(f"show hardware-interfaces {name}"))
    assert m, vpp.cli(f"show hardware-interfaces {name}")
    return m.group(1)


def buffers_used(vpp: VppInstance) -> int:
    """Buffers neither free in a pool nor in a thread's cache ("Used" of `show buffers`)."""
    out = vpp.cli("show buffers")
    pools = [line for line in out.splitlines() if re.match(r"\s*default-numa", line)]
    used = [int(line.split()[-1]) for line in pools]
    assert used, out
    return sum(used)


def uplink(s: Established, n3_mac: str) -> list[Any]:
    from scapy.contrib.gtp import GTP_U_Header
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    addr, teid = s.teids[1]
    assert addr == N3
    ue = s.ue_address(4)
    return [
        Ether(src=GNB_MAC, dst=n3_mac)
        / IP(src=GNB, dst=N3)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=teid, gtp_type=255)
        / IP(src=ue, dst=DN, id=i)
        / UDP(sport=1000 + i, dport=9)
        / Raw(b"c" * PAYLOAD)
        for i in range(PACKETS)
    ]


def stream_running(vpp: VppInstance, name: str) -> bool:
    return re.search(rf"{name}\s+Yes", vpp.cli("show packet-generator")) is not None


def pg_send(vpp: VppInstance, packets: list[Any], source: str, name: str, where: Path) -> None:
    """``packets`` into the pg interface ``source`` as stream ``name`` (its pcap in
    ``where``), all of them sent before it returns."""
    from scapy.utils import wrpcap

    pcap = where / f"{name}.pcap"
    wrpcap(str(pcap), packets)
    vpp.cli(f"packet-generator new pcap {pcap} source {source} name {name} rate 1000")
    vpp.cli(f"packet-generator enable-stream {name}")
    deadline = time.monotonic() + 10
    while stream_running(vpp, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stream_running(vpp, name), vpp.cli("show packet-generator")
    vpp.cli(f"packet-generator delete {name}")


def churn_once(cp: SmfClient, teid: int) -> None:
    s = cp.establish(rules.session_rules(gnb=GNB, gnb_teid=teid))
    moved = rules.update_dl_far(2, teid + 0x8000, GNB)
    assert cause_of(cp.modify(s.up_seid, [moved])) == Cause.REQUEST_ACCEPTED
    assert cause_of(cp.delete(s.up_seid)) == Cause.REQUEST_ACCEPTED


def test_traffic_through_churn_and_a_pfcpd_kill(pfcpd_vpp2w: PfcpdOnVpp, tmp_path: Path) -> None:
    from scapy.utils import rdpcap, wrpcap

    vpp, daemon, cp = pfcpd_vpp2w.vpp, pfcpd_vpp2w.daemon, pfcpd_vpp2w.cp
    assert "vpp_wk_1" in vpp.cli("show threads"), vpp.cli("show threads")
    steady = [cp.establish(rules.session_rules(gnb=GNB, gnb_teid=0x100 + i)) for i in range(STEADY)]
    packets = [p for s in steady for p in uplink(s, mac_of(vpp, "pg1"))]
    random.Random(12).shuffle(packets)
    pcap_in = tmp_path / "ul.pcap"
    wrpcap(str(pcap_in), packets)
    pcap_out = vpp.dir / "n6.pcap"
    before = buffers_used(vpp)

    vpp.cli(f"packet-generator capture pg0 pcap {pcap_out} count {len(packets) + 100}")
    vpp.cli(f"packet-generator new pcap {pcap_in} source pg1 name ul rate {RATE}")
    vpp.cli("packet-generator enable-stream ul")
    started = time.monotonic()
    churned = killed = 0
    while stream_running(vpp, "ul") and time.monotonic() - started < 30:
        churn_once(cp, 0x2000 + churned)
        churned += 1
        if not killed and time.monotonic() - started > 1.0:
            pfcpd_vpp2w.kill()
            daemon.start()  # reconciles with what VPP holds; the traffic goes on meanwhile
            killed = 1
    assert killed and churned >= 3, (killed, churned, vpp.cli("show packet-generator"))
    assert not stream_running(vpp, "ul"), vpp.cli("show packet-generator")

    def delivered() -> list[Any]:
        got = rdpcap(str(pcap_out)) if pcap_out.exists() and pcap_out.stat().st_size > 24 else []
        return [p for p in got if not str(p.dst).startswith("33:33:")]

    deadline = time.monotonic() + 10
    while len(delivered()) < len(packets) and time.monotonic() < deadline:
        time.sleep(0.1)
    vpp.cli("packet-generator capture pg0 disable")
    got = delivered()
    errors = vpp.cli("show errors")
    assert len(got) == len(packets), (len(got), len(packets), errors)
    per_ue: dict[str, int] = {}
    for p in got:
        per_ue[p["IP"].src] = per_ue.get(p["IP"].src, 0) + 1
    assert per_ue == {s.ue_address(4): PACKETS for s in steady}

    inner = len(packets[0]["GTP_U_Header"].payload)
    for s in steady:
        answer = cp.delete(s.up_seid)
        assert cause_of(answer) == Cause.REQUEST_ACCEPTED
        (volume,) = rules.usage_volumes(answer, IEType.USAGE_REPORT_DELETION_RESPONSE)
        assert (volume.ul_packets, volume.ul) == (PACKETS, PACKETS * inner), (s.up_seid, volume)
    vpp.cli("packet-generator delete ul")
    assert "upf" in vpp.cli("show plugins") and vpp.proc is not None and vpp.proc.poll() is None
    assert buffers_used(vpp) <= before, vpp.cli("show buffers")
    # with workers every GTP-U packet goes through the handoff node to its session's owner
    handed = sum(int(m[1]) for m in re.finditer(r"^\s*(\d+)\s+upf-gtpu4-handoff\s", errors, re.M))
    assert handed == len(packets), errors
    print(
        f"{len(packets)} packets over {STEADY} sessions, all handed to their owner thread; "
        f"{churned} sessions churned; pfcpd killed and restarted under traffic"
    )

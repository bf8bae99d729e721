"""Packets through a real `pfcpd run` (local datapath), sessions set up over PFCP only by the
SMF simulator: GTP-U <-> IP both ways for IPv4 and IPv6 UEs with the final usage report
matching the bytes sent, MBR policing, a closed gate, a volume threshold report, and kill -9
under load. Topology: netns_topology.py. Needs root; skips otherwise."""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from netns_tools import netns_missing as missing
from netns_topology import DN, DN6, GNB, N3, UE_POOL, UE_POOL6, Topology, in_netns
from node_harness import Pfcpd
from oracles import tshark_problems
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw

from pfcpd.pfcp import Cause, IEType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp.ie import Grouped
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import Established, SmfClient, cause_of

T = IEType
DN_PORT = 9000
UE_PORT = 7000


@pytest.fixture
def topology() -> Iterator[Topology]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    topo = Topology.create(f"{os.getpid() % 10000}")
    try:
        yield topo
    finally:
        topo.delete()


class Lab:
    """pfcpd in the UPF namespace, an SMF client next to it, a gNB and a DN socket."""

    def __init__(self, topo: Topology, start: Callable[..., Pfcpd], extra: dict[str, Any]):
        self.topo = topo
        over = {
            "pfcp": {"t1": 2, "n1": 3},  # as in sessions_harness.session_overrides
            "interfaces": {"n3": {"address": N3}},
            "datapath": {"kind": "local", "n6_tun": {"internet": topo.tun}},
            "network_instances": {"internet": {"ue_pools": [UE_POOL, UE_POOL6]}},
            **extra,
        }
        self.daemon = start(over, command_prefix=("ip", "netns", "exec", topo.upf))
        self.smf: SmfClient = in_netns(topo.upf, SmfClient, self.daemon.addr)
        self.smf.associate()
        self.gnb = in_netns(topo.gnb, self._udp, socket.AF_INET, (GNB, 2152))
        self.dn4 = in_netns(topo.dn, self._udp, socket.AF_INET, (DN, DN_PORT))
        self.dn6 = in_netns(topo.dn, self._udp, socket.AF_INET6, (DN6, DN_PORT))

    @staticmethod
    def _udp(family: int, addr: tuple[str, int]) -> socket.socket:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind(addr)
        return s

    def close(self) -> None:
        for s in (self.gnb, self.dn4, self.dn6):
            s.close()
        self.smf.close()

    def metric(self, name: str, **labels: str) -> float:
        return in_netns(self.topo.upf, functools.partial(self.daemon.metric, name, **labels))


@pytest.fixture
def lab(topology: Topology, tmp_path: Any) -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def make(**extra: Any) -> Lab:
        directory = tmp_path / f"pfcpd{len(labs)}"
        directory.mkdir()
        daemon_start = _starter(directory)
        made = Lab(topology, daemon_start, extra)
        labs.append(made)
        return made

    yield make
    received = [d for made in labs for d in made.smf.received]
    for made in labs:
        made.close()
        assert made.daemon.stop() in (0, -signal.SIGKILL), made.daemon.log()
    if received and shutil.which("tshark") and shutil.which("text2pcap"):
        problems = tshark_problems(received)
        assert not problems, f"tshark flags datagrams pfcpd sent: {problems}"


def _starter(directory: Any) -> Callable[..., Pfcpd]:
    def start(over: dict[str, Any], command_prefix: tuple[str, ...]) -> Pfcpd:
        return Pfcpd(directory, over, command_prefix=command_prefix).start()

    return start


def ue_address(est: Established) -> str:
    """The UE's own address: the allocated IPv4 address, or ::1 in the allocated prefix."""
    addr = ipaddress.ip_address(est.ue_addresses[0])
    return str(addr) if addr.version == 4 else str(addr + 1)


def inner_ul(ue: str, size: int) -> bytes:
    """An uplink IP/UDP packet of ``size`` octets from the UE to the DN."""
    v6 = ":" in ue
    header = 48 if v6 else 28
    payload = Raw(b"u" * (size - header))
    if v6:
        return raw(IPv6(src=ue, dst=DN6) / UDP(sport=UE_PORT, dport=DN_PORT) / payload)
    return raw(IP(src=ue, dst=DN) / UDP(sport=UE_PORT, dport=DN_PORT) / payload)


def gtpu(teid: int, inner: bytes) -> bytes:
    return struct.pack("!BBHI", 0x30, 0xFF, len(inner), teid) + inner


def send_ul(lab: Lab, est: Established, count: int, size: int) -> None:
    _addr, teid = est.teids[1]
    packet = gtpu(teid, inner_ul(ue_address(est), size))
    for _ in range(count):
        lab.gnb.sendto(packet, (N3, 2152))


def receive_all(sock: socket.socket, first: float = 3.0, quiet: float = 0.5) -> list[bytes]:
    """Everything arriving on ``sock``: the first datagram within ``first`` s (neighbour
    discovery on fresh links may take a retransmission), then until quiet for ``quiet`` s."""
    out = []
    sock.settimeout(first)
    try:
        while True:
            out.append(sock.recv(65535))
            sock.settimeout(quiet)
    except TimeoutError:
        return out


def dn_socket(lab: Lab, ue: str) -> socket.socket:
    return lab.dn6 if ":" in ue else lab.dn4


def usage_of(msg: Any, report_type: int) -> tuple[int, int, int, int, int]:
    (volume,) = rules.usage_volumes(msg, report_type)
    return (volume.total, volume.ul, volume.dl, volume.ul_packets, volume.dl_packets)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_gtpu_ip_both_ways_and_the_final_usage_report(lab: Callable[..., Lab], family: str) -> None:
    lab_ = lab()
    v6 = family == "ipv6"
    est = lab_.smf.establish(rules.session_rules(v6=v6, gnb=GNB, gnb_teid=0x4711))
    ue = ue_address(est)
    assert ipaddress.ip_address(ue) in ipaddress.ip_network(UE_POOL6 if v6 else UE_POOL)
    # Uplink: GTP-U from the gNB reaches the DN as plain IP.
    send_ul(lab_, est, 5, 300)
    dn = dn_socket(lab_, ue)
    got = receive_all(dn)
    assert [len(p) for p in got] == [300 - (48 if v6 else 28)] * 5
    # Downlink: the DN's packets to the UE reach the gNB in GTP-U with its TEID.
    dn.sendto(b"d" * 200, (ue, UE_PORT))
    dn.sendto(b"d" * 200, (ue, UE_PORT))
    down = receive_all(lab_.gnb)
    assert len(down) == 2
    for message in down:
        flags, msg_type, _length, teid = struct.unpack("!BBHI", message[:8])
        assert msg_type == 0xFF and teid == 0x4711
        inner = message[8:]
        if flags & 0x07:  # sequence number / extension headers present
            inner = _skip_extensions(message)
        packet = IPv6(inner) if v6 else IP(inner)
        assert packet.dst == ue and bytes(packet[UDP].payload) == b"d" * 200
    dl_size = 200 + (48 if v6 else 28)
    answer = lab_.smf.delete(est.up_seid)
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    total, ul, dl, ul_packets, dl_packets = usage_of(answer, T.USAGE_REPORT_DELETION_RESPONSE)
    assert (ul, dl, ul_packets, dl_packets) == (5 * 300, 2 * dl_size, 5, 2)
    assert total == ul + dl


def _skip_extensions(message: bytes) -> bytes:
    """The T-PDU of a GTP-U message with the optional fields and extension headers."""
    offset = 12
    next_type = message[11]
    while next_type:
        length = message[offset] * 4
        next_type = message[offset + length - 1]
        offset += length
    return message[offset:]


def test_mbr_policing_within_ten_percent(lab: Callable[..., Lab]) -> None:
    lab_ = lab()
    mbr_bps = 2_000_000
    est = lab_.smf.establish(
        rules.session_rules(gnb=GNB, mbr_kbps=(mbr_bps // 1000, mbr_bps // 1000))
    )
    size, seconds = 1000, 3.0
    received: list[int] = []
    dn = lab_.dn4
    dn.settimeout(0.5)

    def count() -> None:
        try:
            while True:
                received.append(len(dn.recv(65535)) + 28)
        except TimeoutError:
            pass

    counter = threading.Thread(target=count)
    counter.start()
    # Offer twice the MBR, paced in 10 ms slots.
    per_slot = max(1, round(2 * mbr_bps / 8 / size / 100))
    _addr, teid = est.teids[1]
    packet = gtpu(teid, inner_ul(ue_address(est), size))
    start = time.monotonic()
    slot = 0
    while time.monotonic() - start < seconds:
        for _ in range(per_slot):
            lab_.gnb.sendto(packet, (N3, 2152))
        slot += 1
        time.sleep(max(0.0, start + slot * 0.01 - time.monotonic()))
    counter.join()
    rate = sum(received) * 8 / seconds
    offered = slot * per_slot * size * 8 / seconds
    assert offered > 1.5 * mbr_bps, f"the test offered only {offered:.0f} bit/s"
    assert abs(rate - mbr_bps) <= 0.1 * mbr_bps, f"{rate:.0f} bit/s passed, MBR {mbr_bps}"


def test_a_closed_gate_drops_until_it_opens(lab: Callable[..., Lab]) -> None:
    lab_ = lab()
    est = lab_.smf.establish(rules.session_rules(gnb=GNB, gate_open=False))
    send_ul(lab_, est, 5, 200)
    assert receive_all(lab_.dn4) == []
    lab_.dn4.sendto(b"x" * 100, (ue_address(est), UE_PORT))
    assert receive_all(lab_.gnb) == []
    answer = lab_.smf.modify(est.up_seid, [rules.update_qer_gates(1, True)])
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    send_ul(lab_, est, 5, 200)
    assert len(receive_all(lab_.dn4)) == 5


def test_volume_threshold_report_after_the_right_byte_count(lab: Callable[..., Lab]) -> None:
    lab_ = lab()
    est = lab_.smf.establish(rules.session_rules(gnb=GNB, volume_threshold=5000))
    send_ul(lab_, est, 4, 1000)  # 4000 octets: below the threshold
    assert len(receive_all(lab_.dn4)) == 4
    lab_.smf.poll(1.0)
    assert lab_.smf.reports == []
    send_ul(lab_, est, 2, 1000)  # 6000: crossed
    (report,) = lab_.smf.wait_report(timeout=5.0)
    report_type = report.get(T.REPORT_TYPE)
    assert isinstance(report_type, F.ReportType) and report_type.has("USAR")
    (usage,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert isinstance(usage, Grouped)
    trigger = usage.get(T.USAGE_REPORT_TRIGGER)
    assert isinstance(trigger, F.UsageReportTrigger) and trigger.has("VOLTH")
    total, ul, _dl, _ulp, _dlp = usage_of(report, T.USAGE_REPORT_REPORT_REQUEST)
    assert 5000 <= total <= 6000 and ul == total
    assert lab_.metric("pfcpd_session_reports_sent_total", trigger="VOLTH") == 1


def test_kill_9_under_load_and_restart(lab: Callable[..., Lab]) -> None:
    """Uplink load on 4 sessions; pfcpd is killed (-9) and restarted: every session comes
    back and forwards again (uplink and downlink), and the final usage reports count every
    byte the DN received except at most what passed in the last URR checkpoint interval
    (1 s) before the kill: the local datapath's counters live in pfcpd's process. Prints the
    forwarding gap (docs/pfcpd.md quotes it)."""
    lab_ = lab()
    sessions = [
        lab_.smf.establish(rules.session_rules(gnb=GNB, gnb_teid=0x500 + i)) for i in range(4)
    ]
    by_ue = {ue_address(est): est for est in sessions}
    arrivals: list[tuple[float, str, int]] = []  # (time, UE, IP octets)
    stop = threading.Event()
    dn = lab_.dn4

    def receive() -> None:
        dn.settimeout(0.2)
        while not stop.is_set():
            try:
                data, (source, _port) = dn.recvfrom(65535)
            except TimeoutError:
                continue
            arrivals.append((time.monotonic(), source, len(data) + 28))

    packets = [(gtpu(est.teids[1][1], inner_ul(ue, 200)), ue) for ue, est in by_ue.items()]

    def send() -> None:
        while not stop.is_set():
            for packet, _ue in packets:
                lab_.gnb.sendto(packet, (N3, 2152))
            time.sleep(0.005)

    threads = [threading.Thread(target=receive), threading.Thread(target=send)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.5)
        daemon = lab_.daemon
        assert daemon.proc is not None
        killed_at = time.monotonic()
        daemon.proc.send_signal(signal.SIGKILL)
        assert daemon.proc.wait(10) == -signal.SIGKILL
        daemon.proc = None
        daemon.start()
        restarted_at = time.monotonic()
        time.sleep(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    before = [t for t, _ue, _n in arrivals if t < killed_at]
    after = [t for t, _ue, _n in arrivals if t > killed_at]
    assert before and after, "traffic did not pass before and after the restart"
    gap = after[0] - before[-1]
    print(
        f"\nforwarding gap across kill -9 and restart: {gap * 1000:.0f} ms "
        f"(restart to READY=1: {(restarted_at - killed_at) * 1000:.0f} ms)"
    )
    # Every session is back and forwards both ways.
    for i, ue in enumerate(by_ue):
        assert any(u == ue and t > restarted_at for t, u, _n in arrivals), ue
        lab_.dn4.sendto(b"d" * 100, (ue, UE_PORT))
        (down,) = receive_all(lab_.gnb)  # nothing else: no Error Indication either
        assert struct.unpack("!BBHI", down[:8])[1:4:2] == (0xFF, 0x500 + i)
    for ue, est in by_ue.items():
        answer = lab_.smf.delete(est.up_seid)
        assert cause_of(answer) == Cause.REQUEST_ACCEPTED
        _total, ul, _dl, _ulp, _dlp = usage_of(answer, T.USAGE_REPORT_DELETION_RESPONSE)
        received = sum(n for _t, u, n in arrivals if u == ue)
        last_second = sum(n for t, u, n in arrivals if u == ue and killed_at - 1.2 < t < killed_at)
        assert received - last_second <= ul <= received, (ue, ul, received, last_second)


def _gtpu_messages(sock: socket.socket) -> list[tuple[int, int, bytes]]:
    """(message type, TEID, T-PDU) of each GTP-U message arriving on ``sock``."""
    out = []
    for message in receive_all(sock):
        flags, msg_type, _length, teid = struct.unpack("!BBHI", message[:8])
        out.append((msg_type, teid, _skip_extensions(message) if flags & 0x07 else message[8:]))
    return out


def test_downlink_buffered_reported_then_flushed_in_order(lab: Callable[..., Lab]) -> None:
    """A BUFF+NOCP downlink FAR (before the gNB tunnel is known): the first packet makes a
    DLDR report with the PDR ID; Update FAR to FORW delivers the buffered packets in order."""
    lab_ = lab()
    est = lab_.smf.establish(rules.session_rules(gnb=None))
    ue = ue_address(est)
    for i in range(3):
        lab_.dn4.sendto(f"buffered {i}".encode(), (ue, UE_PORT))
    (report,) = lab_.smf.wait_report(timeout=5.0)
    report_type = report.get(T.REPORT_TYPE)
    assert isinstance(report_type, F.ReportType) and report_type.has("DLDR")
    dldr = report.get(T.DOWNLINK_DATA_REPORT)
    assert isinstance(dldr, Grouped)
    pdr = dldr.get(T.PDR_ID)
    assert pdr is not None and pdr.value == 2  # type: ignore[attr-defined]
    assert receive_all(lab_.gnb, first=0.5) == []
    answer = lab_.smf.modify(est.up_seid, [rules.update_dl_far(2, 0x777, GNB)])
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    delivered = _gtpu_messages(lab_.gnb)
    assert [(t, teid) for t, teid, _ in delivered] == [(0xFF, 0x777)] * 3
    payloads = [bytes(IP(tpdu)[UDP].payload) for _t, _teid, tpdu in delivered]
    assert payloads == [f"buffered {i}".encode() for i in range(3)]


def test_path_switch_sends_the_end_marker_on_the_old_tunnel(lab: Callable[..., Lab]) -> None:
    lab_ = lab()
    est = lab_.smf.establish(rules.session_rules(gnb=GNB, gnb_teid=0x100))
    ue = ue_address(est)
    answer = lab_.smf.modify(est.up_seid, [rules.update_dl_far(2, 0x200, GNB, end_marker=True)])
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    lab_.dn4.sendto(b"after the switch", (ue, UE_PORT))
    messages = _gtpu_messages(lab_.gnb)
    assert [(t, teid) for t, teid, _ in messages] == [(254, 0x100), (0xFF, 0x200)]


def test_error_indication_from_the_gnb_is_reported(lab: Callable[..., Lab]) -> None:
    """A GTP-U Error Indication naming the session's gNB TEID: an ERIR report with the
    remote F-TEID."""
    lab_ = lab()
    est = lab_.smf.establish(rules.session_rules(gnb=GNB, gnb_teid=0x4242))
    # TS 29.281 7.3.1: TEID Data I (16) and GTP-U Peer Address (133), sequence number set.
    ies = struct.pack("!BI", 16, 0x4242) + struct.pack("!BH", 133, 4) + socket.inet_aton(GNB)
    body = struct.pack("!HBB", 0, 0, 0) + ies
    lab_.gnb.sendto(struct.pack("!BBHI", 0x32, 26, len(body), 0) + body, (N3, 2152))
    (report,) = lab_.smf.wait_report(timeout=5.0)
    report_type = report.get(T.REPORT_TYPE)
    assert isinstance(report_type, F.ReportType) and report_type.has("ERIR")
    erir = report.get(T.ERROR_INDICATION_REPORT)
    assert isinstance(erir, Grouped)
    fteid = erir.get(T.F_TEID)
    assert fteid is not None and (fteid.teid, fteid.ipv4) == (0x4242, GNB)  # type: ignore[attr-defined]
    assert cause_of(lab_.smf.delete(est.up_seid)) == Cause.REQUEST_ACCEPTED

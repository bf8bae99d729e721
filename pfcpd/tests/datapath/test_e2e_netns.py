"""End to end through two network namespaces and the local datapath.

    gNB ns [10.200.0.1, fd00:200::1] --veth-- [10.200.0.2, fd00:200::2 N3] UPF ns
    UPF ns [TUN; 10.200.2.1, fd00:202::1] --veth-- [10.200.2.2, fd00:202::2] DN ns

A GTP-U encapsulated ICMP echo from the gNB side reaches the DN decapsulated (the DN kernel
answers it), the reply comes back GTP-U encapsulated with the DL TEID and QFI, and the URR
counters match: IPv4 over IPv4, IPv6 (ICMPv6) over IPv6 and IPv6 over IPv4 N3. With FAR DUPL
the copies reach an LI collector address on the gNB side; with two N6 network instances each
session's traffic uses its own TUN. Needs root (namespaces, veth,
TUN): skips otherwise. Only addresses inside the namespaces created here are used; they are
deleted whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dp_programs import DL_TEID, IMS_DL_TEID, LI_TEID, QFI, UE, UE6, UE_IMS
from netns_tools import netns_missing
from netns_tools import run as ip
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoReply, IPv6

from pfcpd.datapath.local import corelib

HERE = Path(__file__).resolve().parent
DN = "10.200.2.2"
DN6 = "fd00:202::2"
PINGS = 3
Replies = dict[str, list[str]]  # netns_gnb.py output: hex GTP-U messages by kind
Stats = dict[str, Any]  # netns_upf.py output


def _missing() -> str | None:
    reason = netns_missing()
    if reason is None:
        try:
            corelib.load()
        except corelib.CoreLibNotFound as e:
            reason = f"libupfcore.so missing: {e}"
    return reason


@pytest.fixture
def topology() -> Iterator[dict[str, str]]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    names = {"gnb": f"upft-gnb-{tag}", "upf": f"upft-upf-{tag}", "dn": f"upft-dn-{tag}"}
    names["tun"] = f"upft{tag}"
    try:
        for ns in ("gnb", "upf", "dn"):
            ip("ip", "netns", "add", names[ns])
            ip("ip", "link", "set", "lo", "up", ns=names[ns])
        for a, a_ns, b, b_ns in (
            (f"g{tag}", "gnb", f"n3{tag}", "upf"),
            (f"n6{tag}", "upf", f"d{tag}", "dn"),
        ):
            ip(
                "ip",
                "link",
                "add",
                a,
                "netns",
                names[a_ns],
                "type",
                "veth",
                "peer",
                "name",
                b,
                "netns",
                names[b_ns],
            )
        for ns, dev, addrs in (
            ("gnb", f"g{tag}", ("10.200.0.1/24", "10.200.0.3/24", "fd00:200::1/64")),
            ("upf", f"n3{tag}", ("10.200.0.2/24", "fd00:200::2/64")),
            ("upf", f"n6{tag}", ("10.200.2.1/24", "fd00:202::1/64")),
            ("dn", f"d{tag}", (f"{DN}/24", f"{DN6}/64")),
        ):
            for addr in addrs:
                extra = ("nodad",) if ":" in addr else ()  # usable at once, not tentative
                ip("ip", "addr", "add", addr, "dev", dev, *extra, ns=names[ns])
            ip("ip", "link", "set", dev, "up", ns=names[ns])
        ip("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=names["upf"])
        ip("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=names["upf"])
        for pool in ("10.45.0.0/16", "10.46.0.0/16"):  # UE pools: "internet", "ims"
            ip("ip", "route", "add", pool, "via", "10.200.2.1", ns=names["dn"])
        ip("ip", "-6", "route", "add", "fd00:45::/64", "via", "fd00:202::1", ns=names["dn"])
        yield names
    finally:
        for ns in ("gnb", "upf", "dn"):
            subprocess.run(["ip", "netns", "del", names[ns]], capture_output=True)


def _in_echos(ns: str, v6: bool = False) -> int:
    """ICMP (or ICMPv6) echo requests the namespace's kernel received."""
    path, key = ("/proc/net/snmp6", "Icmp6InEchos") if v6 else ("/proc/net/snmp", "InEchos")
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "cat", path], check=True, capture_output=True, text=True
    ).stdout
    if v6:
        return int(dict(line.split() for line in out.splitlines() if line.strip())[key])
    head, values = (line.split()[1:] for line in out.splitlines() if line.startswith("Icmp:"))
    return int(dict(zip(head, values, strict=True))[key])


def _run(topology: dict[str, str], variant: str, dn: str) -> tuple[Replies, Stats, int]:
    """Start the UPF (netns_upf.py <variant>), run the gNB (netns_gnb.py), stop the UPF.
    Returns (gNB replies, UPF stats, echo requests the DN received)."""
    env = dict(os.environ, PYTHONPATH=str(HERE))
    v6 = ":" in dn
    upf = subprocess.Popen(
        [
            *("ip", "netns", "exec", topology["upf"], sys.executable),
            *(str(HERE / "netns_upf.py"), topology["tun"], variant),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert upf.stdout is not None and upf.stdin is not None
        ready = upf.stdout.readline().strip()
        assert ready == "READY", upf.stderr.read() if upf.stderr else ready
        echos_before = _in_echos(topology["dn"], v6)
        gnb = subprocess.run(
            [
                *("ip", "netns", "exec", topology["gnb"], sys.executable),
                *(str(HERE / "netns_gnb.py"), dn, str(PINGS), variant),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert gnb.returncode == 0, gnb.stderr
        replies = json.loads(gnb.stdout)
        upf.stdin.write("stop\n")
        upf.stdin.flush()
        out, err = upf.communicate(timeout=30)
        assert upf.returncode == 0, err
        stats = json.loads(out.strip().splitlines()[-1])
    finally:
        if upf.poll() is None:
            upf.kill()
            upf.wait()
    return replies, stats, _in_echos(topology["dn"], v6) - echos_before


def _check_common(replies: Replies, stats: Stats, echos: int, inner_len: int) -> None:
    # echo request -> echo response
    assert len(replies["echo"]) == 1
    echo = GTP_U_Header(bytes.fromhex(replies["echo"][0]))
    assert echo.gtp_type == 2 and echo.seq == 9 and echo.haslayer(GTPEchoResponse)
    # every echo reached the DN decapsulated and its reply came back encapsulated
    assert echos == PINGS
    assert len(replies["ping"]) == PINGS
    # unknown TEID -> error indication
    err_ind = GTP_U_Header(bytes.fromhex(replies["error"][0]))
    assert err_ind.gtp_type == 26
    # counters: PINGS UL and DL packets of inner_len bytes
    assert stats["packets_ul"] == PINGS and stats["packets_dl"] == PINGS
    assert stats["bytes_ul"] == PINGS * inner_len and stats["bytes_dl"] == PINGS * inner_len
    assert stats["io_errors"] == 0
    # the unknown TEID (plus whatever the kernel itself sends into the TUN, e.g. IPv6 RS)
    assert stats["drops"].get("no session for TEID / UE address", 0) >= 1


def test_ping_through_the_local_datapath(topology: dict[str, str]) -> None:
    replies, stats, echos = _run(topology, "v4", DN)
    _check_common(replies, stats, echos, 84)  # 20 IP + 8 ICMP + 56 payload
    for seq, hexdata in enumerate(replies["ping"], start=1):
        gtp = GTP_U_Header(bytes.fromhex(hexdata))
        assert gtp.teid == DL_TEID and gtp.gtp_type == 255
        psc = gtp[GTPPDUSessionContainer]
        assert psc.type == 0 and psc.QFI == QFI
        inner = IP(bytes(psc.payload))
        assert inner.src == DN and inner.dst == str(UE)
        assert inner[ICMP].type == 0 and inner[ICMP].id == 0x77 and inner[ICMP].seq == seq


@pytest.mark.parametrize("variant", ["v6", "v4-ue6"], ids=["ipv6-over-ipv6", "ipv6-over-ipv4"])
def test_ipv6_ping_through_the_local_datapath(topology: dict[str, str], variant: str) -> None:
    replies, stats, echos = _run(topology, variant, DN6)
    _check_common(replies, stats, echos, 104)  # 40 IPv6 + 8 ICMPv6 + 56 payload
    for seq, hexdata in enumerate(replies["ping"], start=1):
        gtp = GTP_U_Header(bytes.fromhex(hexdata))
        assert gtp.teid == DL_TEID and gtp.gtp_type == 255
        psc = gtp[GTPPDUSessionContainer]
        assert psc.type == 0 and psc.QFI == QFI
        inner = IPv6(bytes(psc.payload))
        assert inner.src == DN6 and inner.dst == str(UE6)
        reply = inner[ICMPv6EchoReply]
        assert reply.id == 0x77 and reply.seq == seq


def test_duplicates_reach_the_li_collector(topology: dict[str, str]) -> None:
    replies, stats, echos = _run(topology, "v4-dupl", DN)
    _check_common(replies, stats, echos, 84)
    # UL copies: the decapsulated echo requests as UDP payload to LI:LI_PORT
    assert [IP(bytes.fromhex(h))[ICMP].seq for h in replies["li_udp"]] == [1, 2, 3]
    assert all(IP(bytes.fromhex(h))[ICMP].type == 8 for h in replies["li_udp"])
    # DL copies: the echo replies GTP-U encapsulated with the LI TEID and the QFI
    assert len(replies["li_gtpu"]) == PINGS
    for seq, hexdata in enumerate(replies["li_gtpu"], start=1):
        gtp = GTP_U_Header(bytes.fromhex(hexdata))
        assert gtp.teid == LI_TEID and gtp[GTPPDUSessionContainer].QFI == QFI
        inner = IP(bytes(gtp[GTPPDUSessionContainer].payload))
        assert inner[ICMP].type == 0 and inner[ICMP].seq == seq
    assert stats["duplicates_sent"] == 2 * PINGS


def test_two_n6_network_instances(topology: dict[str, str]) -> None:
    """datapath.n6_tun as a mapping: one TUN per network instance. UL of each session leaves
    through its FAR's network instance TUN; DL read from a TUN is looked up in that network
    instance (the IMS session exists only in "ims", so a wrong index would drop it)."""
    replies, stats, echos = _run(topology, "multi-n6", DN)
    assert echos == 2 * PINGS
    assert len(replies["ping"]) == PINGS and len(replies["ping_ims"]) == PINGS
    for key, ue, teid in (("ping", UE, DL_TEID), ("ping_ims", UE_IMS, IMS_DL_TEID)):
        for seq, hexdata in enumerate(replies[key], start=1):
            gtp = GTP_U_Header(bytes.fromhex(hexdata))
            assert gtp.teid == teid
            inner = IP(bytes(gtp[GTPPDUSessionContainer].payload))
            assert inner.dst == str(ue) and inner[ICMP].type == 0 and inner[ICMP].seq == seq
    assert stats["packets_ul"] == PINGS and stats["packets_dl"] == PINGS
    assert stats["ims_packets"] == [PINGS, PINGS]
    internet, ims = topology["tun"], f"{topology['tun']}b"
    # rx: what the datapath wrote (UL), tx: what it read (DL, plus the kernel's own chatter)
    assert stats["tuns"][internet]["rx"] == PINGS and stats["tuns"][ims]["rx"] == PINGS
    assert stats["tuns"][internet]["tx"] >= PINGS and stats["tuns"][ims]["tx"] >= PINGS
    assert stats["io_errors"] == 0

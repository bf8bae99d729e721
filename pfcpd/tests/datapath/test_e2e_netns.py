"""End to end through two network namespaces and the local datapath.

    gNB ns [10.200.0.1] --veth-- [10.200.0.2 N3] UPF ns [TUN, 10.200.2.1] --veth-- [.2.2] DN ns

A GTP-U encapsulated ICMP echo from the gNB side reaches the DN decapsulated (the DN kernel
answers it), the reply comes back GTP-U encapsulated with the DL TEID and QFI, and the URR
counters match. Needs root (namespaces, veth, TUN): skips otherwise. Only addresses inside the
namespaces created here are used; they are deleted whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dp_programs import DL_TEID, QFI, UE
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP

from pfcpd.datapath.local import corelib

HERE = Path(__file__).resolve().parent
DN = "10.200.2.2"
PINGS = 3


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "not root: network namespaces, veth and TUN need root"
    if not shutil.which("ip"):
        return "iproute2 `ip` command not found"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun not available"
    try:
        corelib.load()
    except corelib.CoreLibNotFound as e:
        return f"libupfcore.so missing: {e}"
    return None


def ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    subprocess.run(cmd, check=True, capture_output=True, text=True)


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
        for ns, dev, addr in (
            ("gnb", f"g{tag}", "10.200.0.1/24"),
            ("upf", f"n3{tag}", "10.200.0.2/24"),
            ("upf", f"n6{tag}", "10.200.2.1/24"),
            ("dn", f"d{tag}", f"{DN}/24"),
        ):
            ip("ip", "addr", "add", addr, "dev", dev, ns=names[ns])
            ip("ip", "link", "set", dev, "up", ns=names[ns])
        ip("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=names["upf"])
        ip("ip", "route", "add", "10.45.0.0/16", "via", "10.200.2.1", ns=names["dn"])
        yield names
    finally:
        for ns in ("gnb", "upf", "dn"):
            subprocess.run(["ip", "netns", "del", names[ns]], capture_output=True)


def _icmp_in_echos(ns: str) -> int:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    head, values = (line.split()[1:] for line in out.splitlines() if line.startswith("Icmp:"))
    return int(dict(zip(head, values, strict=True))["InEchos"])


def test_ping_through_the_local_datapath(topology: dict[str, str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    upf = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            topology["upf"],
            sys.executable,
            str(HERE / "netns_upf.py"),
            topology["tun"],
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
        echos_before = _icmp_in_echos(topology["dn"])
        gnb = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                topology["gnb"],
                sys.executable,
                str(HERE / "netns_gnb.py"),
                DN,
                str(PINGS),
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

    # echo request -> echo response
    assert len(replies["echo"]) == 1
    echo = GTP_U_Header(bytes.fromhex(replies["echo"][0]))
    assert echo.gtp_type == 2 and echo.seq == 9 and echo.haslayer(GTPEchoResponse)
    # every echo reached the DN decapsulated and its reply came back encapsulated
    assert _icmp_in_echos(topology["dn"]) - echos_before == PINGS
    assert len(replies["ping"]) == PINGS
    for seq, hexdata in enumerate(replies["ping"], start=1):
        gtp = GTP_U_Header(bytes.fromhex(hexdata))
        assert gtp.teid == DL_TEID and gtp.gtp_type == 255
        psc = gtp[GTPPDUSessionContainer]
        assert psc.type == 0 and psc.QFI == QFI
        inner = IP(bytes(psc.payload))
        assert inner.src == DN and inner.dst == str(UE)
        assert inner[ICMP].type == 0 and inner[ICMP].id == 0x77 and inner[ICMP].seq == seq
    # unknown TEID -> error indication
    err_ind = GTP_U_Header(bytes.fromhex(replies["error"][0]))
    assert err_ind.gtp_type == 26
    # counters: 3 UL and 3 DL packets of 84 bytes (20 IP + 8 ICMP + 56 payload)
    assert stats["packets_ul"] == PINGS and stats["packets_dl"] == PINGS
    assert stats["bytes_ul"] == PINGS * 84 and stats["bytes_dl"] == PINGS * 84
    assert stats["io_errors"] == 0
    # the unknown TEID (plus whatever the kernel itself sends into the TUN, e.g. IPv6 RS)
    assert stats["drops"].get("no session for TEID / UE address", 0) >= 1

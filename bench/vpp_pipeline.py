"""The UPF plugin's UL and DL paths against VPP's own gtpu plugin, in one VPP run per
thread layout (main thread alone, 1 worker, 2 workers: --workers).

A private VPP (pfcpd/tests/vpp_launch.py: own sockets, no DPDK) with upf_plugin.so and
gtpu_plugin.so and four packet-generator interfaces:
  pg0 N3 of the UPF (GTP-U to 10.0.3.1:2152: ip4-local -> upf-gtpu4-input)
  pg1 N6 of the UPF (role N6, network instance 2)
  pg2 N3 of the gtpu plugin (ip4-gtpu-bypass feature -> gtpu4-input), tunnels from 10.0.4.1
  pg3 N6 for the gtpu plugin's DL (routes per UE via the tunnel interfaces -> gtpu4-encap)
Sessions (default 100k): UL PDR with 16 SDF filters (UDP remote port ranges the traffic
does not hit) + a catch-all UL PDR + a DL PDR on the UE address, 2 FARs (N6; GTP-U with a
PDU session container), 1 QER (no MBR), 1 URR. The gtpu plugin gets min(sessions, 1000)
tunnels (one interface each). Packets: 64-byte inner payload, one per session in random
order, replayed by the packet generator.

Each path runs alone (`clear runtime`, streams, `show runtime`); its cost is the sum over
nodes and threads of clocks x packets from `show runtime`, divided by the packets sent.
Without workers the main thread runs the streams and does not sleep between its loops
(poll-sleep-usec 0); with workers each worker runs one stream over its share of the
sessions (a session's packets are handed to its owner worker, so about half of them cross
threads with 2 workers). Printed: clocks/packet per node, the totals, our total / gtpu
total for UL and DL, packets/s of the streams (wall time, the packet generator's own work
included), and the session programming cost over the API (sequential calls). On a machine
with fewer CPUs than VPP's threads (main + workers) the threads share the CPUs
(pfcpd/tests/vpp_cpus.py): the run says so, and its packets/s are not the workers' capacity.

Run: bench/vpp_pipeline.sh [--sessions N] [--packets N] [--workers 0,1,2] [--perf DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "pfcpd" / "tests"
sys.path[:0] = [str(TESTS / "vpp_plugin"), str(TESTS)]  # (vpp_cpus.py is in tests/)

from vpp_cpus import NoCpuView
from vpp_harness import Vpp, missing

N3_UPF, N3_GNB, N3_GTPU, N3_GTPU_PEER = "10.0.3.1", "10.0.3.2", "10.0.4.1", "10.0.4.2"
PEER_MAC = "02:00:00:00:00:02"
SERVER = "192.0.2.10"


def ue_addr(i: int) -> str:
    return f"10.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def session_rules(i: int) -> list[dict[str, Any]]:
    ue = ue_addr(i)
    sdfs = [
        {
            "kind": 4,
            "r": {
                "sdf": {
                    "flags": 0x03,
                    "proto": 17,
                    "remote": "0.0.0.0/0",
                    "ue": "0.0.0.0/0",
                    "remote_port_lo": 1000 + 10 * k,
                    "remote_port_hi": 1004 + 10 * k,
                }
            },
        }
        for k in range(16)
    ]
    common = {"outer_header_removal": 255, "qer_ids": [1, 0], "urr_ids": [1, 0, 0, 0]}
    ul = {
        "source_interface": 0,
        "has_fteid": True,
        "fteid_addr": N3_UPF,
        "teid": 0x1000 + i,
    }
    return [
        {
            "kind": 0,
            "r": {
                "pdr": {
                    "pdr_id": 1,
                    "precedence": 10,
                    "far_id": 1,
                    "sdf_count": 16,
                    **ul,
                    **common,
                }
            },
        },
        {
            "kind": 0,
            "r": {"pdr": {"pdr_id": 2, "precedence": 200, "far_id": 1, **ul, **common}},
        },
        {
            "kind": 0,
            "r": {
                "pdr": {
                    "pdr_id": 3,
                    "precedence": 200,
                    "far_id": 2,
                    "source_interface": 1,
                    "has_ue_ip": True,
                    "ue_ip": f"{ue}/32",
                    "network_instance": 2,
                    **common,
                }
            },
        },
        {
            "kind": 1,
            "r": {
                "far": {
                    "far_id": 1,
                    "apply_action": 2,
                    "destination_interface": 1,
                    "network_instance": 2,
                    "dscp": 255,
                }
            },
        },
        {
            "kind": 1,
            "r": {
                "far": {
                    "far_id": 2,
                    "apply_action": 2,
                    "destination_interface": 0,
                    "network_instance": 1,
                    "ohc": 1,
                    "ohc_peer": N3_GNB,
                    "ohc_teid": 0x8000 + i,
                    "ohc_src": N3_UPF,
                    "pdu_session_container": True,
                    "dscp": 255,
                }
            },
        },
        {"kind": 2, "r": {"qer": {"qer_id": 1}}},
        {
            "kind": 3,
            "r": {
                "urr": {"urr_id": 1, "vol_threshold": [0, 0, 0], "vol_quota": [0, 0, 0]}
            },
        },
        *sdfs,
    ]


def write_pcap(path: Path, frames: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)))
            f.write(fr)


_frames: dict[tuple[str, str, tuple[int, ...]], list[bytes]] = {}


def frames(kind: str, macs: dict[int, str], idx: list[int]) -> list[bytes]:
    """The packets of kind for the sessions idx (made once per VPP layout: scapy is slow)."""
    key = (kind, repr(sorted(macs.items())), tuple(idx))
    if key not in _frames:
        _frames[key] = make_frames(kind, macs, idx)
    return _frames[key]


def make_frames(kind: str, macs: dict[int, str], idx: list[int]) -> list[bytes]:
    """Packets from one scapy template with the per-session bytes patched in."""
    from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    inner_ul = (
        IP(src="10.64.0.0", dst=SERVER) / UDP(sport=40000, dport=5000) / Raw(b"p" * 36)
    )
    out = []
    for i in idx:
        if kind in ("upf-ul", "gtpu-ul"):
            upf = kind == "upf-ul"
            inner = inner_ul.copy()
            inner[IP].src = ue_addr(i)
            g = GTP_U_Header(
                teid=(0x1000 + i) if upf else (0x1000 + i % 1000), gtp_type=255
            )
            if upf:
                g = g / GTPPDUSessionContainer(type=1, QFI=9)
            p = (
                Ether(src=PEER_MAC, dst=macs[0 if upf else 2])
                / IP(
                    src=N3_GNB if upf else N3_GTPU_PEER, dst=N3_UPF if upf else N3_GTPU
                )
                / UDP(sport=2152, dport=2152)
                / g
                / inner
            )
        else:
            upf = kind == "upf-dl"
            p = (
                Ether(src=PEER_MAC, dst=macs[1 if upf else 3])
                / IP(src=SERVER, dst=ue_addr(i if upf else i % 1000))
                / UDP(sport=5000, dport=40000)
                / Raw(b"p" * 36)
            )
        out.append(bytes(p))
    return out


def runtime(vpp: Vpp) -> dict[str, tuple[int, float]]:
    """show runtime, summed over threads: node -> (vectors, clocks)."""
    nodes: dict[str, tuple[int, float]] = {}
    for line in vpp.cli("show runtime").splitlines():
        m = re.match(
            r"^(\S+)\s+(active|polling|interrupt wa\S*|any wait|done)\s+(\d+)\s+(\d+)\s+"
            r"(\d+)\s+([\d.e+-]+)\s+",
            line,
        )
        if m and int(m.group(4)) > 0:
            vec, clk = nodes.get(m.group(1), (0, 0.0))
            nodes[m.group(1)] = (
                vec + int(m.group(4)),
                clk + int(m.group(4)) * float(m.group(6)),
            )
    return nodes


def pg_done(vpp: Vpp, names: list[str]) -> bool:
    out = vpp.cli("show packet-generator")
    return all(re.search(rf"{n}\s+No", out) for n in names)


def run_stream(
    vpp: Vpp,
    tmp: Path,
    name: str,
    pg: int,
    parts: list[list[bytes]],
    count: int,
    perf: Path | None = None,
) -> tuple[float, float]:
    """The packets of parts[k] from pg<pg>, by worker k (by the main thread when there is one
    part and no worker), count in all; returns (clocks/packet, packets/s)."""
    names = []
    for k, data in enumerate(parts):
        sub = f"{name}{k}"
        pcap = tmp / f"{sub}.pcap"
        write_pcap(pcap, data)
        worker = f" worker {k}" if vpp.workers else ""
        vpp.cli(
            f"packet-generator new pcap {pcap} source pg{pg} name {sub} "
            f"limit {count // len(parts)}{worker}"
        )
        names.append(sub)
    count = count // len(parts) * len(parts)
    vpp.cli("clear runtime")
    vpp.cli("clear errors")
    rec = None
    if perf is not None:  # perf record of VPP's threads for the stream's duration
        perf.mkdir(parents=True, exist_ok=True)
        rec = subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-p",
                str(vpp.proc.pid),
                "-o",
                str(perf / f"{name}.data"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
    t0 = time.monotonic()
    vpp.cli("packet-generator enable-stream")  # all of them at once
    while not pg_done(vpp, names):
        time.sleep(0.005)
    dt = time.monotonic() - t0
    if rec is not None:
        rec.send_signal(signal.SIGINT)
        rec.wait(30)
    nodes = runtime(vpp)
    for sub in names:
        vpp.cli(f"packet-generator delete {sub}")
    total = 0.0
    pps = count / dt
    threads = f"{vpp.workers} worker(s)" if vpp.workers else "main thread"
    print(
        f"\n{name}: {count} packets, {pps:,.0f} packets/s ({threads}, stream wall time)"
    )
    for n, (vec, clk) in sorted(nodes.items(), key=lambda kv: -kv[1][1]):
        share = clk / count
        total += share
        print(
            f"  {n:<32} {clk / vec:10.1f} clocks/pkt x {vec / count:5.2f} = {share:8.1f}"
        )
    print(f"  {'total':<32} {total:10.1f} clocks/packet")
    return total, pps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument(
        "--workers",
        default="0,1,2",
        help="comma-separated worker counts, one VPP run each (0 = the main thread alone)",
    )
    ap.add_argument(
        "--perf", type=Path, help="directory for a `perf record` of VPP per stream"
    )
    a = ap.parse_args()
    why = missing()
    if why:
        print(f"vpp_pipeline: skipped: {why}")
        return 0
    results = []
    for workers in [int(w) for w in a.workers.split(",")]:
        with tempfile.TemporaryDirectory(prefix="vpp-bench-") as d:
            tmp = Path(d)
            try:
                # the main thread runs the streams alone: no idle sleep between its loops
                vpp = Vpp(
                    tmp,
                    workers=workers,
                    extra_plugins=("gtpu_plugin.so",),
                    heap="2G",
                    poll_sleep_usec=0 if workers == 0 else 100,
                )
            except NoCpuView as exc:
                print(f"vpp_pipeline: {workers} workers skipped: {exc}")
                continue
            try:
                print(
                    f"\n=== VPP with {workers} worker(s): {cpu_note(vpp)}; {vpp.plugin}"
                )
                res = bench(vpp, tmp, a)
            finally:
                vpp.stop()
        if res is None:
            return 1
        results.append((workers, res))
    print(
        f"\nsummary ({a.sessions} sessions, {a.packets} packets per path, load {load()}):"
    )
    for workers, res in results:
        who = f"{workers} worker(s)" if workers else "main thread"
        for d in ("ul", "dl"):
            u, g = res[f"upf-{d}"], res[f"gtpu-{d}"]
            print(
                f"  {who:<12} {d.upper()}: upf {u[0]:.0f} / gtpu {g[0]:.0f} clocks/packet = "
                f"{u[0] / g[0]:.2f}; {u[1]:,.0f} / {g[1]:,.0f} packets/s"
            )
    return 0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_note(vpp: Vpp) -> str:
    """Where VPP's threads run. With fewer CPUs than threads VPP starts with its workers as
    threads all pinned to one CPU (vpp_cpus.py): they are spread over the CPUs here, worker
    k on CPU k mod CPUs, the main thread (asleep between its loops) sharing one of them."""
    cpus = sorted(os.sched_getaffinity(0))
    threads = 1 + vpp.workers
    if threads <= len(cpus):
        return f"{threads} thread(s) on {len(cpus)} CPUs"
    lwps = [
        int(m.group(1))
        for m in re.finditer(
            r"^\d+\s+vpp_wk_\d+\s+workers\s+(\d+)",
            vpp.cli("show threads"),
            re.MULTILINE,
        )
    ]
    for k, lwp in enumerate(lwps):
        os.sched_setaffinity(lwp, {cpus[k % len(cpus)]})
    return (
        f"{threads} threads on {len(cpus)} CPUs: oversubscribed, the threads share the CPUs, "
        f"workers on CPUs {[cpus[k % len(cpus)] for k in range(len(lwps))]} "
        f"(a measurement of the code paths, not of {vpp.workers} workers' capacity)"
    )


def bench(
    vpp: Vpp, tmp: Path, a: argparse.Namespace
) -> dict[str, tuple[float, float]] | None:
    api = vpp.api
    macs = {
        0: vpp.pg_create(0, "10.0.3.1/24"),
        1: vpp.pg_create(1, "10.0.6.1/24"),
        2: vpp.pg_create(2, "10.0.4.1/24"),
        3: vpp.pg_create(3, "10.0.7.1/24"),
    }
    vpp.cli(f"set ip neighbor pg0 {N3_GNB} {PEER_MAC} static")
    vpp.cli(f"set ip neighbor pg1 10.0.6.2 {PEER_MAC} static")
    vpp.cli(f"set ip neighbor pg2 {N3_GTPU_PEER} {PEER_MAC} static")
    vpp.cli(f"ip route add {SERVER}/32 via 10.0.6.2 pg1")
    for nwi in (1, 2):
        api.upf_nwi_add_del(
            is_add=True, network_instance=nwi, ip4_table_id=0, ip6_table_id=0
        )
    api.upf_interface_add_del(
        is_add=True, sw_if_index=vpp.sw_if_index("pg1"), role=1, network_instance=2
    )
    t0 = time.monotonic()
    for i in range(a.sessions):
        rules = session_rules(i)
        r = api.upf_session_add_del(
            seid=i + 1, op=0, cookie=0, n_rules=len(rules), rules=rules
        )
        if r.retval:
            print(f"session {i}: retval {r.retval} {r.error}")
            return None
    dt = time.monotonic() - t0
    print(
        f"vpp_pipeline: {a.sessions} sessions programmed in {dt:.1f} s: "
        f"{dt / a.sessions * 1e6:.0f} us/session (sequential upf_session_add_del calls)"
    )

    n_gtpu = min(a.sessions, 1000)
    vpp.cli("set interface ip gtpu-bypass pg2")
    for i in range(n_gtpu):
        out = vpp.cli(
            f"create gtpu tunnel src {N3_GTPU} dst {N3_GTPU_PEER} teid {0x1000 + i} "
            f"tteid {0x8000 + i} decap-next ip4"
        )
        ifname = out.strip().split()[-1] if out.strip() else f"gtpu_tunnel{i}"
        vpp.cli(f"set interface state {ifname} up")
        vpp.cli(f"set interface unnumbered {ifname} use pg2")
        vpp.cli(f"ip route add {ue_addr(i)}/32 via {ifname}")

    order = list(range(a.sessions))
    random.Random(1).shuffle(order)
    g_order = [i % n_gtpu for i in order[: max(n_gtpu, min(a.sessions, 20000))]]
    res = {}
    n_parts = max(1, vpp.workers)
    for name, pg, idx in (
        ("upf-ul", 0, order),
        ("gtpu-ul", 2, g_order),
        ("upf-dl", 1, order),
        ("gtpu-dl", 3, g_order),
    ):
        # with workers, one stream per worker, each over its share of the sessions (the
        # sessions' owners are spread over the workers: about 1 - 1/workers of the UPF's
        # packets are handed to another worker)
        parts = [frames(name, macs, idx[k::n_parts]) for k in range(n_parts)]
        res[name] = run_stream(
            vpp, tmp, name.replace("-", "_"), pg, parts, a.packets, a.perf
        )
    for d in ("ul", "dl"):
        u, g = res[f"upf-{d}"][0], res[f"gtpu-{d}"][0]
        print(f"\n{d.upper()}: upf {u:.0f} / gtpu {g:.0f} clocks/packet = {u / g:.2f}")
    print(vpp.cli("show upf counters"))
    return res


if __name__ == "__main__":
    sys.exit(main())

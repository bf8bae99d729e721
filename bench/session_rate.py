"""Session rate benchmark: the load generator (`pfcpd loadgen`, pfcpd.smfsim.loadgen) against
a real ``pfcpd run`` with the local datapath, over loopback.

N sessions (2 PDRs, 2 FARs, 1 QER, 1 URR, CH F-TEID, CHV4) are established, modified and
deleted with WINDOW requests in flight; then established again at half the measured
establishment rate, paced, for the latency at that load. Printed per phase: requests/s,
p50/p99/max latency. The baseline, measured in the same run through the same pfcpd and
client: Heartbeat round trips with the same window (the node's path without a session), so
the establishment rate is also printed as a ratio to it. Memory: pfcpd's resident set growth
per 100k established sessions (the whole process: its Python state, the journal's SQLite
cache and the local datapath's C tables).

The journal (state_dir) is on the disk of this machine (/var/tmp), as in production.
Needs root (the datapath's TUN device); prints why and exits 0 otherwise.

Run: make bench   (or .venv/bin/python bench/session_rate.py [--sessions N])
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pfcp_node import start_pfcpd
from pfcpd.smfsim.loadgen import LoadGenerator, PhaseResult


def start_session_pfcpd(tmp: Path) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """pfcp_node.py's pfcpd plus the local datapath's network instance (a TUN) and a UE
    pool large enough for every session."""
    return start_pfcpd(
        tmp,
        {
            "pfcp": {"t1": 10},
            "datapath": {
                "kind": "local",
                "n6_tun": {"internet": f"bench{os.getpid() % 100000}"},
                "expected_sessions": 262144,
            },
            "network_instances": {"internet": {"ue_pools": ["100.64.0.0/10"]}},
        },
    )


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class _NoJournal:
    """Durability is not what the memory figure is about (the daemon's journal is on disk)."""

    def commit(self, puts: object, deletes: object) -> None:
        return None


def engine_state_per_100k(count: int) -> float:
    """Python memory (tracemalloc) of the session engine's state per 100k sessions: the
    engine in this process on a LocalDatapath, whose C tables (malloc) tracemalloc does not
    see, fed the same establishments."""
    import ipaddress
    import tracemalloc

    from pfcpd.datapath.local.engine import LocalDatapath
    from pfcpd.node.session_handler import Peer
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.session import EngineSettings, SessionEngine
    from pfcpd.smfsim import rules

    local = ipaddress.ip_address("127.0.0.1")
    settings = EngineSettings(
        n3_address=local,
        pfcp_address=local,
        ue_pools={"internet": (ipaddress.ip_network("100.64.0.0/10"),)},
    )
    datapath = LocalDatapath(expected_sessions=count)
    engine = SessionEngine(settings, datapath, _NoJournal())
    peer, node_id = (
        Peer("smf.bench", ("127.0.0.1", 8805)),
        NodeID.from_text("127.0.0.1"),
    )
    requests = [
        rules.establishment_request(
            "smf.bench",
            "127.0.0.1",
            i + 1,
            rules.session_rules(gnb_teid=i + 1),
            seq=i % 0xFFFFFF,
        )
        for i in range(count)
    ]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for request in requests:
        engine.handle_request(request, peer, node_id, 0.0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(engine.sessions) == count
    datapath.close()
    return (after - before) / count * 100_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20000, help="N (default 20000)")
    parser.add_argument("--window", type=int, default=64, help="in flight (default 64)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("session_rate: skipped: needs root for the local datapath's TUN device")
        return 0
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="pfcpd-bench-") as tmp:
        proc, addr = start_session_pfcpd(Path(tmp))
        gen = LoadGenerator(addr, window=args.window, t1=10.0)
        results: list[PhaseResult] = []
        try:
            gen.associate()
            results.append(gen.heartbeats(args.sessions))
            rss_before = rss_bytes(proc.pid)
            results.append(gen.establish(args.sessions))
            rss_after = rss_bytes(proc.pid)
            results.append(gen.modify())
            results.append(gen.delete())
            half = results[1].per_second / 2
            paced = gen.establish(
                args.sessions, first_cp_seid=args.sessions + 1, rate=half
            )
            paced.phase = "est@half"
            results.append(paced)
            results.append(gen.delete())
        finally:
            gen.close()
            proc.terminate()
            proc.wait(30)
    print(
        f"session_rate: {args.sessions} sessions, window {args.window}, pfcpd pid {proc.pid}"
    )
    for result in results:
        print("  " + result.line())
        if result.rejected:
            print(f"    rejected by cause: {result.rejected}")
    base, est = results[0], results[1]
    print(f"  establishments/s vs heartbeats/s: {est.per_second / base.per_second:.3f}")
    per_100k = (rss_after - rss_before) / args.sessions * 100_000
    print(
        f"  pfcpd RSS growth per 100k sessions: {per_100k / 2**20:.0f} MiB (whole process)"
    )
    engine_bytes = engine_state_per_100k(min(args.sessions, 20000))
    print(
        f"  session engine's Python state per 100k sessions: {engine_bytes / 2**20:.0f} MiB "
        "(tracemalloc; without the datapath's C tables)"
    )
    return 0 if all(not r.rejected for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

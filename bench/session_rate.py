"""Session rate benchmark: the load generator (`pfcpd loadgen`, pfcpd.smfsim.loadgen) against a
real ``pfcpd run`` with the local datapath, over loopback.

N sessions (2 PDRs, 2 FARs, 1 QER, 1 URR, CH F-TEID, CHV4) are established, modified and
deleted with WINDOW requests in flight; then established again at half the measured
establishment rate (or at ``--paced-rate R`` a second: 10000 is half the 20,000/s target,
whatever this run's burst reached), paced, for the latency at that load. Printed per phase:
requests/s, p50/p99/max latency; for the paced phase also how late the load generator's
sends left (p99) and the p99 latency from each request's scheduled send (which counts a wait
behind a full window: `pfcpd.smfsim.loadgen`). The baseline, measured in the same run
through the same pfcpd and client: Heartbeat round trips with the same window (the node's
path without a session), so the establishment rate is also printed as a ratio to it; and
before each paced phase, Heartbeats paced at the same rate: the paced p99 of a request that
costs pfcpd little, which the machine's stalls alone make (a vCPU held by another task for a
few milliseconds delays every request of those milliseconds, whatever it is), printed with
the establishments' p99 as a ratio to it. Memory
per 100k sessions, three figures: pfcpd's resident set growth while the sessions were
established (the whole process: its Python state, the journal's SQLite cache, the local
datapath's C tables and its Python copy of each program); the session engine's own state
(tracemalloc, the engine in this process fed the same establishments through a datapath that
keeps nothing: the figure the 1,000,000-session budget is about); and what the local
datapath adds in Python on top (the same run through a LocalDatapath, minus the engine's
own; its C tables, malloc'ed, are core_bench's business). The in-process figures are
measured at 10,000 sessions (at most N; ``--memory-sessions M`` for another count): the
engine's dicts grow by doubling, so its bytes per session move with the count by a few
percent (docs/pfcpd.md "Measured"). At M >= 1,000,000 the engine's state is printed for M
itself, not extrapolated: ``--memory-sessions 1000000`` (e.g. with ``--sessions 10000``)
adds ~5 minutes and ~4 GB of this process's memory on the 2-core VM (1M requests encoded
first, then decoded and established while tracemalloc traces every allocation).

The journal (state_dir) is on the disk of this machine (/var/tmp), as in production. Each
phase also prints the CPU time pfcpd used per request (all its threads, from /proc): 1 /
that is what one core can carry, a figure that does not depend on what else the machine runs
meanwhile (the rates do), and the load generator's own CPU per request during the phase
(it shares the machine: at 10,000/s paced it used 31-39 us a request on the 2-core VM, about
a third of a vCPU); how long pfcpd's event loop ran and waited for a CPU (its thread's
schedstat: a paced loop near 100% has no room to drain a backlog); and how many flushes of
the journal to the disk it made (from its metrics: pfcpd_session_journal_flush_seconds),
with the requests each covered, their mean time and how many took over 0.5, 1 and 2.5 ms (in
the paced phase a flush covers ~6 requests instead of ~64, one of the costs a paced request
pays more); and the journal's checkpoints (its WAL copied into the database, in pfcpd's
state-writing thread; the last pass holds commits off) with their mean time. Every answer
waits for a flush begun after its commit: the slow flushes and the checkpoints are what the
paced p99 is read against (docs/pfcpd.md "Measured").

``--paced-rounds K`` repeats the paced phase (and the deletions after it) K times in the
same pfcpd: its p99 moves from round to round (docs/pfcpd.md "Measured"), so comparing
two versions wants several rounds of each, alternated.

Needs root (the datapath's TUN device); prints why and exits 0 otherwise.

Run: make bench   (or .venv/bin/python bench/session_rate.py [--sessions N]
[--memory-sessions M])
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pfcp_node import free_port, start_pfcpd
from pfcpd.datapath.interface import Datapath, DatapathEvent, SessionProgram, Usage
from pfcpd.smfsim.loadgen import LoadGenerator, PhaseResult


def start_session_pfcpd(
    tmp: Path, sessions: int, metrics_port: int | None = None
) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """pfcp_node.py's pfcpd plus the local datapath's network instance (a TUN), its rule
    tables sized for ``sessions`` (at least 262,144; they grow anyway, a stall each time)
    and a UE pool large enough for every session; its metrics on ``metrics_port`` of
    127.0.0.1 when given."""
    metrics = {"listen": f"127.0.0.1:{metrics_port}" if metrics_port else None}
    return start_pfcpd(
        tmp,
        {
            "metrics": metrics,
            "pfcp": {"t1": 10},
            "datapath": {
                "kind": "local",
                "n6_tun": {"internet": f"bench{os.getpid() % 100000}"},
                "expected_sessions": max(sessions, 262144),
            },
            "network_instances": {"internet": {"ue_pools": ["100.64.0.0/10"]}},
        },
    )


# Flush times the paced phase's tail is read against (seconds; buckets of the histogram).
FLUSH_TAIL_BOUNDS = ("0.0005", "0.001", "0.0025")


@dataclasses.dataclass(frozen=True)
class JournalFigures:
    """pfcpd's session journal so far, from its metrics: flushes to the disk and their
    seconds, how many took longer than each of FLUSH_TAIL_BOUNDS, checkpoints and their
    seconds."""

    flushes: float
    flush_seconds: float
    flushes_over: tuple[float, ...]
    checkpoints: float
    checkpoint_seconds: float

    def since(self, before: JournalFigures) -> JournalFigures:
        return JournalFigures(
            self.flushes - before.flushes,
            self.flush_seconds - before.flush_seconds,
            tuple(
                n - m
                for n, m in zip(self.flushes_over, before.flushes_over, strict=True)
            ),
            self.checkpoints - before.checkpoints,
            self.checkpoint_seconds - before.checkpoint_seconds,
        )


def journal_figures(port: int) -> JournalFigures:
    """pfcpd's JournalFigures now (its metrics on ``port``)."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=10
    ) as answer:
        text = answer.read().decode()
    figures: list[tuple[dict[str, str], dict[str, str]]] = []
    for name in ("flush", "checkpoint"):
        metric = f"pfcpd_session_journal_{name}_seconds"
        totals = dict(re.findall(rf"^{metric}_(count|sum) (\S+)$", text, re.MULTILINE))
        buckets = dict(
            re.findall(rf'^{metric}_bucket{{le="([^"]+)"}} (\S+)$', text, re.MULTILINE)
        )
        if len(totals) != 2 or not buckets:
            raise SystemExit(f"pfcpd's metrics have no {metric}")
        figures.append((totals, buckets))
    (flush, within), (checkpoint, _) = figures
    if any(bound not in within for bound in FLUSH_TAIL_BOUNDS):
        raise SystemExit(
            f"pfcpd's flush histogram has not the buckets {FLUSH_TAIL_BOUNDS}"
        )
    flushes = float(flush["count"])
    return JournalFigures(
        flushes,
        float(flush["sum"]),
        tuple(flushes - float(within[bound]) for bound in FLUSH_TAIL_BOUNDS),
        float(checkpoint["count"]),
        float(checkpoint["sum"]),
    )


def cpu_seconds(pid: int) -> float:
    """CPU time pfcpd used so far (all its threads, user + system): per request, what one
    core can carry, whatever else the machine runs meanwhile."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loop_seconds(pid: int) -> tuple[float, float] | None:
    """How long pfcpd's event loop (its main thread) ran so far, and how long it was ready
    to run but waited for a CPU (the kernel's schedstat, in nanoseconds): the first is the
    loop's own budget (its work and the journal's flushes on it, without pfcpd's other
    threads), the second the machine's other work (the load generator, pfcpd's own
    state-writing thread, other jobs) delaying pfcpd, which its latencies include. None
    when the kernel does not keep them (no file, or zeros: scheduler statistics off)."""
    try:
        ran, waited = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return (int(ran) / 1e9, int(waited) / 1e9) if int(ran) else None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class _NoJournal:
    """Durability is not what the memory figure is about (the daemon's journal is on disk)."""

    def commit(self, puts: object, deletes: object) -> None:
        return None


class _NoDatapath(Datapath):
    """Accepts every program and keeps nothing: what remains is the engine's own state."""

    def install(
        self,
        seid: int,
        program: SessionProgram,
        end_markers: frozenset[int] = frozenset(),
    ) -> None:
        return None

    def remove(self, seid: int) -> dict[int, Usage]:
        return {}

    def read_usage(self, seid: int, urr_id: int, reset: bool = False) -> Usage:
        return Usage(urr_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    def poll_events(self) -> list[DatapathEvent]:
        return []

    def drop_buffered(self, seid: int) -> int:
        return 0

    def now_ns(self) -> int:
        return 0


def engine_state_per_100k(count: int, local: bool) -> float:
    """Python memory (tracemalloc) held per 100k sessions once ``count`` establishments
    went through the session engine in this process: with a datapath that keeps nothing
    (``local`` False: the engine's own state), or with a LocalDatapath (its Python state
    too; its C tables are malloc'ed, which tracemalloc does not see). Each request is
    decoded from its octets while traced, as pfcpd decodes a datagram: what the engine
    keeps of the decoded message (its F-SEID) is counted, and the engine takes the path
    it takes for a datagram (decoded groups carry their octets: the establishment's
    learnt shape; a Message built in Python takes the full path and keeps other objects).
    The shared address caches, the compiled rules' and the codec's caches (bounded, the
    same at any session count) are emptied before measuring."""
    import gc
    import ipaddress
    import tracemalloc

    from pfcpd.datapath.local.engine import LocalDatapath
    from pfcpd.node.session_handler import Peer
    from pfcpd.pfcp import decode, encode
    from pfcpd.pfcp.codec import drop_decode_cache, drop_encode_cache
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.session import EngineSettings, SessionEngine
    from pfcpd.smfsim import rules

    loopback = ipaddress.ip_address("127.0.0.1")
    settings = EngineSettings(
        n3_address=loopback,
        pfcp_address=loopback,
        ue_pools={"internet": (ipaddress.ip_network("100.64.0.0/10"),)},
    )
    datapath = LocalDatapath(expected_sessions=count) if local else _NoDatapath()
    engine = SessionEngine(settings, datapath, _NoJournal())
    peer, node_id = (
        Peer("smf.bench", ("127.0.0.1", 8805)),
        NodeID.from_text("127.0.0.1"),
    )
    requests = [
        encode(
            rules.establishment_request(
                "smf.bench",
                "127.0.0.1",
                i + 1,
                rules.session_rules(gnb_teid=i + 1),
                seq=i % 0xFFFFFF,
            )
        )
        for i in range(count)
    ]
    drop_encode_cache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # What the node does after each batch (getattr: an engine from before group commit).
    commit = getattr(engine, "commit", lambda: None)
    for i in range(0, count, 64):
        for data in requests[i : i + 64]:
            engine.handle_request(decode(data), peer, node_id, 0.0)
        commit()
    engine.drop_caches()
    drop_decode_cache()
    drop_encode_cache()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(engine.sessions) == count
    datapath.close()
    return (after - before) / count * 100_000


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return value


def positive_rate(text: str) -> float:
    """An argparse type: a finite rate above 0."""
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text}: a finite number above 0")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20000, help="N (default 20000)")
    parser.add_argument("--window", type=int, default=64, help="in flight (default 64)")
    parser.add_argument(
        "--memory-sessions",
        type=positive,
        default=None,
        metavar="M",
        help="sessions for the in-process memory figures (default: N, at most 10000)",
    )
    parser.add_argument(
        "--paced-rate",
        type=positive_rate,
        default=None,
        metavar="R",
        help="establishments per second of the paced phase (default: half the burst's)",
    )
    parser.add_argument(
        "--paced-rounds",
        type=positive,
        default=1,
        metavar="K",
        help="paced phases, each followed by the deletions (default 1): p99 moves from "
        "round to round, so a comparison wants several",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("session_rate: skipped: needs root for the local datapath's TUN device")
        return 0
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="pfcpd-bench-") as tmp:
        metrics_port = free_port(socket.SOCK_STREAM)
        proc, addr = start_session_pfcpd(Path(tmp), args.sessions, metrics_port)
        gen = LoadGenerator(addr, window=args.window, t1=10.0)
        results: list[PhaseResult] = []
        cpu: list[float] = []  # pfcpd's CPU seconds per phase
        # its event loop's seconds running and waiting for a CPU
        loops: list[tuple[float, float] | None] = []
        journal: list[JournalFigures] = []  # per phase
        # each paced round's (heartbeats, establishments)
        floors: list[tuple[PhaseResult, PhaseResult]] = []

        def phase(run: Callable[[], PhaseResult]) -> PhaseResult:
            journal_before = journal_figures(metrics_port)
            before = cpu_seconds(proc.pid)
            loop_before = loop_seconds(proc.pid)
            result = run()
            cpu.append(cpu_seconds(proc.pid) - before)
            loop_after = loop_seconds(proc.pid)
            loops.append(
                None
                if loop_before is None or loop_after is None
                else (loop_after[0] - loop_before[0], loop_after[1] - loop_before[1])
            )
            journal.append(journal_figures(metrics_port).since(journal_before))
            results.append(result)
            return result

        try:
            gen.associate()
            phase(lambda: gen.heartbeats(args.sessions))
            rss_before = rss_bytes(proc.pid)
            phase(lambda: gen.establish(args.sessions))
            rss_after = rss_bytes(proc.pid)
            phase(gen.modify)
            phase(gen.delete)
            rate = args.paced_rate or results[1].per_second / 2
            suffix = "half" if args.paced_rate is None else f"{rate:g}"
            for k in range(1, args.paced_rounds + 1):
                floor = phase(lambda: gen.heartbeats(args.sessions, rate=rate))
                paced = phase(
                    lambda k=k: gen.establish(
                        args.sessions, first_cp_seid=k * args.sessions + 1, rate=rate
                    )
                )
                floor.phase, paced.phase = f"hb@{suffix}", f"est@{suffix}"
                if args.paced_rounds > 1:
                    floor.phase += f"#{k}"
                    paced.phase += f"#{k}"
                floors.append((floor, paced))
                phase(gen.delete)
        finally:
            gen.close()
            proc.terminate()
            proc.wait(30)
    print(
        f"session_rate: {args.sessions} sessions, window {args.window}, pfcpd pid {proc.pid}"
    )
    for result, seconds, loop, figures in zip(
        results, cpu, loops, journal, strict=True
    ):
        print("  " + result.line())
        per = seconds / result.requests
        print(
            f"    pfcpd CPU {per * 1e6:.0f} us per request "
            f"(one core at that cost: {1 / per if per else 0:.0f}/s); the load generator's "
            f"{result.cpu_seconds / result.requests * 1e6:.0f} us"
        )
        if loop is not None:
            ran, wait = loop
            print(
                f"    pfcpd's event loop ran {ran * 1e3:.0f} ms "
                f"({ran / result.seconds * 100:.0f}% of the phase) and waited for a CPU "
                f"{wait * 1e3:.0f} ms ({wait / result.seconds * 100:.0f}%)"
            )
        if figures.flushes:
            count = figures.flushes
            print(
                f"    journal flushes {count:.0f}, {result.requests / count:.1f} requests "
                f"each, {figures.flush_seconds / count * 1e6:.0f} us each (wall); over "
                + " / ".join(f"{float(b) * 1e3:g}" for b in FLUSH_TAIL_BOUNDS)
                + " ms: "
                + " / ".join(f"{n:.0f}" for n in figures.flushes_over)
            )
        if figures.checkpoints:
            print(
                f"    journal checkpoints {figures.checkpoints:.0f}, "
                f"{figures.checkpoint_seconds / figures.checkpoints * 1e3:.1f} ms each "
                "(wall, in the state-writing thread)"
            )
        if result.rejected:
            print(f"    rejected by cause: {result.rejected}")
    base, est = results[0], results[1]
    print(f"  establishments/s vs heartbeats/s: {est.per_second / base.per_second:.3f}")
    for floor, paced in floors:
        ratio = f"{paced.p99_ms / floor.p99_ms:.1f}" if floor.p99_ms else "-"
        print(
            f"  paced p99, establishments vs heartbeats at the same rate ({paced.phase}): "
            f"{paced.p99_ms:.2f} / {floor.p99_ms:.2f} ms = {ratio}"
        )
    per_100k = (rss_after - rss_before) / args.sessions * 100_000
    print(
        f"  pfcpd RSS growth per 100k sessions: {per_100k / 2**20:.0f} MiB (whole process)"
    )
    count = args.memory_sessions or min(args.sessions, 10000)
    engine_bytes = engine_state_per_100k(count, local=False)
    # (the local datapath's share at 10,000 at most: a second run at 1,000,000 would
    # double the time for a figure the budget is not about)
    small = min(count, 10000)
    small_bytes = (
        engine_bytes if small == count else engine_state_per_100k(small, False)
    )
    local_bytes = engine_state_per_100k(small, local=True)
    if count >= 1_000_000:  # (measured at the budget's count: no extrapolation)
        at = f"{engine_bytes * count / 100_000 / 1e9:.2f} GB for {count} sessions"
    else:
        at = f"x10 = {engine_bytes * 10 / 1e9:.2f} GB per 1M, extrapolated"
    print(
        f"  session engine's own state per 100k sessions: {engine_bytes / 2**20:.0f} MiB "
        f"(tracemalloc, {count} sessions, a datapath keeping nothing; {at}; "
        "budget 1.5 GB per 1M)"
    )
    print(
        "  the local datapath's Python state on top, per 100k sessions: "
        f"{(local_bytes - small_bytes) / 2**20:.0f} MiB ({small} sessions; "
        "its C tables not included)"
    )
    return 0 if all(not r.rejected for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

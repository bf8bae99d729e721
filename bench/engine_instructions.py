"""Instructions per session request through pfcpd's whole N4 path in one process, counted by
callgrind: a deterministic figure for comparing two versions of the code, which wall-clock
rates on a shared machine are not (they move by 20-40% between runs of the same code).

The path is the daemon's without its sockets: datagrams go to a `PfcpNode` whose session
handler is a `SessionEngine` with a `LocalDatapath` (libupfcore) and a real `SessionJournal`
(SQLite in WAL mode in a temporary directory); after each batch of BATCH datagrams the node
commits the batch's session changes, the journal is flushed (fdatasync) and the answers are
collected, as `PfcpServer._service` does. The session shape is session_rate's (2 PDRs, 2
FARs, 1 QER, 1 URR, CH F-TEID, CHV4); the modification updates the DL FAR's outer header.

Every request is encoded before the counted part starts, the same in every run. The script
runs itself under callgrind once per phase set: setup only; heartbeats; establishments;
establishments and modifications; the three. A phase's instructions per request are the
difference between two runs divided by N. The baseline, in the same command: the Heartbeat
Request (the node's path without a session), so each figure is also printed as a ratio to it.
The garbage collector runs as in the daemon (`gc_tuning`: its thresholds, paused for each
batch as `PfcpSocket` does, and a freeze before each phase, so that a phase's collections
walk its own objects and not those the phase before left young); its work is in the
figures.

Needs valgrind; prints why and exits 0 without it.

Run: make bench   (or .venv/bin/python bench/engine_instructions.py [--sessions N])
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("0", "h", "e", "em", "emd")  # setup, heartbeats, +establish, +modify, +delete
SMF = ("127.0.0.2", 8805)
SMF_RECOVERY = 3_900_000_001


def run_phases(phases: str, count: int, batch: int) -> None:
    """The counted work of one run (``phases``: one of PHASES)."""
    from pfcpd.config.loading import parse_config
    from pfcpd.daemon import gc_tuning
    from pfcpd.daemon.session_journal import SessionJournal
    from pfcpd.datapath.local.engine import LocalDatapath
    from pfcpd.node import PfcpNode
    from pfcpd.node.node_metrics import NodeMetrics
    from pfcpd.pfcp import Message, MessageType, encode
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
    from pfcpd.session import EngineSettings, SessionEngine
    from pfcpd.smfsim import rules

    state_dir = Path(tempfile.mkdtemp(prefix="engine-instructions."))
    try:
        config = parse_config(
            {
                "node_id": "127.0.0.1",
                "pfcp": {
                    "listen": ["127.0.0.1:8805"],
                    "allowed_peers": ["127.0.0.0/8"],
                    # (the counted requests come faster than any SMF's)
                    "rate_limit": {"requests_per_second": 1e9, "burst": 10**9},
                },
                "interfaces": {"n3": {"address": "127.0.0.1"}},
                "network_instances": {"internet": {"ue_pools": ["100.64.0.0/10"]}},
                "state_dir": str(state_dir),
                "datapath": {"kind": "local"},
            }
        )
        loopback = ipaddress.ip_address("127.0.0.1")
        settings = EngineSettings(
            n3_address=loopback,
            pfcp_address=loopback,
            ue_pools={"internet": (ipaddress.ip_network("100.64.0.0/10"),)},
        )
        datapath = LocalDatapath(expected_sessions=max(count, 1024))
        journal = SessionJournal(state_dir)
        engine = SessionEngine(settings, datapath, journal)
        node = PfcpNode(
            node_id="127.0.0.1",
            config=config.pfcp,
            recovery_time_stamp=SMF_RECOVERY - 1,
            session_handler=engine,
            metrics=NodeMetrics(),
        )
        node.start(time.monotonic())
        answered = 0

        pause = gc_tuning.BatchPause()

        def send(datagrams: list[bytes]) -> None:
            nonlocal answered
            for i in range(0, len(datagrams), batch):
                with pause:
                    now = time.monotonic()
                    some = datagrams[i : i + batch]
                    for data in some:
                        node.datagram_received(data, SMF, now)
                    node.commit_sessions()
                    if journal.unsynced:
                        journal.sync()
                    answered += len(node.committed_datagrams())
                    pause.handled(len(some))

        seq = iter(range(2, 1 << 24))
        heartbeat = RecoveryTimeStamp(SMF_RECOVERY)
        setup = Message(
            MessageType.ASSOCIATION_SETUP_REQUEST,
            1,
            [NodeID.from_text(SMF[0]), heartbeat],
        )
        heartbeats = [
            encode(Message(MessageType.HEARTBEAT_REQUEST, next(seq), [heartbeat]))
            for _ in range(count)
        ]
        establishments = [
            encode(
                rules.establishment_request(
                    SMF[0],
                    SMF[0],
                    i + 1,
                    rules.session_rules(gnb_teid=i + 1),
                    seq=next(seq),
                )
            )
            for i in range(count)
        ]
        # (the engine's UP SEIDs are 1, 2, ... in the order of establishment: checked below)
        modifications = [
            encode(
                rules.modification_request(
                    up,
                    [rules.update_dl_far(2, up + 0x1000000, "192.0.2.9")],
                    seq=next(seq),
                )
            )
            for up in range(1, count + 1)
        ]
        deletions = [
            encode(rules.deletion_request(up, seq=next(seq)))
            for up in range(1, count + 1)
        ]
        send([encode(setup)])
        gc.set_threshold(
            gc.get_threshold()[0],
            gc_tuning.MIDDLE_COLLECTION_EVERY,
            gc_tuning.FULL_COLLECTION_EVERY,
        )
        gc_tuning.freeze_now()
        answered = 0
        if phases == "h":
            send(heartbeats)
        if "e" in phases:
            send(establishments)
            if list(engine.sessions) != list(range(1, count + 1)):
                sys.exit(
                    "the engine's UP SEIDs are not 1..N: the modifications miss them"
                )
        if "m" in phases:
            gc_tuning.freeze_now()  # (the collector's work on each phase's own objects)
            send(modifications)
        if "d" in phases:
            gc_tuning.freeze_now()
            send(deletions)
            if engine.sessions:
                sys.exit(f"{len(engine.sessions)} sessions left after the deletions")
        expected = count * len(phases.replace("0", ""))
        if answered != expected:
            sys.exit(f"{answered} answers, {expected} expected")
        datapath.close()
        journal.close()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def callgrind(phases: str, count: int, batch: int, out_dir: Path) -> int:
    """Instructions of one run of ``phases`` under callgrind (the whole process)."""
    out = out_dir / f"callgrind.{phases}.out"
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            phases,
            "--sessions",
            str(count),
            "--batch",
            str(batch),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        sys.exit(
            f"callgrind run {phases!r} failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2000, help="N (default 2000)")
    parser.add_argument(
        "--batch", type=int, default=64, help="datagrams per batch (64)"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep callgrind's outputs in this directory"
    )
    parser.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        run_phases(args.child, args.sessions, args.batch)
        # (no interpreter shutdown: its collections walk whatever the run left unfrozen,
        # the sessions of an "e" run but not those of "em", frozen before the
        # modifications, which moved ~22 k instructions per request from the modify figure
        # to the establish one; the daemon pays no such cost per request)
        sys.stdout.flush()
        os._exit(0)
    if shutil.which("valgrind") is None:
        print(
            "engine_instructions: skipped: it needs valgrind (callgrind), not installed"
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="engine-instructions.") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        counted = {p: callgrind(p, args.sessions, args.batch, out_dir) for p in PHASES}
    n = args.sessions
    per = {
        "heartbeat": (counted["h"] - counted["0"]) / n,
        "establish": (counted["e"] - counted["0"]) / n,
        "modify": (counted["em"] - counted["e"]) / n,
        "delete": (counted["emd"] - counted["em"]) / n,
    }
    print(f"engine_instructions: {n} sessions, batches of {args.batch}, callgrind")
    for name, value in per.items():
        ratio = value / per["heartbeat"]
        print(
            f"  {name:<10} {value / 1000:8.1f} k instructions per request  {ratio:5.1f} x heartbeat"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Small parts of the asyncio edge: sd_notify, log formats, rate-limited logging, state file."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_harness import server_config

from pfcpd.daemon.logs import RateLimitedLog, setup_logging
from pfcpd.daemon.sd_notify import notify
from pfcpd.daemon.state_store import NodeState, load_state, save_state


def test_sd_notify_path_and_abstract_sockets(tmp_path: Path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert sock.recv(100) == b"READY=1"
    name = f"pfcpd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"STOPPING=1"
    assert not notify("READY=1", {})  # not under systemd
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent")})


@pytest.fixture
def restore_pfcpd_logger() -> Iterator[None]:
    logger = logging.getLogger("pfcpd")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


def test_json_and_human_log_lines(capsys, restore_pfcpd_logger):
    log = setup_logging("json", "info")
    log.getChild("node").info("hello %s", "there", extra={"fields": {"event": "X", "peer": "p"}})
    log.debug("not shown at info")
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "hello there" and line["event"] == "X" and line["level"] == "info"
    assert line["logger"] == "pfcpd.node" and line["ts"].endswith("Z")
    setup_logging("human", "debug").debug("plain")
    assert capsys.readouterr().err.rstrip().endswith("DEBUG pfcpd: plain")


def test_rate_limited_log_counts_what_it_suppressed(caplog):
    logger = logging.getLogger("test.ratelimited")
    limited = RateLimitedLog(logger, interval=10.0)
    with caplog.at_level(logging.INFO, logger="test.ratelimited"):
        for t in (0.0, 1.0, 2.0, 11.0):
            limited.log("k", logging.WARNING, "dropped", t)
        limited.log("other", logging.WARNING, "dropped other", 11.5)
    assert [r.getMessage() for r in caplog.records] == [
        "dropped",
        "dropped (2 similar suppressed)",
        "dropped other",
    ]


def test_rate_limited_log_is_bounded_across_many_peers(caplog):
    """A flood from many distinct (spoofed) sources: one key each, yet a bounded number of
    lines per interval, and the next line tells how many were left out."""
    logger = logging.getLogger("test.ratelimited.flood")
    limited = RateLimitedLog(logger, interval=10.0, max_lines=20)
    with caplog.at_level(logging.INFO, logger="test.ratelimited.flood"):
        for i in range(5000):
            limited.log(("not_allowed", f"10.{i // 250}.{i % 250}.1"), logging.WARNING, "x", 1.0)
        assert len(caplog.records) == 20
        limited.log(("not_allowed", "192.0.2.1"), logging.WARNING, "later", 11.0)
    assert caplog.records[-1].getMessage() == "later (4980 other lines suppressed: too many peers)"


def test_state_file_round_trip_and_loss(tmp_path: Path):
    state, why = load_state(tmp_path, "upf1")
    assert not state.restored and "new state" in why
    state.associations = [{"node_id": "smf"}]
    save_state(tmp_path, state)
    back, _ = load_state(tmp_path, "upf1")
    assert back.restored and back.recovery_time_stamp == state.recovery_time_stamp
    assert back.associations == [{"node_id": "smf"}]
    other, why = load_state(tmp_path, "upf2")  # another node_id: that state is not ours
    assert not other.restored and "another node_id" in why
    (tmp_path / "node_state.json").write_text("{not json")
    broken, why = load_state(tmp_path, "upf1")
    assert not broken.restored and "unreadable" in why
    assert isinstance(broken, NodeState)


def test_the_state_file_keeps_the_cps_lost_with_their_sessions_kept(tmp_path: Path) -> None:
    """The CPs whose association ended with their sessions kept (`on_peer_lost: keep`) and
    their Recovery Time Stamps then (`PfcpNode.lost_peers`: at their next association a
    different one says they restarted, TS 29.244 6.2.6.2.2) are in the node state file; a
    file written before pfcpd kept them, without the field, loads as none (the rest of it
    restored), and so does a field of another shape."""
    state, _ = load_state(tmp_path, "upf1")
    state.lost_peers = {"smf": 3_900_000_000}
    save_state(tmp_path, state)
    back, _ = load_state(tmp_path, "upf1")
    assert back.restored and back.lost_peers == {"smf": 3_900_000_000}
    path = tmp_path / "node_state.json"
    body = json.loads(path.read_text())
    del body["lost_peers"]  # (as an older pfcpd wrote it)
    path.write_text(json.dumps(body))
    old, why = load_state(tmp_path, "upf1")
    assert old.restored and old.lost_peers == {} and "restored" in why
    assert old.recovery_time_stamp == state.recovery_time_stamp
    body["lost_peers"] = ["smf"]
    path.write_text(json.dumps(body))
    assert load_state(tmp_path, "upf1")[0].lost_peers == {}


def test_a_lost_state_takes_a_recovery_time_stamp_never_issued_before(tmp_path: Path):
    """node_state.json lost and pfcpd restarted within the same second: the new Recovery
    Time Stamp still differs (the start waits for the next second), and a clock gone back
    gives the last stamp plus one, so an SMF always sees the restart."""
    from pfcpd.daemon.state_store import NTP_UNIX_OFFSET, fresh_recovery_time_stamp

    now = [1_800_000_000.25]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def stamp(state_dir: Path, previous: int) -> int:
        return fresh_recovery_time_stamp(state_dir, previous, lambda: now[0], sleep)

    first, _ = load_state(tmp_path, "upf1", stamp)
    assert first.recovery_time_stamp == 1_800_000_000 + NTP_UNIX_OFFSET and slept == []
    save_state(tmp_path, first)
    (tmp_path / "node_state.json").unlink()
    now[0] += 0.5  # the same second
    second, _ = load_state(tmp_path, "upf1", stamp)
    assert second.recovery_time_stamp == first.recovery_time_stamp + 1
    assert slept == [pytest.approx(0.25)]  # waited for the next second, no longer
    now[0] -= 3600  # the clock went back an hour
    (tmp_path / "node_state.json").unlink(missing_ok=True)
    third, _ = load_state(tmp_path, "upf1", stamp)
    assert third.recovery_time_stamp == second.recovery_time_stamp + 1 and len(slept) == 1
    # A state that is kept keeps its stamp, whatever the clock says.
    save_state(tmp_path, third)
    assert load_state(tmp_path, "upf1", stamp)[0].recovery_time_stamp == third.recovery_time_stamp


def test_show_without_a_daemon_fails_clearly(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "pfcpd", "show", "associations", "--socket", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and "cannot reach the daemon" in proc.stderr


def test_reload_applies_the_allow_list_and_names_every_key_that_needs_a_restart(
    tmp_path: Path, caplog, monkeypatch, restore_pfcpd_logger
):
    import yaml

    from pfcpd.config import load_config
    from pfcpd.daemon.run import Daemon

    notify_path = tmp_path / "notify"
    notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_sock.bind(str(notify_path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_path))
    path = tmp_path / "pfcpd.yaml"
    doc = {
        "node_id": "127.0.0.1",
        "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": ["127.0.0.0/8"], "t1": 3},
        "datapath": {"kind": "local"},
        "interfaces": {"n3": {"address": "127.0.0.1"}},
        "state_dir": str(tmp_path / "state"),
    }
    path.write_text(yaml.safe_dump(doc))
    daemon = Daemon(path, load_config(path))
    doc["pfcp"].update(allowed_peers="any", t1=1, associate_to=["localhost"], heartbeat_interval=2)
    doc["datapath"]["kind"] = "vpp"
    path.write_text(yaml.safe_dump(doc))
    with caplog.at_level(logging.INFO, logger="pfcpd"):
        daemon.reload()
    warned = sorted(
        r.getMessage().split()[1] for r in caplog.records if "restart" in r.getMessage()
    )
    assert warned == ["datapath", "pfcp.associate_to", "pfcp.heartbeat_interval", "pfcp.t1"]
    assert daemon.config.pfcp.allowed_peers is None  # applied
    assert daemon.config.pfcp.t1 == 3  # still the running value
    # systemd heard of it: RELOADING=1 with the monotonic time it began, then READY=1.
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notify_sock.settimeout(1)
    first = dict(line.split("=", 1) for line in notify_sock.recv(200).decode().split("\n"))
    assert first["RELOADING"] == "1" and 0 < int(first["MONOTONIC_USEC"]) <= before
    assert notify_sock.recv(200) == b"READY=1"
    notify_sock.close()


def test_admin_socket_mode_and_oversized_requests(tmp_path: Path):
    import asyncio
    import stat

    from pfcpd.daemon.admin import MAX_REQUEST, admin_request, start_admin_server

    path = tmp_path / "run" / "admin.sock"

    async def main() -> list[dict]:
        server = await start_admin_server(path, lambda request: {"echo": request["command"]})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        loop = asyncio.get_running_loop()
        replies = []
        for command in ("x" * (MAX_REQUEST + 10), "show associations"):
            replies.append(
                await loop.run_in_executor(None, admin_request, path, {"command": command})
            )
        server.close()
        await server.wait_closed()
        return replies

    too_long, ok = asyncio.run(main())
    assert "longer than" in too_long["error"]
    assert ok == {"echo": "show associations"}


def test_sigterm_during_start_up_is_a_graceful_stop(tmp_path: Path):
    """systemd may stop a unit while it starts: the SIGTERM is held until start-up is done,
    then the daemon stops in order (state saved, exit 0) instead of dying of the signal."""
    import subprocess
    import sys

    import yaml

    config = tmp_path / "pfcpd.yaml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    config.write_text(
        yaml.safe_dump(
            {
                "node_id": "127.0.0.1",
                "pfcp": {"listen": ["127.0.0.1:0"], "allowed_peers": ["127.0.0.0/8"]},
                "datapath": {"kind": "local"},
                "interfaces": {"n3": {"address": "127.0.0.1"}},
                "state_dir": str(tmp_path / "state"),
                "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
                "admin": {"socket": str(tmp_path / "admin.sock")},
            }
        )
    )
    script = f"""
import asyncio, os, signal, sys
from pfcpd.daemon import run
original = run.PfcpServer.start
async def start(self):
    os.kill(os.getpid(), signal.SIGTERM)  # arrives while pfcpd is still starting
    await asyncio.sleep(0.2)
    await original(self)
run.PfcpServer.start = start
sys.exit(run.run({str(config)!r}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert "stopped; state saved" in proc.stderr
    assert (tmp_path / "state" / "node_state.json").exists()


def test_associate_to_names_resolve_off_the_loop_with_a_bound(tmp_path: Path, monkeypatch):
    """The resolver runs off the event loop; a resolver that never answers, or answers only
    with addresses no PFCP endpoint can reach, is an attempt that failed, not a hang."""
    import asyncio
    import socket as sk

    from pfcpd.daemon import server as server_module
    from pfcpd.daemon.server import PfcpServer
    from pfcpd.daemon.state_store import NodeState
    from pfcpd.node.node_metrics import NodeMetrics

    monkeypatch.setattr(server_module, "RESOLVE_TIMEOUT", 0.2)
    config = server_config(tmp_path / "state")

    async def main() -> list[tuple[str, list[str], str | None]]:
        server = PfcpServer(config, NodeState("127.0.0.1", 3_900_000_000), NodeMetrics())
        seen: list[tuple[str, list[str], str | None]] = []
        server.node.resolved = (  # type: ignore[method-assign]
            lambda host, port, addresses, now, error=None: seen.append((host, addresses, error))
        )

        async def fake_getaddrinfo(host, port, **kwargs):
            if host == "hangs.test":
                await asyncio.sleep(60)
            v6 = (sk.AF_INET6, sk.SOCK_DGRAM, 17, "", ("::1", port, 0, 0))
            v4 = (sk.AF_INET, sk.SOCK_DGRAM, 17, "", ("127.0.0.5", port))
            return [v6] if host == "v6only.test" else [v6, v4, v4]

        server.loop.getaddrinfo = fake_getaddrinfo  # type: ignore[method-assign]
        for host in ("hangs.test", "v6only.test", "both.test"):
            await asyncio.wait_for(server._resolve(host, 8805), 5)
        server.close()
        return seen

    hangs, v6only, both = asyncio.run(main())
    assert hangs[1] == [] and "no answer within 0.2 s" in str(hangs[2])
    assert v6only[1] == [] and "no address" in str(v6only[2])
    assert both[1:] == (["127.0.0.5"], None)  # no IPv6 listener: the IPv4 one, once


def test_state_writes_leave_the_loop_free_answers_wait_for_them_and_group(
    tmp_path: Path, monkeypatch
):
    """The state file's write (fsync) runs off the event loop: the loop keeps running while
    it lasts; the answers that follow from a change leave only once it is on disk, in order;
    changes made meanwhile are written together by one next write."""
    import asyncio
    import threading

    from pfcpd.daemon import server as server_module
    from pfcpd.daemon.server import PfcpServer
    from pfcpd.daemon.state_store import NodeState
    from pfcpd.node.node_metrics import NodeMetrics
    from pfcpd.pfcp import Message, MessageType, decode, encode
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

    gate = threading.Event()
    writes: list[list[str]] = []
    real_save = server_module.save_state

    def slow_save(state_dir: Path, state: NodeState) -> None:
        gate.wait(2)  # a slow disk, until the test lets it go
        writes.append([str(a["node_id"]) for a in state.associations])
        real_save(state_dir, state)

    monkeypatch.setattr(server_module, "save_state", slow_save)
    config = server_config(tmp_path / "state", heartbeat_interval=60)

    class PeerProtocol(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.received: list[int] = []

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.received.append(decode(data).seq)

    def setup(seq: int, name: str) -> bytes:
        ies = [NodeID.from_text(name), RecoveryTimeStamp(3_900_000_000)]
        return encode(Message(MessageType.ASSOCIATION_SETUP_REQUEST, seq, ies))

    async def main() -> tuple[list[int], list[int], int]:
        loop = asyncio.get_running_loop()
        server = PfcpServer(config, NodeState("127.0.0.1", 3_950_000_000), NodeMetrics())
        await server.start()
        [endpoint] = server.endpoints.values()
        target = endpoint.sockname[:2]
        transport, peer = await loop.create_datagram_endpoint(
            PeerProtocol, local_addr=("127.0.0.1", 0)
        )
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        ticker = loop.create_task(tick())
        transport.sendto(setup(1, "smf-a"), target)
        await asyncio.sleep(0.2)
        transport.sendto(setup(2, "smf-b"), target)  # (each replaces the one before)
        transport.sendto(setup(3, "smf-c"), target)
        heartbeat = Message(MessageType.HEARTBEAT_REQUEST, 4, [RecoveryTimeStamp(3_900_000_000)])
        transport.sendto(encode(heartbeat), target)
        await asyncio.sleep(0.2)
        held = list(peer.received)
        ticks_while_writing = ticks
        gate.set()
        for _ in range(250):
            if len(peer.received) == 4:
                break
            await asyncio.sleep(0.02)
        ticker.cancel()
        transport.close()
        server.close()
        return held, peer.received, ticks_while_writing

    held, received, ticks = asyncio.run(main())
    assert held == []  # nothing left before the first write was on disk
    assert ticks >= 5  # ... and the loop kept running (0.4 s at 20 ms a tick: ~20)
    assert received == [1, 2, 3, 4]
    # The two changes made during the first write went to disk in one write; then the final
    # write of close().
    assert writes == [["smf-a"], ["smf-c"], ["smf-c"]]


def test_a_pfcp_port_in_use_is_refused_even_by_a_socket_group():
    """The listen sockets share their port among themselves (SO_REUSEPORT), never with
    another process: a port already bound, by anyone, is refused."""
    from pfcpd.daemon.pfcp_socket import open_sockets

    group = open_sockets("127.0.0.1", 0, socket.AF_INET)
    port = group[0].getsockname()[1]
    try:
        assert {s.getsockname() for s in group} == {("127.0.0.1", port)}
        with pytest.raises(OSError):
            open_sockets("127.0.0.1", port, socket.AF_INET)  # a second pfcpd
    finally:
        for s in group:
            s.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            open_sockets("127.0.0.1", other.getsockname()[1], socket.AF_INET)


def test_the_socket_group_steers_by_source_address():
    """Datagrams from one source address, whatever its port, reach one socket of the group;
    sources that differ modulo the group's size reach different ones."""
    from pfcpd.daemon.pfcp_socket import SOCKETS, open_sockets

    group = open_sockets("127.0.0.1", 0, socket.AF_INET)
    port = group[0].getsockname()[1]
    try:
        for last in range(2, 2 + SOCKETS):
            for _ in range(3):  # three source ports
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                    peer.bind((f"127.0.0.{last}", 0))
                    peer.sendto(b"x", ("127.0.0.1", port))
        time.sleep(0.2)
        seen = []
        for sock in group:
            sources = set()
            while True:
                try:
                    sources.add(sock.recvfrom(16)[1][0])
                except BlockingIOError:
                    break
            seen.append(sources)
        assert sorted(len(s) for s in seen) == [1] * SOCKETS, seen
    finally:
        for s in group:
            s.close()


def test_session_answers_wait_for_the_journal_flush_run_on_the_loop(tmp_path: Path):
    """After a batch, the session handler commits (group commit), then the journal is flushed
    to disk on the event loop itself when no state write is under way (no hand-off to the
    writer thread and back), before the answers leave; a checkpoint then due runs in the
    writer thread. Every flush and checkpoint, in either thread, is timed in the metrics,
    observed on the event loop (where the metrics are collected)."""
    import asyncio
    import threading

    from pfcpd.daemon.server import PfcpServer
    from pfcpd.node import NoSessionEngine
    from pfcpd.node.node_metrics import NodeMetrics
    from pfcpd.pfcp import Message, MessageType, decode, encode
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

    events: list[tuple[str, str]] = []

    class Journal:
        unsynced = False
        due = False
        syncs = checkpoints = 0

        def sync(self) -> None:
            self.syncs += 1
            events.append(("sync", threading.current_thread().name))

        @property
        def checkpoint_due(self) -> bool:
            return self.due

        def checkpoint(self) -> None:
            self.checkpoints += 1
            self.due = False
            events.append(("checkpoint", threading.current_thread().name))

    journal = Journal()
    metrics = NodeMetrics()
    observed_in: set[str] = set()  # the threads the journal's histograms are changed in
    for histogram in (metrics.journal_flush_time, metrics.journal_checkpoint_time):
        observe = histogram.observe_key

        def observed(value: float, key: tuple[str, ...], observe=observe) -> None:
            observed_in.add(threading.current_thread().name)
            observe(value, key)

        histogram.observe_key = observed  # type: ignore[method-assign]

    class Handler(NoSessionEngine):
        def commit(self) -> list[tuple[Message, Message]]:
            if sent:  # a session request was answered: the journal has a commit to flush
                events.append(("commit", threading.current_thread().name))
                journal.unsynced = journal.due = True
                sent.clear()
            return []

    sent: list[int] = []
    config = server_config(tmp_path / "state", heartbeat_interval=60)

    class PeerProtocol(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.received: list[Message] = []

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.received.append(decode(data))
            events.append(("answer", threading.current_thread().name))

    async def main() -> list[Message]:
        loop = asyncio.get_running_loop()
        server = PfcpServer(
            config, NodeState("127.0.0.1", 3_950_000_000), metrics, Handler(), journal
        )
        await server.start()
        [endpoint] = server.endpoints.values()
        target = endpoint.sockname[:2]
        transport, peer = await loop.create_datagram_endpoint(
            PeerProtocol, local_addr=("127.0.0.1", 0)
        )
        ies = [NodeID.from_text("smf-a"), RecoveryTimeStamp(3_900_000_000)]
        transport.sendto(encode(Message(MessageType.ASSOCIATION_SETUP_REQUEST, 1, ies)), target)
        while len(peer.received) < 1:
            await asyncio.sleep(0.01)
        events.clear()
        deletion = Message(MessageType.SESSION_DELETION_REQUEST, 2, [], 0x42)
        sent.append(2)
        transport.sendto(encode(deletion), target)
        while len(peer.received) < 2 or len(events) < 4:
            await asyncio.sleep(0.01)
        transport.close()
        seen = list(events)
        server.close()  # (its final write syncs the journal again, in the writer thread)
        events[:] = seen
        return peer.received

    received = asyncio.run(main())
    assert [m.msg_type for m in received] == [
        MessageType.ASSOCIATION_SETUP_RESPONSE,
        MessageType.SESSION_DELETION_RESPONSE,
    ]
    loop_thread = threading.main_thread().name
    checkpoint = ("checkpoint", "pfcpd-state_0")  # (in the writer thread, in its own time)
    assert checkpoint in events and events.index(checkpoint) > 1
    events.remove(checkpoint)
    assert events == [("commit", loop_thread), ("sync", loop_thread), ("answer", loop_thread)]
    # (the setup's state write, the inline flush, the final write: flushes in both threads)
    assert journal.syncs >= 3 and journal.checkpoints == 1
    assert metrics.journal_flush_time.count() == journal.syncs
    assert metrics.journal_checkpoint_time.count() == journal.checkpoints
    # (timed in the writer thread too, observed on the loop: the thread that collects them)
    assert observed_in == {loop_thread}

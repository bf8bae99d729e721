"""pfcpd node benchmark: Heartbeat Request -> Response round trips per second through a real
``pfcpd run`` over loopback UDP, against a bare asyncio UDP echo server (another process,
same machine, same client) measured in the same run. Prints one line per case and the ratio.

The client is associated first (an SMF's heartbeats come from an associated peer, so each
answer goes through the whole path: allow-list, rate limit, response cache, decode, metrics,
encode). Two loads: one request in flight (latency-bound round trips) and WINDOW in flight
(throughput). The client is a plain blocking socket in this process, the same for both
servers; both servers run one asyncio loop in their own process.

Run: make bench   (or .venv/bin/python bench/pfcp_node.py [--seconds N])
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

WINDOW = 16
START_TIMEOUT = 20.0
CP_RECOVERY = 3_900_000_000


class Echo(asyncio.DatagramProtocol):
    """The baseline: sends every datagram back where it came from."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def echo_server() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0)
    )
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()  # until killed


def start_echo() -> tuple[subprocess.Popen[str], tuple[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--echo-server"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, ("127.0.0.1", port)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A free port of 127.0.0.1: UDP, or ``kind`` (socket.SOCK_STREAM for TCP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_pfcpd(
    tmp: Path, overrides: dict[str, Any] | None = None
) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """``pfcpd run`` on loopback; ``overrides``: top-level keys replaced, and ``pfcp``
    keys merged into the PFCP section (bench/session_rate.py adds a datapath)."""
    port = free_port()
    config: dict[str, Any] = {
        "node_id": "127.0.0.1",
        "pfcp": {
            "listen": [f"127.0.0.1:{port}"],
            "allowed_peers": ["127.0.0.0/8"],
            "heartbeat_interval": 3600,  # pfcpd's own heartbeats stay out of the way
            "rate_limit": {"requests_per_second": 1e9, "burst": 1_000_000_000},
        },
        "datapath": {"kind": "local"},
        "interfaces": {"n3": {"address": "127.0.0.1"}},
        "state_dir": str(tmp / "state"),
        "logging": {"format": "human", "level": "warning"},
        "metrics": {"listen": None},
        "admin": {"socket": str(tmp / "admin.sock")},
    }
    for key, value in (overrides or {}).items():
        config[key] = {**config[key], **value} if key == "pfcp" else value
    (tmp / "pfcpd.yaml").write_text(yaml.safe_dump(config))
    notify_path = tmp / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(START_TIMEOUT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pfcpd", "run", "--config", str(tmp / "pfcpd.yaml")],
            env=dict(os.environ, NOTIFY_SOCKET=str(notify_path)),
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "READY=1" in notify.recv(4096).decode().split("\n"):
                return proc, ("127.0.0.1", port)
    proc.kill()
    raise SystemExit("pfcpd did not become ready")


class Client:
    """A blocking UDP client sending heartbeats with fresh sequence numbers."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.connect(target)
        self.sock.settimeout(2.0)
        self.seq = 0
        self.timeouts = 0
        self.template = encode(
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(CP_RECOVERY)])
        )

    def close(self) -> None:
        self.sock.close()

    def heartbeat(self) -> bytes:
        """The next Heartbeat Request: encoded once, then only its sequence number changes
        (octets 5-7 of the node header), so the client costs as little as it can."""
        self.seq = self.seq % 0xFFFFFF + 1
        return self.template[:4] + self.seq.to_bytes(3, "big") + self.template[7:]

    def associate(self) -> None:
        setup = Message(
            MessageType.ASSOCIATION_SETUP_REQUEST,
            0xABCDE,
            [NodeID.from_text("smf.bench"), RecoveryTimeStamp(CP_RECOVERY)],
        )
        self.sock.send(encode(setup))
        answer = decode(self.sock.recv(65535))
        assert answer.msg_type == MessageType.ASSOCIATION_SETUP_RESPONSE, answer

    def run(self, seconds: float, window: int, check: bool) -> float:
        """Round trips per second with ``window`` requests in flight."""
        requests = [self.heartbeat() for _ in range(window)]
        for data in requests:
            self.sock.send(data)
        done, start = 0, time.perf_counter()
        end = start + seconds
        while True:
            try:
                reply = self.sock.recv(65535)
            except TimeoutError:  # lost on loopback (should not happen): refill
                # the window
                self.timeouts += 1
                self.sock.send(self.heartbeat())
                continue
            done += 1
            if check and done % 1000 == 1:
                answer = decode(reply)
                assert answer.msg_type == MessageType.HEARTBEAT_RESPONSE, answer
            if time.perf_counter() >= end:
                break
            self.sock.send(self.heartbeat())
        elapsed = time.perf_counter() - start
        self.sock.settimeout(0.2)  # drain what is still in flight
        try:
            while True:
                self.sock.recv(65535)
        except TimeoutError:
            pass
        self.sock.settimeout(2.0)
        return done / elapsed


def measure(
    targets: dict[str, tuple[str, int]], seconds: float, rounds: int = 3
) -> dict[tuple[str, int], float]:
    """Best rate per (server, window) over ``rounds`` rounds; each round measures every
    server in turn, so a load change on the machine hits both alike."""
    clients = {name: Client(addr) for name, addr in targets.items()}
    best: dict[tuple[str, int], float] = {}
    try:
        for name, client in clients.items():
            if name == "pfcpd":
                client.associate()
            client.run(0.2, 1, name == "pfcpd")  # warm-up
        for _ in range(rounds):
            for window in (1, WINDOW):
                for name, client in clients.items():
                    got = client.run(seconds / rounds, window, name == "pfcpd")
                    best[(name, window)] = max(best.get((name, window), 0.0), got)
        lost = sum(c.timeouts for c in clients.values())
        if lost:
            print(f"  ({lost} datagram(s) lost on loopback)")
        return best
    finally:
        for client in clients.values():
            client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="per case (default 3)"
    )
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        asyncio.run(echo_server())
        return 0

    echo, echo_addr = start_echo()
    with tempfile.TemporaryDirectory(prefix="pfcpd-bench-") as tmp:
        pfcpd, addr = start_pfcpd(Path(tmp))
        try:
            best = measure({"echo": echo_addr, "pfcpd": addr}, args.seconds)
        finally:
            echo.kill()
            echo.wait(5)
            pfcpd.terminate()
            rc = pfcpd.wait(15)
    if rc != 0:
        print(f"pfcpd exited {rc}", file=sys.stderr)
        return 1
    print(
        "pfcp_node: Heartbeat Request -> Response over loopback, round trips/s (best of 3)"
    )
    for window in (1, WINDOW):
        node, baseline = best[("pfcpd", window)], best[("echo", window)]
        print(
            f"  {window:2d} in flight: pfcpd {node:9.0f}/s   "
            f"asyncio UDP echo (baseline) {baseline:9.0f}/s   ratio {node / baseline:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

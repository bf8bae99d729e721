"""Test harness: a real ``pfcpd run`` process on loopback and a PFCP peer (the CP side).

Every wait is bounded; ports are picked free per test; every datagram pfcpd sends to a peer
is recorded so the test's teardown can have tshark check it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from pfcpd.config import Config, parse_config
from pfcpd.daemon.server import PfcpServer
from pfcpd.daemon.state_store import NodeState
from pfcpd.node.node_metrics import NodeMetrics
from pfcpd.pfcp import CodecError, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

START_TIMEOUT = 15.0
CP_RECOVERY = 3_900_000_000  # a fixed NTP-era recovery time stamp for test peers


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_n3_address() -> str:
    """A 127.x.y.z address whose GTP-U port 2152 is free (pfcpd binds it for N3)."""
    for _ in range(100):
        host = "127." + ".".join(str(random.randint(1, 254)) for _ in range(3))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, 2152))
            except OSError:
                continue
            return host
    raise AssertionError("no free 127.x.y.z:2152")


def base_config(tmp: Path, port: int, metrics_port: int) -> dict[str, Any]:
    return {
        "node_id": "127.0.0.1",
        "pfcp": {
            "listen": [f"127.0.0.1:{port}"],
            "allowed_peers": ["127.0.0.0/8", "::1/128"],
            "associate_to": [],
            "heartbeat_interval": 60,
            "t1": 0.5,  # tests that need short timers set their own
            "n1": 2,
            "associate_retry_interval": 0.5,
            "response_cache_time": 10,
            "drain_timeout": 2,
        },
        # The local datapath's GTP-U socket on a loopback address of its own (port 2152 is
        # fixed); no network instance, so no TUN device: these tests need no root.
        "datapath": {"kind": "local"},
        "interfaces": {"n3": {"address": free_n3_address()}},
        "state_dir": str(tmp / "state"),
        "logging": {"format": "json", "level": "debug"},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "admin": {"socket": str(tmp / "admin.sock")},
    }


def server_config(state_dir: Path, **pfcp: Any) -> Config:
    """The config of an in-process PfcpServer: one loopback listener on a free port, every
    peer allowed, state in ``state_dir``; ``pfcp`` overrides keys of the pfcp section."""
    return parse_config(
        {
            "node_id": "127.0.0.1",
            "pfcp": {"listen": ["127.0.0.1:0"], "allowed_peers": "any", **pfcp},
            "datapath": {"kind": "local"},
            "interfaces": {"n3": {"address": "127.0.0.1"}},
            "state_dir": str(state_dir),
        }
    )


class LoopbackCP(asyncio.DatagramProtocol):
    """A CP on loopback: sends requests to the server, keeps what comes back."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.append(decode(data))

    async def ask(self, target: Any, request: Message, timeout: float = 5.0) -> Message:
        assert self.transport is not None
        before = len(self.received)
        self.transport.sendto(encode(request), target)
        for _ in range(int(timeout / 0.01)):
            if len(self.received) > before:
                return self.received[-1]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {request.name} within {timeout} s")


async def start_server(state_dir: Path) -> tuple[PfcpServer, LoopbackCP, Any]:
    """An in-process PfcpServer (server_config, heartbeats every 60 s) started on the running
    loop, a LoopbackCP for it, and the server's address."""
    loop = asyncio.get_running_loop()
    config = server_config(state_dir, heartbeat_interval=60)
    server = PfcpServer(config, NodeState("127.0.0.1", 3_950_000_000), NodeMetrics())
    await server.start()
    [endpoint] = server.endpoints.values()
    target = endpoint.sockname[:2]
    transport, cp = await loop.create_datagram_endpoint(LoopbackCP, local_addr=("127.0.0.1", 0))
    cp.transport = transport
    return server, cp, target


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class Pfcpd:
    """One ``python -m pfcpd run`` process; started when READY=1 arrives on NOTIFY_SOCKET."""

    def __init__(
        self,
        tmp: Path,
        overrides: dict[str, Any] | None = None,
        command_prefix: tuple[str, ...] = (),
    ) -> None:
        """``command_prefix``: run pfcpd under it (e.g. ``ip netns exec NS``)."""
        self.tmp = tmp
        self.command_prefix = command_prefix
        self.port = free_port()
        self.metrics_port = free_port(socket.SOCK_STREAM)
        self.config = merge(base_config(tmp, self.port, self.metrics_port), overrides or {})
        self.config_path = tmp / "pfcpd.yaml"
        self.log_path = tmp / "pfcpd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.addr = ("127.0.0.1", self.port)

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config))

    def start(self) -> Pfcpd:
        self.write_config()
        notify_path = self.tmp / "notify.sock"
        notify_path.unlink(missing_ok=True)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(START_TIMEOUT)
        env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.command_prefix,
                    *(sys.executable, "-m", "pfcpd", "run", "--config", str(self.config_path)),
                ],
                stdout=log,
                stderr=log,
                env=env,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                msg = notify.recv(4096).decode()
                if "READY=1" in msg.split("\n"):
                    return self
        except TimeoutError:
            pass
        finally:
            notify.close()
        self.stop()
        raise AssertionError(f"pfcpd sent no READY=1; its log:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        self.proc = None
        return rc

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_log(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_events():
                if predicate(entry):
                    return entry
            time.sleep(0.05)
        raise AssertionError(f"no such log line within {timeout} s; log:\n{self.log()}")

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return resp.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = re.compile(
            rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$",
            re.MULTILINE,
        )
        for match in pattern.finditer(self.metrics_text()):
            got = match.group(1) or ""
            if set(filter(None, got.split(","))) == set(filter(None, want.split(","))):
                return float(match.group(2))
        return 0.0

    def wait_metric(self, name: str, value: float, timeout: float = 5.0, **labels: str) -> None:
        deadline = time.monotonic() + timeout
        got = self.metric(name, **labels)
        while got != value and time.monotonic() < deadline:
            time.sleep(0.05)
            got = self.metric(name, **labels)
        assert got == value, f"{name}{labels} is {got}, expected {value}"

    def cli(self, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pfcpd", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def associations(self) -> list[dict[str, Any]]:
        proc = self.cli("show", "associations", "--json", "--config", str(self.config_path))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["associations"]

    def state_file(self) -> dict[str, Any]:
        return json.loads((self.tmp / "state" / "node_state.json").read_text())


class Peer:
    """A CP-side PFCP peer on a UDP socket. ``received`` keeps every datagram from pfcpd."""

    def __init__(
        self,
        target: tuple[str, int],
        host: str = "127.0.0.1",
        node_id: str = "smf.test",
        port: int = 0,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.addr = self.sock.getsockname()[:2]
        self.target = target
        self.node_id = node_id
        self.recovery = CP_RECOVERY
        self.received: list[bytes] = []
        self.seq = 100
        self.answer_heartbeats = True

    def close(self) -> None:
        self.sock.close()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, data: bytes | Message, to: tuple[str, int] | None = None) -> None:
        if isinstance(data, Message):
            data = encode(data)
        self.sock.sendto(bytes(data), to or self.target)

    def recv(self, timeout: float = 3.0) -> bytes | None:
        """The next datagram from pfcpd, or None after ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        self.received.append(data)
        return data

    def expect(self, msg_type: int, seq: int | None = None, timeout: float = 3.0) -> Message:
        """Wait for a message of ``msg_type`` (and ``seq``); heartbeat requests that arrive
        meanwhile are answered when ``answer_heartbeats``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = self.recv(left)
            if data is None:
                break
            msg = decode(data)
            if msg.msg_type == msg_type and (seq is None or msg.seq == seq):
                return msg
            if msg.msg_type == MessageType.HEARTBEAT_REQUEST and self.answer_heartbeats:
                self.answer_heartbeat(msg)
        raise AssertionError(f"no message type {msg_type} (seq {seq}) within {timeout} s")

    def expect_raw(self, seq: int, timeout: float = 3.0) -> bytes:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = self.recv(left)
            if data is None:
                break
            try:
                if decode(data).seq == seq:
                    return data
            except CodecError:
                if len(data) >= 8 and int.from_bytes(data[4:7], "big") == seq:
                    return data
        raise AssertionError(f"no datagram with seq {seq} within {timeout} s")

    def expect_silence(self, timeout: float = 0.5) -> None:
        data = self.recv(timeout)
        assert data is None, f"unexpected datagram {data.hex() if data else ''}"

    def request(self, msg: Message, timeout: float = 3.0) -> Message:
        from pfcpd.pfcp.message_types import RESPONSE_TO

        if not msg.seq:
            msg.seq = self.next_seq()
        self.send(msg)
        return self.expect(RESPONSE_TO[msg.msg_type], msg.seq, timeout)

    def accept_setup(self, request: Message) -> None:
        """Accept pfcpd's Association Setup Request, as this peer's Node ID."""
        ies = [NodeID.from_text(self.node_id), CauseIE(1), RecoveryTimeStamp(self.recovery)]
        self.send(Message(MessageType.ASSOCIATION_SETUP_RESPONSE, request.seq, ies))

    def answer_heartbeat(self, msg: Message) -> None:
        self.send(
            Message(MessageType.HEARTBEAT_RESPONSE, msg.seq, [RecoveryTimeStamp(self.recovery)])
        )

    def associate(self) -> Message:
        return self.request(
            Message(
                MessageType.ASSOCIATION_SETUP_REQUEST,
                0,
                [NodeID.from_text(self.node_id), RecoveryTimeStamp(self.recovery)],
            )
        )


def cause_of(msg: Message) -> int:
    ie = msg.get(IEType.CAUSE)
    assert ie is not None, f"{msg.name} has no Cause"
    return ie.value  # type: ignore[attr-defined]

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_harness import Peer, Pfcpd
from oracles import tshark_problems


@pytest.fixture
def start_pfcpd(tmp_path: Path) -> Iterator[Callable[..., Pfcpd]]:
    """Start pfcpd processes (each in its own directory); all stop at teardown and must exit 0."""
    started: list[Pfcpd] = []

    def start(overrides: dict[str, Any] | None = None, name: str = "a") -> Pfcpd:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        daemon = Pfcpd(directory, overrides).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        running = daemon.proc is not None
        rc = daemon.stop()
        assert not running or rc == 0, f"pfcpd exited {rc}; log:\n{daemon.log()}"


@pytest.fixture
def make_peer() -> Iterator[Callable[..., Peer]]:
    """CP peers; at teardown every datagram pfcpd sent them must pass tshark's checks."""
    peers: list[Peer] = []

    def make(target: tuple[str, int], **kwargs: Any) -> Peer:
        peer = Peer(target, **kwargs)
        peers.append(peer)
        return peer

    yield make
    received = [d for p in peers for d in p.received]
    for p in peers:
        p.close()
    if received and shutil.which("tshark") and shutil.which("text2pcap"):
        problems = tshark_problems(received)
        assert not problems, f"tshark flags datagrams pfcpd sent: {problems}"

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_harness import Peer, Pfcpd
from oracles import tshark_checked


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
    with tshark_checked(Peer) as make:
        yield make

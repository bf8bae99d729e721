"""Small parts of the asyncio edge: sd_notify, log formats, rate-limited logging, state file."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def test_show_without_a_daemon_fails_clearly(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "pfcpd", "show", "associations", "--socket", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and "cannot reach the daemon" in proc.stderr

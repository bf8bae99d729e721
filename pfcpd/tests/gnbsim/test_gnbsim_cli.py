"""`pfcpd gnbsim` and `pfcpd smfsim` on the command line: help for every option, bad
sessions refused with a message (status 2) before anything is sent."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pfcpd.gnbsim.cli import parse_sessions


def pfcpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pfcpd", *args], capture_output=True, text=True, timeout=60
    )


def test_sessions_from_a_file_and_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            [{"name": "a", "ue": "10.0.0.1", "upf": "10.0.1.1", "upf_teid": 7, "gnb_teid": 8,
              "qfi": 0}]
        )
    )  # fmt: skip
    args = argparse.Namespace(sessions=str(path), session=["10.0.0.2,10.0.1.1,0x10,0x20,5"])
    a, b = parse_sessions(args)
    assert (a.name, a.ue, a.upf_teid, a.gnb_teid, a.qfi) == ("a", "10.0.0.1", 7, 8, None)
    assert (b.name, b.ue, b.upf, b.upf_teid, b.gnb_teid, b.qfi) == (
        "s2", "10.0.0.2", "10.0.1.1", 0x10, 0x20, 5,
    )  # fmt: skip


@pytest.mark.parametrize("spec", ["10.0.0.2,10.0.1.1", "10.0.0.2,10.0.1.1,x,1"])
def test_a_bad_session_is_refused(spec: str) -> None:
    done = pfcpd("gnbsim", "run", "--gnb", "127.0.0.1", "--dn", "127.0.0.1", "--session", spec)
    assert done.returncode == 2 and "pfcpd gnbsim:" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_names_every_option() -> None:
    run = pfcpd("gnbsim", "run", "--help").stdout
    for option in ("--gnb", "--sessions", "--session", "--dn", "--ping", "--udp-rate",
                   "--udp-size", "--duration", "--max-loss", "--netns", "--json"):  # fmt: skip
        assert option in run
    assert "--no-echo" in pfcpd("gnbsim", "respond", "--help").stdout
    smf = pfcpd("smfsim", "run", "--help").stdout
    for option in ("--upf", "--local", "--netns", "--json", "--sessions-out"):
        assert option in smf
    assert "--window" in pfcpd("smfsim", "load", "--help").stdout

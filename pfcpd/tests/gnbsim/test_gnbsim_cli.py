"""`pfcpd gnbsim` and `pfcpd smfsim` on the command line: help for every option, bad
sessions refused with a message (status 2) before anything is sent."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pfcpd.gnbsim.cli import dn_by_version, parse_sessions, traffic_plan


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


def test_a_dual_stack_session_talks_to_the_dn_of_each_ip_version(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            [{"name": "d", "ue": "10.0.0.1", "ue6": "fd00::8000:0:0:0:1", "upf": "10.0.1.1",
              "upf_teid": 7, "gnb_teid": 8}]
        )
    )  # fmt: skip
    args = argparse.Namespace(sessions=str(path), session=["fd00::9,10.0.1.1,0x10,0x20"])
    dual, v6 = parse_sessions(args)
    assert dual.addresses == ("10.0.0.1", "fd00:0:0:8000::1") and v6.addresses == ("fd00::9",)
    dns = dn_by_version(["10.0.6.2", "[fd00::6:2]:9100"])
    plan = [(s.name, (dn.host, dn.port)) for s, dn in traffic_plan([dual, v6], dns)]
    assert plan == [
        ("d", ("10.0.6.2", 9000)),
        ("d", ("fd00::6:2", 9100)),
        ("s2", ("fd00::6:2", 9100)),
    ]
    with pytest.raises(ValueError, match="session s2: UE fd00::9 needs an IPv6 --dn"):
        traffic_plan([v6], dn_by_version(["10.0.6.2"]))
    with pytest.raises(ValueError, match="a second IPv4 DN"):
        dn_by_version(["10.0.6.2", "10.0.6.3"])


def test_a_session_without_a_dn_of_its_version_is_refused() -> None:
    done = pfcpd("gnbsim", "run", "--gnb", "127.0.0.1", "--dn", "127.0.0.1",
                 "--session", "fd00::9,127.0.0.1,1,2")  # fmt: skip
    assert done.returncode == 2 and "needs an IPv6 --dn" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("gnb", "message"),
    [("fd00::1", "GTP-U runs over IPv4"), ("192.0.2.77", "cannot bind 192.0.2.77:2152")],
)
def test_a_gnb_address_we_cannot_use_is_refused(gnb: str, message: str) -> None:
    # 192.0.2.77 (documentation range) is no address of this machine: nothing is sent.
    done = pfcpd("gnbsim", "run", "--gnb", gnb, "--dn", "127.0.0.1", "--session",
                 "10.0.0.1,127.0.0.1,1,2")  # fmt: skip
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr

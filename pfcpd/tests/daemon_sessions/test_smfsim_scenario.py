"""`pfcpd smfsim run` drives a real `pfcpd run` (local datapath) over loopback: each step's
result as the command prints it (JSON lines), and the session's state in pfcpd between the
steps; a step the UPF refuses ends the run with status 1, naming the step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sessions_harness import needs_root, session_overrides

pytestmark = needs_root


def run_scenario(daemon: Any, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    host, port = daemon.addr
    return subprocess.run(
        [sys.executable, "-m", "pfcpd", "smfsim", "run", str(path), "--upf", f"{host}:{port}",
         "--json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_a_scenario_end_to_end(start_pfcpd, tmp_path: Path) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.9.0/30"))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        """
node_id: smf.scenario
steps:
  - associate
  - establish: {session: a, gnb: 192.0.2.1, gnb_teid: 0x77, volume_threshold: 1000}
  - modify: {session: a, gates: closed}
  - modify: {session: a, gnb: 192.0.2.2, gnb_teid: 0x78}
  - query: {session: a}
  - sleep: 0.2
  - delete: {session: a}
  - release
"""
    )
    sessions = tmp_path / "sessions.json"
    done = run_scenario(daemon, scenario, "--sessions-out", str(sessions))
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["kind"] for s in steps] == [
        "associate", "establish", "modify", "modify", "query", "sleep", "delete", "release",
    ]  # fmt: skip
    assert steps[0]["cause"] == 1 and "FTUP" in steps[0]["up_features"].split(",")
    est = steps[1]
    assert est["ue"] in ("198.18.9.1", "198.18.9.2")
    n3 = daemon.config["interfaces"]["n3"]["address"]
    assert est["f_teid"].startswith(f"{n3}/0x")
    assert steps[4]["ul"] == 0 and steps[6]["ul"] == 0  # no traffic: nothing used
    (written,) = json.loads(sessions.read_text())
    assert written["ue"] == est["ue"] and written["gnb_teid"] == 0x78
    assert written["upf_teid"] == int(est["f_teid"].split("/")[1], 16)


def test_a_refused_step_is_named(start_pfcpd, tmp_path: Path) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.10.0/30"))
    scenario = tmp_path / "s.yaml"
    # Without an association pfcpd refuses establishments (cause 72, no established
    # PFCP association).
    scenario.write_text("steps:\n  - establish: {session: a}\n")
    done = run_scenario(daemon, scenario)
    assert done.returncode == 1
    assert "FAILED step 1 (establish a)" in done.stderr and "cause 72" in done.stderr


def test_ipv6_and_dual_stack_sessions(start_pfcpd, tmp_path: Path) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.11.0/30", pool6="fd00:c2:11::/63"))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        """
steps:
  - associate
  - establish: {session: six, v6: true}
  - establish: {session: dual, dual_stack: true}
  - delete: {session: six}
  - delete: {session: dual}
  - release
"""
    )
    sessions = tmp_path / "sessions.json"
    done = run_scenario(daemon, scenario, "--sessions-out", str(sessions))
    assert done.returncode == 0, done.stderr
    steps = {
        s["session"]: s
        for s in map(json.loads, done.stdout.splitlines())
        if s["kind"] == "establish"
    }
    # The pool's two /64 prefixes; the UE's address is interface identifier 1 in its prefix.
    assert steps["six"]["ue6_prefix"] == "fd00:c2:11::/64" and steps["six"]["ue"] == "fd00:c2:11::1"
    assert "ue6" not in steps["six"]
    dual = steps["dual"]
    assert dual["ue"] in ("198.18.11.1", "198.18.11.2")
    assert (dual["ue6"], dual["ue6_prefix"]) == ("fd00:c2:11:1::1", "fd00:c2:11:1::/64")
    written = {s["name"]: s for s in json.loads(sessions.read_text())}
    assert written["six"]["ue"] == "fd00:c2:11::1" and "ue6" not in written["six"]
    assert (written["dual"]["ue"], written["dual"]["ue6"]) == (dual["ue"], "fd00:c2:11:1::1")

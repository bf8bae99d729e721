"""`pfcpd smfsim run` scenario files: what is accepted, and every problem reported at once
with its step number (nothing is sent for a scenario that does not parse)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pfcpd.smfsim.scenario import Scenario, ScenarioError


def test_a_scenario_with_every_step_kind_parses() -> None:
    scenario = Scenario.load(
        """
upf: 10.231.4.2:8805
node_id: smf.lab
t1: 0.5
steps:
  - associate
  - establish: {session: a, gnb: 10.231.3.1, gnb_teid: 0x10, mbr_kbps: [1000, 2000]}
  - modify: {session: a, gates: closed}
  - modify: {session: a, gnb: 10.231.3.9, gnb_teid: 0x11, end_marker: true}
  - query: {session: a}
  - wait_reports: {count: 2, timeout: 3}
  - sleep: 0.5
  - delete: {session: a}
  - release
"""
    )
    assert [s.kind for s in scenario.steps] == [
        "associate", "establish", "modify", "modify", "query", "wait_reports", "sleep",
        "delete", "release",
    ]  # fmt: skip
    assert (scenario.upf, scenario.node_id, scenario.t1) == ("10.231.4.2:8805", "smf.lab", 0.5)
    assert scenario.steps[1].args["gnb_teid"] == 0x10
    assert scenario.steps[6].args == {"seconds": 0.5}


def test_every_problem_is_named_with_its_step() -> None:
    with pytest.raises(ScenarioError) as err:
        Scenario.load(
            """
colour: blue
steps:
  - associate
  - teleport: {}
  - establish: {gnb: 10.0.0.1}
  - modify: {session: a, speed: 3}
  - sleep: soon
  - delete: [a]
"""
        )
    text = str(err.value)
    for expected in (
        "unknown key 'colour'",
        "step 2: unknown step 'teleport'",
        "step 3: establish needs `session: NAME`",
        "step 4: modify: unknown keys ['speed']",
        "step 5: sleep takes a number of seconds",
        "step 6: delete takes a mapping",
    ):
        assert expected in text


def test_not_a_scenario() -> None:
    with pytest.raises(ScenarioError, match="steps"):
        Scenario.load("just text")


def test_the_command_refuses_a_bad_file_before_sending_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [associate, {fly: {}}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pfcpd", "smfsim", "run", str(bad), "--upf", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "step 2: unknown step 'fly'" in done.stderr
    assert "Traceback" not in done.stderr

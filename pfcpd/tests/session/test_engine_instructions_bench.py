"""bench/engine_instructions.py's counted work (without callgrind): each phase set runs
through the node, the engine, the local datapath and a real journal, and its own checks
hold (the UP SEIDs the pre-encoded modifications name, an answer per request, no session
left after the deletions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "engine_instructions.py"


@pytest.mark.parametrize("phases", ["0", "h", "e", "em", "emd"])
def test_phase_set_runs_and_checks_itself(phases: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--child", phases, "--sessions", "70", "--batch", "16"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

"""``pfcpd replay FILE --config CONFIG``: a capture's session requests replayed into the
session engine, each answer set beside the capture's; exit 0 when all agree, 1 when one
differs (the engine's reason under it), 2 when there is nothing to replay or the files
cannot be read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from docs_config import minimal_config_text
from oracles import require_pcaps

from pfcpd.pfcp import Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules

T = IEType
M = MessageType


def run(tmp_path: Path, capture: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "pfcpd.yaml"
    config.write_text(minimal_config_text())
    return subprocess.run(
        [sys.executable, "-m", "pfcpd.cli", "replay", str(capture), "--config", str(config)],
        capture_output=True,
        text=True,
    )


def test_a_public_capture_agrees(tmp_path: Path) -> None:
    proc = run(tmp_path, require_pcaps() / "pfcp-upf-smf-sessions.pcap")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "frame 5 session_establishment_request seq 183: cause 1, agrees"
    assert lines[-1] == "5 request(s) replayed: 5 agree, 0 differ"


def test_a_refused_request_differs_with_its_reason(tmp_path: Path) -> None:
    """An establishment whose uplink F-TEID the CP allocated (no CH): pfcpd allocates every
    F-TEID (FTUP), 71; the capture's UP function accepted it."""
    session = rules.session_rules()
    pdi = session[0].get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [A.FTEID(0x1234, "127.0.0.1") if ie.type == T.F_TEID else ie for ie in pdi.ies]
    request = rules.establishment_request("smf.example", "127.0.0.2", 7, session, seq=41)
    accepted = Message(
        M.SESSION_ESTABLISHMENT_RESPONSE,
        41,
        [A.NodeID.from_text("upf.example"), S.Cause(1), A.FSEID(9, "127.0.0.1")],
        seid=7,
    )
    capture = tmp_path / "capture.hex"
    capture.write_text(f"{encode(request).hex()}\n{encode(accepted).hex()}\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first, reason, summary = proc.stdout.splitlines()
    assert first == (
        "frame 1 session_establishment_request seq 41: cause 71,"
        " differs: cause 71 where the capture has 1"
    )
    assert reason.startswith("  session_establishment_request seq 41 refused:")
    assert reason.endswith("(cause 71)")
    assert summary == "1 request(s) replayed: 0 agree, 1 differ"


def test_a_request_the_capture_does_not_answer_is_listed_not_compared(tmp_path: Path) -> None:
    request = rules.establishment_request("smf.example", "127.0.0.2", 7, rules.session_rules())
    capture = tmp_path / "requests.hex"
    capture.write_text(encode(request).hex() + "\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "frame 1 session_establishment_request seq 0: cause 1,"
        " the capture has no answer to compare with",
        "1 request(s) replayed: 0 agree, 0 differ, 1 without an answer in the capture",
    ]


def test_nothing_to_replay_or_no_capture_is_2(tmp_path: Path) -> None:
    heartbeat = Message(M.HEARTBEAT_REQUEST, 3, [S.RecoveryTimeStamp(3_900_000_000)])
    capture = tmp_path / "heartbeat.hex"
    capture.write_text(encode(heartbeat).hex() + "\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 2 and "no session request to replay" in proc.stderr
    proc = run(tmp_path, tmp_path / "absent.pcap")
    assert proc.returncode == 2 and "absent.pcap" in proc.stderr

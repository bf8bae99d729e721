"""``pfcpd decode``: JSON lines per message, exit 1 after the whole file when one is bad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from oracles import require_pcaps
from sample_messages import session_establishment_request

from pfcpd.pfcp import encode
from pfcpd.pfcp.ies_scalar import Cause


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pfcpd.cli", "decode", *args], capture_output=True, text=True
    )


def test_hex_file_with_one_good_and_one_bad_message(tmp_path: Path) -> None:
    good = encode(session_establishment_request(seq=31))
    bad = good[:20]
    f = tmp_path / "msgs.hex"
    f.write_text(f"# capture\n{good.hex()}\n{bad.hex()}\n{good.hex()}\n")
    proc = run(str(f))
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 3  # the whole file is read despite the bad line
    first = lines[0]
    assert (first["message"], first["seq"], first["seid"]) == (
        "session_establishment_request",
        31,
        0,
    )
    pdr = next(ie for ie in first["ies"] if ie["ie"] == "create_pdr")
    pdi = next(ie for ie in pdr["value"] if ie["ie"] == "pdi")
    fteid = next(ie for ie in pdi["value"] if ie["ie"] == "f_teid")
    assert fteid["value"]["choose"] is True
    far = next(ie for ie in first["ies"] if ie["ie"] == "create_far")
    assert {"ie": "apply_action", "type": 44, "value": ["FORW"]} in far["value"]
    assert "error" in lines[1] and lines[1]["cause"] == 68
    assert "1 malformed" in proc.stderr


def test_pcap_capture(tmp_path: Path) -> None:
    path = require_pcaps() / "pfcp-assoc-4frames.pcap"
    proc = run(str(path))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 4
    assert all("message" in line and "src" in line for line in lines)


def test_not_a_capture(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"\xff\xfe\x00garbage")
    proc = run(str(f))
    assert proc.returncode == 2
    assert "neither pcap" in proc.stderr


def test_ignored_ies_are_shown(tmp_path: Path) -> None:
    """IEs the decoder set aside (TS 29.244 clause 7.6.9) are printed apart, with why."""
    msg = session_establishment_request(seq=5)
    msg.ies.append(Cause(1))  # Request accepted: no Cause in a request
    f = tmp_path / "msgs.hex"
    f.write_text(encode(msg).hex() + "\n")
    proc = run(str(f))
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(out) for out in proc.stdout.splitlines()]
    assert all(ie["ie"] != "cause" for ie in line["ies"])
    assert line["ignored"] == [
        {
            "path": "",
            "ie": "cause",
            "type": 19,
            "value": {"hex": "01"},
            "reason": "not expected here",
        }
    ]

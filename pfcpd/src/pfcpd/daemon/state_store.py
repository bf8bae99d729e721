"""The node's state in ``state_dir``: the Recovery Time Stamp and the associations.

The Recovery Time Stamp says when the UPF's state began: it is kept across restarts as long as
this file is intact, and a fresh one is taken when the state is lost (no file, unreadable file,
another Node ID). The file is rewritten (atomically) on every association change.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "node_state.json"
FORMAT_VERSION = 1
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


@dataclass(slots=True)
class NodeState:
    node_id: str
    recovery_time_stamp: int  # NTP-era seconds
    associations: list[dict[str, object]] = field(default_factory=list)
    restored: bool = False  # True when read back from state_dir


def now_ntp() -> int:
    return int(time.time()) + NTP_UNIX_OFFSET


def load_state(state_dir: Path, node_id: str) -> tuple[NodeState, str]:
    """The saved state, or a fresh one; the string says which and why (for the log)."""
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NodeState(node_id, now_ntp()), f"no {path}: new state"
    except (OSError, ValueError) as exc:
        return NodeState(node_id, now_ntp()), f"{path} unreadable ({exc}): new state"
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        return NodeState(node_id, now_ntp()), f"{path} has an unknown format: new state"
    if data.get("node_id") != node_id:
        return NodeState(node_id, now_ntp()), f"{path} belongs to another node_id: new state"
    ts = data.get("recovery_time_stamp")
    assocs = data.get("associations")
    if not isinstance(ts, int) or not isinstance(assocs, list):
        return NodeState(node_id, now_ntp()), f"{path} is incomplete: new state"
    return NodeState(node_id, ts, assocs, restored=True), f"state restored from {path}"


def save_state(state_dir: Path, state: NodeState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    body = {
        "version": FORMAT_VERSION,
        "node_id": state.node_id,
        "recovery_time_stamp": state.recovery_time_stamp,
        "associations": state.associations,
    }
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

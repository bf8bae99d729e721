"""The node's state in ``state_dir``: the Recovery Time Stamp, the associations, and the CPs
whose association ended with their sessions kept (``lost_peers``: Node ID -> the CP's Recovery
Time Stamp then; a file written before pfcpd kept them has none, and loads as no such CP).

The Recovery Time Stamp says when the UPF's state began: it is kept across restarts as long as
this file is intact, and a fresh one is taken when the state is lost (no file, unreadable file,
another Node ID). The file is rewritten (atomically) on every association change.

A fresh stamp always differs from every stamp issued before in ``state_dir``: the last one
issued is also kept in its own small file (``last_recovery_time_stamp``, outside the node state,
so losing the node state does not lose it). The stamp counts whole seconds, so a restart within
the second of the previous start waits for the next second; when the clock went back, the
fresh stamp is the last one plus one (an SMF sees a change, never the same value).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "node_state.json"
LAST_STAMP_FILE = "last_recovery_time_stamp"
MAX_WAIT = 2.0  # seconds a start waits for a stamp of its own; beyond, the last one plus one
FORMAT_VERSION = 1
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


@dataclass(slots=True)
class NodeState:
    node_id: str
    recovery_time_stamp: int  # NTP-era seconds
    associations: list[dict[str, object]] = field(default_factory=list)
    # Node ID -> Recovery Time Stamp of each CP whose association ended with its sessions
    # kept (`PfcpNode.lost_peers`)
    lost_peers: dict[str, int] = field(default_factory=dict)
    restored: bool = False  # True when read back from state_dir


def last_recovery_time_stamp(state_dir: Path) -> int:
    """The last Recovery Time Stamp issued in ``state_dir`` (0 when none is known)."""
    try:
        return int((state_dir / LAST_STAMP_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return 0


def _write_durably(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fresh_recovery_time_stamp(
    state_dir: Path,
    previous: int = 0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """A Recovery Time Stamp for a node whose state is new: the current second, later than
    ``previous`` and than the last stamp issued in ``state_dir`` (waiting for the next second
    when needed, at most ``MAX_WAIT``); recorded as the last stamp before it is returned."""
    last = max(previous, last_recovery_time_stamp(state_dir))
    ts = int(clock()) + NTP_UNIX_OFFSET
    if ts <= last:
        wait = last + 1 - NTP_UNIX_OFFSET - clock()
        if 0 < wait <= MAX_WAIT:
            sleep(wait)
            ts = max(int(clock()) + NTP_UNIX_OFFSET, last + 1)
        else:  # the clock went back: a value no SMF has seen from this node
            ts = last + 1
    _write_durably(state_dir / LAST_STAMP_FILE, f"{ts}\n")
    return ts


def load_state(
    state_dir: Path, node_id: str, new_stamp: Callable[[Path, int], int] = fresh_recovery_time_stamp
) -> tuple[NodeState, str]:
    """The saved state, or a fresh one; the string says which and why (for the log)."""
    path = state_dir / STATE_FILE
    previous = 0  # a stamp read from a state that is not taken: the fresh one differs

    def fresh(why: str) -> tuple[NodeState, str]:
        return NodeState(node_id, new_stamp(state_dir, previous)), why

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fresh(f"no {path}: new state")
    except (OSError, ValueError) as exc:
        return fresh(f"{path} unreadable ({exc}): new state")
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        return fresh(f"{path} has an unknown format: new state")
    ts = data.get("recovery_time_stamp")
    if isinstance(ts, int):
        previous = ts
    if data.get("node_id") != node_id:
        return fresh(f"{path} belongs to another node_id: new state")
    assocs = data.get("associations")
    if not isinstance(ts, int) or not isinstance(assocs, list):
        return fresh(f"{path} is incomplete: new state")
    if last_recovery_time_stamp(state_dir) < ts:  # a state from before the stamp file
        _write_durably(state_dir / LAST_STAMP_FILE, f"{ts}\n")
    lost = data.get("lost_peers")  # (none in a file of a pfcpd before them)
    if not isinstance(lost, dict):
        lost = {}
    lost_peers = {
        str(k): v for k, v in lost.items() if isinstance(v, int) and not isinstance(v, bool)
    }
    state = NodeState(node_id, ts, assocs, lost_peers, restored=True)
    return state, f"state restored from {path}"


def save_state(state_dir: Path, state: NodeState) -> None:
    body = {
        "version": FORMAT_VERSION,
        "node_id": state.node_id,
        "recovery_time_stamp": state.recovery_time_stamp,
        "associations": state.associations,
        "lost_peers": state.lost_peers,
    }
    _write_durably(state_dir / STATE_FILE, json.dumps(body, indent=1))

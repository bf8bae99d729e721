"""The allocators' marks in the journal: record `MARKS_KEY`, read back before the sessions.

Each mark says that no value from it on was handed out: of the local TEIDs, of each UE pool
of each network instance, of the UP SEIDs. A value taken at or past its allocator's mark
moves the mark a chunk ahead (`allocation._Space`, `EngineState._new_seid`) and the record
goes with the commit of that batch, before its answers; the other allocators taken from
since the last write whose marks are less than half a chunk ahead move theirs with it
(``top_up``), so that they share that write (a UE pool's chunk: `allocation.py`). A
restarted engine hands out never-used values from the marks on (`Restoring.restore`), so a
value freed before the restart, or a deleted session's UP SEID, is not handed out at once.

The UP SEIDs are 1 .. `SEID_MAX` (0 is not one) handed out in increasing order, from
`SEID_MAX` on to 1 again (skipping those in use); their mark is in that space too, and
"at or past the mark" is circular: a UP SEID is below the mark when it is one of the
`SEID_CHUNK` before it (`EngineState._new_seid`), and the mark moves `SEID_CHUNK` after it
(`seid_after`).

`Marks.read` takes what is valid of a record. An entry that is not (a TEIDs' mark that is no
non-negative integer, a UP SEIDs' one that is no UP SEID, a UE pool entry whose prefix does
not parse or whose mark is no non-negative integer) is logged with its text and left out,
and its allocator starts as without a mark (the TEIDs from the lowest not in use, the UP
SEIDs after the highest restored, the pool from its lowest); the others keep theirs. A
record of another version, or not JSON, is not read at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

from ..datapath.interface import IPNetwork

log = logging.getLogger("pfcpd.session")

MARKS_KEY = "alloc"
MARKS_VERSION = 1
SEID_CHUNK = 4096  # how far ahead of the UP SEID taken past it the UP SEIDs' mark moves
SEID_MAX = (1 << 64) - 1  # the highest UP SEID (the lowest: 1)


def seid_after(seid: int, step: int) -> int:
    """The UP SEID ``step`` (0 .. `SEID_MAX` - 1) after ``seid``, from `SEID_MAX` on to 1."""
    return (seid - 1 + step) % SEID_MAX + 1


@dataclass(frozen=True, slots=True)
class Marks:
    """The marks as journaled: TEIDs', UP SEIDs', (network instance, prefix, mark) of each
    UE pool configured then. None: the record has no valid mark of that allocator."""

    teid: int | None
    seid: int | None
    ue: tuple[tuple[str, IPNetwork, int], ...]

    def record(self) -> bytes:
        ue = [[name, str(net), mark] for name, net, mark in self.ue]
        d = {"v": MARKS_VERSION, "teid": self.teid, "seid": self.seid, "ue": ue}
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def read(cls, value: bytes) -> Marks:
        """The valid marks of a record (the others logged: see the module's docstring).
        ValueError: not JSON, or of another version."""
        d = json.loads(value)
        if not isinstance(d, dict):
            raise ValueError("marks record not a JSON object")
        if d.get("v") != MARKS_VERSION:
            raise ValueError(f"marks record version {d.get('v')}")
        teid = _mark(d.get("teid"), 0, None, "TEIDs'")
        seid = _mark(d.get("seid"), 1, SEID_MAX, "UP SEIDs'")
        entries = d.get("ue")
        if not isinstance(entries, list):
            log.error("marks record: UE pools' marks %r not read: not a list", entries)
            entries = []
        ue = []
        for entry in entries:
            try:
                ue.append(_ue_entry(entry))
            except ValueError as err:
                log.error("marks record: UE pool mark %r not read: %s", entry, err)
        return cls(teid, seid, tuple(ue))


def _mark(value: Any, lo: int, hi: int | None, what: str) -> int | None:
    """``value`` when it is an integer ``lo`` .. ``hi`` (None: no bound), else None, logged."""
    if type(value) is int and lo <= value and (hi is None or value <= hi):
        return value
    bounds = f"{lo} .. {hi}" if hi is not None else f"from {lo} on"
    log.error("marks record: %s mark %r not read: not an integer %s", what, value, bounds)
    return None


def _ue_entry(entry: Any) -> tuple[str, IPNetwork, int]:
    """(network instance, prefix, mark) of a UE pool entry; ValueError when it is not one."""
    if not isinstance(entry, list) or len(entry) != 3:
        raise ValueError("not [network instance, prefix, mark]")
    name, net, mark = entry
    if not isinstance(name, str) or not isinstance(net, str):
        raise ValueError("network instance or prefix not a string")
    if type(mark) is not int or mark < 0:
        raise ValueError("mark not a non-negative integer")
    return name, ip_network(net), mark  # (ValueError: the prefix does not parse)

"""The allocators' marks in the journal: record `MARKS_KEY`, read back before the sessions.

Each mark says that no value from it on was handed out: of the local TEIDs, of each UE pool
of each network instance, of the UP SEIDs. A value taken at or past its allocator's mark
moves the mark a chunk ahead (`allocation._Space`, `EngineState._new_seid`) and the record
goes with the commit of that batch, before its answers; a restarted engine hands out
never-used values from the marks on (`Restoring.restore`), so a value freed before the
restart, or a deleted session's UP SEID, is not handed out at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import ip_network

from ..datapath.interface import IPNetwork

MARKS_KEY = "alloc"
MARKS_VERSION = 1
SEID_CHUNK = 4096  # how far ahead of the UP SEID taken past it the UP SEIDs' mark moves


@dataclass(frozen=True, slots=True)
class Marks:
    """The marks as journaled: TEIDs', UP SEIDs', (network instance, prefix, mark) of each
    UE pool configured then."""

    teid: int
    seid: int
    ue: tuple[tuple[str, IPNetwork, int], ...]

    def record(self) -> bytes:
        ue = [[name, str(net), mark] for name, net, mark in self.ue]
        d = {"v": MARKS_VERSION, "teid": self.teid, "seid": self.seid, "ue": ue}
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def read(cls, value: bytes) -> Marks:
        d = json.loads(value)
        if d.get("v") != MARKS_VERSION:
            raise ValueError(f"marks record version {d.get('v')}")
        ue = tuple((str(name), ip_network(str(net)), int(mark)) for name, net, mark in d["ue"])
        return cls(int(d["teid"]), int(d["seid"]), ue)

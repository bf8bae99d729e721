"""A datapath for the session tests that pipelines as the vpp datapath does: installs sent
at once and acknowledged at the group commit's barrier (`Datapath.settle`)."""

from __future__ import annotations

from collections.abc import Callable

from pfcpd.datapath.interface import (
    Datapath,
    DatapathError,
    DatapathEvent,
    SessionProgram,
    Usage,
)
from pfcpd.datapath.local.engine import LocalDatapath


class Pipelined(Datapath):
    """The local datapath behind a pipeline: installs are queued and applied, in order, when
    the engine settles (or before any call that reads the datapath); ``refuse(seid, program)``
    says which the datapath refuses then (a refused install changes nothing, and so does
    every later install of that session in the batch, as when VPP refuses a message)."""

    def __init__(self, inner: LocalDatapath) -> None:
        self.inner = inner
        self.queue: list[tuple[int, SessionProgram, bool]] = []
        self.failed: dict[int, DatapathError] = {}
        self.refuse: Callable[[int, SessionProgram], bool] = lambda seid, program: False
        self.applied: list[tuple[int, SessionProgram]] = []  # in the order applied
        self.settles = 0

    def install(
        self, seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        self.queue.append((seid, program, end_markers))

    def _apply(self) -> None:
        queue, self.queue = self.queue, []
        for seid, program, sndem in queue:
            if seid in self.failed or self.refuse(seid, program):
                self.failed.setdefault(seid, DatapathError(f"0x{seid:x} refused"))
                continue
            self.inner.install(seid, program, end_markers=sndem)
            self.applied.append((seid, program))

    def settle(self) -> dict[int, DatapathError]:
        self.settles += 1
        self._apply()
        failed, self.failed = self.failed, {}
        return failed

    def remove(self, seid: int) -> dict[int, Usage]:
        self._apply()
        return self.inner.remove(seid)

    def read_usage(self, seid: int, urr_id: int, reset: bool = False) -> Usage:
        self._apply()
        return self.inner.read_usage(seid, urr_id, reset)

    def poll_events(self) -> list[DatapathEvent]:
        return self.inner.poll_events()

    def drop_buffered(self, seid: int) -> int:
        self._apply()
        return self.inner.drop_buffered(seid)

    def rearm_dl_data_report(self, seid: int, pdr_id: int, qfi: int) -> bool:
        self._apply()
        return self.inner.rearm_dl_data_report(seid, pdr_id, qfi)

    def buffered(self, seid: int) -> int:
        self._apply()
        return self.inner.buffered(seid)

    def now_ns(self) -> int:
        return self.inner.now_ns()

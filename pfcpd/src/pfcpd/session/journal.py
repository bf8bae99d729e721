"""Where the engine makes its state durable: the :class:`Journal` the daemon provides.

The engine calls :meth:`Journal.commit` once per state-changing transaction, after the
datapath accepted the change and before the answer leaves; a commit is all or nothing.
Keys are the engine's (``s:<UP SEID hex>`` per session, ``pfd`` for the PFDs), values are
opaque bytes the engine writes and reads back with :meth:`SessionEngine.restore`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Protocol


class JournalError(Exception):
    """A change could not be made durable (the engine rolls back and answers cause 77)."""


class Journal(Protocol):
    def commit(self, puts: Mapping[str, bytes], deletes: Collection[str]) -> None:
        """Store ``puts`` (insert or replace) and remove ``deletes``, atomically and durably;
        raise JournalError when that cannot be done."""
        ...


class MemoryJournal:
    """A journal in memory (tests, and a daemon without durable state). ``fail_next`` makes
    that many following commits fail (failure injection for tests)."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.commits = 0
        self.fail_next = 0

    def commit(self, puts: Mapping[str, bytes], deletes: Collection[str]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise JournalError("injected failure")
        self.commits += 1
        for key in deletes:
            self.records.pop(key, None)
        self.records.update(puts)

    def items(self) -> Iterator[tuple[str, bytes]]:
        return iter(list(self.records.items()))

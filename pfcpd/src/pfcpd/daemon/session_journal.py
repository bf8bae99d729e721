"""The session journal in ``state_dir``: SQLite in WAL mode, one row per engine key.

The session engine (`pfcpd.session`) hands over the changes of every request answered since
the last datagrams left as one :meth:`SessionJournal.commit` (records to insert or replace,
keys to delete: group commit, see `SessionEngine.commit`). A commit is one SQLite
transaction (``synchronous=NORMAL``): when it returns, the changes are in the WAL file (a
``kill -9`` of pfcpd loses nothing); any failure (disk full, I/O error) raises
`JournalError`, and the engine rolls every change of the commit back and answers cause 77.
The answers then wait until :meth:`SessionJournal.sync` has flushed the WAL to the disk
(``fdatasync``: one for every commit made since the last one), so nothing is confirmed
before it survives a power cut too. The server runs it on the event loop when no state
write is under way (no hand-off to a thread and back), else in its state-writing thread
with that write. A failed sync leaves the file's state unknown: the server then stops
pfcpd without sending the answers waiting for it. Checkpoints (copying the WAL into the
database, once about CHECKPOINT_BYTES were written to it since the last one: the WAL file
keeps its size when it starts over, so its size does not tell) run in the state-writing
thread: :meth:`checkpoint`, in passes until the WAL can start over (else, under steady
load, it grows without end).
At start-up :meth:`records` gives the engine everything back (`SessionEngine.restore`).

Measured on the development VM (ext4 on virtio): a commit of one 600-byte record takes
about 150 us with ``synchronous=NORMAL`` and about 1 ms with ``synchronous=FULL`` (an fsync
each, so at most ~1,000 confirmed changes per second); a commit of 64 such records about
1 ms. An ``fsync`` of the WAL took 0.5 ms (p50) to 5 ms (p99), an ``fdatasync`` 0.1 to
0.3 ms: the WAL is rewritten in place once checkpointed, so its size (metadata an
``fdatasync`` also writes) rarely changes (measured alone on /var/tmp, 8 KiB a flush: in
place p50 0.13 ms, p99 0.65 ms; appended, the file growing, p50 0.19 ms, p99 3.9 ms).
SQLite's automatic checkpoints ran inside commits, on the event loop: 20,000 commits of
1,500 bytes had p99 8.2 ms and max 72 ms; with the checkpoints in the state-writing thread
p99 2.7 ms and max 26 ms.
The records are a rowid table with an index on the key, changed in place (an upsert). The
first journals' WITHOUT ROWID table keeps whole rows in its interior pages too, eight
~480-byte session records a page: six levels at 50,000 sessions, and a commit of 16
establishments wrote 10.3 pages to the WAL (6.8 now); each page is checksummed and written
with two system calls. CPU per record, 50,000 records in commits of 16 (checkpoints
included, three rounds alternating): insert 8.5-9.5 -> 7.7-8.4 us, replace 8.8-9.7 -> 4.4-4.9
us (before: the row deleted and inserted again), delete 7.7-8.9 -> 7.3-7.9 us.
The records of a commit go in one statement of many rows (up to ROWS_PER_STATEMENT), not
one statement run once per row (``executemany``): SQLite then runs one program, takes its
locks and Python releases the GIL once per statement, not once per row. Callgrind, 6,400
~500-byte records inserted in commits of 64: 16.8 k instructions a record with
``executemany`` (and BEGIN/COMMIT), 12.0 k with one statement of 64 rows (its own
transaction).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

from ..session.journal import JournalError

JOURNAL_FILE = "sessions.sqlite"
SCHEMA_VERSION = 1
CHECKPOINT_BYTES = 4 << 20  # a checkpoint is due once about this much went into the WAL
WAL_SIZE_LIMIT = 4 * CHECKPOINT_BYTES  # bytes of WAL file kept when the WAL starts over
# What a commit writes into the WAL, estimated: whole B-tree pages, about twice the records'
# bytes, and a page or two more per transaction (the commit frame, interior pages).
_WAL_PER_COMMIT = 8192
CHECKPOINT_PASSES = 4  # at most, until every frame of the WAL is in the database
BUSY_TIMEOUT_MS = 5000  # a commit waits this long for a checkpoint holding a lock
CLOSE_WAIT = 1.0  # seconds close() waits for a checkpoint under way before leaving the WAL
# Insert, or update in place (INSERT OR REPLACE deletes the row and inserts it again: in a
# rowid table at a new rowid, more pages written). The records are bound as bytearrays: the
# same BLOB, but the sqlite3 module looks for an adapter for every bytes parameter (a
# registry lookup and two failed attribute lookups, ~3,000 instructions a record; a copy
# into a bytearray costs ~200). Values of other types go as they are (sqlite3 refuses them
# as before: JournalError).
_PUT = (
    "INSERT INTO records (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# A commit's records, and the keys it deletes, go in statements of at most this many rows
# each (a statement of each size up to it is prepared once and cached: CACHED_STATEMENTS).
ROWS_PER_STATEMENT = 64
CACHED_STATEMENTS = 2 * ROWS_PER_STATEMENT + 16


@functools.cache
def _puts(rows: int) -> str:
    """The statement that inserts or replaces ``rows`` records (bound key, value, ...)."""
    values = ",".join(["(?,?)"] * rows)
    return _PUT.replace("(?, ?)", values)


@functools.cache
def _deletes(rows: int) -> str:
    """The statement that deletes the records of ``rows`` keys."""
    return f"DELETE FROM records WHERE key IN ({','.join(['?'] * rows)})"


class SessionJournal:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / JOURNAL_FILE
        try:
            self.db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=CACHED_STATEMENTS,
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (WAL -> database, with fsyncs) run in sync(), off the event loop.
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            # When the WAL starts over, a file grown past this is cut back to it.
            self.db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise JournalError(f"{self.path}: unknown schema version {version}")
            # A rowid table (a journal made before 2026-12-03 has a WITHOUT ROWID one: the
            # same statements serve both, it stays as it is).
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
            )
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: {exc}") from None
        self.commits = 0
        self.unsynced = False  # commits since the last sync() began
        self._wal_bytes = 0  # estimated bytes written to the WAL since the last checkpoint
        self._wal_fd: int | None = None
        self._checkpointer: sqlite3.Connection | None = None  # used by sync()'s thread only
        # Held by each commit, and by a checkpoint's last pass (see `checkpoint`).
        self._writes = threading.Lock()
        self._checkpointing = threading.Lock()  # held by a checkpoint (close() waits for it)

    def commit(self, puts: Mapping[str, bytes], deletes: Collection[str]) -> None:
        """Store ``puts`` and remove ``deletes`` in one durable transaction (after the last
        pass of a checkpoint under way: see `checkpoint`)."""
        with self._writes:
            self._commit(puts, deletes)

    def _commit(self, puts: Mapping[str, bytes], deletes: Collection[str]) -> None:
        db = self.db
        try:
            if not deletes and len(puts) <= ROWS_PER_STATEMENT:
                # One statement is its own transaction (autocommit): no BEGIN/COMMIT, for
                # the usual commit (the changes of one batch of requests; deletions too).
                if len(puts) == 1:  # (the usual change of one session)
                    key, value = next(iter(puts.items()))
                    db.execute(_PUT, (key, bytearray(value) if type(value) is bytes else value))
                    self.commits += 1
                    self.unsynced = True
                    self._wal_bytes += _WAL_PER_COMMIT + 2 * (len(key) + len(value))
                    return
                if puts:
                    db.execute(_puts(len(puts)), _row_params(puts.items()))
            elif not puts and len(deletes) <= ROWS_PER_STATEMENT:  # (deletions alone)
                db.execute(_deletes(len(deletes)), list(deletes))
            else:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if deletes:
                        keys = list(deletes)
                        for at in range(0, len(keys), ROWS_PER_STATEMENT):
                            some = keys[at : at + ROWS_PER_STATEMENT]
                            db.execute(_deletes(len(some)), some)
                    items = list(puts.items())
                    for at in range(0, len(items), ROWS_PER_STATEMENT):
                        rows = items[at : at + ROWS_PER_STATEMENT]
                        db.execute(_puts(len(rows)), _row_params(rows))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: {exc}") from None
        self.commits += 1
        self.unsynced = True
        self._wal_bytes += _WAL_PER_COMMIT + 2 * (
            sum(map(len, puts)) + sum(map(len, puts.values())) + sum(map(len, deletes))
        )

    def sync(self) -> None:
        """Flush the WAL to the disk (``fdatasync``; the first time also ``fsync`` the
        directory holding it): every commit made before this call is then on disk. Safe to
        run in another thread than the commits. OSError when the flush fails."""
        if self._wal_fd is None:
            wal = self.path.with_name(self.path.name + "-wal")
            self._wal_fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        os.fdatasync(self._wal_fd)

    @property
    def checkpoint_due(self) -> bool:
        """About CHECKPOINT_BYTES went into the WAL since the last checkpoint."""
        return self._wal_bytes >= CHECKPOINT_BYTES

    def checkpoint(self) -> None:
        """Copy the WAL into the database, so that the next commit starts the WAL from its
        beginning again. SQLite starts it over only once every frame is in the database,
        and commits made while a checkpoint copies add frames it does not copy: with one
        PASSIVE checkpoint (commits go on meanwhile) per CHECKPOINT_BYTES, the WAL grew for
        as long as commits kept coming (measured: 104 MB after 30,000 establishments, and
        every flush then also wrote the file's new size: fdatasync p50 0.4-0.5 ms against
        0.2 ms in place). So PASSIVE passes follow, each copying what came meanwhile (a
        few frames; one with nothing to copy costs nothing), until one finds nothing new;
        the last of CHECKPOINT_PASSES is a RESTART, which holds commits off while it copies
        the rest. A commit then waits for it on a lock (`_writes`, taken by that pass
        before SQLite's) for as long as it takes: before, it waited in SQLite's busy
        handler, which sleeps 1, 2, then 5 ms between tries, so a pass of a millisecond
        held a commit (and every answer of its batch) 1.2 ms at best and up to 8 ms
        (bench/session_rate.py's paced phase, 2026-12-05: one commit per checkpoint).
        Safe to run in another thread than the commits (one at a time). OSError when it
        fails (the WAL, synced, still holds every change)."""
        with self._checkpointing:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self._wal_bytes = 0
        try:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._checkpointer.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            last = -1
            for n in range(1, CHECKPOINT_PASSES + 1):
                # (frames: the WAL's as the pass began; commits may add more meanwhile)
                if n < CHECKPOINT_PASSES:
                    _, frames, copied = self._checkpointer.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                else:
                    with self._writes:
                        _, frames, copied = self._checkpointer.execute(
                            "PRAGMA wal_checkpoint(RESTART)"
                        ).fetchone()
                if frames == last and copied == frames:
                    break  # nothing came since the pass before: every frame copied
                last = frames
        except sqlite3.Error as exc:
            raise OSError(f"{self.path}: checkpoint: {exc}") from None

    def records(self) -> Iterator[tuple[str, bytes]]:
        """Every record, for the engine's restore at start-up."""
        try:
            rows = self.db.execute("SELECT key, value FROM records ORDER BY key").fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: {exc}") from None
        return iter([(str(k), bytes(v)) for k, v in rows])

    def close(self) -> None:
        """Checkpoint the WAL into the database and close it. A checkpoint still running in
        the state-writing thread (a stop that did not wait for it) keeps its connection:
        then the WAL stays as it is, and the next open replays it."""
        if self._checkpointing.acquire(timeout=CLOSE_WAIT):
            try:
                if self._checkpointer is not None:
                    self._checkpointer.close()
                    self._checkpointer = None
                with contextlib.suppress(sqlite3.Error):  # (else the next open replays the WAL)
                    self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._checkpointing.release()
        self.db.close()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None


def _row_params(rows: Iterable[tuple[str, bytes]]) -> list[object]:
    """The parameters of `_puts` for ``rows`` (key, value): key, value, key, value, ...
    (values as bytearrays, see _PUT)."""
    params: list[object] = []
    add = params.extend
    for key, value in rows:
        add((key, bytearray(value) if type(value) is bytes else value))
    return params

"""The daemon's session journal (SQLite WAL in state_dir), on its own."""

from __future__ import annotations

import ipaddress
import sqlite3
from pathlib import Path

import pytest
from datapath.conftest import require_core

from pfcpd.daemon import session_journal
from pfcpd.daemon.session_journal import SessionJournal
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.session import EngineSettings, JournalError, SessionEngine
from pfcpd.session.marks import MARKS_KEY


def test_commits_are_atomic_and_read_back_after_reopening(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path)
    journal.commit({"s:1": b"one", "s:2": b"two", "pfd": b"p"}, ())
    journal.commit({"s:3": b"three", "s:1": b"ONE"}, ["s:2"])
    assert journal.unsynced
    journal.sync()
    assert list(journal.records()) == [("pfd", b"p"), ("s:1", b"ONE"), ("s:3", b"three")]
    journal.close()
    again = SessionJournal(tmp_path)
    assert dict(again.records()) == {"pfd": b"p", "s:1": b"ONE", "s:3": b"three"}
    again.close()


def test_the_allocators_marks_come_back_after_reopening(tmp_path: Path) -> None:
    """An engine's marks (record ``alloc``, committed with the batch that moved them) read
    back from SQLite by a new engine: it hands out never-used values from them on."""
    require_core()
    settings = EngineSettings(
        n3_address=ipaddress.ip_address("192.0.2.1"),
        pfcp_address=ipaddress.ip_address("127.0.0.1"),
        ue_pools={"internet": (ipaddress.ip_network("10.45.0.0/24"),)},
    )
    dps = [LocalDatapath(expected_sessions=16) for _ in range(2)]
    try:
        journal = SessionJournal(tmp_path)
        engine = SessionEngine(settings, dps[0], journal)
        taken = engine.ue_pools.take_text("internet", 4)
        assert taken is not None and taken[1] == "10.45.0.1"
        assert (engine.teids.take(), engine._new_seid()) == (1, 1)
        assert engine.commit() == []
        journal.sync()
        journal.close()
        again = SessionJournal(tmp_path)
        assert [key for key, _ in again.records()] == [MARKS_KEY]
        restored = SessionEngine(settings, dps[1], again)
        assert restored.restore(again.records(), 0.0) == 0
        assert restored._marks() == engine._marks()
        taken = restored.ue_pools.take_text("internet", 4)
        assert taken is not None and taken[1] == "10.45.0.17"  # (the pool's chunk: 16)
        assert (restored.teids.take(), restored._new_seid()) == (4097, 4097)
        again.close()
    finally:
        for dp in dps:
            dp.close()


@pytest.mark.parametrize("old_form", [False, True])
def test_records_are_replaced_and_removed_in_either_table_form(
    tmp_path: Path, old_form: bool
) -> None:
    """A journal made before 2026-12-03 has a WITHOUT ROWID table; new ones a rowid table.
    Either serves: records inserted, replaced (one record, several), removed, read back."""
    if old_form:
        db = sqlite3.connect(tmp_path / session_journal.JOURNAL_FILE)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE records (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        db.execute("INSERT INTO records VALUES ('s:1', x'01'), ('s:2', x'02')")
        db.execute("PRAGMA user_version=1")
        db.commit()
        db.close()
    journal = SessionJournal(tmp_path)
    journal.commit({"s:1": b"one", "s:2": b"two", "s:3": b"three"}, ())
    journal.commit({"s:2": b"TWO"}, ())
    journal.commit({"s:3": b"THREE", "s:4": b"four"}, ["s:1"])
    journal.commit({}, ["s:4", "s:5"])
    journal.sync()
    journal.close()
    again = SessionJournal(tmp_path)
    assert list(again.records()) == [("s:2", b"TWO"), ("s:3", b"THREE")]
    sql = again.db.execute("SELECT sql FROM sqlite_schema WHERE name = 'records'").fetchone()[0]
    assert ("WITHOUT ROWID" in sql) == old_form  # (an old journal is kept as it is)
    again.close()


def test_records_are_stored_as_the_blobs_given(tmp_path: Path) -> None:
    """The records go to SQLite as bytearrays (no adapter lookup): stored as BLOBs of the
    same octets as bytes would be, by one statement and by several."""
    journal = SessionJournal(tmp_path)
    journal.commit({"s:1": b"one"}, ())
    journal.commit({"s:2": b"\x00two", "s:3": b""}, ())
    journal.sync()
    rows = journal.db.execute("SELECT key, typeof(value), value FROM records ORDER BY key")
    assert rows.fetchall() == [
        ("s:1", "blob", b"one"),
        ("s:2", "blob", b"\x00two"),
        ("s:3", "blob", b""),
    ]
    journal.close()


def test_a_failed_commit_raises_journal_error_and_changes_nothing(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path)
    journal.commit({"s:1": b"one"}, ())
    with pytest.raises(JournalError):
        journal.commit({"s:2": b"two", "s:3": None}, ())  # type: ignore[dict-item]
    assert dict(journal.records()) == {"s:1": b"one"}  # s:2 rolled back with s:3
    with pytest.raises(JournalError):  # one record: a single statement, as atomic
        journal.commit({"s:5": None}, ())  # type: ignore[dict-item]
    assert dict(journal.records()) == {"s:1": b"one"}
    journal.close()
    with pytest.raises(JournalError):
        journal.commit({"s:4": b"four"}, ())  # closed database


def test_a_checkpoint_is_due_after_enough_commits_and_copies_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_journal, "CHECKPOINT_BYTES", 100_000)
    journal = SessionJournal(tmp_path)
    database = tmp_path / session_journal.JOURNAL_FILE
    before = database.stat().st_size
    journal.commit({f"s:{i}": bytes(1000) for i in range(20)}, ())
    journal.sync()
    assert not journal.checkpoint_due  # ~50 kB written to the WAL
    journal.commit({f"s:{i}": bytes(1000) for i in range(20, 50)}, ())
    journal.sync()
    assert journal.checkpoint_due
    assert database.stat().st_size == before  # only in the WAL so far
    journal.checkpoint()
    assert not journal.checkpoint_due
    assert database.stat().st_size > before + 50 * 1000  # copied into the database
    journal.commit({"s:x": b"after"}, ())
    assert len(dict(journal.records())) == 51
    journal.close()


def test_the_wal_starts_over_after_checkpoints_while_commits_go_on(tmp_path: Path) -> None:
    """Commits and flushes without a pause while checkpoints run in another thread (as the
    event loop's while the state-writing thread checkpoints): the WAL starts over after
    each checkpoint, so its file stays small (one PASSIVE checkpoint never caught up:
    the WAL held every frame of the run)."""
    import threading

    journal = SessionJournal(tmp_path)
    wal = tmp_path / (session_journal.JOURNAL_FILE + "-wal")
    stop = threading.Event()
    sizes: list[int] = []

    def checkpoints() -> None:
        while not stop.is_set():
            if journal.checkpoint_due:
                journal.checkpoint()
                sizes.append(wal.stat().st_size)
            stop.wait(0.01)

    thread = threading.Thread(target=checkpoints)
    thread.start()
    try:
        for i in range(6000):
            journal.commit({f"s:{i}": bytes(600)}, ())
            journal.sync()
    finally:
        stop.set()
        thread.join()
    journal.sync()
    assert len(dict(journal.records())) == 6000
    assert len(sizes) >= 5  # (6,000 commits: some 30 MB of frames, a checkpoint per ~4 MB)
    assert max(sizes) < 4 * session_journal.CHECKPOINT_BYTES, sizes
    journal.close()


def test_commits_of_many_rows_store_what_one_row_at_a_time_stores(tmp_path: Path) -> None:
    """A commit's records and deletions go in statements of many rows (chunks of
    ROWS_PER_STATEMENT): the table ends up as when each row goes by itself (rowids too),
    for commits of every size around the chunk's."""
    import random

    chunk = session_journal.ROWS_PER_STATEMENT
    journal = SessionJournal(tmp_path / "many")
    reference = sqlite3.connect(":memory:", isolation_level=None)
    reference.execute("CREATE TABLE records (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    rng = random.Random(14)
    keys = [f"s:{i:x}" for i in range(1, 400)]
    sizes = [1, 2, 3, chunk - 1, chunk, chunk + 1, 2 * chunk + 5, 0]
    for round_ in range(3):
        for size in sizes:
            for gone in (0, 1, chunk + 2):
                deletes = rng.sample(keys, gone)
                puts = {k: f"{k}.{round_}.{size}".encode() for k in rng.sample(keys, size)}
                journal.commit(puts, deletes)
                for k in deletes:
                    reference.execute("DELETE FROM records WHERE key = ?", (k,))
                for k, v in puts.items():
                    reference.execute(session_journal._PUT, (k, v))
    journal.sync()
    query = "SELECT rowid, key, typeof(value), value FROM records ORDER BY rowid"
    assert journal.db.execute(query).fetchall() == reference.execute(query).fetchall()
    assert len(dict(journal.records())) > 100
    journal.close()


def test_a_failed_commit_of_several_statements_changes_nothing(tmp_path: Path) -> None:
    chunk = session_journal.ROWS_PER_STATEMENT
    journal = SessionJournal(tmp_path)
    journal.commit({f"s:{i}": b"x" for i in range(chunk + 3)}, ())
    before = dict(journal.records())
    puts: dict[str, bytes] = {f"t:{i}": b"y" for i in range(2 * chunk)}
    puts["t:last"] = None  # type: ignore[assignment]  # (the last chunk fails)
    with pytest.raises(JournalError):
        journal.commit(puts, [f"s:{i}" for i in range(chunk + 1)])
    assert dict(journal.records()) == before
    journal.close()


def test_a_checkpoints_last_pass_holds_commits_on_a_lock_not_in_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RESTART pass runs with the journal's write lock held, so a commit waits on that
    lock for exactly as long as the pass takes (not in SQLite's busy handler, which sleeps
    1, 2, 5 ms between tries); the PASSIVE passes before it let commits go on."""
    import threading

    monkeypatch.setattr(session_journal, "CHECKPOINT_BYTES", 10_000)
    journal = SessionJournal(tmp_path)
    held: list[tuple[str, bool]] = []

    class Recording:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def execute(self, sql: str) -> sqlite3.Cursor:
            held.append((sql, journal._writes.locked()))
            return self.db.execute(sql)

        def close(self) -> None:
            self.db.close()

    journal.commit({f"s:{i}": bytes(1000) for i in range(20)}, ())
    journal.sync()
    journal._checkpointer = Recording(  # type: ignore[assignment]
        sqlite3.connect(journal.path, isolation_level=None, check_same_thread=False)
    )
    monkeypatch.setattr(session_journal, "CHECKPOINT_PASSES", 2)
    # a commit between the two passes, so that the first does not end the checkpoint
    real_execute = Recording.execute

    def execute(self: Recording, sql: str) -> sqlite3.Cursor:
        cursor = real_execute(self, sql)
        if "PASSIVE" in sql:
            journal.commit({"s:between": b"x"}, ())  # (the PASSIVE pass does not hold it)
        return cursor

    monkeypatch.setattr(Recording, "execute", execute)
    journal.checkpoint()
    assert [(sql.split("(")[1].rstrip(")"), locked) for sql, locked in held] == [
        ("PASSIVE", False),
        ("RESTART", True),
    ]

    # A commit while the lock is held waits for it, then goes through.
    done = threading.Event()
    journal._writes.acquire()
    try:
        thread = threading.Thread(target=lambda: (journal.commit({"s:y": b"y"}, ()), done.set()))
        thread.start()
        assert not done.wait(0.2)  # (held: the commit waits)
    finally:
        journal._writes.release()
    assert done.wait(10)
    thread.join()
    assert dict(journal.records())[("s:y")] == b"y"
    journal.close()


def test_close_leaves_a_checkpoint_under_way_its_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that did not wait for the state-writing thread: close() does not close the
    connection a checkpoint is using; the WAL stays and the next open replays it."""
    monkeypatch.setattr(session_journal, "CLOSE_WAIT", 0.01)
    journal = SessionJournal(tmp_path)
    journal.commit({"s:1": b"one"}, ())
    journal.sync()
    journal.checkpoint()  # (opens the checkpointer)
    checkpointer = journal._checkpointer
    assert checkpointer is not None
    journal.commit({"s:2": b"two"}, ())
    journal.sync()
    journal._checkpointing.acquire()  # (a checkpoint under way in another thread)
    try:
        journal.close()
        assert journal._checkpointer is checkpointer
        assert checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
    finally:
        journal._checkpointing.release()
    checkpointer.close()
    again = SessionJournal(tmp_path)
    assert dict(again.records()) == {"s:1": b"one", "s:2": b"two"}
    again.close()
    assert again._checkpointer is None

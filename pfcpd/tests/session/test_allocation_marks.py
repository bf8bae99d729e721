"""The allocators' marks (marks.py): no value from a mark on was handed out. A value taken at
or past its allocator's mark moves the mark a chunk ahead; the marks' record goes with the
commit of that batch, before its answers (also when the batch is undone: the marks stay
ahead), and a restarted engine hands out never-used values from the marks on, then what is
free below them, lowest first, in the pools configured then."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Collection, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Network

import pytest
from pipelined_datapath import Pipelined
from session_harness import (
    Harness,
    cause,
    created,
    establishment,
    restarted,
    standard_rules,
    up_seid,
)

from pfcpd.datapath.interface import IPNetwork
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import IEType, Message, MessageType
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine
from pfcpd.session.allocation import TEID_CHUNK, Exhausted, UeAddressPools, UePool, _Space
from pfcpd.session.marks import MARKS_KEY, SEID_CHUNK, SEID_MAX, Marks

T = IEType
M = MessageType
POOL24 = IPv4Network("10.45.0.0/24")  # 254 hosts: the pool's mark moves 16 ahead


class Recording(MemoryJournal):
    """A memory journal that keeps the keys each commit wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: list[set[str]] = []

    def commit(self, puts: Mapping[str, bytes], deletes: Collection[str]) -> None:
        super().commit(puts, deletes)
        self.puts.append(set(puts))


def _harness(datapath: LocalDatapath, *pools: IPNetwork) -> tuple[Harness, Recording]:
    journal = Recording()
    h = Harness(datapath, journal, pools={"internet": pools or (POOL24,)})
    return h, journal


def _journaled(h: Harness) -> Marks:
    return Marks.read(h.journal.records[MARKS_KEY])


def _allocated(resp: Message) -> tuple[int, int, IPv4Address]:
    """The local TEID, the UP SEID and the UE address an establishment's answer gives."""
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    address = created(resp)[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    return teid, up_seid(resp), IPv4Address(address)


def _ue_mark(marks: Marks) -> IPv4Address:
    ((name, net, mark),) = marks.ue
    assert (name, net) == ("internet", POOL24)
    return IPv4Address(mark)


# -- one allocator ------------------------------------------------------------------------


def test_a_value_taken_at_the_mark_moves_it_a_chunk_ahead() -> None:
    space, moved = _Space(1, 100, chunk=10), []
    space.marked = lambda: moved.append(space.mark)
    assert [space.take() for _ in range(10)] == list(range(1, 11))
    assert moved == [11]  # (taking 1 moved it; 2 .. 10 are below it)
    assert space.take() == 11 and moved == [11, 21]
    assert space.reserve(40) and space.mark == 21  # (a restored session's value: no move)


def test_a_pools_chunk_is_16_or_a_64th_of_its_size_at_most_a_quarter_of_what_is_left() -> None:
    """(16 or a 64th, the larger, at most a quarter of the never-used values past the one
    taken, at least 1.)"""
    for net, chunk in (
        ("10.45.0.0/29", 1),  # (6 hosts: 5 past the first, a quarter of them 1)
        ("10.45.0.0/28", 3),  # (14 hosts: 13 // 4)
        ("10.45.0.0/26", 15),  # (62 hosts: 61 // 4)
        ("10.45.0.0/24", 16),
        ("10.45.0.0/16", 1023),
    ):
        pool = UePool(ipaddress.ip_network(net))
        pool.take_text()
        assert pool.mark - pool._space.lo == chunk, net
    space = _Space(1, 254, chunk=16)
    assert space.reserve(251) and space.reserve(252)
    space.resume(240)  # (15 values from 240 on, 2 of them in use)
    assert space.take() == 240 and space.mark == 240 + 3  # (14 past it: a quarter is 3)
    space.resume(253)
    assert space.take() == 253 and space.mark == 254  # (1 past it: 1 ahead, at least)
    assert space.take() == 254 and space.mark == 255  # (the last: the mark past the space)


def test_a_resumed_space_hands_out_from_the_mark_then_the_free_values_lowest_first() -> None:
    space = _Space(0, 19, chunk=3)
    space.marked = lambda: None
    assert [space.take() for _ in range(5)] == [0, 1, 2, 3, 4] and space.mark == 6
    space.free(3)
    space.free(1)  # (in use at the restart: 0, 2, 4)
    again = _Space(0, 19, chunk=3)
    for value in (0, 2, 4):
        assert again.reserve(value)
    again.resume(space.mark)
    assert [again.take() for _ in range(17)] == [*range(6, 20), 1, 3, 5]
    with pytest.raises(Exhausted):
        again.take()


def test_a_mark_past_the_space_leaves_only_the_free_values_lowest_first() -> None:
    space = _Space(0, 4)
    assert space.reserve(1)
    space.resume(1000)
    assert [space.take() for _ in range(4)] == [0, 2, 3, 4]
    below = _Space(5, 9)
    below.resume(0)  # (clamped: the whole space never used)
    assert below.take() == 5


@pytest.mark.parametrize("prefix", ["10.45.0.0/29", "10.45.0.0/28", "10.45.0.0/26", "10.45.0.0/24"])
def test_a_restart_skips_at_most_a_quarter_of_the_never_used_values(prefix: str) -> None:
    """A pool restarted after each value it hands out: each restart skips at most a quarter
    of the values it never used (a /29 none: it hands out 1 .. 6 in order), and once those
    are spent the skipped ones are handed out, lowest first, to the last."""
    net = _net(prefix)
    pool, taken = UePool(net), []
    size = pool._space.size
    for _ in range(size):
        never_used = pool._space.hi + 1 - pool._space._next
        again = UePool(net)
        for value in taken:
            assert again.reserve(ipaddress.ip_network((value, 32)))
        again.resume([(net, pool.mark)])
        skipped = again._space._next - pool._space._next
        assert 4 * skipped <= never_used, (len(taken), skipped, never_used)
        pool = again
        taken.append(int(pool.take_text()[0].network_address))
    with pytest.raises(Exhausted):
        pool.take_text()
    assert sorted(taken) == list(range(pool._space.lo, pool._space.hi + 1))
    if size == 6:
        assert taken == sorted(taken)


def test_a_write_moves_the_marks_of_the_pools_in_use_close_to_theirs(
    datapath: LocalDatapath,
) -> None:
    """Four pools taken from in turn, a commit after each value: the write of one pool's
    mark moves the marks of the others, less than half a chunk ahead of their next value,
    with it: one write per 16 rounds, not one per pool (each journaled mark stays past
    every value its pool handed out). A pool not taken from since the last write keeps its
    mark."""
    names = ("a", "b", "c", "d")
    pools = {name: (_net(f"10.4{i}.0.0/24"),) for i, name in enumerate(names)}
    pools["idle"] = (_net("10.49.0.0/24"),)
    journal = Recording()
    h = Harness(datapath, journal, pools=pools)
    engine = h.engine
    assert engine.ue_pools.take_text("idle", 4) is not None
    engine.commit()
    highest: dict[str, int] = {}
    writes = len(journal.puts)
    for _ in range(64):
        for name in names:
            taken = engine.ue_pools.take_text(name, 4)
            assert taken is not None
            highest[name] = int(IPv4Address(taken[1]))
            engine.commit()
            for pool_name, _, mark in _journaled(h).ue:
                if pool_name in highest:
                    assert mark > highest[pool_name]
    # (the first value of each pool moves its mark; then one of every 16 rounds: 17, 33, 49)
    assert len(journal.puts) - writes == 4 + 3
    assert all(keys == {MARKS_KEY} for keys in journal.puts[writes:])
    idle = {name: mark for name, _, mark in _journaled(h).ue}["idle"]
    assert idle == int(IPv4Address("10.49.0.17"))


def test_a_write_moves_the_teid_and_up_seid_marks_close_to_theirs(
    datapath: LocalDatapath,
) -> None:
    h, _ = _harness(datapath)
    engine = h.engine
    teids = [engine.teids.take() for _ in range(3000)]
    seids = [engine._new_seid() for _ in range(3000)]
    engine.commit()
    assert (_journaled(h).teid, _journaled(h).seid) == (1 + TEID_CHUNK, 1 + SEID_CHUNK)
    assert engine.ue_pools.take_text("internet", 4) is not None  # (its mark moves)
    engine.commit()
    # (both were 1,096 below their marks, under half a chunk: a chunk ahead of the next)
    marks = _journaled(h)
    assert (marks.teid, marks.seid) == (teids[-1] + 1 + TEID_CHUNK, seids[-1] + 1 + SEID_CHUNK)


def test_a_restarted_engine_moves_no_idle_mark(datapath: LocalDatapath) -> None:
    """Restored allocators stand at their marks: a write does not move those not taken
    from since (each restart would skip a chunk of them)."""
    h, _ = _harness(datapath, POOL24, _net("10.46.0.0/24"))
    h.establish(cp_seid=1)
    marks = _journaled(h)
    with restarted(h, 1) as engine:
        assert engine._new_seid() == marks.seid  # (moves the UP SEIDs' mark: a write)
        engine.commit()
        again = Marks.read(engine.journal.records[MARKS_KEY])  # type: ignore[attr-defined]
        assert (again.teid, again.ue) == (marks.teid, marks.ue)
        assert again.seid == marks.seid + SEID_CHUNK


# -- the engine: journaled with the batch -------------------------------------------------


def test_the_marks_go_with_the_commit_of_the_batch_that_moves_them(
    datapath: LocalDatapath,
) -> None:
    h, journal = _harness(datapath)
    assert MARKS_KEY not in journal.records
    commits = journal.commits
    teid, seid, ue = _allocated(h.establish(cp_seid=1))
    assert journal.commits - commits == 1 and journal.puts[-1] == {f"s:{seid:x}", MARKS_KEY}
    marks = _journaled(h)
    assert (marks.teid, marks.seid) == (teid + TEID_CHUNK, seid + SEID_CHUNK)
    assert _ue_mark(marks) == ue + 16 and marks == h.engine._marks()
    for cp_seid in range(2, 17):  # (.2 .. .16: below the pool's mark)
        s = up_seid(h.establish(cp_seid=cp_seid))
        assert journal.puts[-1] == {f"s:{s:x}"}
    seventeenth = _allocated(h.establish(cp_seid=17))
    assert seventeenth[2] == ue + 16
    assert journal.puts[-1] == {f"s:{seventeenth[1]:x}", MARKS_KEY}
    assert _ue_mark(_journaled(h)) == ue + 32 and _journaled(h).teid == teid + TEID_CHUNK


def test_a_restarted_engine_hands_out_from_the_marks(datapath: LocalDatapath) -> None:
    h, _ = _harness(datapath)
    first = _allocated(h.establish(cp_seid=1))
    kept = up_seid(h.establish(cp_seid=2))
    assert cause(h.delete(first[1])) == 1
    marks = _journaled(h)
    with restarted(h, 1) as engine:
        assert list(engine.sessions) == [kept] and not engine._marks_dirty
        taken = engine.ue_pools.take_text("internet", 4)
        assert taken is not None and IPv4Address(taken[1]) == _ue_mark(marks)
        assert engine.teids.take() == marks.teid and engine._new_seid() == marks.seid
        assert engine._marks_dirty  # (each taken at its mark: moved, journaled next)
        assert engine._marks() == Marks(
            marks.teid + TEID_CHUNK,
            marks.seid + SEID_CHUNK,
            (("internet", POOL24, int(_ue_mark(marks)) + 16),),
        )


def test_a_journal_without_marks_restores_as_before(datapath: LocalDatapath) -> None:
    """A journal of a pfcpd without marks: the lowest values not in use, the UP SEID after
    the highest restored."""
    h, journal = _harness(datapath)
    first = _allocated(h.establish(cp_seid=1))
    second = up_seid(h.establish(cp_seid=2))
    assert cause(h.delete(first[1])) == 1
    del journal.records[MARKS_KEY]
    with restarted(h, 1) as engine:
        assert engine.teids.take() == first[0] and engine._new_seid() == second + 1


# -- rolled back --------------------------------------------------------------------------


def test_a_rolled_back_batch_leaves_the_marks_ahead_and_journals_them_next(
    datapath: LocalDatapath,
) -> None:
    """The journal refuses the commit of the batch that moved the marks: answered 77, the
    marks stay ahead (the values the undo freed are not handed out next) and the next
    commit journals them as they are, before the next answer."""
    h, journal = _harness(datapath)
    first = _allocated(h.establish(cp_seid=1))
    for cp_seid in range(2, 17):
        h.establish(cp_seid=cp_seid)
    before = _journaled(h)
    journal.fail_next = 1
    assert cause(h.establish(cp_seid=17)) == 77  # (took .17: the pool's mark moved)
    assert h.engine.ue_pools.usage() == {"internet:10.45.0.0/24": 16}
    assert _journaled(h) == before and h.engine._marks() != before
    assert h.engine._marks_dirty
    h.engine.commit()  # (nothing staged: the marks alone)
    assert journal.puts[-1] == {MARKS_KEY} and _journaled(h) == h.engine._marks()
    assert _ue_mark(_journaled(h)) == first[2] + 32
    again = _allocated(h.establish(cp_seid=17))
    assert again[2] == first[2] + 17 and journal.puts[-1] == {f"s:{again[1]:x}"}


def test_an_establishment_the_datapath_refuses_journals_the_marks_it_moved() -> None:
    inner = LocalDatapath(expected_sessions=16)
    try:
        h = Harness(Pipelined(inner), pools={"internet": (POOL24,)})  # type: ignore[arg-type]
        seid = h.engine._next_seid
        h.dp.refuse = lambda s, p: s == seid  # type: ignore[attr-defined]
        h.send(establishment(*standard_rules(), cp_seid=0xA), 600)
        assert [cause(a) for a in h._collect()] == [77]
        assert h.engine.sessions == {} and h.records == {}
        assert _journaled(h) == h.engine._marks() and _journaled(h).seid == seid + SEID_CHUNK
        h.dp.refuse = lambda s, p: False  # type: ignore[attr-defined]
        assert up_seid(h.establish(cp_seid=0xA)) == seid + 1  # (not the undone one's)
    finally:
        inner.close()


# -- pools configured otherwise since ------------------------------------------------------


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


MARKS = (  # (as a pfcpd with these pools journaled them)
    ("internet", _net("10.45.0.0/24"), int(IPv4Address("10.45.0.100"))),
    ("internet", _net("2001:db8:45::/48"), int(IPv6Network("2001:db8:45:7::/64")[0]) >> 64),
    ("gone", _net("10.9.0.0/24"), int(IPv4Address("10.9.0.9"))),
)


@pytest.mark.parametrize(
    ("instance", "prefix", "first"),
    [
        ("internet", "10.45.0.0/24", "10.45.0.100"),  # (as it was)
        ("internet", "10.45.0.0/23", "10.45.0.100"),  # (grown)
        ("internet", "10.44.0.0/15", "10.45.0.100"),  # (grown below)
        ("internet", "10.45.0.0/26", "10.45.0.1"),  # (shrunk below its mark: free, lowest)
        ("internet", "10.45.0.128/25", "10.45.0.129"),  # (past the mark: never used)
        ("internet", "10.46.0.0/24", "10.46.0.1"),  # (added)
        ("ims", "10.45.0.0/24", "10.45.0.1"),  # (another instance's)
        ("internet", "2001:db8:45::/56", "2001:db8:45:7::"),  # (/64 prefixes: shrunk)
        ("internet", "2001:db8:45::/120", "2001:db8:45::1"),  # (single addresses)
    ],
)
def test_a_pool_resumes_from_the_marks_of_the_pools_it_overlaps(
    instance: str, prefix: str, first: str
) -> None:
    pools = UeAddressPools({instance: (_net(prefix),)})
    pools.resume(MARKS)
    taken = pools.take_text(instance, _net(prefix).version)
    assert taken is not None and taken[1] == first


def test_a_restart_with_a_pool_grown_and_one_removed(datapath: LocalDatapath) -> None:
    h, _ = _harness(datapath, _net("10.45.0.0/29"), _net("10.46.0.0/29"))
    first = _allocated(h.establish(cp_seid=1))
    kept = up_seid(h.establish(cp_seid=2))
    assert cause(h.delete(first[1])) == 1  # (.1 freed, .2 in use: the mark at .3)
    pools = {"internet": (_net("10.45.0.0/28"),)}
    settings = EngineSettings(h.settings.n3_address, h.settings.pfcp_address, ue_pools=pools)
    dp = LocalDatapath(expected_sessions=16)
    try:
        engine = SessionEngine(settings, dp, MemoryJournal())
        assert engine.restore(list(h.journal.records.items()), 0.0) == 1
        assert list(engine.sessions) == [kept]
        taken = engine.ue_pools.take_text("internet", 4)
        assert taken is not None and taken[1] == "10.45.0.3"
        # (.3 taken: 11 never-used past it, a quarter of them 2)
        assert engine._marks().ue == (("internet", pools["internet"][0], 0x0A2D0003 + 2),)
    finally:
        dp.close()


# -- the UP SEIDs' space --------------------------------------------------------------------


def test_the_up_seids_and_their_mark_go_from_the_highest_to_1(datapath: LocalDatapath) -> None:
    """UP SEIDs 1 .. 2^64 - 1: after the highest the next is 1 (the lowest not in use), and
    the mark goes round with them: journaled within the space, read back, handed out from."""
    h, journal = _harness(datapath)
    assert h.engine.restore([(MARKS_KEY, Marks(1, SEID_MAX - 1, ()).record())], 0.0) == 0
    seids = [up_seid(h.establish(cp_seid=i)) for i in (1, 2, 3)]
    assert seids == [SEID_MAX - 1, SEID_MAX, 1]
    assert _journaled(h).seid == SEID_CHUNK - 1  # (4,096 after 2^64 - 2: past the highest)
    assert json.loads(journal.records[MARKS_KEY])["seid"] == SEID_CHUNK - 1
    with restarted(h, 3) as engine:
        assert engine._new_seid() == SEID_CHUNK - 1
    h.engine._next_seid = SEID_MAX  # (in use: skipped, as 1 is)
    assert up_seid(h.establish(cp_seid=4)) == 2
    assert _journaled(h).seid == SEID_CHUNK - 1  # (2: below the mark)


def test_without_marks_the_up_seids_go_on_after_the_highest_restored(
    datapath: LocalDatapath,
) -> None:
    h, journal = _harness(datapath)
    assert h.engine.restore([(MARKS_KEY, Marks(1, SEID_MAX, ()).record())], 0.0) == 0
    assert up_seid(h.establish(cp_seid=1)) == SEID_MAX
    del journal.records[MARKS_KEY]
    with restarted(h, 1) as engine:
        assert engine._new_seid() == 1


# -- a record partly bad --------------------------------------------------------------------


def _record(**fields: object) -> bytes:
    d: dict[str, object] = {"v": 1, "teid": 5000, "seid": 6000, "ue": []}
    d.update(fields)
    return json.dumps(d).encode()


GOOD_UE = ["internet", "10.45.0.0/24", int(IPv4Address("10.45.0.100"))]


@pytest.mark.parametrize(
    ("record", "teid", "seid", "ue", "logged"),
    [
        (
            _record(ue=[["gone", "10.9.0.0/33", 5], GOOD_UE, ["x"], ["internet", "::/0", "7"]]),
            5000,
            6000,
            "10.45.0.100",
            ["'10.9.0.0/33'", "['x']", "'7'"],
        ),
        (_record(teid="5000", ue=[GOOD_UE]), 1, 6000, "10.45.0.100", ["TEIDs' mark '5000'"]),
        (_record(seid=SEID_MAX + 1), 5000, None, "10.45.0.1", [f"UP SEIDs' mark {SEID_MAX + 1}"]),
        (_record(seid=0, ue={"a": 1}), 5000, None, "10.45.0.1", ["UP SEIDs' mark 0", "{'a': 1}"]),
    ],
)
def test_a_bad_entry_of_the_marks_record_costs_that_entry_logged(
    datapath: LocalDatapath,
    caplog: pytest.LogCaptureFixture,
    record: bytes,
    teid: int,
    seid: int | None,
    ue: str,
    logged: list[str],
) -> None:
    """What is valid of the record is restored; each entry that is not is logged with its
    text and its allocator starts as without a mark (the UP SEIDs after the highest
    restored session's)."""
    h, journal = _harness(datapath)
    kept = up_seid(h.establish(cp_seid=1))
    journal.records[MARKS_KEY] = record
    with caplog.at_level(logging.ERROR, "pfcpd.session"), restarted(h, 1) as engine:
        assert engine.teids.take() == (teid if teid != 1 else 2)  # (1: the session's)
        assert engine._new_seid() == (seid if seid is not None else kept + 1)
        taken = engine.ue_pools.take_text("internet", 4)
        assert taken is not None and taken[1] == (ue if ue != "10.45.0.1" else "10.45.0.2")
        assert engine.metrics.restore_failures.get() == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == len(logged)
    for text in logged:
        assert any(text in e for e in errors), (text, errors)


def test_a_marks_record_of_another_version_is_not_read() -> None:
    with pytest.raises(ValueError, match="version 2"):
        Marks.read(_record(v=2))
    with pytest.raises(ValueError):
        Marks.read(b"{")


# -- IPv6 pools of another unit -------------------------------------------------------------


V6_MARKS = (  # (a /48 of /64 prefixes and a /112 of single addresses, as journaled)
    ("internet", _net("2001:db8:45::/48"), int(IPv6Network("2001:db8:45:7::/64")[0]) >> 64),
    ("internet", _net("2001:db8:46::/112"), int(ipaddress.IPv6Address("2001:db8:46::80"))),
    ("internet", _net("2001:db8:47::/64"), (int(ipaddress.IPv6Address("2001:db8:47::")) >> 64) + 1),
)


@pytest.mark.parametrize(
    ("prefix", "first", "logged"),
    [
        ("2001:db8:45::/120", "2001:db8:45::1", "2001:db8:45::/48 (/64 each)"),
        ("2001:db8:46::/56", "2001:db8:46::", "2001:db8:46::/112 (/128 each)"),
        ("2001:db8:47::/65", "2001:db8:47::1", "2001:db8:47::/64 (/64 each)"),
        ("2001:db8:45:7::/64", "2001:db8:45:7::", None),  # (/64 each: the /48's mark, clamped)
        ("2001:db8:46::/120", "2001:db8:46::80", None),  # (the /112's)
    ],
)
def test_a_pool_of_another_unit_than_the_marks_starts_as_new_logged(
    caplog: pytest.LogCaptureFixture, prefix: str, first: str, logged: str | None
) -> None:
    """A mark counts values of its pool's unit (/64 prefixes, single addresses): a pool of
    another unit overlapping that pool does not take it, and the note is logged."""
    pools = UeAddressPools({"internet": (_net(prefix),)})
    with caplog.at_level(logging.WARNING, "pfcpd.session"):
        pools.resume(V6_MARKS)
    taken = pools.take_text("internet", 6)
    assert taken is not None and taken[1] == first
    notes = [r.getMessage() for r in caplog.records]
    if logged is None:
        assert notes == []
    else:
        (note,) = notes
        assert logged in note and prefix in note and note.endswith("it starts as new")


def test_a_pool_resumed_from_its_units_mark_logs_the_other_not_starting_new(
    caplog: pytest.LogCaptureFixture,
) -> None:
    marks = (
        ("internet", _net("2001:db8:45::/48"), 0x20010DB8004500FF),  # (/64 each)
        ("internet", _net("2001:db8:45::/112"), int(ipaddress.IPv6Address("2001:db8:45::80"))),
    )
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/120"),)})
    with caplog.at_level(logging.WARNING, "pfcpd.session"):
        pools.resume(marks)
    taken = pools.take_text("internet", 6)
    assert taken is not None and taken[1] == "2001:db8:45::80"
    ((note),) = [r.getMessage() for r in caplog.records]
    assert "2001:db8:45::/48 (/64 each)" in note and "starts as new" not in note

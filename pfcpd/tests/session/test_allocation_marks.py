"""The allocators' marks (marks.py): no value from a mark on was handed out. A value taken at
or past its allocator's mark moves the mark a chunk ahead; the marks' record goes with the
commit of that batch, before its answers (also when the batch is undone: the marks stay
ahead), and a restarted engine hands out never-used values from the marks on, then what is
free below them, lowest first, in the pools configured then."""

from __future__ import annotations

import ipaddress
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
from pfcpd.session.marks import MARKS_KEY, SEID_CHUNK, Marks

T = IEType
M = MessageType
POOL24 = IPv4Network("10.45.0.0/24")  # 254 hosts: the pool's mark moves 3 ahead


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


def test_a_pools_chunk_is_a_64th_of_its_size() -> None:
    for net, chunk in (("10.45.0.0/29", 1), ("10.45.0.0/24", 3), ("10.45.0.0/16", 1023)):
        pool = UePool(ipaddress.ip_network(net))
        pool.take_text()
        assert pool.mark - pool._space.lo == chunk, net


def test_a_resumed_space_hands_out_from_the_mark_then_the_free_values_lowest_first() -> None:
    space = _Space(0, 9, chunk=3)
    space.marked = lambda: None
    assert [space.take() for _ in range(5)] == [0, 1, 2, 3, 4] and space.mark == 6
    space.free(3)
    space.free(1)  # (in use at the restart: 0, 2, 4)
    again = _Space(0, 9, chunk=3)
    for value in (0, 2, 4):
        assert again.reserve(value)
    again.resume(space.mark)
    assert [again.take() for _ in range(7)] == [6, 7, 8, 9, 1, 3, 5]
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
    assert _ue_mark(marks) == ue + 3 and marks == h.engine._marks()
    for cp_seid in (2, 3):  # (.2, .3: below the pool's mark)
        s = up_seid(h.establish(cp_seid=cp_seid))
        assert journal.puts[-1] == {f"s:{s:x}"}
    fourth = _allocated(h.establish(cp_seid=4))
    assert fourth[2] == ue + 3 and journal.puts[-1] == {f"s:{fourth[1]:x}", MARKS_KEY}
    assert _ue_mark(_journaled(h)) == ue + 6 and _journaled(h).teid == teid + TEID_CHUNK


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
            (("internet", POOL24, int(_ue_mark(marks)) + 3),),
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
    for cp_seid in (2, 3):
        h.establish(cp_seid=cp_seid)
    before = _journaled(h)
    journal.fail_next = 1
    assert cause(h.establish(cp_seid=4)) == 77  # (took .4: the pool's mark moved)
    assert h.engine.ue_pools.usage() == {"internet:10.45.0.0/24": 3}
    assert _journaled(h) == before and h.engine._marks() != before
    assert h.engine._marks_dirty
    h.engine.commit()  # (nothing staged: the marks alone)
    assert journal.puts[-1] == {MARKS_KEY} and _journaled(h) == h.engine._marks()
    assert _ue_mark(_journaled(h)) == first[2] + 6
    again = _allocated(h.establish(cp_seid=4))
    assert again[2] == first[2] + 4 and journal.puts[-1] == {f"s:{again[1]:x}"}


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
        assert engine._marks().ue == (("internet", pools["internet"][0], 0x0A2D0003 + 1),)
    finally:
        dp.close()

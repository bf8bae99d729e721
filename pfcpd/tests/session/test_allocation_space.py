"""The order in which an allocator's space (`allocation._Space`) hands values out, and what
it keeps: the exact order of a FIFO of every freed value while no more than
`FREED_REMEMBERED` are waiting (compared with a plain model of that rule over random
operations), values freed before those reused lowest first, and memory that does not grow
with the number of sessions ever deleted."""

from __future__ import annotations

import random
import tracemalloc
from collections import deque

import pytest

from pfcpd.session import allocation
from pfcpd.session.allocation import Exhausted, TeidAllocator, _Bits, _Space


class _Fifo:
    """The rule as written: the lowest never-used value, then the freed ones in the order
    they were freed (every one remembered), skipping those reserved again since."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi, self.next = lo, hi, lo
        self.used: set[int] = set()
        self.freed: deque[int] = deque()

    def take(self) -> int:
        while self.next <= self.hi:
            value = self.next
            self.next += 1
            if value not in self.used:
                self.used.add(value)
                return value
        while self.freed:
            value = self.freed.popleft()
            if value not in self.used:
                self.used.add(value)
                return value
        raise Exhausted

    def reserve(self, value: int) -> bool:
        if not self.lo <= value <= self.hi or value in self.used:
            return False
        self.used.add(value)
        return True

    def free(self, value: int) -> None:
        if value in self.used:
            self.used.discard(value)
            if value not in self.freed:  # (one place in the queue: its first)
                self.freed.append(value)


def _run(space: _Space | _Fifo, ops: list[tuple[str, int]]) -> list[object]:
    out: list[object] = []
    for op, value in ops:
        if op == "take":
            try:
                out.append(space.take())
            except Exhausted:
                out.append("exhausted")
        elif op == "reserve":
            out.append(space.reserve(value))
        else:
            space.free(value)
    return out


def _ops(rng: random.Random, lo: int, hi: int, n: int) -> list[tuple[str, int]]:
    ops: list[tuple[str, int]] = []
    for _ in range(n):
        r = rng.random()
        value = rng.randint(lo - 1, hi + 1)
        ops.append(("take", 0) if r < 0.5 else ("free", value) if r < 0.9 else ("reserve", value))
    return ops


@pytest.mark.parametrize("seed", range(40))
def test_the_order_of_a_fifo_of_every_freed_value(seed: int) -> None:
    rng = random.Random(seed)
    lo = rng.choice([0, 1, 1000, 1 << 40])
    hi = lo + rng.choice([0, 1, 7, 63, 300, 5000])
    ops = _ops(rng, lo, hi, 4000)
    space, model = _Space(lo, hi), _Fifo(lo, hi)
    assert _run(space, ops) == _run(model, ops)
    assert space.in_use == len(model.used)


def test_a_space_larger_than_the_remembered_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values freed before the last FREED_REMEMBERED are reused first, lowest first, once
    the never-used ones are gone; the remembered ones follow, oldest first."""
    monkeypatch.setattr(allocation, "FREED_REMEMBERED", 3)
    space = _Space(0, 9)
    assert [space.take() for _ in range(10)] == list(range(10))
    for value in (8, 2, 6, 4, 9, 1):  # 8, 2, 6 forgotten; 4, 9, 1 remembered
        space.free(value)
    assert space.reserve(6)  # (taken again: skipped)
    assert [space.take() for _ in range(5)] == [2, 8, 4, 9, 1]
    with pytest.raises(Exhausted):
        space.take()
    assert space.in_use == 10


@pytest.mark.parametrize("seed", range(20))
def test_with_few_remembered_every_value_is_handed_out_once(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Whatever is forgotten, a value in use is never handed out and a free one always is:
    the space is exhausted only when every value is in use."""
    monkeypatch.setattr(allocation, "FREED_REMEMBERED", 4)
    rng = random.Random(seed)
    lo, hi = 5, 5 + rng.choice([10, 70, 40000, 70000])
    space = _Space(lo, hi)
    used: set[int] = set()
    for op, value in _ops(rng, lo, hi, 6000):
        if op == "take":
            try:
                got = space.take()
            except Exhausted:
                assert len(used) == hi - lo + 1
                continue
            assert lo <= got <= hi and got not in used
            used.add(got)
        elif op == "reserve":
            assert space.reserve(value) == (lo <= value <= hi and value not in used)
            if lo <= value <= hi:
                used.add(value)
        else:
            space.free(value)
            used.discard(value)
        assert space.in_use == len(used)
        assert len(space._freed) - space._head <= 4


def test_memory_does_not_grow_with_sessions_ever_deleted() -> None:
    """A TEID taken and given back 200,000 times (a churn of sessions) leaves what one
    session leaves: the bitmap's chunks empty out and the remembered order is bounded."""
    teids = TeidAllocator()
    for _ in range(1000):
        teids.free(teids.take())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200_000):
            teids.free(teids.take())
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # (the remembered order: at most FREED_REMEMBERED values of 8 bytes, twice over
    # while it is compacted; a deque of ints held 40 bytes per value ever freed: 8 MB)
    assert grown < 3 * 8 * allocation.FREED_REMEMBERED
    assert teids.in_use == 0 and len(teids._used.chunks) == 0


def test_memory_per_value_in_use() -> None:
    """A value in use costs about a bit (a set held ~70 bytes per value)."""
    teids = TeidAllocator()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100_000):
            teids.take()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert teids.in_use == 100_000
    assert grown < 100_000 // 8 + 4 * 4096 + 2000


@pytest.mark.parametrize("seed", range(10))
def test_bits_first_absent(seed: int) -> None:
    rng = random.Random(seed)
    bits, skip = _Bits(), _Bits()
    members: set[int] = set()
    skipped: set[int] = set()
    size = 3 * 32768 + 17
    for _ in range(3000):
        i = rng.randrange(size)
        (members if rng.random() < 0.8 else skipped).add(i)
    # dense runs across a chunk boundary and a whole chunk
    members |= set(range(32768 - 40, 32768 + 40)) | set(range(2 * 32768, 3 * 32768))
    for i in members:
        bits.add(i)
    for i in skipped:
        skip.add(i)
    for start in [0, 5, 32767, 32768, 32768 + 39, 2 * 32768 - 1, *rng.sample(range(size), 30)]:
        end = min(size, start + rng.choice([1, 9, 100, 40000, size]))
        want = next((i for i in range(start, end) if i not in members and i not in skipped), None)
        assert bits.first_absent(start, end, skip) == want
    for i in list(members):
        assert i in bits
        assert bits.discard(i) and not bits.discard(i)
    assert bits.count == 0 and bits.chunks == {}

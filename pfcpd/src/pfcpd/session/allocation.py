"""What the UP function allocates: local TEIDs (F-TEID CH=1) and UE addresses (CHV4/CHV6).

Allocators hand out the lowest never-used value first, then values freed earlier (oldest
first), so a value just freed is not reused at once (a late packet of the old session must
not reach the new one). ``reserve`` takes a specific value (restoring after a restart).

What is in use is a bitmap (`_Bits`, ~1 bit per value up to the highest taken, none per
session); the order of freeing is remembered for the last `FREED_REMEMBERED` values freed
(a space no larger than that keeps the exact order; 8 bytes each). In a larger space (the
TEIDs', 2^32 - 1) values freed before those are reused first once every never-used value
is gone, lowest first, then the remembered ones oldest first: a space that size is walked
end to end before any value is reused, so keeping its whole order would only grow with
every session ever deleted (40 bytes per value, never given back, before 2026-12-03).

The order survives a restart through a mark per allocator that the journal holds (record
``alloc``, `marks.py`): no value from the mark on was handed out. A value taken at or past
the mark moves the mark a chunk ahead of it and calls ``marked`` (the engine journals the
marks with the commit of that batch, before its answers), so the journal is written once per
chunk, not per value. A chunk is `TEID_CHUNK` for the TEIDs, `POOL_CHUNK` or a 64th of a UE
pool's size (the larger) for a pool, and never more than a `CHUNK_SHARE`th of the never-used
values past the one taken, at least 1: a restart skips at most that share of what a space
never used. When the record is written, each other allocator taken from since the last
write whose mark is less than half a chunk ahead moves it a chunk ahead of its next value
(``top_up``): pools in use at once share writes. Taking every value of a pool once moves
its mark 6 times in a /29 (chunk 1: a move per value), 10 in a /28, 16 in a /26, 28 in a
/24, 91 in a /16 (the chunk shrinks over the last values).

A restored allocator (``resume``) hands out never-used values from the journaled mark on
(those between its last value and the mark were never used: skipped), then, once every
never-used value is gone, the values below it not in use, lowest first: what was freed
before the restart is not handed out at once, and a space whose never-used values restarts
spent (each skips at most a share of those left) hands out every free value, as one whose
values were all handed out once does. A UE pool resumes from the marks of the journaled
pools it overlaps that handed out its unit (IPv6: /64 prefixes or single addresses); a mark
of another unit is not applied, and logged (the pool starts as new without one of its own).

A restored session keeps its UE address or prefix when no pool of its network instance
holds it as a value of its own any more (the configuration changed: `UeAddressPools.hold`).
The values of the instance's pools that share an address with it are then held in use
until the session frees it, so no new session gets an address inside it (a /64 prefix of an
old pool over a pool of single addresses now, or the reverse): each held once however many
sessions hold it (counted in the pool's ``in_use`` once), given back when the last of them
goes, as a freed value (oldest first). A network over every value of a pool (a pool inside a
restored /64), or over more than `HELD_MAX` of its values, holds the whole pool: it hands
out nothing, and counts every value in use, until the session goes (then it goes on where
it was). What restores a session costs without such a network is unchanged.
"""

from __future__ import annotations

import logging
import re
import socket
from array import array
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import islice

from ..datapath.interface import IPAddress, IPNetwork

log = logging.getLogger("pfcpd.session")


class Exhausted(Exception):
    """No value left."""


FREED_REMEMBERED = 1 << 16  # values whose order of freeing a `_Space` keeps
TEID_CHUNK = 4096  # how far ahead of the TEID taken past it the TEIDs' mark moves
POOL_CHUNK = 16  # a UE pool's chunk: this or a 64th of its size, the larger
CHUNK_SHARE = 4  # a chunk is at most this share (1/4) of the never-used values past the taken
HELD_MAX = 1 << 16  # a restored network over more of a pool's values holds the whole pool
_CHUNK_BITS = 15  # a `_Bits` chunk: 2^15 values, 4 KiB
_CHUNK_MASK = (1 << _CHUNK_BITS) - 1
_CHUNK_BYTES = 1 << (_CHUNK_BITS - 3)
_EMPTY_CHUNK = bytes(_CHUNK_BYTES)
_NOT_FULL = re.compile(b"[^\\xff]")  # a byte of a chunk with a clear bit


class _Bits:
    """A set of non-negative integers as a bitmap in chunks of 2^15 (a chunk that empties
    is dropped, so a space walked end to end keeps only the chunks of what is in use)."""

    __slots__ = ("chunks", "count")

    def __init__(self) -> None:
        self.chunks: dict[int, bytearray] = {}
        self.count = 0

    def __contains__(self, i: int) -> bool:
        chunk = self.chunks.get(i >> _CHUNK_BITS)
        return chunk is not None and (chunk[(i & _CHUNK_MASK) >> 3] >> (i & 7)) & 1 == 1

    def add(self, i: int) -> bool:
        """Add ``i``; False when it was there."""
        key = i >> _CHUNK_BITS
        chunk = self.chunks.get(key)
        if chunk is None:
            chunk = self.chunks[key] = bytearray(_CHUNK_BYTES)
        at, bit = (i & _CHUNK_MASK) >> 3, 1 << (i & 7)
        byte = chunk[at]
        if byte & bit:
            return False
        chunk[at] = byte | bit
        self.count += 1
        return True

    def discard(self, i: int) -> bool:
        """Remove ``i``; False when it was not there."""
        key = i >> _CHUNK_BITS
        chunk = self.chunks.get(key)
        if chunk is None:
            return False
        at, bit = (i & _CHUNK_MASK) >> 3, 1 << (i & 7)
        byte = chunk[at]
        if not byte & bit:
            return False
        chunk[at] = byte & ~bit
        self.count -= 1
        if not byte & ~bit and chunk == _EMPTY_CHUNK:
            del self.chunks[key]
        return True

    def first_absent(self, start: int, end: int, skip: _Bits) -> int | None:
        """The lowest integer of ``start`` .. ``end`` - 1 in neither this set nor ``skip``."""
        i = start
        while i < end:
            key = i >> _CHUNK_BITS
            base = key << _CHUNK_BITS
            stop = min(end, base + _CHUNK_MASK + 1)
            chunk = self.chunks.get(key)
            if chunk is None:  # (none of the chunk's)
                while i < stop:
                    if i not in skip:
                        return i
                    i += 1
                continue
            pos = (i - base) >> 3
            while (m := _NOT_FULL.search(chunk, pos)) is not None:
                at = m.start()
                first = base + (at << 3)
                if first >= stop:
                    break
                byte = chunk[at]
                for bit in range(8):
                    j = first + bit
                    if i <= j < stop and not (byte >> bit) & 1 and j not in skip:
                        return j
                pos = at + 1
            i = stop
        return None


class _Space:
    """Integers lo..hi: next never-used, then the freed ones (see the module's docstring)."""

    __slots__ = (
        "_aged",
        "_chunk",
        "_freed",
        "_head",
        "_mark",
        "_next",
        "_queued",
        "_topped",
        "_used",
        "hi",
        "lo",
        "marked",
    )

    def __init__(self, lo: int, hi: int, chunk: int = TEID_CHUNK) -> None:
        self.lo, self.hi = lo, hi
        self._next = lo
        # No value from the mark on was handed out (see the module); a value taken at or
        # past it moves it up to ``chunk`` ahead of that value (`_chunk_at`) and calls
        # ``marked``.
        self._mark = lo
        self._chunk = chunk
        self._topped = lo  # (``_next`` at the last `top_up`)
        self.marked: Callable[[], None] = _unwatched
        self._used = _Bits()  # (offsets from lo, as every value kept below)
        # The remembered freed values, oldest first: a FIFO in an array from ``_head`` on
        # (compacted when more than half of it is behind), and which of them are queued.
        self._freed = array("Q")
        self._head = 0
        self._queued = _Bits()
        # From where a freed value no longer remembered may be (None: there is none).
        self._aged: int | None = None

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    @property
    def in_use(self) -> int:
        return self._used.count

    @property
    def mark(self) -> int:
        return self._mark

    def resume(self, mark: int) -> None:
        """Hand out never-used values from ``mark`` on (a restart: the journaled mark,
        clamped to the space), then the values below it not in use, lowest first."""
        mark = min(max(mark, self._next), self.hi + 1)
        self._next = self._mark = self._topped = mark
        if mark > self.lo:
            self._aged = 0

    def take(self) -> int:
        value = self._next
        # The next never-used one below the mark (so not past ``hi``: `_chunk_at`), not
        # reserved: `_Bits.add` inline. At or past the mark, `_take` moves it (one test in
        # place of two: 5 opcodes less).
        if value < self._mark:
            at = value - self.lo
            used = self._used
            chunk = used.chunks.get(at >> _CHUNK_BITS)
            if chunk is not None:
                i, bit = (at & _CHUNK_MASK) >> 3, 1 << (at & 7)
                byte = chunk[i]
                if not byte & bit:
                    chunk[i] = byte | bit
                    used.count += 1
                    self._next = value + 1
                    return value
        return self._take()

    def _take(self) -> int:
        """`take` past its usual case."""
        used, value, hi = self._used, self._next, self.hi
        lo = self.lo
        while value <= hi:  # (the next never-used one, past those reserved)
            if used.add(value - lo):
                self._next = value + 1
                if value >= self._mark:
                    self._ahead(value)
                return value
            value += 1
        self._next = value
        if self._aged is not None:  # (freed before those remembered: lowest first)
            at = used.first_absent(self._aged, value - lo, self._queued)
            if at is not None:
                self._aged = at + 1
                used.add(at)
                return lo + at
            self._aged = None
        freed, queued = self._freed, self._queued
        while self._head < len(freed):
            at = freed[self._head]
            self._head += 1
            queued.discard(at)
            if used.add(at):  # (not reserved again since)
                self._compact()
                return lo + at
        self._compact()
        raise Exhausted

    def _ahead(self, value: int) -> None:
        self._mark = value + self._chunk_at(value)
        self.marked()

    def _chunk_at(self, value: int) -> int:
        """How far ahead of ``value`` the mark moves: the chunk, at most a `CHUNK_SHARE`th
        of the never-used values past ``value``, at least 1."""
        return max(1, min(self._chunk, (self.hi - value) // CHUNK_SHARE))

    def top_up(self) -> None:
        """The marks are about to be journaled (another mark moved): when values were taken
        since the last call and fewer than half a chunk are left below the mark, it moves
        a chunk ahead of the next never-used value (without calling ``marked``), so that
        allocators in use move with one write rather than one write each."""
        nxt = self._next
        if nxt == self._topped or nxt > self.hi:
            return
        self._topped = nxt
        chunk = self._chunk_at(nxt)
        if self._mark - nxt < chunk // 2:
            self._mark = nxt + chunk

    def _compact(self) -> None:
        if self._head > len(self._freed) // 2:
            del self._freed[: self._head]
            self._head = 0

    def reserve(self, value: int) -> bool:
        if not self.lo <= value <= self.hi:
            return False
        return self._used.add(value - self.lo)

    def free(self, value: int) -> None:
        at = value - self.lo
        if not self._used.discard(at) or not self._queued.add(at):
            return  # (not in use; or queued already, from an earlier free: it keeps its place)
        freed = self._freed
        freed.append(at)
        if len(freed) - self._head > FREED_REMEMBERED:  # (the oldest is forgotten)
            old = freed[self._head]
            self._head += 1
            self._compact()
            self._queued.discard(old)
            if self._aged is None or old < self._aged:
                self._aged = old

    def contains(self, value: int) -> bool:
        return self.lo <= value <= self.hi

    def used(self, value: int) -> bool:
        """``value`` is handed out (taken or reserved, not freed since)."""
        return self.lo <= value <= self.hi and (value - self.lo) in self._used


def _unwatched() -> None:
    """What a mark's move calls when no journal watches the allocator."""


class TeidAllocator(_Space):
    """Local TEIDs (1 .. 2^32-1; 0 is never a data TEID): a `_Space` (``take``, ``reserve``,
    ``free``, ``in_use`` without a call in between)."""

    def __init__(self, lo: int = 1, hi: int = 0xFFFFFFFF) -> None:
        super().__init__(lo, hi)


class UePool:
    """One configured UE prefix. IPv4: host addresses (without the network and broadcast
    addresses when the prefix is /30 or shorter). IPv6: /64 prefixes when the pool is /64 or
    shorter, single addresses otherwise."""

    def __init__(self, network: IPNetwork) -> None:
        self.network = network
        self.prefixlen, lo, hi = pool_bounds(network)
        self._shift = 128 - self.prefixlen if network.version == 6 else 0
        self._space = _Space(lo, hi, max(POOL_CHUNK, (hi - lo + 1) // 64))
        self._v4 = network.version == 4
        # (the netmask object ipaddress shares between the networks of a prefix length)
        cls = IPv4Network if self._v4 else IPv6Network
        self._netmask = cls((0, self.prefixlen)).netmask
        self._suffix = f"/{self.prefixlen}"
        self._head: tuple[int, str] = (-1, "")  # (value >> 8, text of its first 3 octets + ".")
        # Values held by restored networks of another unit (`hold`): how many hold each;
        # which of them are also allocated as values of their own (`reserve`, `take_text`:
        # held too, they stay in use until both let go); how many hold the whole pool.
        self._held: dict[int, int] = {}
        self._shared: set[int] = set()
        self._covered = 0

    @property
    def label(self) -> str:
        return str(self.network)

    @property
    def mark(self) -> int:
        return self._space.mark

    def watch(self, marked: Callable[[], None]) -> None:
        self._space.marked = marked

    def top_up(self) -> None:
        self._space.top_up()

    def resume(
        self, marks: Iterable[tuple[IPNetwork, int]]
    ) -> tuple[bool, list[tuple[IPNetwork, int]]]:
        """Resume after a restart from the journaled ``marks`` (a pool's network then, its
        mark): the highest mark of a pool then of the same family and unit that overlaps
        this one, each clamped to its pool and to this one (none: from the lowest).
        Returns whether a mark was applied, and the pools then of the same family that
        overlap this one but handed out another unit (/64 prefixes, single addresses),
        with their unit: their marks count values of that unit, not applied here."""
        space, version = self._space, self.network.version
        found: list[int] = []
        other: list[tuple[IPNetwork, int]] = []
        for net, mark in marks:
            if net.version != version:
                continue
            unit, old_lo, old_hi = pool_bounds(net)
            if unit != self.prefixlen:
                if _overlap(net, self.network):
                    other.append((net, unit))
            elif old_lo <= space.hi and old_hi >= space.lo:
                found.append(min(max(mark, old_lo), old_hi + 1, space.hi + 1))
        if found:
            space.resume(max(found))
        return bool(found), other

    @property
    def in_use(self) -> int:
        """Values not to hand out: allocated or held (every value while the whole pool is
        held)."""
        return self._space.size if self._covered else self._space.in_use

    def take_text(self) -> tuple[IPNetwork, str, str, int, bytes]:
        """The next network (`_Space.take`'s order), the text of its address, str() of it,
        its prefix length and its address's octets (network byte order). Exhausted while
        the whole pool is held."""
        if self._covered:
            raise Exhausted
        value = self._space.take()
        if self._v4:
            net: IPNetwork
            if _V4_INLINE:  # (`v4_host_network`, inline: a call less)
                address = _new(IPv4Address)
                address._ip = value  # type: ignore[attr-defined]
                net = v4 = _new(IPv4Network)
                v4.network_address = address
                v4.netmask = self._netmask  # type: ignore[assignment]
                v4._prefixlen = 32  # type: ignore[attr-defined]
                v4.hosts = [address].copy  # type: ignore[method-assign,assignment]
            else:
                net = v4_host_network(value, self._netmask)  # type: ignore[arg-type]
            key, head = self._head
            if value >> 8 != key:  # (formatting 3 octets once per 256 addresses)
                key = value >> 8
                head = socket.inet_ntoa((key << 8).to_bytes(4, "big"))[:-1]
                self._head = (key, head)
            text = head + _OCTETS[value & 0xFF]
            return net, text, text + self._suffix, 32, value.to_bytes(4, "big")
        value <<= self._shift
        net = v6_network(value, self._netmask, self.prefixlen)  # type: ignore[arg-type]
        text = str(net.network_address)
        return net, text, text + self._suffix, self.prefixlen, value.to_bytes(16, "big")

    def owns(self, net: IPNetwork) -> bool:
        return (
            net.version == self.network.version
            and net.prefixlen == self.prefixlen
            and (self._space.contains(int(net.network_address) >> self._shift))
        )

    def taken(self, net: IPNetwork) -> bool:
        """``net`` is a value of this pool that is allocated or held (`hold`)."""
        if not self.owns(net):
            return False
        value = int(net.network_address) >> self._shift
        return bool(self._covered) or self._space.used(value) or value in self._held

    def reserve(self, net: IPNetwork) -> bool:
        """Take ``net`` (restoring): False when it is not this pool's or allocated already
        (a value only held, `hold`, is taken: it stays in use until both let go)."""
        if not self.owns(net):
            return False
        value = int(net.network_address) >> self._shift
        if self._space.reserve(value):
            return True
        if value in self._held and value not in self._shared:
            self._shared.add(value)
            return True
        return False

    def free(self, net: IPNetwork) -> None:
        if self.owns(net):
            value = int(net.network_address) >> self._shift
            if self._held and value in self._held:  # (in use while held: no longer shared)
                self._shared.discard(value)
            else:
                self._space.free(value)

    def overlap(self, net: IPNetwork) -> tuple[int, int] | None:
        """The lowest and highest of this pool's values that share an address with ``net``
        (None: none does)."""
        if net.version != self.network.version:
            return None
        space, shift = self._space, self._shift
        first = int(net.network_address)
        # (its last address from the prefix length: ``broadcast_address`` makes and keeps
        # two addresses in the network's dict)
        last = first | ((1 << ((32 if self._v4 else 128) - net.prefixlen)) - 1)
        lo, hi = max(space.lo, first >> shift), min(space.hi, last >> shift)
        return (lo, hi) if lo <= hi else None

    def _whole(self, lo: int, hi: int) -> bool:
        """A hold of ``lo`` .. ``hi`` holds the whole pool."""
        space = self._space
        return hi - lo >= HELD_MAX or (lo == space.lo and hi == space.hi)

    def hold(self, lo: int, hi: int) -> None:
        """Values ``lo`` .. ``hi`` (`overlap`) in use until `release` of them (once per
        `hold`): a value held already only counts one more holder."""
        if self._whole(lo, hi):
            self._covered += 1
            return
        held, space = self._held, self._space
        for value in range(lo, hi + 1):
            holders = held.get(value, 0)
            held[value] = holders + 1
            if not holders and not space.reserve(value):  # (allocated as its own too)
                self._shared.add(value)

    def release(self, lo: int, hi: int) -> None:
        """The end of a `hold` of ``lo`` .. ``hi``: a value no one holds any more, nor has
        as its own, is freed (`_Space.free`: reused after those freed before)."""
        if self._whole(lo, hi):
            self._covered -= 1
            return
        held, space = self._held, self._space
        for value in range(lo, hi + 1):
            holders = held[value] - 1
            if holders:
                held[value] = holders
                continue
            del held[value]
            if value in self._shared:
                self._shared.discard(value)
            else:
                space.free(value)


def _overlap(a: IPNetwork, b: IPNetwork) -> bool:
    """Networks of one family that share an address."""
    a_lo, a_hi = int(a.network_address), int(a.broadcast_address)
    return a_lo <= int(b.broadcast_address) and int(b.network_address) <= a_hi


def pool_bounds(network: IPNetwork) -> tuple[int, int, int]:
    """The prefix length a pool of ``network`` hands out, its lowest and highest value."""
    base = int(network.network_address)
    if network.version == 4:
        lo, hi = base, int(network.broadcast_address)
        if network.prefixlen <= 30:
            lo, hi = lo + 1, hi - 1
        return 32, lo, hi
    prefixlen = 64 if network.prefixlen <= 64 else 128
    shift = 128 - prefixlen
    lo, hi = base >> shift, int(network.broadcast_address) >> shift
    if prefixlen == 128 and network.prefixlen < 128:
        lo += 1  # not the subnet-router anycast address
    return prefixlen, lo, hi


_OCTETS = tuple(str(i) for i in range(256))
_new = object.__new__


# The networks a pool hands out, made as ipaddress's constructors make them from an integer
# (``IPv4Network((value, 32))``: the same attributes, set in the same order, the netmask
# object they share) without parsing their argument again: a quarter of the cost
# (tests/session/test_allocation.py compares them).
def v4_host_network(value: int, netmask: IPv4Address) -> IPv4Network:
    """``IPv4Network((value, 32))``."""
    address = _new(IPv4Address)
    address._ip = value  # type: ignore[attr-defined]
    net = _new(IPv4Network)
    net.network_address = address
    net.netmask = netmask
    net._prefixlen = 32  # type: ignore[attr-defined]
    # (the constructor's ``lambda: [IPv4Address(value)]`` gives an equal list: a list's
    # method, 2 objects for the collector and no closure's 3; 350 instructions less)
    net.hosts = [address].copy  # type: ignore[method-assign,assignment]
    return net


def v6_network(value: int, netmask: IPv6Address, prefixlen: int) -> IPv6Network:
    """``IPv6Network((value, prefixlen))``, ``netmask`` the one of ``prefixlen``."""
    address = _new(IPv6Address)
    address._ip = value  # type: ignore[attr-defined]
    address._scope_id = None  # type: ignore[attr-defined]
    net = _new(IPv6Network)
    net.network_address = address
    net.netmask = netmask
    net._prefixlen = prefixlen  # type: ignore[attr-defined]
    if prefixlen == 127:
        net.hosts = net.__iter__  # type: ignore[method-assign]
    elif prefixlen == 128:
        net.hosts = lambda: [IPv6Address(value)]  # type: ignore[method-assign,assignment,return-value]
    return net


def _slot_values(address: IPv4Address | IPv6Address) -> list[object]:
    return [
        getattr(address, name, None)
        for cls in type(address).__mro__
        for name in getattr(cls, "__slots__", ())
    ]


def _like_constructed(fast: IPNetwork, made: IPNetwork) -> bool:
    """``fast`` is what ipaddress's constructor ``made``: equal, the same attributes in the
    same order (the address's too), the same netmask object, the same hosts (the first
    few: a /64 has 2^64)."""
    fast_hosts, made_hosts = fast.hosts(), made.hosts()
    return (
        fast == made
        and list(vars(fast)) == list(vars(made))
        and _slot_values(fast.network_address) == _slot_values(made.network_address)
        and fast.netmask is made.netmask
        and type(fast_hosts) is type(made_hosts)
        and list(islice(fast_hosts, 3)) == list(islice(made_hosts, 3))
    )


def _constructed_v4(value: int, netmask: IPv4Address) -> IPv4Network:
    return IPv4Network((value, 32))


def _constructed_v6(value: int, netmask: IPv6Address, prefixlen: int) -> IPv6Network:
    return IPv6Network((value, prefixlen))


# Checked once: a Python whose ipaddress builds its networks otherwise (another attribute, a
# hosts() of another type: CPython changes these) gets networks from its constructors.
_MASK32 = IPv4Network((0, 32)).netmask
_V4_INLINE = True  # (`UePool.take_text` makes its networks as `v4_host_network` does)
if not _like_constructed(v4_host_network(0x0A000001, _MASK32), IPv4Network((0x0A000001, 32))):
    v4_host_network = _constructed_v4
    _V4_INLINE = False
if not all(
    _like_constructed(
        v6_network(1 << 120 | 5 << (128 - plen), IPv6Network((0, plen)).netmask, plen),
        IPv6Network((1 << 120 | 5 << (128 - plen), plen)),
    )
    for plen in (64, 127, 128)
):
    v6_network = _constructed_v6


class _Hold:
    """Sessions holding a network (`UeAddressPools.hold`), and the values it holds: (pool,
    lowest, highest) of each pool."""

    __slots__ = ("sessions", "spans")

    def __init__(self, spans: tuple[tuple[UePool, int, int], ...]) -> None:
        self.sessions = 0
        self.spans = spans


def _key(instance: str, net: IPNetwork) -> tuple[str, int, int, int]:
    """``instance`` and ``net`` as a key of integers (an IPNetwork's hash is Python code)."""
    return instance, net.version, int(net.network_address), net.prefixlen


class UeAddressPools:
    """The UE pools of every network instance, by family, tried in configuration order."""

    def __init__(self, pools: dict[str, tuple[IPNetwork, ...]]) -> None:
        self.pools: dict[tuple[str, int], list[UePool]] = {}
        for name, nets in pools.items():
            for net in nets:
                self.pools.setdefault((name, net.version), []).append(UePool(net))
        # (the IPv4 ones by instance: `take_text` builds and hashes no key tuple)
        self._v4 = {name: of_instance for (name, v), of_instance in self.pools.items() if v == 4}
        self._holds: dict[tuple[str, int, int, int], _Hold] = {}  # (`hold`, by `_key`)

    def take_text(
        self, instance: str, version: int
    ) -> tuple[IPNetwork, str, str, int, bytes] | None:
        """`UePool.take_text` of the instance's first pool of ``version`` with one left
        (Exhausted: none has); None when the instance has no pool of ``version``."""
        pools = self._v4.get(instance) if version == 4 else self.pools.get((instance, version))
        if pools is None:
            return None
        for pool in pools:
            try:
                return pool.take_text()
            except Exhausted:
                continue
        raise Exhausted

    def reserve(self, instance: str, net: IPNetwork) -> bool:
        return any(p.reserve(net) for p in self.pools.get((instance, net.version), []))

    def taken(self, instance: str, net: IPNetwork) -> bool:
        """``net`` is a value of one of the instance's pools that is allocated or held."""
        return any(p.taken(net) for p in self.pools.get((instance, net.version), []))

    def owned(self, instance: str, net: IPNetwork) -> bool:
        """``net`` belongs to one of the instance's pools (taken or not)."""
        return any(p.owns(net) for p in self.pools.get((instance, net.version), []))

    def hold(self, instance: str, net: IPNetwork) -> list[UePool]:
        """A restored session keeps ``net`` though no pool of ``instance`` has it as a value
        of its own (`owned`: the configuration changed): the values of the instance's
        pools that share an address with it (`UePool.overlap`) are held in use until it is
        freed (`free`, once per call of this). The pools whose values are held."""
        key = _key(instance, net)
        entry = self._holds.get(key)
        if entry is None:
            spans = []
            for pool in self.pools.get((instance, net.version), ()):
                span = pool.overlap(net)
                if span is not None:
                    spans.append((pool, *span))
            if not spans:
                return []
            entry = self._holds[key] = _Hold(tuple(spans))
        entry.sessions += 1
        for pool, lo, hi in entry.spans:
            pool.hold(lo, hi)
        return [pool for pool, _, _ in entry.spans]

    def free(self, instance: str, net: IPNetwork) -> None:
        for pool in self.pools.get((instance, net.version), []):
            pool.free(net)
        if self._holds:
            self._release(instance, net)

    def _release(self, instance: str, net: IPNetwork) -> None:
        """The end of a `hold` of ``net``."""
        key = _key(instance, net)
        entry = self._holds.get(key)
        if entry is None:
            return
        entry.sessions -= 1
        if not entry.sessions:
            del self._holds[key]
        for pool, lo, hi in entry.spans:
            pool.release(lo, hi)

    def watch(self, marked: Callable[[], None]) -> None:
        """Call ``marked`` when a pool's mark moves."""
        for pools in self.pools.values():
            for pool in pools:
                pool.watch(marked)

    def top_up(self) -> None:
        """`_Space.top_up` of every pool."""
        for pools in self.pools.values():
            for pool in pools:
                pool.top_up()

    def marks(self) -> tuple[tuple[str, IPNetwork, int], ...]:
        """(network instance, prefix, mark) of every pool."""
        return tuple(
            (name, pool.network, pool.mark)
            for (name, _), pools in self.pools.items()
            for pool in pools
        )

    def resume(self, marks: Iterable[tuple[str, IPNetwork, int]]) -> None:
        """Resume every pool from the journaled ``marks`` ((network instance, prefix, mark)
        as `marks` gave them, of the pools configured then: `UePool.resume`). A pool that
        overlaps a pool then of another unit is logged: that mark is not applied (the
        pool starts as new when no mark of its unit is)."""
        by_instance: dict[str, list[tuple[IPNetwork, int]]] = {}
        for name, net, mark in marks:
            by_instance.setdefault(name, []).append((net, mark))
        for (name, _), pools in self.pools.items():
            for pool in pools:
                applied, other = pool.resume(by_instance.get(name, ()))
                for net, unit in other:
                    log.warning(
                        "UE pool %s of %s: the journaled mark of pool %s (/%d each) not"
                        " applied to this one (/%d each)%s",
                        pool.label,
                        name,
                        net,
                        unit,
                        pool.prefixlen,
                        "" if applied else ": it starts as new",
                    )

    def usage(self) -> dict[str, int]:
        """Allocations in use per pool label (``<instance>:<prefix>``)."""
        return {
            f"{name}:{pool.label}": pool.in_use
            for (name, _), pools in self.pools.items()
            for pool in pools
        }


def host_address(net: IPNetwork) -> IPAddress:
    return net.network_address

"""Transactions: requests this node sent (T1/N1 retransmission) and the response cache for
requests it answered (duplicates get the same octets again, and no second effect)."""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..address import Address
from ..pfcp import Message

MAX_SEQ = 0xFFFFFF


@dataclass(slots=True)
class Outgoing:
    """A request in flight, retransmitted every ``t1`` seconds up to ``n1`` times."""

    request: Message
    data: bytes
    addr: Address
    local: str | None
    first_sent_at: float
    deadline: float
    retransmissions: int = 0
    on_done: Callable[[Message | None, float], None] | None = None  # response or None (timeout)


class SequenceNumbers:
    """The 24-bit sequence numbers of the requests this node originates: one series for the
    whole node, whatever the peer or the listen endpoint, from ``first`` on (the daemon picks
    it at random at each start: a peer still caching answers to the previous run's requests
    must not take new ones for retransmissions of those).

    TS 29.244 6.4: a sequence number is unique for each outstanding request sourced from the
    same IP/UDP endpoint. A peer tells a retransmission by the sender's address and port and
    the number: two CPs behind one address (an SMF Set's shared N4 address named by both
    CPs' F-SEIDs) numbered from one series each would get the same number for two requests,
    and the second answered with the first's cached response. One series for the node
    numbers every request of every endpoint apart until 2**24 requests later."""

    def __init__(self, first: int = 1) -> None:
        if not 1 <= first <= MAX_SEQ:
            raise ValueError(f"first sequence number {first} not in 1..{MAX_SEQ}")
        self.first = first
        self._next = first

    def next(self) -> int:
        seq = self._next
        self._next = seq % MAX_SEQ + 1  # 1..0xFFFFFF, wrapping
        return seq


# request_digest(data): what tells a retransmission (the same octets again) from a new
# request that reuses the sequence number (a restarted peer numbering from 1 again): a
# digest of the request's datagram. Python's hash of bytes: SipHash with a key drawn at each
# start (unless PYTHONHASHSEED fixes it), so a peer cannot choose octets that collide;
# measured on a 518-octet establishment (loaded 2-core box): 1.1 us, BLAKE2b 4.6 us. (The
# builtin itself: no Python frame around it, once per request.)
request_digest: Callable[[bytes], int] = hash


class CachedResponse(NamedTuple):
    """What `ResponseCache.get` finds: the response's octets and its (message type, cause)
    labels, for metrics. (Made for a hit, from the stored entry; not what is stored.)"""

    data: bytes
    labels: tuple[str, str]


_new_tuple = tuple.__new__  # (a named tuple made without the Python frame of its __new__)

# A stored entry is bytes: this header, then the response's octets. Bytes, not a tuple or an
# object: the cyclic garbage collector does not track them (a CachedResponse and its key
# tuple per answer were walked by every young collection they lived through, and the next
# generation's after it).
# (Native sizes and order: only this process reads them. The digest, a hash(), is a
# Py_ssize_t: "n" packs it without the generic conversion "q" takes for a large int.)
# expires_at, request digest, the put's serial number, labels' index, request type
_ENTRY = struct.Struct("@dnQIB")
_ENTRY_SERIAL = struct.Struct("@Q")  # (at _SERIAL_AT)
_SERIAL_AT = struct.calcsize("@dn")
_ENTRY_HEAD = _ENTRY.size
# A key is an int, not an (address, sequence number) tuple: the sequence number in its 24 low
# bits, the peer's address as the bits above (a number per address, in `_peer_keys`).
_PEER_BITS = ~MAX_SEQ  # (the key's peer part)
_PEER_STEP = MAX_SEQ + 1  # (between the peer parts of two addresses)
# `_peer_keys` holds at least this many addresses before it forgets those without entries.
_MIN_PEERS = 1024
# The dicts a ResponseCache spreads its entries over, by the low bits of the sequence number.
SHARDS = 64
_SHARD_BITS = SHARDS - 1


class ResponseCache:
    """Response octets per (peer, sequence number), kept ``ttl`` seconds, at most ``limit``.
    An entry answers only the request it was made for: the same type and the same octets
    (TS 29.244 6.4: a retransmitted request is identical; another request with the same
    sequence number is a new transaction).

    Neither keys (ints) nor entries (bytes) are objects the garbage collector tracks: the
    cache holds one per answer for ``ttl`` seconds, and the collector would walk each in
    the young collections it lives through.

    The entries are spread over SHARDS dicts by the low bits of their sequence number, their
    order kept apart (`_order`, `_times`: a deque grows by blocks, never
    copies): a dict
    doubles by copying every entry, in one call, and one dict of every answer held 43,690 at
    the resize that took 5 ms inside one establishment (bench/session_rate.py's paced phase
    after 30,000 requests, 2026-12-05; at 87,381 entries 3-8 ms); a dict kept full also
    copies itself once its deleted slots run out. A shard holds a SHARDS-th of the entries:
    at the 100,000 of ``limit``, a shard's copy takes ~0.05 ms."""

    def __init__(self, ttl: float, limit: int = 100_000) -> None:
        self.ttl = ttl
        self.limit = limit
        # key -> entry, in shard seq & _SHARD_BITS
        self._shards: list[dict[int, bytes]] = [{} for _ in range(SHARDS)]
        self._size = 0  # entries in the shards
        # The key of each put and its expiry, oldest first. A key put again or discarded
        # leaves its record behind: a record whose key's entry has another serial number
        # (or none) is stale, and skipped. (Not the expiry: a key put twice at the same time
        # would have two live records.) A record's serial number is its put's: each put
        # numbers one record and records leave from the front only, so the first one's is
        # `_serial` - len(`_order`) + 1 (not kept beside it: a deque append per answer).
        self._order: deque[int] = deque()
        self._times: deque[float] = deque()
        self._serial = 0  # the last put's
        # address -> the peer part of its keys. When it reaches `_peers_bound`, the addresses
        # without entries are forgotten and the bound becomes twice the addresses kept (at
        # least _MIN_PEERS): bounded like the cache, by max(_MIN_PEERS, 2 x `limit`).
        self._peer_keys: dict[Address, int] = {}
        self._next_peer_key = 0
        self._peers_bound = _MIN_PEERS
        # (message type, cause) labels -> their index in `_labels` (at most 256 x 256)
        self._label_index: dict[tuple[str, str], int] = {}
        self._labels: list[tuple[str, str]] = []
        # No entry expires before this (the oldest record's expiry when last looked at, or
        # earlier): `expire`, called for every datagram, returns at once until then (the
        # node looks at it before calling).
        self.nothing_expires_before = math.inf

    def __len__(self) -> int:
        return self._size

    def listing(self) -> list[tuple[Address, int, float]]:
        """(address, sequence number, expiry) of each entry, oldest first."""
        addresses = {part: addr for addr, part in self._peer_keys.items()}
        shards = self._shards
        listed = []
        serials = range(self._serial - len(self._order) + 1, self._serial + 1)
        for key, serial, expires_at in zip(self._order, serials, self._times, strict=True):
            entry = shards[key & _SHARD_BITS].get(key)
            if entry is not None and _ENTRY_SERIAL.unpack_from(entry, _SERIAL_AT)[0] == serial:
                listed.append((addresses[key & _PEER_BITS], key & MAX_SEQ, expires_at))
        return listed

    def get(
        self, addr: Address, seq: int, request_type: int, digest: int, now: float
    ) -> CachedResponse | None:
        part = self._peer_keys.get(addr)
        if part is None:
            return None
        entry = self._shards[seq & _SHARD_BITS].get(part | seq)
        if entry is None:
            return None
        expires_at, entry_digest, _, labels, entry_type = _ENTRY.unpack_from(entry)
        if expires_at <= now or entry_type != request_type or entry_digest != digest:
            return None
        return _new_tuple(CachedResponse, (entry[_ENTRY_HEAD:], self._labels[labels]))

    def put(
        self,
        addr: Address,
        seq: int,
        request_type: int,
        digest: int,
        data: bytes,
        labels: tuple[str, str],
        now: float,
    ) -> None:
        part = self._peer_keys.get(addr)
        if part is None:
            part = self._new_peer(addr)
        index = self._label_index.get(labels)
        if index is None:
            index = self._label_index[labels] = len(self._labels)
            self._labels.append(labels)
        key = part | seq
        shard = self._shards[seq & _SHARD_BITS]
        expires_at = now + self.ttl
        if key not in shard:
            self._size += 1
        # (put again: the entry gets its new expiry, and a new record; the old one is stale)
        serial = self._serial = self._serial + 1
        shard[key] = _ENTRY.pack(expires_at, digest, serial, index, request_type) + data
        self._order.append(key)
        self._times.append(expires_at)
        if expires_at < self.nothing_expires_before:
            self.nothing_expires_before = expires_at
        if self._size > self.limit:
            self._drop_oldest(self._size - self.limit)

    def _drop_oldest(self, count: int) -> None:
        """Forget the ``count`` oldest entries (stale records skipped)."""
        order = self._order
        while count > 0 and order:
            count -= self._pop_record()

    def _pop_record(self) -> int:
        """Take the oldest record off; 1 when its entry was live (and is now forgotten),
        0 when the record was stale."""
        order = self._order
        serial = self._serial - len(order) + 1  # (the first record's)
        key = order.popleft()
        self._times.popleft()
        shard = self._shards[key & _SHARD_BITS]
        entry = shard.get(key)
        if entry is None or _ENTRY_SERIAL.unpack_from(entry, _SERIAL_AT)[0] != serial:
            return 0
        del shard[key]
        self._size -= 1
        return 1

    def _new_peer(self, addr: Address) -> int:
        """The peer part of ``addr``'s keys, for an address without one (a new number: an
        entry of an address forgotten earlier never answers for another)."""
        peers = self._peer_keys
        if len(peers) >= self._peers_bound:
            kept = {key & _PEER_BITS for shard in self._shards for key in shard}
            self._peer_keys = peers = {a: part for a, part in peers.items() if part in kept}
            self._peers_bound = max(_MIN_PEERS, 2 * len(peers))
        part = peers[addr] = self._next_peer_key
        self._next_peer_key += _PEER_STEP
        return part

    def discard(self, addr: Address, seq: int) -> None:
        """Forget the response to ``(addr, seq)``: its retransmission is handled afresh."""
        part = self._peer_keys.get(addr)
        if part is not None and self._shards[seq & _SHARD_BITS].pop(part | seq, None) is not None:
            self._size -= 1

    def discard_peer(self, addr: Address) -> int:
        """Forget every response to ``addr`` (a peer that restarted or set up a new
        association: none of its earlier requests is retransmitted any more, and a request of
        its new run may repeat one of them octet for octet). Returns how many. A scan: it
        runs once per association setup."""
        part = self._peer_keys.pop(addr, None)
        if part is None:
            return 0
        dropped = 0
        for shard in self._shards:
            stale = [key for key in shard if key & _PEER_BITS == part]
            for key in stale:
                del shard[key]
            dropped += len(stale)
        self._size -= dropped
        return dropped

    def expire(self, now: float) -> None:
        """Forget expired entries (their records are in put order, all with the same ttl)."""
        if now < self.nothing_expires_before:
            return
        times = self._times
        while times:
            expires_at = times[0]
            if expires_at > now:
                self.nothing_expires_before = expires_at
                return
            self._pop_record()
        self.nothing_expires_before = math.inf

    def next_expiry(self) -> float | None:
        """No entry expires before this (the oldest record's expiry: a stale record's makes
        it early, never late; None: nothing to expire)."""
        times = self._times
        return times[0] if times else None

"""Transactions: requests this node sent (T1/N1 retransmission) and the response cache for
requests it answered (duplicates get the same octets again, and no second effect)."""

from __future__ import annotations

import math
from collections import OrderedDict
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
    """Per-peer 24-bit sequence numbers for the requests this node originates, from ``first``
    on (the daemon picks it at random at each start: a peer still caching answers to the
    previous run's requests must not take new ones for retransmissions of those)."""

    def __init__(self, first: int = 1) -> None:
        if not 1 <= first <= MAX_SEQ:
            raise ValueError(f"first sequence number {first} not in 1..{MAX_SEQ}")
        self.first = first
        self._next: dict[Address, int] = {}

    def next(self, addr: Address) -> int:
        seq = self._next.get(addr, self.first)
        self._next[addr] = seq % MAX_SEQ + 1  # 1..0xFFFFFF, wrapping
        return seq


# request_digest(data): what tells a retransmission (the same octets again) from a new
# request that reuses the sequence number (a restarted peer numbering from 1 again): a
# digest of the request's datagram. Python's hash of bytes: SipHash with a key drawn at each
# start (unless PYTHONHASHSEED fixes it), so a peer cannot choose octets that collide;
# measured on a 518-octet establishment (loaded 2-core box): 1.1 us, BLAKE2b 4.6 us. (The
# builtin itself: no Python frame around it, once per request.)
request_digest: Callable[[bytes], int] = hash


class CachedResponse(NamedTuple):
    """(A named tuple: one is made per answer; `ResponseCache.put` makes it with
    tuple.__new__, without the Python frame of its constructor.)"""

    request_type: int
    request_digest: int  # request_digest() of the request it answers
    data: bytes
    expires_at: float
    labels: tuple[str, str]  # (message type, cause) of the response, for metrics


_new_tuple = tuple.__new__


class ResponseCache:
    """Response octets per (peer, sequence number), kept ``ttl`` seconds, at most ``limit``.
    An entry answers only the request it was made for: the same type and the same octets
    (TS 29.244 6.4: a retransmitted request is identical; another request with the same
    sequence number is a new transaction)."""

    def __init__(self, ttl: float, limit: int = 100_000) -> None:
        self.ttl = ttl
        self.limit = limit
        # (addr, seq) -> its entry, oldest first (read outside: the node looks a key up
        # before calling `get`)
        self.entries: OrderedDict[tuple[Address, int], CachedResponse] = OrderedDict()
        # No entry expires before this (the first entry's expiry when last looked at, or
        # earlier): `expire`, called for every datagram, returns at once until then (the
        # node looks at it before calling).
        self.nothing_expires_before = math.inf

    def __len__(self) -> int:
        return len(self.entries)

    def get(
        self, addr: Address, seq: int, request_type: int, digest: int, now: float
    ) -> CachedResponse | None:
        entry = self.entries.get((addr, seq))
        if (
            entry is None
            or entry.expires_at <= now
            or entry.request_type != request_type
            or entry.request_digest != digest
        ):
            return None
        return entry

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
        key = (addr, seq)
        entries = self.entries
        entries.pop(key, None)
        expires_at = now + self.ttl
        entries[key] = _new_tuple(CachedResponse, (request_type, digest, data, expires_at, labels))
        if expires_at < self.nothing_expires_before:
            self.nothing_expires_before = expires_at
        while len(entries) > self.limit:
            entries.popitem(last=False)

    def discard(self, addr: Address, seq: int) -> None:
        """Forget the response to ``(addr, seq)``: its retransmission is handled afresh."""
        self.entries.pop((addr, seq), None)

    def discard_peer(self, addr: Address) -> int:
        """Forget every response to ``addr`` (a peer that restarted or set up a new
        association: none of its earlier requests is retransmitted any more, and a request of
        its new run may repeat one of them octet for octet). Returns how many. A scan: it
        runs once per association setup."""
        stale = [key for key in self.entries if key[0] == addr]
        for key in stale:
            del self.entries[key]
        return len(stale)

    def expire(self, now: float) -> None:
        """Forget expired entries (they are in insertion order, all with the same ttl)."""
        if now < self.nothing_expires_before:
            return
        entries = self.entries
        while entries:
            key, entry = next(iter(entries.items()))
            if entry.expires_at > now:
                self.nothing_expires_before = entry.expires_at
                return
            del entries[key]
        self.nothing_expires_before = math.inf

    def next_expiry(self) -> float | None:
        if not self.entries:
            return None
        return next(iter(self.entries.values())).expires_at

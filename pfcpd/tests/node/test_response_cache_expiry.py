"""ResponseCache.expire, called for every datagram, returns at once while nothing can have
expired; entries still go exactly when due, whatever was put, discarded or evicted before.
RateLimiter.admit: one token bucket per peer, refilled at the rate, new peers start full."""

from __future__ import annotations

import random

from pfcpd.node.rate_limit import RateLimiter
from pfcpd.node.transactions import ResponseCache

A, B = ("10.0.0.1", 8805), ("10.0.0.2", 8805)


def _put(cache: ResponseCache, addr: tuple[str, int], seq: int, now: float) -> None:
    cache.put(addr, seq, 50, seq, b"answer", ("t", "c"), now)


def _keys(cache: ResponseCache) -> list[tuple[tuple[str, int], int]]:
    return [(addr, seq) for addr, seq, _ in cache.listing()]


def test_entries_expire_when_due_after_puts_discards_and_evictions() -> None:
    cache = ResponseCache(ttl=10.0, limit=4)
    cache.expire(0.0)  # (empty)
    _put(cache, A, 1, 0.0)
    _put(cache, A, 2, 1.0)
    cache.expire(9.99)
    assert _keys(cache) == [(A, 1), (A, 2)]
    cache.expire(10.0)  # expires_at <= now: gone
    assert _keys(cache) == [(A, 2)]
    # The first entry discarded: the next one still expires when due.
    _put(cache, B, 3, 2.0)
    cache.discard(A, 2)
    cache.expire(11.5)
    assert _keys(cache) == [(B, 3)]
    cache.expire(12.0)
    assert _keys(cache) == []
    # Emptied, then filled again: an entry put later expires when due, not never.
    _put(cache, A, 4, 20.0)
    cache.expire(29.0)
    assert _keys(cache) == [(A, 4)]
    cache.expire(30.0)
    assert len(cache) == 0
    # The same key put again moves to the end with the later expiry.
    _put(cache, A, 5, 40.0)
    _put(cache, B, 6, 41.0)
    _put(cache, A, 5, 42.0)
    cache.expire(51.0)
    assert _keys(cache) == [(A, 5)]
    cache.expire(52.0)
    assert len(cache) == 0
    # Evicted past the limit, and every entry of a peer discarded.
    for seq in range(10):
        _put(cache, A if seq % 2 else B, 100 + seq, 60.0 + seq)
    assert [k[1] for k in _keys(cache)] == [106, 107, 108, 109]
    assert cache.discard_peer(B) == 2
    cache.expire(67.5)
    assert [k[1] for k in _keys(cache)] == [107, 109]
    cache.expire(79.0)
    assert len(cache) == 0 and cache.next_expiry() is None


def test_expiry_matches_a_full_scan_in_random_sequences() -> None:
    rng = random.Random(3)
    for _ in range(50):
        cache = ResponseCache(ttl=rng.choice([0.0, 1.0, 5.0]), limit=rng.choice([3, 50]))
        now = 0.0
        for _ in range(300):
            now += rng.choice([0.0, 0.1, 0.5, 2.0])
            op = rng.random()
            addr = rng.choice([A, B])
            if op < 0.5:
                _put(cache, addr, rng.randrange(20), now)
            elif op < 0.6:
                cache.discard(addr, rng.randrange(20))
            elif op < 0.65:
                cache.discard_peer(addr)
            cache.expire(now)
            due = [entry for entry in cache.listing() if entry[2] <= now]
            assert due == [], (now, due)


def test_rate_limiter_buckets() -> None:
    limiter = RateLimiter(rate=2.0, burst=3, max_peers=2)
    assert [limiter.admit("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.admit("a", 0.5)  # one token back after 0.5 s at 2/s
    assert not limiter.admit("a", 0.5)
    assert limiter.admit("b", 0.5)  # a new peer starts with a full burst
    assert limiter._buckets["b"] == (2.0, 0.5)
    assert limiter.admit("a", 100.0)  # refilled, capped at the burst
    assert limiter._buckets["a"] == (2.0, 100.0)
    # A third peer: room is made first (refilled buckets go), then it starts full.
    assert limiter.admit("c", 200.0)
    assert sorted(limiter._buckets) == ["c"] and limiter._buckets["c"] == (2.0, 200.0)


def test_a_key_put_again_at_the_same_time_is_the_newest_entry() -> None:
    """Records are told apart by the put's serial number, not by the expiry: a key put
    again at the same instant moves to the end, and the limit drops the oldest other."""
    cache = ResponseCache(ttl=10.0, limit=2)
    _put(cache, A, 1, 0.0)
    _put(cache, A, 2, 0.0)
    _put(cache, A, 1, 0.0)
    _put(cache, A, 3, 0.0)
    assert _keys(cache) == [(A, 1), (A, 3)]
    assert len(cache) == 2
    cache.expire(10.0)
    assert len(cache) == 0 and _keys(cache) == []

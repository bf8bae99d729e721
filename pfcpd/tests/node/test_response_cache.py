"""The response cache: what an entry answers, and entries the garbage collector does not track
(keys are ints and entries bytes: a tuple key and a named-tuple entry per answer were walked
by every young collection they lived through)."""

from __future__ import annotations

import gc

from test_node_sans_io import CP, CP_TS, exchange, make_node, setup

from pfcpd.node.transactions import SHARDS, ResponseCache
from pfcpd.pfcp import Message, MessageType, encode
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType
A, B = ("10.0.0.1", 8805), ("10.0.0.2", 8805)
LABELS = ("session_deletion_response", "request_accepted")


def fresh(addr: tuple[str, int]) -> tuple[str, int]:
    """An equal address in a new tuple, as each received datagram brings one."""
    return (addr[0], int(str(addr[1])))


def test_an_entry_answers_only_its_request_type_digest_and_peer_until_it_expires() -> None:
    cache = ResponseCache(ttl=10.0)
    cache.put(A, 7, 54, 1234, b"answer", LABELS, 0.0)
    hit = cache.get(fresh(A), 7, 54, 1234, 5.0)
    assert hit is not None and hit.data == b"answer" and hit.labels == LABELS
    assert cache.get(A, 7, 52, 1234, 5.0) is None  # another type
    assert cache.get(A, 7, 54, 1235, 5.0) is None  # other octets
    assert cache.get(A, 8, 54, 1234, 5.0) is None  # another sequence number
    assert cache.get(B, 7, 54, 1234, 5.0) is None  # another peer
    assert cache.get((A[0], 9999), 7, 54, 1234, 5.0) is None  # another port
    assert cache.get(A, 7, 54, 1234, 10.0) is None  # expired (expires_at <= now)


def test_each_entry_keeps_its_own_labels_and_any_digest() -> None:
    cache = ResponseCache(ttl=10.0)
    other = ("heartbeat_response", "none")
    digests = (-(2**63), 2**63 - 1, hash(b"request"), 0)
    for seq, digest in enumerate(digests):
        cache.put(A, seq, 1, digest, bytes([seq]) * 3, other if seq % 2 else LABELS, 0.0)
    for seq, digest in enumerate(digests):
        hit = cache.get(A, seq, 1, digest, 1.0)
        assert hit is not None and hit.data == bytes([seq]) * 3
        assert hit.labels == (other if seq % 2 else LABELS)


def test_discard_and_discard_peer_touch_only_their_entries() -> None:
    cache = ResponseCache(ttl=10.0)
    for addr in (A, B):
        for seq in (1, 2, 3):
            cache.put(addr, seq, 54, seq, b"x", LABELS, 0.0)
    cache.discard(fresh(A), 2)
    cache.discard(("10.0.0.3", 1), 1)  # (an address without entries)
    assert [(a, s) for a, s, _ in cache.listing()] == [(A, 1), (A, 3), (B, 1), (B, 2), (B, 3)]
    assert cache.discard_peer(fresh(B)) == 3
    assert cache.discard_peer(B) == 0
    assert [(a, s) for a, s, _ in cache.listing()] == [(A, 1), (A, 3)]
    # B again: its new entries are its own, the old ones stay gone.
    cache.put(B, 1, 54, 9, b"y", LABELS, 1.0)
    assert cache.get(B, 1, 54, 1, 2.0) is None
    hit = cache.get(B, 1, 54, 9, 2.0)
    assert hit is not None and hit.data == b"y"


def test_the_addresses_kept_for_keys_are_bounded_and_never_mix_peers() -> None:
    """Past its bound the table of addresses forgets those without entries; an address
    forgotten and seen again gets a new number, so no entry answers for another peer."""
    cache = ResponseCache(ttl=100.0, limit=4)
    for i in range(5000):
        cache.put((f"10.1.{i // 256}.{i % 256}", 8805), 1, 54, 1, b"x", LABELS, 0.0)
    assert len(cache) == 4
    assert len(cache._peer_keys) <= 1024
    kept = [addr for addr, _, _ in cache.listing()]
    assert kept == [(f"10.1.19.{i}", 8805) for i in range(132, 136)]
    for addr in kept:
        assert cache.get(addr, 1, 54, 1, 1.0) is not None
    assert cache.get(("10.1.0.0", 8805), 1, 54, 1, 1.0) is None  # (evicted)


def _stored(cache: ResponseCache) -> list[tuple[int, bytes]]:
    return [item for shard in cache._shards for item in shard.items()]


def test_stored_keys_and_entries_are_not_tracked_by_the_garbage_collector() -> None:
    cache = ResponseCache(ttl=10.0)
    cache.put(A, 0, 54, 0, b"first", LABELS, 0.0)  # (the peer's and the labels' table rows)
    paused = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        before = len(gc.get_objects(0))
        for seq in range(1, 1001):
            labels = (LABELS[0], str(LABELS[1]))  # (a new tuple per answer, as the node's)
            cache.put(fresh(A), seq, 54, seq, b"answer %d" % seq, labels, float(seq))
        del labels  # (the last one, else alive here)
        grown = len(gc.get_objects(0)) - before
    finally:
        if paused:
            gc.enable()
    assert grown <= 0, grown  # (main's cache: 4 per put)
    assert len(cache) == 1001
    assert not any(gc.is_tracked(k) or gc.is_tracked(e) for k, e in _stored(cache))


def test_the_nodes_cached_answers_are_not_tracked_by_the_garbage_collector() -> None:
    node = make_node()
    exchange(node, setup(), 0.0)
    for seq in range(2, 50):
        exchange(
            node, Message(M.HEARTBEAT_REQUEST, seq, [RecoveryTimeStamp(CP_TS)]), 1.0, fresh(CP)
        )
        exchange(node, Message(M.SESSION_DELETION_REQUEST, seq + 100, [], seid=7), 1.0, CP)
    entries = _stored(node._cache)
    assert len(entries) == 1 + 2 * 48
    assert not any(gc.is_tracked(k) or gc.is_tracked(e) for k, e in entries)
    request = encode(Message(M.SESSION_DELETION_REQUEST, 149, [], seid=7))
    node.datagram_received(request, fresh(CP), 2.0)
    [again] = node.datagrams_to_send()
    assert node.metrics.duplicates.get("session_deletion_request") == 1
    hit = node._cache.get(CP, 149, M.SESSION_DELETION_REQUEST, hash(request), 2.0)
    assert hit is not None and again.data == hit.data


def test_entries_are_spread_over_small_dicts_that_never_copy_them_all_at_once() -> None:
    """A dict doubles by copying every entry in one call: one dict of every answer took
    3-8 ms at 43,690 and 87,381 entries. The shards hold a SHARDS-th each."""
    cache = ResponseCache(ttl=100.0, limit=20_000)
    for seq in range(1, 30_001):
        cache.put(A, seq, 54, seq, b"a", LABELS, seq / 1000)
    assert len(cache) == 20_000
    sizes = [len(shard) for shard in cache._shards]
    assert len(sizes) == SHARDS and max(sizes) <= 20_000 // SHARDS + 1
    assert cache.get(A, 10_000, 54, 10_000, 30.0) is None  # (evicted: the oldest went)
    hit = cache.get(A, 10_001, 54, 10_001, 30.0)
    assert hit is not None and hit.data == b"a"
    cache.expire(100.0 + 20.0)  # puts 10,001..20,000 expired (and only they)
    assert len(cache) == 10_000 and len(cache.listing()) == 10_000
    assert cache.listing()[0][1] == 20_001

"""The decode cache (_walk.c's table of IEs by their TLV octets): what a decode with the
cache gives equals what it gives without (every IE decoded), message after message, with
the table's hash as it is and with octets made to collide; what it shares and what it
copies; and no memory kept beyond its entries."""

from __future__ import annotations

import contextlib
import gc
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from sample_messages import all_samples
from test_message_fast_paths import _deep, _outcome

from pfcpd.pfcp import CodecError, Grouped, IEType, _walk, codec, decode, decode_datagram, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp.header import decode_header
from pfcpd.session import shapes
from pfcpd.smfsim import rules


def _requests() -> list[bytes]:
    """Session Establishment Requests of several shapes as the SMF simulator makes them
    (each with its own CP SEID and gNB TEID; some with an F-TEID and UE address the CP
    gave), and Session Modification Requests."""
    shapes_ = [
        {},
        {"v6": True},
        {"dual_stack": True},
        {"gnb": None},
        {"mbr_kbps": (1000, 2000)},
        {"gnb": "2001:db8::9"},
    ]
    out = []
    for i in range(120):
        kw: dict[str, Any] = dict(shapes_[i % len(shapes_)])
        if kw.get("gnb", "") is not None:
            kw["gnb_teid"] = 0x100 + i
        rs = rules.session_rules(**kw)
        pdi = rs[0].ies[2]
        assert isinstance(pdi, Grouped) and pdi.type == IEType.PDI
        if i % 7 == 3:  # given by the CP: per-session values
            pdi.ies[1] = A.FTEID(0x5000 + i, "10.0.0.1")
        elif i % 5 == 2:  # another CHOOSE ID
            pdi.ies[1] = A.FTEID(choose=True, choose_v4=True, choose_id=i % 3 + 1)
        cp = "2001:db8::1" if i % 4 == 0 else "127.0.0.1"
        out.append(encode(rules.establishment_request("smf", cp, i + 1, rs, seq=i + 1)))
        dl = rules.update_dl_far(2, 0x1000000 + i, f"192.0.2.{i % 250}", end_marker=i % 2 == 0)
        out.append(encode(rules.modification_request(i + 1, [dl], seq=i + 1)))
    return out


def _datagrams() -> list[bytes]:
    rng = random.Random(3)
    out = _requests()
    for msg in all_samples():
        data = encode(msg)
        out.append(data)
        for _ in range(10):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(data))] = rng.randrange(256)
            out.append(bytes(mutated))
    return out


def _decode(data: bytes) -> Any:
    """What the node and the engine make of a datagram: decoded three ways, and the
    shape key of an establishment request."""
    first = _outcome(decode, data)
    key = None
    if first[0] == "ok" and first[1].msg_type == 50:
        key = _outcome(shapes.establishment_key, first[1])
    header = _outcome(decode_header, data)
    one = _outcome(decode_datagram, data, header[1]) if header[0] == "ok" else header
    return (_deep(first), _deep(one), _deep(_outcome(decode_datagram, data)), repr(key))


@contextlib.contextmanager
def _cache_off() -> Iterator[None]:
    saved = codec.CACHE_MAX_BYTES
    codec.CACHE_MAX_BYTES = 1  # (no entry fits: every IE is decoded every time)
    codec.reload_tables()
    try:
        yield
    finally:
        codec.CACHE_MAX_BYTES = saved
        codec.reload_tables()


@contextlib.contextmanager
def _hash_bits(bits: int) -> Iterator[None]:
    _walk.cache_hash_bits(bits)
    try:
        yield
    finally:
        _walk.cache_hash_bits(32)


def _leaves(ies: list[Any]) -> Iterator[Any]:
    for ie in ies:
        yield ie
        if type(ie) is Grouped:
            yield from _leaves(ie.ies)


@pytest.fixture(scope="module")
def reference() -> tuple[list[bytes], list[Any]]:
    datagrams = _datagrams()
    with _cache_off():
        return datagrams, [_decode(d) for d in datagrams]


@pytest.mark.parametrize("bits", [32, 2, 0])
def test_decodes_with_the_cache_equal_those_without(
    reference: tuple[list[bytes], list[Any]], bits: int
) -> None:
    """Two rounds over the datagrams (the second mostly from the cache), with the table's
    hash, and with 2 and 0 bits of it kept (octets collide: the probes and the replacement
    of entries run): the same messages, errors, ignored IEs and shape keys as without."""
    datagrams, expected = reference
    assert sum(r[0][0] == "ok" for r in expected) > 300
    codec.reload_tables()
    with _hash_bits(bits):
        for _ in range(2):
            assert [_decode(d) for d in datagrams] == expected
            assert codec.cache_bytes() <= codec.CACHE_MAX_BYTES
    assert codec.cache_entries() == []  # (emptied when the bits changed back)


def test_what_a_second_decode_shares() -> None:
    """Decoded again, a request shares its leaves of cacheable types with the first
    decode and nothing else: groups (templates or not) and the per-session address IEs
    (F-SEID, F-TEID, UE IP Address, Outer Header Creation: mutable, even when their octets
    are the same in every session, as an F-TEID with CH) are fresh objects."""
    codec.reload_tables()
    requests = _requests()[:24]
    first = [decode(d) for d in requests]
    templates = [ie for _, ie in codec.cache_entries() if type(ie) is Grouped]
    assert any(  # a Create PDR with a CH F-TEID is a template
        ie.type == IEType.CREATE_PDR and IEType.F_TEID in {c.type for c in _leaves(ie.ies)}
        for ie in templates
    )
    for data, before in zip(requests, first, strict=True):
        again = decode(data)
        assert again == before
        pairs = list(zip(_leaves(again.ies), _leaves(before.ies), strict=True))
        for now, then in pairs:
            assert (now is then) == (type(now) is not Grouped and type(now).CACHEABLE)
        # a caller changing its message does not change the next decode
        for ie in _leaves(again.ies):
            if isinstance(ie, A.FTEID):
                ie.teid, ie.choose = 77, False
            if type(ie) is Grouped:
                ie.ies.append(ie.ies[0])
        assert decode(data) == before


@pytest.mark.parametrize("bits", [32, 0])
def test_no_memory_kept_but_the_entries(bits: int) -> None:
    """Decoding the same datagrams again and again (the cache filled, or with every octet
    string colliding, entries replaced all the time) keeps no memory."""
    datagrams = _datagrams()

    def decode_all() -> None:
        for data in datagrams:
            with contextlib.suppress(CodecError):
                decode(data)

    codec.reload_tables()
    with _hash_bits(bits):
        for _ in range(3):
            decode_all()
        gc.collect()
        tracemalloc.start()
        try:
            decode_all()
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(5):
                decode_all()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 32 * 1024, f"{grown} octets more after 5 rounds of {len(datagrams)}"

"""The IE walk (the C extension ``pfcpd.pfcp._walk``): its decode cache, its error paths and
its memory (no reference leaks on success or failure)."""

from __future__ import annotations

import contextlib
import gc
import os
import random
import struct
import sys
import tracemalloc

import pytest
import test_properties
from planted_bug import PlantedBug, plant_bug
from sample_messages import CP_NODE, all_samples, session_establishment_request, tlv

from pfcpd.pfcp import (
    Cause,
    CodecError,
    Grouped,
    IEType,
    Message,
    MessageType,
    _walk,
    codec,
    decode,
    encode,
)
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ies_address import NodeID, OuterHeaderCreation
from pfcpd.pfcp.ies_flags import ApplyAction


def heartbeat(body: bytes) -> bytes:
    return struct.pack("!BBH", 0x20, 1, 4 + len(body)) + (7 << 8).to_bytes(4, "big") + body


TS = tlv(IEType.RECOVERY_TIME_STAMP, b"\0\0\0\1")


def test_cached_group_comes_out_as_a_fresh_copy() -> None:
    data = encode(session_establishment_request())
    first = decode(data)
    qer = first.get(IEType.CREATE_QER)
    assert isinstance(qer, Grouped)
    qer.ies.append(S.QERID(99))  # a caller changing its message ...
    qer.ies[0] = S.QERID(42)
    again = decode(data)  # ... does not change the next decode of the same octets
    assert again == session_establishment_request()
    assert again.get(IEType.CREATE_QER) is not qer


def test_groups_made_and_copied_in_place_hold_their_fields() -> None:
    """The walk sets and reads a Grouped's slots (type, ies, raw) in place: what it makes,
    fresh or copied from the cache, is a complete Grouped, encoded as its octets say."""
    data = encode(session_establishment_request())
    for _ in range(2):  # (decoded, then copied from the cache)
        for group in decode(data).ies:
            if not isinstance(group, Grouped):
                continue
            assert type(group) is Grouped
            assert isinstance(group.type, int) and isinstance(group.ies, list)
            assert group.raw is not None and group.raw[4:] == codec.encode_ies(group.ies)
            assert Grouped(group.type, list(group.ies), group.raw) == group


def test_equal_leaf_octets_share_one_decoded_ie() -> None:
    data = encode(session_establishment_request())
    a, b = decode(data), decode(data)
    assert a.get(IEType.NODE_ID) is b.get(IEType.NODE_ID)
    assert a.get(IEType.F_SEID) is not b.get(IEType.F_SEID)  # per session: never shared


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _under_asan() -> bool:
    with open("/proc/self/maps") as f:
        return "libasan" in f.read()


def _setup_flood(n: int) -> bytes:
    """An Association Setup Request (decoded for any allowed source) whose Node ID, ~60 KB,
    the largest a datagram holds, differs for each ``n``: the decode cache's worst case."""
    name = ".".join([f"{n:063d}"] + ["a" * 63] * 930)
    ies = [NodeID(2, name), S.RecoveryTimeStamp(1)]
    return encode(Message(MessageType.ASSOCIATION_SETUP_REQUEST, 1, ies))


def test_cache_byte_account_stays_within_its_bound_under_a_worst_case_flood() -> None:
    codec.reload_tables()
    for n in range(600):
        decode(_setup_flood(n))
        assert codec.cache_bytes() <= codec.CACHE_MAX_BYTES
    assert codec.cache_bytes() > codec.CACHE_MAX_BYTES // 4  # (the entries were cached)
    codec.reload_tables()


@pytest.mark.skipif(_under_asan(), reason="under ASan, RSS measures ASan's quarantine")
def test_cache_rss_is_bounded_under_a_worst_case_flood() -> None:
    """2,000 datagrams of _setup_flood: the process's RSS grows by no more than the cache's
    bound and some slack (bounded by entries only, they pinned ~230 MB)."""
    codec.reload_tables()
    rss_before = _rss_bytes()
    peak = 0
    for n in range(2000):
        decode(_setup_flood(n))
        if n % 100 == 0:
            peak = max(peak, _rss_bytes() - rss_before)
    peak = max(peak, _rss_bytes() - rss_before)
    print(f"decode cache: {codec.cache_bytes()} bytes counted, RSS grew {peak / 2**20:.1f} MiB")
    assert peak <= codec.CACHE_MAX_BYTES + 48 * 2**20
    codec.reload_tables()


def _groups(ie: object, nested: bool = False) -> int:
    """What a template's Grouped objects are charged: 128 each, and a nested one its own
    octets and 48 more (the template's own are the cache key)."""
    if not isinstance(ie, Grouped):
        return 0
    own = 128 + (48 + len(ie.raw) if nested and ie.raw is not None else 0)
    return own + sum(_groups(child, True) for child in ie.ies)


def test_cache_account_follows_its_entries() -> None:
    """Each entry is charged 3 x its TLV octets + 256, and a template group 128 more per
    Grouped object in it (nested groups included), and its nested groups' octets."""
    codec.reload_tables()
    assert codec.cache_bytes() == 0
    decode(heartbeat(TS))
    assert codec.cache_bytes() == 3 * len(TS) + 256  # one leaf
    decode(encode(session_establishment_request()))
    templates = [ie for _, ie in codec.cache_entries() if isinstance(ie, Grouped)]
    assert any(_groups(t) > 128 for t in templates)  # (a template with a nested group)
    expected = sum(3 * len(k) + 256 + _groups(v) for k, v in codec.cache_entries())
    assert codec.cache_bytes() == expected
    codec.drop_decode_cache()
    assert codec.cache_bytes() == 0 and codec.cache_entries() == []


@pytest.mark.parametrize(
    ("body", "cause", "offending"),
    [
        (TS + b"\x00\x60\x00", Cause.INVALID_LENGTH, None),  # 3 trailing octets
        (TS + tlv(0x8001, b"\x01"), Cause.INVALID_LENGTH, 0x8001),  # no enterprise ID
    ],
)
def test_walk_errors(body: bytes, cause: int, offending: int | None) -> None:
    with pytest.raises(CodecError) as err:
        decode(heartbeat(body))
    assert (err.value.cause, err.value.offending_ie) == (cause, offending)
    assert err.value.header is not None and err.value.header.seq == 7


def test_a_decoder_bug_escapes_the_codec_and_fails_the_property_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only bad input becomes a CodecError: a decoder raising anything else is a bug that
    escapes decode(), and the property test over mutated samples fails on it."""
    plant_bug(monkeypatch, IEType.NODE_ID, CP_NODE.encode())
    sample = encode(
        Message(MessageType.ASSOCIATION_SETUP_REQUEST, 1, [CP_NODE, S.RecoveryTimeStamp(1)])
    )
    try:
        with pytest.raises(PlantedBug):
            decode(sample)
        with pytest.raises(PlantedBug):
            test_properties.test_mutated_samples_only_codec_error()
    finally:
        monkeypatch.undo()
        codec.reload_tables()


def test_walk_refuses_bounds_outside_the_data() -> None:
    with pytest.raises(ValueError):
        codec.decode_ies(b"\x00\x38\x00\x02\x00\x01", 0, 7)


def _decode_all(datas: list[bytes]) -> None:
    for data in datas:
        with contextlib.suppress(CodecError):
            decode(data)


def test_no_memory_growth_over_good_and_bad_messages() -> None:
    """Reference leaks in the walk (a TLV key, a type number, an exception) would grow the
    traced memory with every message; decoding the same valid and broken messages again
    and again must not."""
    rng = random.Random(7)
    good = [encode(m) for m in all_samples()]
    bad = []
    for data in good:
        for _ in range(20):
            broken = bytearray(data)
            for _ in range(3):
                broken[rng.randrange(len(broken))] = rng.randrange(256)
            bad.append(bytes(broken))
    datas = good + bad
    for _ in range(3):  # fill the decode cache and the interpreter's free lists
        _decode_all(datas)
    gc.collect()
    tracemalloc.start()
    try:
        _decode_all(datas)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            _decode_all(datas)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 10 rounds of len(datas) messages; one leaked object per message would be >= 300 kB
    assert grown < 32 * 1024, f"{grown} octets more after 10 rounds of {len(datas)} messages"


def test_walk_reads_its_arguments_as_any_bytes_like() -> None:
    """walk() reads bytes, ints and a list itself and anything else through
    PyArg_ParseTuple: the same IEs, IEs set aside and errors either way."""
    datas = [encode(m) for m in all_samples()]
    for data in datas:
        for start in sorted({s for s in (8, 16, len(data)) if s <= len(data)}):
            outcomes = []
            for form in (bytes, bytearray, memoryview):
                ignored: list[object] = []
                try:
                    got: object = codec.decode_ies(form(data), start, len(data), ignored)
                except CodecError as exc:
                    got = ("codec", str(exc), exc.cause, exc.offending_ie, exc.path)
                outcomes.append((got, [str(i) for i in ignored]))
            assert outcomes[0] == outcomes[1] == outcomes[2]
    data = datas[0]
    for args, error in [
        ((data, 2**70, 4, -1, []), OverflowError),
        ((data, 0, 4, 2**40, []), OverflowError),
        ((data, 0, 4, -1, ()), TypeError),
        ((data, 0, 4, -1), TypeError),
        (("text", 0, 4, -1, []), TypeError),
        ((data, 0.0, 4, -1, []), TypeError),
        ((data, 3, 2, -1, []), ValueError),
        ((data, 0, len(data) + 1, -1, []), ValueError),
    ]:
        with pytest.raises(error) as fast:
            _walk.walk(*args)
        with pytest.raises(error) as slow:
            _walk.walk(*[bytearray(a) if isinstance(a, bytes) else a for a in args])
        assert str(fast.value) == str(slow.value)


def test_ie_lists_are_made_with_room_for_their_tlvs() -> None:
    """The walk makes each list of IEs with room for one IE per TLV of its octets and puts
    the IEs in without growing it (_walk.c ie_list): the list holds them in order, an IE
    set aside left out (room for it unused), and grows as any list when a caller adds to it."""
    unexpected = tlv(IEType.NODE_ID, b"\x00\x7f\x00\x00\x01")
    msg = decode(heartbeat(unexpected + TS + unexpected))
    assert msg.ies == [S.RecoveryTimeStamp(1)] and len(msg.ignored) == 2
    assert sys.getsizeof(msg.ies) == sys.getsizeof([None] * 3)  # (growing: 4 slots)
    far = Grouped(
        IEType.CREATE_FAR,
        [
            S.FARID(2),
            ApplyAction.of("FORW"),
            Grouped(
                IEType.FORWARDING_PARAMETERS,
                [S.DestinationInterface(0), OuterHeaderCreation(0x0100, 7, "192.0.2.9")],
            ),
        ],
    )
    data = codec.encode_ies([far])
    for _ in range(2):  # (not a template: an F-TEID address is per session)
        (group,) = codec.decode_ies(data, 0, len(data))
        assert group == far
        assert sys.getsizeof(group.ies) == sys.getsizeof([None] * 3)
        group.ies.append(S.QERID(1))
        group.ies.extend([S.QERID(2)] * 5)
        assert group.ies[3:] == [S.QERID(1)] + [S.QERID(2)] * 5
    assert codec.decode_ies(b"", 0, 0) == []


def test_decode_ies_in_one_call() -> None:
    """codec.decode_ies is the walk's (_walk.c py_decode_ies, no Python frame around it):
    the IEs, the IEs set aside and the errors of _walk.walk with no message's tables, its
    ``ignored`` given by position, by keyword, as None or not at all."""
    assert type(codec.decode_ies) is type(len)  # (a builtin, not a Python function)
    unexpected = tlv(IEType.NODE_ID, b"\x00\x7f\x00\x00\x01")
    qer_ies = session_establishment_request().get(IEType.CREATE_QER).ies  # type: ignore[union-attr]
    qer = tlv(IEType.CREATE_QER, unexpected + codec.encode_ies(qer_ies))
    data = encode(session_establishment_request())[16:] + qer
    expected_ignored: list[object] = []
    expected = _walk.walk(data, 0, len(data), -1, expected_ignored)  # type: ignore[arg-type]
    assert len(expected_ignored) == 1 and IEType.CREATE_QER in {ie.type for ie in expected}
    for ignored in ([], None):
        for got in (
            codec.decode_ies(data, 0, len(data), ignored),
            codec.decode_ies(data, 0, len(data), ignored=ignored),
        ):
            assert got == expected
        if ignored is not None:
            assert repr(ignored) == repr(expected_ignored * 2)
    assert codec.decode_ies(data, 0, len(data)) == expected
    with pytest.raises(CodecError) as fails:
        codec.decode_ies(data, 0, len(data) - 1)
    with pytest.raises(CodecError) as walk_fails:
        _walk.walk(data, 0, len(data) - 1, -1, [])
    assert str(fails.value) == str(walk_fails.value)
    assert fails.value.cause == walk_fails.value.cause == Cause.INVALID_LENGTH
    for args, kwargs in (
        ((data, 0), {}),
        ((data, 0, 4, [], []), {}),
        ((data, 0, 4), {"other": []}),
        ((data, 0, 4, []), {"ignored": []}),
        ((data, 0, 4), {"ignored": ()}),
    ):
        with pytest.raises(TypeError):
            codec.decode_ies(*args, **kwargs)

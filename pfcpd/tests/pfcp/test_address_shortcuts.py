"""The per-session address IEs (F-SEID, F-TEID, UE IP Address, Outer Header Creation) take
shortcuts for their usual IPv4 forms, and IPv4 addresses are turned into text through a
bounded cache: every value octet string decodes (or fails) and every IE encodes (or fails)
exactly as the general code below, which is what these IEs did before the shortcuts. The
walk (_walk.c) decodes the usual forms itself: through it, every value comes out (or fails,
or is set aside) exactly as through the IE classes' decoders."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

from pfcpd.pfcp import CodecError, IEType, _walk, codec
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp.ies_address import FSEID, FTEID, OuterHeaderCreation, UEIPAddress

_U16, _U32, _U64 = struct.Struct("!H"), struct.Struct("!I"), struct.Struct("!Q")


def _v4(data: bytes, off: int) -> str:
    if len(data) < off + 4:
        raise IndexError("IPv4 address truncated")
    return socket.inet_ntop(socket.AF_INET, data[off : off + 4])


def _v6(data: bytes, off: int) -> str:
    if len(data) < off + 16:
        raise IndexError("IPv6 address truncated")
    return socket.inet_ntop(socket.AF_INET6, data[off : off + 16])


def _addresses(data: bytes, off: int, flags: int, v4bit: int, v6bit: int) -> Any:
    ipv4 = ipv6 = None
    if flags & v4bit:
        ipv4 = _v4(data, off)
        off += 4
    if flags & v6bit:
        ipv6 = _v6(data, off)
        off += 16
    return ipv4, ipv6, off


def _pack(ipv4: str | None, ipv6: str | None) -> bytes:
    out = b""
    if ipv4 is not None:
        out += A.pack_v4(ipv4)
    if ipv6 is not None:
        out += A.pack_v6(ipv6)
    return out


def fseid_decode(data: bytes) -> FSEID:
    flags = data[0]
    (seid,) = _U64.unpack_from(data, 1)
    ipv4, ipv6, _ = _addresses(data, 9, flags, 0x02, 0x01)
    if ipv4 is None and ipv6 is None:
        raise ValueError("F-SEID without an address")
    return FSEID(seid, ipv4, ipv6)


def fseid_encode(ie: FSEID) -> bytes:
    flags = (0x02 if ie.ipv4 is not None else 0) | (0x01 if ie.ipv6 is not None else 0)
    return bytes((flags,)) + _U64.pack(ie.seid) + _pack(ie.ipv4, ie.ipv6)


def fteid_decode(data: bytes) -> FTEID:
    flags = data[0]
    if flags & 0x04:
        choose_id = data[1] if flags & 0x08 else None
        return FTEID(
            choose=True,
            choose_v4=bool(flags & 0x01),
            choose_v6=bool(flags & 0x02),
            choose_id=choose_id,
        )
    if flags & 0x08:
        raise ValueError("CHID set without CH")
    (teid,) = _U32.unpack_from(data, 1)
    ipv4, ipv6, _ = _addresses(data, 5, flags, 0x01, 0x02)
    if ipv4 is None and ipv6 is None:
        raise ValueError("F-TEID without an address")
    return FTEID(teid, ipv4, ipv6)


def fteid_encode(ie: FTEID) -> bytes:
    if ie.choose:
        flags = 0x04 | (0x01 if ie.choose_v4 else 0) | (0x02 if ie.choose_v6 else 0)
        if ie.choose_id is not None:
            return bytes((flags | 0x08, ie.choose_id))
        return bytes((flags,))
    if ie.teid is None:
        raise ValueError("F-TEID without TEID and without CH")
    flags = (0x01 if ie.ipv4 is not None else 0) | (0x02 if ie.ipv6 is not None else 0)
    return bytes((flags,)) + _U32.pack(ie.teid) + _pack(ie.ipv4, ie.ipv6)


def ueip_decode(data: bytes) -> UEIPAddress:
    flags = data[0]
    ipv4, ipv6, off = _addresses(data, 1, flags, 0x02, 0x01)
    pd_bits = prefix_len = None
    if flags & 0x08:
        pd_bits = data[off]
        off += 1
    if flags & 0x40:
        prefix_len = data[off]
    return UEIPAddress(
        ipv4, ipv6, bool(flags & 0x04), pd_bits, prefix_len, bool(flags & 0x10), bool(flags & 0x20)
    )


def ueip_encode(ie: UEIPAddress) -> bytes:
    flags = (
        (0x01 if ie.ipv6 is not None else 0)
        | (0x02 if ie.ipv4 is not None else 0)
        | (0x04 if ie.source else 0)
        | (0x08 if ie.ipv6_prefix_delegation_bits is not None else 0)
        | (0x10 if ie.choose_v4 else 0)
        | (0x20 if ie.choose_v6 else 0)
        | (0x40 if ie.ipv6_prefix_length is not None else 0)
    )
    out = bytes((flags,)) + _pack(ie.ipv4, ie.ipv6)
    if ie.ipv6_prefix_delegation_bits is not None:
        out += bytes((ie.ipv6_prefix_delegation_bits,))
    if ie.ipv6_prefix_length is not None:
        out += bytes((ie.ipv6_prefix_length,))
    return out


def ohc_decode(data: bytes) -> OuterHeaderCreation:
    (desc,) = _U16.unpack_from(data)
    off = 2
    teid = ipv4 = ipv6 = port = c_tag = s_tag = None
    if desc & (A.OHC_GTPU_UDP_IPV4 | A.OHC_GTPU_UDP_IPV6):
        (teid,) = _U32.unpack_from(data, off)
        off += 4
    if desc & (A.OHC_GTPU_UDP_IPV4 | A.OHC_UDP_IPV4 | A.OHC_IPV4):
        ipv4 = _v4(data, off)
        off += 4
    if desc & (A.OHC_GTPU_UDP_IPV6 | A.OHC_UDP_IPV6 | A.OHC_IPV6):
        ipv6 = _v6(data, off)
        off += 16
    if desc & (A.OHC_UDP_IPV4 | A.OHC_UDP_IPV6):
        (port,) = _U16.unpack_from(data, off)
        off += 2
    if desc & A.OHC_C_TAG:
        c_tag = data[off : off + 3]
        off += 3
        if len(c_tag) != 3:
            raise IndexError("C-TAG truncated")
    if desc & A.OHC_S_TAG:
        s_tag = data[off : off + 3]
        if len(s_tag) != 3:
            raise IndexError("S-TAG truncated")
    return OuterHeaderCreation(desc, teid, ipv4, ipv6, port, c_tag, s_tag)


def _outcome(fn: Callable[[Any], Any], arg: Any) -> Any:
    try:
        return ("value", fn(arg))
    except Exception as exc:
        return ("error", type(exc), str(exc))


_ADDRESS_OCTETS = [
    bytes([127, 0, 0, 1]),
    bytes([192, 0, 2, 9]),
    bytes([10, 255, 0, 254]),
    bytes(range(1, 17)),
    bytes(16),
]


def _values(first: bytes, rng: random.Random) -> list[bytes]:
    """``first`` followed by tails of every length up to 40 octets (addresses among them)."""
    tails = [b""]
    for n in range(1, 41):
        tails.append(bytes(rng.randrange(256) for _ in range(n)))
    for address in _ADDRESS_OCTETS:
        for pad in (0, 1, 3, 8, 24):
            tails.append(bytes(pad) + address + bytes(pad))
    return [first + tail for tail in tails]


@pytest.mark.parametrize(
    ("cls", "reference", "first_octets"),
    [
        (FSEID, fseid_decode, 1),
        (FTEID, fteid_decode, 1),
        (UEIPAddress, ueip_decode, 1),
        (OuterHeaderCreation, ohc_decode, 2),
    ],
)
def test_decode_as_the_general_code(
    cls: Any, reference: Callable[[bytes], Any], first_octets: int
) -> None:
    rng = random.Random(14)
    if first_octets == 1:
        firsts = [bytes((flags,)) for flags in range(256)]
    else:
        bits = [1 << i for i in range(16)]
        descs = {0, *bits, *(a | b for a in bits for b in bits), 0xFFFF, 0x0100, 0x0101}
        firsts = [_U16.pack(d) for d in sorted(descs)]
    checked = 0
    for first in firsts:
        for data in _values(first, rng):
            assert _outcome(cls.decode, data) == _outcome(reference, data), data.hex()
            checked += 1
    assert _outcome(cls.decode, b"") == _outcome(reference, b"")
    assert checked > 5_000


def _fseids() -> list[FSEID]:
    seids = [0, 1, 2**64 - 1, 2**64, -1]
    v4s = [None, "127.0.0.1", "192.0.2.300", "", "::1"]
    v6s = [None, "2001:db8::1", "192.0.2.1"]
    return [FSEID(s, a, b) for s in seids for a in v4s for b in v6s]  # type: ignore[arg-type]


def _fteids() -> list[FTEID]:
    out = []
    for teid in (None, 0, 1, 2**32 - 1, 2**32):
        for v4 in (None, "127.0.0.1", "1.2.3"):
            for v6 in (None, "2001:db8::2"):
                out.append(FTEID(teid, v4, v6))
    for ch4 in (False, True):
        for ch6 in (False, True):
            for chid in (None, 0, 7):
                out.append(FTEID(choose=True, choose_v4=ch4, choose_v6=ch6, choose_id=chid))
    return out


def _ueips() -> list[UEIPAddress]:
    out = []
    for v4 in (None, "100.64.0.1", "not an address"):
        for v6 in (None, "2001:db8::"):
            for source in (False, True):
                for pd in (None, 8):
                    for pl in (None, 64):
                        for ch4 in (False, True):
                            for ch6 in (False, True):
                                out.append(UEIPAddress(v4, v6, source, pd, pl, ch4, ch6))
    return out


@pytest.mark.parametrize(
    ("ies", "reference"),
    [(_fseids(), fseid_encode), (_fteids(), fteid_encode), (_ueips(), ueip_encode)],
)
def test_encode_as_the_general_code(ies: list[Any], reference: Callable[[Any], bytes]) -> None:
    for ie in ies:
        assert _outcome(type(ie).encode, ie) == _outcome(reference, ie), ie


def test_ipv4_text_cache_is_bounded_and_exact() -> None:
    rng = random.Random(5)
    for _ in range(3 * A._V4_TEXT_MAX):
        octets = bytes(rng.randrange(256) for _ in range(4))
        assert A._v4(b"\x00" + octets, 1) == socket.inet_ntop(socket.AF_INET, octets)
        assert len(A._V4_TEXT) <= A._V4_TEXT_MAX
    with pytest.raises(IndexError, match="IPv4 address truncated"):
        A._v4(b"\x00\x01\x02", 0)


def test_ipv4_octets_cache_is_bounded_and_exact() -> None:
    """The encoders' IPv4 text -> octets cache: what pack_v4 gives, every time (a hit as a
    miss), failures not kept, and emptied with the codec's encoding cache."""
    rng = random.Random(6)
    texts = [socket.inet_ntoa(rng.randbytes(4)) for _ in range(A._V4_TEXT_MAX + 100)]
    for text in texts + texts[-200:]:
        octets = socket.inet_aton(text)
        for ie, value in (
            (UEIPAddress(text, source=True), b"\x06" + octets),
            (FTEID(7, text), b"\x01" + _U32.pack(7) + octets),
            (FSEID(9, text), b"\x02" + _U64.pack(9) + octets),
        ):
            assert ie.encode() == value
            assert type(ie).encode(ie) == value  # (a hit)
        assert A._V4_OCTETS[text] == octets
        assert len(A._V4_OCTETS) <= A._V4_TEXT_MAX
    for bad in ("192.0.2.300", "", "::1", "1.2.3"):
        with pytest.raises(ValueError, match="not an IPv4 address"):
            UEIPAddress(bad).encode()
        assert bad not in A._V4_OCTETS
    codec.drop_encode_cache()
    assert not A._V4_OCTETS


_FIRSTS = {
    IEType.F_SEID: [bytes((flags,)) for flags in range(256)],
    IEType.F_TEID: [bytes((flags,)) for flags in range(256)],
    IEType.UE_IP_ADDRESS: [bytes((flags,)) for flags in range(256)],
    IEType.OUTER_HEADER_CREATION: [
        _U16.pack(d) for d in (0, 0x0100, 0x0101, 0x0200, 0x0400, 0x1000, 0x4100, 0xFFFF)
    ],
}


def _through_walk(ie_type: int, value: bytes) -> Any:
    data = struct.pack("!HH", ie_type, len(value)) + value
    ignored: list[Any] = []
    try:
        ies = codec.decode_ies(data, 0, len(data), ignored)
    except CodecError as exc:
        return ("error", exc.cause, str(exc), exc.offending_ie)
    return ("ok", ies, [repr(i) for i in ignored], [repr(ie) for ie in ies])


@pytest.mark.parametrize("ie_type", sorted(_FIRSTS))
def test_the_walk_decodes_as_the_decoders(ie_type: int) -> None:
    assert sorted(codec.shortcut_types) == sorted(_FIRSTS)
    rng = random.Random(ie_type)
    values = [v for first in _FIRSTS[ie_type] for v in _values(first, rng)] + [b""]
    with_shortcuts = [_through_walk(ie_type, v) for v in values]
    assert _walk.setup_shortcuts({}) == []
    try:
        without = [_through_walk(ie_type, v) for v in values]
    finally:
        codec.reload_tables()
    assert with_shortcuts == without
    assert sum(outcome[0] == "ok" for outcome in without) > 100


def test_no_shortcut_for_a_type_whose_decoder_was_replaced() -> None:
    from pfcpd.pfcp.ie import DECODERS

    original = DECODERS[IEType.F_SEID]
    DECODERS[IEType.F_SEID] = lambda data: FSEID(1, "192.0.2.1")
    try:
        codec.reload_tables()
        assert IEType.F_SEID not in codec.shortcut_types
        value = bytes((0x02,)) + bytes(8) + bytes((127, 0, 0, 1))
        assert _through_walk(IEType.F_SEID, value)[1] == [FSEID(1, "192.0.2.1")]
    finally:
        DECODERS[IEType.F_SEID] = original
        codec.reload_tables()
    assert sorted(codec.shortcut_types) == sorted(_FIRSTS)


def test_a_class_with_other_fields_gets_no_shortcut() -> None:
    try:
        types = _walk.setup_shortcuts({IEType.F_SEID: (FSEID, ("seid", "ipv4"))})
        assert types == []
        types = _walk.setup_shortcuts({IEType.F_SEID: (FSEID, ("seid", "ipv4", "ipv6"))})
        assert types == [IEType.F_SEID]
    finally:
        codec.reload_tables()


def _walked_ipv4(ie_type: int, value: bytes) -> Any:
    data = struct.pack("!HH", ie_type, len(value)) + value
    (ie,) = codec.decode_ies(data, 0, len(data))
    return ie.ipv4


def test_the_walk_shares_ipv4_texts_bounded_and_exact() -> None:
    """The walk's shortcuts turn IPv4 addresses into text through a table of 256 texts
    (_walk.c v4_text): an address decodes to the same str object, whichever IE carries
    it, while the table holds it; every text is inet_ntop's, however many addresses
    replace each other in the table; the table is emptied with the decode cache."""
    codec.drop_decode_cache()
    gnb = bytes((192, 0, 2, 9))
    first = _walked_ipv4(IEType.F_SEID, b"\x02" + _U64.pack(1) + gnb)
    assert first == "192.0.2.9"
    assert _walked_ipv4(IEType.F_SEID, b"\x02" + _U64.pack(2) + gnb) is first
    assert _walked_ipv4(IEType.F_TEID, b"\x01" + _U32.pack(3) + gnb) is first
    assert _walked_ipv4(IEType.UE_IP_ADDRESS, b"\x02" + gnb) is first
    assert _walked_ipv4(IEType.OUTER_HEADER_CREATION, b"\x01\x00" + _U32.pack(4) + gnb) is first
    rng = random.Random(9)
    for octets in [rng.randbytes(4) for _ in range(3000)] + [b"\0" * 4, b"\xff" * 4, gnb]:
        text = socket.inet_ntop(socket.AF_INET, octets)
        assert _walked_ipv4(IEType.F_SEID, b"\x02" + _U64.pack(5) + octets) == text
    codec.drop_decode_cache()
    again = _walked_ipv4(IEType.F_SEID, b"\x02" + _U64.pack(1) + gnb)
    assert again == first and again is not first

"""The rules' deflate encoder (`_deflate.c`, `packing.pack_rules`) against zlib, the
reference: zlib's inflate with the dictionary and the 1 KiB window gives back every input
exactly (the rules of engine-made sessions of many shapes and their modifications, random
inputs, the dictionary's pieces, long runs, repeats at the window's edge), read in one call
and a few octets at a time (then every match must lie within the window, as zlib checks only
what its window holds); on the engine's rules the streams are no longer than zlib's level 3
(+ a few bytes allowed)."""

from __future__ import annotations

import ipaddress
import random
import zlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_harness import (
    Harness,
    cause,
    dl_pdr,
    g,
    many_flows,
    ul_pdr,
    up_seid,
)

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import IE, Grouped, IEType
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session import establishment, modification, packing, restore, session
from pfcpd.session._deflate import Deflater
from pfcpd.smfsim import rules as R

T = IEType
DICTIONARY = packing._DICTIONARY
WINDOW = 1 << packing._WINDOW_BITS


def zlib_level3(data: bytes, dictionary: bytes = DICTIONARY, window_bits: int = 10) -> bytes:
    """What pack_rules made up to this encoder (zlib, level 3): the reference."""
    c = zlib.compressobj(3, zlib.DEFLATED, -window_bits, 2, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return c.compress(data) + c.flush()


def inflate(
    stream: bytes, dictionary: bytes = DICTIONARY, window_bits: int = 10, step: int = 0
) -> bytes:
    """zlib's inflate of a raw stream: in one call (``step`` 0), else ``step`` octets of
    output a call. In one call zlib copies a match from what it wrote in that call, whatever
    the distance; one octet a call, every match is copied from its window (the last
    2 ** window_bits octets, the dictionary's first) and one reaching farther back fails
    ("invalid distance too far back")."""
    d = zlib.decompressobj(-window_bits, dictionary)
    if not step:
        out = d.decompress(stream) + d.flush()
    else:
        pieces, rest = [], stream
        while True:
            piece = d.decompress(rest, step)
            pieces.append(piece)
            rest = d.unconsumed_tail
            if not piece and not rest:
                break
        out = b"".join(pieces) + d.flush()
    assert d.eof, "the stream is not one whole final block"
    assert d.unused_data == b""
    return out


def check(data: bytes, encoder: Callable[[bytes], bytes] = packing.pack_rules) -> bytes:
    """Encode ``data``; zlib reads it back in one call and one octet at a time."""
    stream = encoder(data)
    assert stream[0] & 0b111 == 0b011  # BFINAL, fixed Huffman codes: one block, the last
    assert inflate(stream) == data
    assert inflate(stream, step=1) == data
    assert len(stream) <= (3 + 9 * len(data) + 7 + 7) // 8  # (at most 9 bits a literal)
    return stream


# --- the rules of engine-made sessions


def _buffering() -> list[IE]:
    rules = R.session_rules(gnb=None)
    far = rules[3]
    assert isinstance(far, Grouped)
    far.ies.append(S.BARID(1))
    return [*rules, g(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(3))]


SHAPES: dict[str, Callable[[int], list[IE]]] = {
    "usual": lambda n: R.session_rules(gnb_teid=0x100 + n),
    "v6": lambda n: R.session_rules(v6=True, gnb_teid=0x100 + n),
    "dual_stack": lambda n: R.session_rules(dual_stack=True, gnb_teid=0x100 + n),
    "mbr_threshold": lambda n: R.session_rules(mbr_kbps=(n, 2 * n), volume_threshold=10**9 + n),
    "gate_closed": lambda n: R.session_rules(gate_open=False),
    "buffering": lambda n: _buffering(),
    "ims": lambda n: [
        R.ul_pdr(network_instance="ims"),
        R.dl_pdr(network_instance="ims"),
        *R.session_rules()[2:],
    ],
    "application": lambda n: [*R.session_rules(), R.application_dl_pdr(4, 2, "app1")],
    "sdf": lambda n: [
        ul_pdr(sdf=f"permit out 6 from 203.0.113.{n} 443 to assigned"),
        *R.session_rules()[1:],
    ],
    "many_flows": lambda n: many_flows(),
}


@pytest.fixture
def packed(datapath: LocalDatapath, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """(rules, stream) of every pack the engine made: three sessions of each shape, each
    modified (a new gNB tunnel, a PDR created, then removed) and deleted."""
    made: list[tuple[bytes, bytes]] = []

    def recorded(encoded: bytes) -> bytes:
        stream = packing.pack_rules(encoded)
        made.append((encoded, stream))
        return stream

    for module in (session, establishment, modification, restore):  # (every pack_rules)
        monkeypatch.setattr(module, "pack_rules", recorded)
    pools = {
        "internet": (ipaddress.ip_network("10.45.0.0/24"), ipaddress.ip_network("2001:db8::/56")),
        "ims": (ipaddress.ip_network("10.46.0.0/24"),),
    }
    h = Harness(datapath, pools=pools)
    pfd = R.pfd_management_request("app1", ["permit out 6 from any to any 443"])
    assert cause(h.engine.handle_pfd_management(pfd, 0.0)) == 1
    h.engine.commit()
    n = 0
    for _ in range(3):
        for name, make in SHAPES.items():
            n += 1
            resp = h.establish(*make(n), cp_seid=n)
            assert cause(resp) == 1, name
            seid = up_seid(resp)
            extra = dl_pdr(40, 2, urr=None, qer=None)
            for ies in (
                [R.update_dl_far(2, 0x9000 + n, "192.0.2.10")],
                [extra],
                [g(T.REMOVE_PDR, S.PDRID(40))],
            ):
                assert cause(h.modify(seid, *ies)) == 1, name
            assert cause(h.delete(seid)) == 1
    return made


def test_the_rules_of_engine_made_sessions_inflate_and_are_as_short_as_zlibs(
    packed: list[tuple[bytes, bytes]],
) -> None:
    assert len(packed) == 3 * len(SHAPES) * 4
    assert len({len(encoded) for encoded, _ in packed}) > 10
    assert max(len(encoded) for encoded, _ in packed) > WINDOW  # (many_flows)
    for encoded, stream in packed:
        assert check(encoded) == stream  # (the same stream every time)
        reference = len(zlib_level3(encoded))
        if len(encoded) <= WINDOW:
            assert len(stream) <= reference + 16, len(encoded)
        else:  # (zlib's Huffman codes made for the input: a few % shorter)
            assert len(stream) <= reference * 1.05, len(encoded)
    ours = sum(len(stream) for encoded, stream in packed if len(encoded) <= WINDOW)
    assert ours <= sum(len(zlib_level3(encoded)) for encoded, _ in packed if len(encoded) <= WINDOW)
    assert ours * 3 < sum(len(encoded) for encoded, _ in packed if len(encoded) <= WINDOW)


def test_a_session_restored_from_its_record_keeps_its_rules(datapath: LocalDatapath) -> None:
    """The journal's record carries the stream; the engine restores the rules from it."""
    h = Harness(datapath)
    seid = up_seid(h.establish())
    session = h.engine.sessions[seid]
    raw = packing.unpack_rules(session.rules_blob)
    assert inflate(session.rules_blob, step=1) == raw
    assert session.rules_blob == packing.pack_rules(raw) == check(raw)


# --- other inputs


def _random_inputs(seed: int) -> Iterator[bytes]:
    """Inputs of 0 to 4 KiB of five kinds: random octets, a small alphabet, pieces of the
    dictionary with noise between them, runs of one octet, a short random period."""
    rng = random.Random(seed)
    for i in range(400):
        n = rng.randrange(4097) if i % 10 else rng.randrange(8)
        kind = i % 5
        if kind == 0:
            data = rng.randbytes(n)
        elif kind == 1:
            data = bytes(rng.choice(b"\x00\x01\x08ab") for _ in range(n))
        elif kind == 2:
            pieces = []
            while sum(map(len, pieces)) < n:
                at = rng.randrange(len(DICTIONARY))
                pieces += [
                    DICTIONARY[at : at + rng.randrange(1, 300)],
                    rng.randbytes(rng.randrange(4)),
                ]
            data = b"".join(pieces)[:n]
        elif kind == 3:
            data = bytes([rng.randrange(256)]) * n
        else:
            data = (rng.randbytes(rng.randrange(1, 40)) * (n + 1))[:n]
        yield data


def test_random_inputs_of_up_to_4_kib_inflate() -> None:
    sizes = []
    for data in _random_inputs(14):
        sizes.append(len(data))
        check(data)
    assert min(sizes) == 0 and max(sizes) > 4000


def test_long_runs_are_matches_of_up_to_258_octets() -> None:
    for n in (3, 4, 258, 259, 260, 261, 516, 1024, 1025, 4096):
        for octet in (0, 0x41, 0xFF):
            data = bytes([octet]) * n
            stream = check(data)
            # up to three literals, then matches of up to 258 (at most 8 + 5 + 5 + 8 bits)
            bits = 3 + 9 * 3 + (n // 258 + 1) * 26 + 7
            assert len(stream) <= (bits + 7) // 8, (n, octet)


def test_the_dictionary_and_its_pieces_are_matches() -> None:
    """Pieces of the dictionary are a few matches each (literals would take 8 or 9 bits an
    octet)."""
    assert len(check(DICTIONARY)) <= 16
    rng = random.Random(3)
    for _ in range(200):
        at = rng.randrange(len(DICTIONARY) - 3)
        piece = DICTIONARY[at : at + rng.randrange(3, 259)]
        stream = check(piece)
        assert len(stream) <= 7 + len(piece) // 16, (at, len(piece))


def _literal_size(data: bytes) -> int:
    """The octets of ``data`` as a fixed-Huffman block of literals only."""
    return (3 + sum(8 if b < 144 else 9 for b in data) + 7 + 7) // 8


def test_matches_reach_back_to_the_window_and_no_farther() -> None:
    """A random block repeated 1,000 to 1,500 octets after its start: up to the window
    (1,024) the repeat is one match, beyond it literals (zlib reads both one octet a call:
    a match farther back fails)."""
    rng = random.Random(5)
    block = rng.randbytes(200)
    for distance in (1000, 1023, 1024, 1025, 1026, 1500):
        first = block + rng.randbytes(distance - len(block))
        size = len(check(first + block))
        if distance <= WINDOW:
            assert size <= _literal_size(first) + 4, distance
        else:
            assert size >= _literal_size(first + block) - 8, distance


def test_the_dictionary_leaves_the_window_as_the_input_grows() -> None:
    """After ~700 octets of input the dictionary's first octets are out of the window: its
    pieces repeated there are matched only where they still are within it."""
    rng = random.Random(6)
    for filler in (600, 680, 691, 692, 700, 1024, 2000):
        for at in (0, 5, 100, len(DICTIONARY) - 40):
            check(rng.randbytes(filler) + DICTIONARY[at : at + 40])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.tuples(st.integers(0, len(DICTIONARY) - 1), st.integers(1, 300)).map(
                lambda t: DICTIONARY[t[0] : t[0] + t[1]]
            ),
            st.tuples(st.integers(0, 255), st.integers(1, 600)).map(lambda t: bytes([t[0]]) * t[1]),
        ),
        max_size=30,
    )
)
def test_pieces_of_the_dictionary_runs_and_noise_inflate(pieces: list[bytes]) -> None:
    check(b"".join(pieces))


@pytest.mark.parametrize("window_bits", [9, 10, 12, 15])
@pytest.mark.parametrize("dictionary_size", [0, 1, 2, 3, 64, 333, 512])
def test_other_dictionaries_and_windows(window_bits: int, dictionary_size: int) -> None:
    rng = random.Random(window_bits * 1000 + dictionary_size)
    dictionary = (DICTIONARY * 2)[:dictionary_size]
    deflater = Deflater(dictionary, window_bits)
    for data in [b"", b"a", dictionary, *list(_random_inputs(dictionary_size))[::8]]:
        data += rng.randbytes(3) + dictionary[: rng.randrange(300)]
        stream = deflater.compress(data)
        for step in (0, 5):
            assert inflate(stream, dictionary, window_bits, step) == data
        if len(data) > 200 and data[:100] * 3 == data[:300]:
            assert len(stream) < len(data) // 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Deflater(b"", 8)
    with pytest.raises(ValueError):
        Deflater(b"", 16)
    with pytest.raises(ValueError):
        Deflater(bytes(1025), 10)
    whole = bytes(range(256)) * 4  # (a dictionary of the whole window)
    assert inflate(Deflater(whole, 10).compress(whole[:300]), whole, step=1) == whole[:300]
    with pytest.raises(TypeError):
        packing.pack_rules(bytearray(b"abc"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        packing.pack_rules("abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Deflater.__new__(Deflater).compress(b"abc")
    deflater = Deflater(b"abc", 10)
    with pytest.raises(TypeError):
        deflater.__init__(b"abc", 10)  # type: ignore[misc]

"""A session's rules kept compressed: the encoded PFCP groups deflated against a preset
dictionary (the encoding of a typical PDU session's rules: two PDRs with F-TEID, UE IP
Address and network instance, an uplink and a downlink FAR, a QER with an MBR, a URR with
volume threshold and measurement period). Rules of that shape keep only what differs from
it: ~30-60 bytes instead of ~300 (other shapes still deflate, to about half).

The dictionary and the window are part of the journal's record format (version 2, key
``rz``): they never change; others would come with another record version. How the
compressor looks for matches is not: any raw deflate stream made against that dictionary
within that window reads back the same, so records written by zlib (before 2026-12-03 at
level 6, then level 3) still read, and a session restored from one keeps its bytes.

Packing is pfcpd's own encoder (`_deflate.c`: LZ77 against the dictionary and the input
within the window, one fixed-Huffman block): ~7,000 instructions a pack of the usual
session's rules against ~42,000 with zlib's level 3. On the rules of the engine's sessions
(283-384 bytes) it makes zlib's level 3 streams, byte for byte but for a few a byte longer;
on a session of 16 PDRs (~3 KiB) ~3% more, where zlib's Huffman codes made for the input
pay (tests/session/test_deflate.py, where zlib is the reference; bench/rules_packing.py).
Unpacking is zlib's inflate.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from ._deflate import Deflater

_DICTIONARY = bytes.fromhex(
    "0001005c003800020001001d0004000000ff0002002d00140001000015000901000123450a0a000100160009"
    "08696e7465726e6574005d0005060a3c0007007c000109005f000100006c000400000001006d000400000001"
    "005100040000000100010045003800020002001d0004000000ff0002001b00140001010016000908696e7465"
    "726e6574005d0005020a3c0007006c000400000002006d000400000001005100040000000100030023006c00"
    "0400000001002c00010200040012002a0001010016000908696e7465726e657400030024006c000400000002"
    "002c00010200040013002a0001000054000a01000000abcd0a141e2800070020006d00040000000100190001"
    "00001a000a00000186a00000030d40007c0001090006002d0051000400000001003e00010300250002030000"
    "64000110001f000901000000003b9aca000040000400000e10"
)
# Raw deflate (no header or checksum: the journal's SQLite pages are checked) and a 1 KiB
# window (the dictionary and a session's rules fit in it). Each unpack starts from a copy of
# a decompressor that has the dictionary loaded (~2 us).
_WINDOW_BITS = 10
_WBITS = -_WINDOW_BITS  # (zlib's way of saying raw deflate)
_UNPACKER = zlib.decompressobj(_WBITS, _DICTIONARY)

pack_rules: Callable[[bytes], bytes] = Deflater(_DICTIONARY, _WINDOW_BITS).compress
"""The encoded rule groups, compressed (the encoder's method itself: no Python frame)."""


def unpack_rules(packed: bytes) -> bytes:
    """What `pack_rules` was given."""
    d = _UNPACKER.copy()
    return d.decompress(packed) + d.flush()

"""A session's rules kept compressed: the encoded PFCP groups deflated against a preset
dictionary (the encoding of a typical PDU session's rules: two PDRs with F-TEID, UE IP
Address and network instance, an uplink and a downlink FAR, a QER with an MBR, a URR with
volume threshold and measurement period). Rules of that shape keep only what differs from
it: ~30-60 bytes instead of ~300 (other shapes still deflate, to about half).

The dictionary and the window are part of the journal's record format (version 2, key
``rz``): they never change; others would come with another record version. How hard the
compressor looks for matches is not: any raw deflate stream made against that dictionary
within that window reads back the same, so records written at another level (before
2026-12-03, level 6) still read, and a session restored from one keeps its bytes.
"""

from __future__ import annotations

import zlib

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
# Raw deflate (no header or checksum: the journal's SQLite pages are checked), a 1 KiB
# window (the dictionary and a session's rules fit in it) and small hash tables: each pack
# starts from a copy of a compressor that has the dictionary loaded (~8 us; setting it up
# each time with zlib's default 32 KiB window and tables cost ~18 us), each unpack ~2 us.
# Level 3, zlib's last without lazy matching: ~42,000 instructions a pack of the usual
# session's rules against ~52,000 at levels 4 to 9 (lazy), for 1 to 10 bytes more
# (measured on five shapes of rules: 52-59 bytes against 52-58 for the usual ones, 110
# against 100 for ten rules; every one in the same 16-byte class of allocation).
_LEVEL = 3
_WBITS = -10
_PACKER = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, 2, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY)
_UNPACKER = zlib.decompressobj(_WBITS, _DICTIONARY)


def pack_rules(encoded: bytes) -> bytes:
    """The encoded rule groups, compressed."""
    c = _PACKER.copy()
    return c.compress(encoded) + c.flush()


def unpack_rules(packed: bytes) -> bytes:
    """What `pack_rules` was given."""
    d = _UNPACKER.copy()
    return d.decompress(packed) + d.flush()

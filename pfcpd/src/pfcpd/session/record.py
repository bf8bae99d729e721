"""The journal's session record in binary (version 3): the usual session's.

`Session.record` writes a session of the usual shape in binary, any other as JSON text
(version 2, `Session.json_record`; version 1 held the rules uncompressed). The binary
record holds the same values as the JSON one, each as it is (the NTP times as IEEE
doubles, the compressed rules as their bytes): no float is turned into its shortest
decimal text (~7,000 instructions each) and nothing is base64-encoded. The usual shape:
an F-SEID as the codec decodes them, one TEID, one UE address, every URR book as
established (`UrrBook.as_established`: its period starting at the establishment, no
counts kept, no time metered, no quota validity, INAM, ISTM or inactivity timing; any
UR-SEQN), no DL Buffering Duration (from a Session Report Response), FQ-CSID or Group Id.

Layout (network byte order), all in one record:

- ``HEAD``: version (3), UP SEID, CP SEID, the SEID of the CP's F-SEID, the establishment
  time (NTP seconds, a double), the TEID, the lengths of the compressed rules and of the
  UE address's text;
- the compressed rules (`Session.rules_blob`), the UE address or prefix as text (UTF-8);
- the CP's Node ID (a 16-bit length, UTF-8), its F-SEID's flags and addresses (an 8-bit
  length, the F-SEID IE's value without the SEID), the UE address's network instance (a
  16-bit length, UTF-8): made once per CP and network instance (`fixed_octets`);
- the URR books: their number (16 bits), then each book's URR ID and UR-SEQN (``BOOK``).

A JSON record begins with ``{``, a binary one with its version: `read_record` reads each
kind into the same dict (the JSON record's keys; ``cp_fseid`` an `FSEID`, ``rz`` bytes),
which `SessionEngine._restore_session` restores from.
"""

from __future__ import annotations

import json
import struct

from ..pfcp.ies_address import FSEID
from .usage import NO_TIME, Books, OneBook

BINARY_RECORD_VERSION = 3
HEAD = struct.Struct("!BQQQdIHH")
BOOK = struct.Struct("!IQ")
_BOOKS = struct.Struct("!H")
_U16 = struct.Struct("!H")
_FSEID_VALUE = 1 + 8  # the F-SEID value's octets up to its addresses (flags, SEID)

# (CP Node ID, F-SEID IPv4, IPv6 address, network instance) -> their octets in a binary
# record (emptied when full: a few CPs, a few network instances)
FIXED_OCTETS: dict[tuple[str, str | None, str | None, str], bytes] = {}
FIXED_ENTRIES = 256


def fixed_octets(node_id: str, ipv4: str | None, ipv6: str | None, name: str) -> bytes:
    """The octets of a binary record's CP (Node ID, F-SEID flags and addresses) and UE
    address's network instance (made once per CP Node ID, addresses and name)."""
    key = (node_id, ipv4, ipv6, name)
    octets = FIXED_OCTETS.get(key)
    if octets is None:
        node, instance = node_id.encode(), name.encode()
        value = FSEID(0, ipv4, ipv6).encode()
        addresses = value[:1] + value[_FSEID_VALUE:]
        octets = b"".join(
            (
                _U16.pack(len(node)), node, bytes((len(addresses),)), addresses,
                _U16.pack(len(instance)), instance,
            )
        )  # fmt: skip
        if len(FIXED_OCTETS) >= FIXED_ENTRIES:
            FIXED_OCTETS.clear()
        FIXED_OCTETS[key] = octets
    return octets


def books_octets(books: Books, established: float) -> bytes | None:
    """The octets of a binary record's URR books; None unless every one is as established
    at ``established`` with an integer URR ID and UR-SEQN (struct.error: out of range)."""
    if type(books) is OneBook:  # (the usual session: no list)
        urr_id, book = books.urr_id, books.book
        seqn = book.seqn
        if type(urr_id) is int and type(seqn) is int and book.as_established(established):
            return _ONE_BOOK + BOOK.pack(urr_id, seqn)
        return None
    parts = [_BOOKS.pack(len(books))]
    for urr_id, book in books.items():
        seqn = book.seqn
        if not (type(urr_id) is int and type(seqn) is int and book.as_established(established)):
            return None
        parts.append(BOOK.pack(urr_id, seqn))
    return b"".join(parts)


_ONE_BOOK = _BOOKS.pack(1)


def read_record(value: bytes) -> dict[str, object]:
    """The values of a journal record, JSON (versions 1 and 2) or binary (version 3): the
    JSON record's dict, or for a binary one a dict of the same keys (``v`` 3, ``cp_fseid``
    an `FSEID`, ``rz`` the compressed rules' bytes). ValueError (struct.error, too) when it
    is cut short or holds more."""
    if not value or value[0] != BINARY_RECORD_VERSION:
        d = json.loads(value)
        if not isinstance(d, dict):
            raise ValueError("a record that is not an object")
        if d.get("v") == BINARY_RECORD_VERSION:  # (only a binary record is of version 3)
            raise ValueError(f"a JSON record of version {BINARY_RECORD_VERSION}")
        return d
    _, up_seid, cp_seid, seid, established, teid, rz_length, address_length = HEAD.unpack_from(
        value, 0
    )
    at = HEAD.size
    rz = value[at : at + rz_length]
    at += rz_length
    octets = value[at : at + address_length]
    at += address_length
    if len(rz) != rz_length or len(octets) != address_length:
        raise ValueError("a binary record cut short")
    address = octets.decode()
    node, at = _text(value, at)
    length = value[at]
    at += 1
    addresses = value[at : at + length]
    at += length
    if len(addresses) != length or not addresses:
        raise ValueError("a binary record cut short")
    fseid = FSEID.decode(addresses[:1] + seid.to_bytes(8, "big") + addresses[1:])
    name, at = _text(value, at)
    (count,) = _BOOKS.unpack_from(value, at)
    at += _BOOKS.size
    books: dict[str, object] = {}
    for _ in range(count):
        urr_id, seqn = BOOK.unpack_from(value, at)
        at += BOOK.size
        books[str(urr_id)] = {
            "seqn": seqn,
            "baseline": [0] * 6,
            "consumed": [0] * 6,
            "start": established,
            "metering": NO_TIME,
            "validity": NO_TIME,
            "expired": False,
            "inactive": False,
        }
    if at != len(value):
        raise ValueError(f"a binary record with {len(value) - at} octets more")
    return {
        "v": BINARY_RECORD_VERSION,
        "up_seid": up_seid,
        "cp_seid": cp_seid,
        "cp_node_id": node,
        "cp_fseid": fseid,
        "rz": rz,
        "teids": [teid],
        "ue": [[name, address]],
        "urrs": books,
        "bar_duration": None,
        "established": established,
        "fq_csids": "",
        "group_id": None,
    }


def _text(value: bytes, at: int) -> tuple[str, int]:
    """The UTF-8 text at ``at`` (a 16-bit length first), and the offset after it."""
    (length,) = _U16.unpack_from(value, at)
    at += _U16.size
    octets = value[at : at + length]
    if len(octets) != length:
        raise ValueError("a binary record cut short")
    return octets.decode(), at + length

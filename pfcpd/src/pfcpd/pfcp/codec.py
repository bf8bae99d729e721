"""Bytes to messages and back: the IE walk, grouped IEs, mandatory and unexpected IEs.

The walk over the TLVs is the C extension ``_walk`` (``_walk.c``): per IE it reads the TLV
header, checks bounds, looks up the decode cache and the tables below and calls the IE
class's decoder (the usual forms of the per-session address IEs in ``SHORTCUTS`` it decodes
itself, into the same objects); grouped IEs recurse (depth bounded). The tables, the cache
and every error message live here; ``_walk.setup`` hands them over once. The encoder's loop
over the IEs is ``_walk.encode_ies`` (``_walk.setup_encoder`` hands it the encoding cache and
the errors); each leaf IE's value is still its class's ``encode()``.
"""

from __future__ import annotations

import dataclasses
import struct

from . import _walk, ies_address
from .cause import Cause
from .encoded import EncodedMessage
from .errors import CodecError
from .grouped import ALLOWED_CHILDREN, MANDATORY_CHILDREN
from .header import (
    NODE_HEADER_LEN,
    SESSION_HEADER_LEN,
    Header,
    decode_header,
    header_octets,
)
from .ie import CACHEABLE_TYPES, DECODERS, IE, Grouped, RawIE, VendorIE
from .ie_types import IEType, ie_type_name
from .ies_address import FSEID, FTEID, OuterHeaderCreation, UEIPAddress
from .message_types import KNOWN_MESSAGE_TYPES
from .messages import ALLOWED_IES, MANDATORY_IES, IgnoredIE, Message

_TL = struct.Struct("!HH")
_pack_tl = _TL.pack
_unpack_tl = _TL.unpack_from


# What _walk.c reports, by kind (its ERR_* values).
_TRAILING, _OVERFLOW, _VENDOR_SHORT, _TOO_DEEP, _MISSING, _VALUE, _SHORT = range(1, 8)


def _error(
    kind: int, ie_type: int, detail: int, exc: Exception | None, mandatory: bool
) -> CodecError:
    """The CodecError for a failure the walk found."""
    name = ie_type_name(ie_type)
    if kind == _TRAILING:  # (ie_type: the grouped IE holding them, 0: the message)
        where = f" in IE {name}" if ie_type else ""
        reason = f"{detail} trailing octets{where} are not an IE"
        return CodecError(reason, cause=Cause.INVALID_LENGTH, offending_ie=ie_type or None)
    if kind == _OVERFLOW:
        reason = f"IE {name} length {detail} exceeds its container"
        return CodecError(reason, cause=Cause.INVALID_LENGTH, offending_ie=ie_type)
    if kind == _VENDOR_SHORT:
        reason = f"vendor IE {ie_type} without enterprise ID"
        return CodecError(reason, cause=Cause.INVALID_LENGTH, offending_ie=ie_type)
    if kind == _TOO_DEEP:
        reason = "grouped IEs nested too deep"
        return CodecError(reason, cause=Cause.REQUEST_REJECTED, offending_ie=ie_type)
    if kind == _MISSING:
        reason = f"mandatory IE {name} missing"
        return CodecError(reason, cause=Cause.MANDATORY_IE_MISSING, offending_ie=ie_type)
    if kind == _SHORT:
        reason = f"IE {name} too short: {exc}"
        return CodecError(reason, cause=Cause.INVALID_LENGTH, offending_ie=ie_type)
    reason = f"IE {name} incorrect: {exc}"
    return CodecError(reason, cause=Cause.MANDATORY_IE_INCORRECT, offending_ie=ie_type)


def _in_group(error: CodecError, ie_type: int) -> None:
    error.path = (ie_type_name(ie_type), *error.path)


def _ignore(
    ignored: list[IgnoredIE],
    path: tuple[int, ...],
    ie_type: int,
    data: bytes,
    exc: Exception | None,
    within: list[IE],
) -> None:
    reason = "not expected here" if exc is None else f"incorrect, treated as absent: {exc!r}"
    where = tuple(map(ie_type_name, path))
    ignored.append(IgnoredIE(where, RawIE(ie_type, data), exc is None, reason, within))


def _encode_error(kind: int, ie_type: int, length: int) -> CodecError:
    """The CodecError for an IE `encode_ies` cannot encode (kinds as _walk.c's
    encode_error); a type outside 0-65535 raises struct's own error, as packing it does."""
    if kind == 1:
        return CodecError(f"vendor IE type {ie_type} lacks the enterprise bit", cause=None)
    if kind == 2:
        return CodecError(f"IE {ie_type_name(ie_type)} longer than 65535 octets", cause=None)
    _pack_tl(ie_type, length)  # (raises)
    return CodecError(f"IE type {ie_type!r} cannot be encoded", cause=None)


# Decoding cache keyed by whole TLV octets, because an SMF sends the same IEs and rule groups
# (IDs, flags, filters, whole Create FAR/QER/URR groups) in session after session:
# - leaf IEs of cacheable types: leaf IEs are immutable, so equal octets share one instance;
# - grouped IEs made only of cacheable IEs (no per-session value such as a UE address or a
#   TEID; an F-TEID with CH and a UE IP Address without an address, the same octets in every
#   session, count as cacheable there): a template whose fresh copy (new Grouped objects,
#   shared immutable leaves, fresh copies of those mutable F-TEIDs and UE IP Addresses) is
#   returned, so callers may still change their groups.
# Only successful decodes are cached. The cache is a table of _walk.c's (keyed by a seeded
# hash of the octets computed while walking, confirmed by comparing them; see cache_get
# there), bounded by bytes, not entries (an entry may be a 64 KB IE): _walk.c charges each
# entry three times its TLV octets plus a fixed overhead, and a template group 128 more per
# Grouped object it holds (see cache_cost there), and empties the cache when the next entry
# would pass CACHE_MAX_BYTES. Any peer that gets its datagrams decoded can fill it, but
# never beyond.
CACHE_MAX_BYTES = 16 * 1024 * 1024

# Encoding cache: id(leaf IE) -> (the IE, its TLV octets), for leaves of cacheable types.
# Those are immutable and the decoder hands out one shared instance per value (see above):
# a rule group decoded session after session holds the same leaf objects, whose octets are
# then looked up by identity (no hashing of field values). The entry holds the IE, so its
# id cannot be reused while the entry exists; the cache is emptied when full. Only short
# values are kept (IDs, flags, names, filters), which bounds what it pins: a few MB. Only
# IEs held elsewhere too get an entry (CPython's reference count above what the list being
# encoded and the encoder hold): an IE built for one message (a usage report's URR ID) is
# encoded once and freed, and an entry for each cost more than it saved.
_ENCODED: dict[int, tuple[IE, bytes]] = {}
ENCODE_CACHE_ENTRIES = 4096
ENCODE_CACHE_MAX_VALUE = 128  # octets


def drop_encode_cache() -> None:
    """Empty the encoding caches: leaf IEs' octets and IPv4 addresses' octets
    (`ies_address._V4_OCTETS`); they refill as IEs are encoded again."""
    _ENCODED.clear()
    ies_address._V4_OCTETS.clear()


def cache_bytes() -> int:
    """What the decode cache's entries cost now, in bytes, as counted against its bound."""
    return _walk.cache_bytes()


def cache_entries() -> list[tuple[bytes, IE]]:
    """The decode cache's entries: (TLV octets, the shared leaf IE or template group), the
    live objects themselves: read-only, for tests (a template changed here would change
    every later decode of its octets)."""
    return _walk.cache_entries()


def drop_decode_cache() -> None:
    """Empty the decode cache; it refills as IEs are decoded again."""
    _walk.cache_clear()


# IE types whose usual forms the walk decodes itself, into the same objects as these
# classes' decoders (see decode_shortcut in _walk.c): the per-session address IEs, never
# shared (only the CHOOSE forms of F-TEID and UE IP Address are cached, inside a template
# group, and handed out as fresh copies), some ten of them in a Session Establishment
# Request.
SHORTCUTS: dict[int, type[IE]] = {
    IEType.F_SEID: FSEID,
    IEType.F_TEID: FTEID,
    IEType.UE_IP_ADDRESS: UEIPAddress,
    IEType.OUTER_HEADER_CREATION: OuterHeaderCreation,
}


shortcut_types: list[int] = []  # the SHORTCUTS the walk took (see reload_tables)

# IE types whose usual forms the encoder encodes itself, into the same octets as these
# classes' encode() (see encode_shortcut in _walk.c): the per-session address IEs of a
# Session Establishment Response.
ENCODE_SHORTCUTS: dict[int, type[IE]] = {
    IEType.F_SEID: FSEID,
    IEType.F_TEID: FTEID,
    IEType.UE_IP_ADDRESS: UEIPAddress,
}


def reload_tables() -> None:
    """Hand the tables (decoders, cacheable types, grouped IEs and messages with their
    mandatory and expected IEs) to the walk, which compiles them; call it again after
    changing one (tests do). Empties the decode cache: it holds IEs decoded under the old."""
    drop_encode_cache()
    _walk.setup(
        DECODERS,
        [t for t in IEType if t < 0x8000],
        CACHEABLE_TYPES,
        MANDATORY_CHILDREN,
        ALLOWED_CHILDREN,
        MANDATORY_IES,
        ALLOWED_IES,
        CACHE_MAX_BYTES,
        Grouped,
        RawIE,
        VendorIE,
        (IndexError, struct.error),
        (ValueError,),
        CodecError,
        _error,
        _in_group,
        _ignore,
    )
    _walk.setup_encoder(
        Grouped, VendorIE, _ENCODED, ENCODE_CACHE_ENTRIES, ENCODE_CACHE_MAX_VALUE, _encode_error
    )
    _walk.setup_messages(
        Header,
        Message,
        KNOWN_MESSAGE_TYPES,
        tuple(f.name for f in dataclasses.fields(Header)),
        tuple(f.name for f in dataclasses.fields(Message)),
    )
    # (encode's datagram of an answer made as its octets, header and body in one C call:
    # ~80 bytecodes and two Python calls less per Session Establishment Response)
    _walk.setup_encoded(EncodedMessage)
    _walk.setup_encode_shortcuts(
        {
            int(t): (cls, tuple(f.name for f in dataclasses.fields(cls)))  # type: ignore[arg-type]
            for t, cls in ENCODE_SHORTCUTS.items()
        }
    )
    # (only where the type's decoder is still the class's own)
    global shortcut_types
    shortcut_types = _walk.setup_shortcuts(
        {
            int(t): (cls, tuple(f.name for f in dataclasses.fields(cls)))  # type: ignore[arg-type]
            for t, cls in SHORTCUTS.items()
            if DECODERS.get(t) == cls.decode
        }
    )


reload_tables()


# decode_ies(data, start, end, ignored=None) -> list[IE]: decode the IEs in
# ``data[start:end]``, any IE expected at this level (grouped IEs inside are checked against
# their tables). IEs set aside are appended to ``ignored`` (see :class:`IgnoredIE`). The
# walk's, in one call: _walk.walk(data, start, end, -1, ignored or a list of its own).
decode_ies = _walk.decode_ies


def _decode_at(data: bytes, offset: int, header: Header | None = None) -> tuple[Message, Header]:
    if header is None:
        header = decode_header(data, offset)
    if offset == 0:
        try:
            msg = _message(data, header)
        except CodecError as exc:
            exc.header = header
            raise
        if msg is not None:
            return msg, header
    end = offset + 4 + header.length
    msg_type = header.msg_type
    ignored: list[IgnoredIE] = []
    try:
        ies = _walk.walk(data, offset + header.header_len, end, msg_type, ignored)
    except CodecError as exc:
        exc.header = header
        raise
    msg = Message(msg_type, header.seq, ies, header.seid, header.priority, ignored)
    return msg, header


def decode(data: bytes) -> Message:
    """Decode the first PFCP message of a datagram (see :func:`decode_datagram` for the
    piggybacked ones). Bad input raises :class:`CodecError`; any other exception is a bug
    in the codec and escapes as it is (the node logs it with its traceback and counts it)."""
    return _decode_at(data, 0)[0]


def _decode_datagram(data: bytes, header: Header | None = None) -> list[Message]:
    """decode_datagram's general code (see below): decode every message of a datagram,
    following FO (piggybacked messages). When one fails, the CodecError's ``decoded_before``
    holds the messages decoded ahead of it. As :func:`decode`, only bad input raises
    CodecError.
    ``header``: the first message's header when the caller already decoded it."""
    if header is not None and not header.follow_on:  # (one message: the usual)
        try:
            msg = _message(data, header)
        except CodecError as exc:
            exc.header = header
            exc.decoded_before = []
            raise
        if msg is not None:
            return [msg]
    # (_decode_at's steps, inline: this runs once per datagram received)
    out: list[Message] = []
    offset = 0
    while True:
        try:
            if offset or header is None:
                header = decode_header(data, offset)
            end = offset + 4 + header.length
            ignored: list[IgnoredIE] = []
            start = offset + (NODE_HEADER_LEN if header.seid is None else SESSION_HEADER_LEN)
            try:
                ies = _walk.walk(data, start, end, header.msg_type, ignored)
            except CodecError as exc:
                exc.header = header
                raise
        except CodecError as exc:
            exc.decoded_before = out
            raise
        out.append(Message(header.msg_type, header.seq, ies, header.seid, header.priority, ignored))
        if not header.follow_on or end >= len(data):
            return out
        offset = end


_walk.setup_datagram(_decode_datagram)

# decode_datagram(data, header=None) -> list[Message]: _decode_datagram, whose usual case
# (one message, no FO, ``header`` made by the walk's header(), as the node passes it) is
# _walk.c's in one call, without this module's Python frame; anything else runs
# _decode_datagram with the same arguments.
decode_datagram = _walk.decode_datagram


# encode_ies(ies) -> bytes: the TLVs of ``ies`` (the loop is _walk.c's, as the decoder's):
# a Grouped IE's value is its children's TLVs; a leaf's is its ``encode()``, or the octets
# the encoding cache (_ENCODED) kept for that very object. A leaf of a cacheable type with
# a value of at most ENCODE_CACHE_MAX_VALUE octets that is held elsewhere too (by more than
# the list being encoded) gets an entry. Raises CodecError for a vendor IE type without the
# enterprise bit or a value longer than 65535 octets; whatever an IE's encode() raises
# escapes as it is (`encode` turns the usual kinds into CodecError).
encode_ies = _walk.encode_ies


# message(data, header): decode_datagram of a datagram of one message whose header (at
# offset 0) is ``header``, as one call (None: not a Header made by the walk's header());
# encode_message(msg, follow_on): encode's datagram, as one call (None: a header field out
# of the usual, which encode then handles). See _walk.c.
_message = _walk.message
_encode_message = _walk.encode_message


def _keeps_octets(ies: list[IE]) -> bool:
    """A group among ``ies``, at any depth, kept its octets."""
    for c in ies:  # noqa: SIM110  (a loop: a generator in any() cost twice as much)
        if type(c) is Grouped and (c.raw is not None or _keeps_octets(c.ies)):
            return True
    return False


def encode_groups(ies: list[IE]) -> bytes:
    """What `encode_ies` makes of ``ies``, reusing the octets a decoded group kept
    (`Grouped.raw`) at any depth: only the groups built or changed since are encoded."""
    parts = []
    for ie in ies:
        raw = ie.raw if type(ie) is Grouped else None
        if raw is None:
            if type(ie) is not Grouped or not _keeps_octets(ie.ies):
                parts.append(encode_ies([ie]))
                continue
            value = encode_groups(ie.ies)
            if len(value) > 0xFFFF:
                raise CodecError(f"IE {ie_type_name(ie.type)} longer than 65535 octets", cause=None)
            raw = _pack_tl(ie.type, len(value)) + value
        parts.append(raw)
    return b"".join(parts)


def encode(msg: Message, follow_on: bool = False) -> bytes:
    """Encode one message. Raises :class:`CodecError` for values that cannot be encoded."""
    try:
        # (the usual header fields, of a Message or of an EncodedMessage with its octets;
        # else None)
        data = _encode_message(msg, follow_on)
        if data is not None:
            return data
        # (a message made as its octets: those, unless its IEs were read since)
        body = msg.body if type(msg) is EncodedMessage and msg.body is not None else None
        if body is None:
            body = encode_ies(msg.ies)
    except CodecError:
        raise
    except (ValueError, TypeError, OverflowError, struct.error, AttributeError) as exc:
        raise CodecError(f"cannot encode {msg.name}: {exc}", cause=None) from exc
    return header_octets(msg.msg_type, msg.seq, msg.seid, msg.priority, follow_on, len(body)) + body


def encode_datagram(messages: list[Message]) -> bytes:
    """Encode messages into one datagram, setting FO on all but the last."""
    last = len(messages) - 1
    return b"".join(encode(m, follow_on=i < last) for i, m in enumerate(messages))


__all__ = [
    "RawIE",
    "decode",
    "decode_datagram",
    "decode_ies",
    "encode",
    "encode_datagram",
    "encode_groups",
    "encode_ies",
]

"""Bytes to messages and back: the IE walk, grouped IEs, mandatory-IE checks.

Cost: one pass over the octets; per IE one ``struct`` unpack of its TLV header, one dict
lookup for its decoder and the decoder itself. Grouped IEs recurse (depth bounded).
"""

from __future__ import annotations

import struct

from .cause import Cause
from .errors import CodecError
from .grouped import MANDATORY_CHILDREN
from .header import Header, decode_header, encode_header
from .ie import CACHEABLE_TYPES, DECODERS, IE, Grouped, RawIE, VendorIE
from .ie_types import ie_type_name
from .messages import MANDATORY_IES, Message

_TL = struct.Struct("!HH")
_pack_tl = _TL.pack
_unpack_tl = _TL.unpack_from
MAX_GROUP_DEPTH = 8
_EMPTY: frozenset[int] = frozenset()


def _value_error(exc: Exception, ie_type: int, mandatory: frozenset[int]) -> CodecError:
    if isinstance(exc, (IndexError, struct.error)):
        return CodecError(
            f"IE {ie_type_name(ie_type)} too short: {exc}",
            cause=Cause.INVALID_LENGTH,
            offending_ie=ie_type,
        )
    cause = Cause.MANDATORY_IE_INCORRECT if ie_type in mandatory else Cause.REQUEST_REJECTED
    return CodecError(
        f"IE {ie_type_name(ie_type)} incorrect: {exc}", cause=cause, offending_ie=ie_type
    )


# Decoding cache keyed by whole TLV octets, because an SMF sends the same IEs and rule groups
# (IDs, flags, filters, whole Create FAR/QER/URR groups) in session after session:
# - leaf IEs of cacheable types: leaf IEs are immutable, so equal octets share one instance;
# - grouped IEs made only of cacheable IEs (no per-session value such as a UE address or a
#   TEID): a template whose fresh copy (new Grouped objects, shared immutable leaves) is
#   returned, so callers may still change their groups.
# Only successful decodes are cached; the cache is cleared when it reaches its bound.
_CACHE: dict[bytes, IE] = {}
CACHE_MAX_ENTRIES = 16384


def _clone(group: Grouped) -> Grouped:
    return Grouped(
        group.type,
        [_clone(c) if c.__class__ is Grouped else c for c in group.ies],  # type: ignore[arg-type]
    )


def decode_ies(
    data: bytes, start: int, end: int, mandatory: frozenset[int] = _EMPTY, depth: int = 0
) -> list[IE]:
    """Decode the IEs in ``data[start:end]``; ``mandatory`` only chooses the cause of an
    incorrect value (69 for a mandatory IE, 64 otherwise)."""
    ies: list[IE] = []
    _walk(data, start, end, mandatory, depth, ies)
    return ies


def _walk(
    data: bytes, start: int, end: int, mandatory: frozenset[int], depth: int, ies: list[IE]
) -> bool:
    """Append the IEs of ``data[start:end]`` to ``ies``; True when all of them (recursively)
    are of cacheable types, so that a group made of them may be cached."""
    append = ies.append
    decoders = DECODERS
    groups = MANDATORY_CHILDREN
    cache = _CACHE
    cacheable = CACHEABLE_TYPES
    all_cacheable = True
    off = start
    while off < end:
        if off + 4 > end:
            raise CodecError(
                f"{end - off} trailing octets are not an IE", cause=Cause.INVALID_LENGTH
            )
        ie_start = off
        ie_type, length = _unpack_tl(data, off)
        vstart = off + 4
        off = vstart + length
        if off > end:
            raise CodecError(
                f"IE {ie_type_name(ie_type)} length {length} exceeds its container",
                cause=Cause.INVALID_LENGTH,
                offending_ie=ie_type,
            )
        if ie_type in cacheable:
            tlv = data[ie_start:off]
            ie = cache.get(tlv)
            if ie is None:
                try:
                    ie = decoders[ie_type](tlv[4:])
                except (ValueError, IndexError, struct.error) as exc:
                    raise _value_error(exc, ie_type, mandatory) from None
                if len(cache) >= CACHE_MAX_ENTRIES:
                    cache.clear()
                cache[tlv] = ie
            append(ie)
            continue
        required = groups.get(ie_type)
        if required is not None:
            tlv = data[ie_start:off]
            template = cache.get(tlv)
            if template is not None:
                append(_clone(template))  # type: ignore[arg-type]
                continue
            if depth >= MAX_GROUP_DEPTH:
                raise CodecError(
                    "grouped IEs nested too deep",
                    cause=Cause.REQUEST_REJECTED,
                    offending_ie=ie_type,
                )
            children: list[IE] = []
            try:
                same_every_time = _walk(data, vstart, off, required, depth + 1, children)
                if required and not required.issubset([ie.type for ie in children]):
                    _raise_missing(children, required)
            except CodecError as exc:
                exc.path = (ie_type_name(ie_type), *exc.path)
                raise
            group = Grouped(ie_type, children)
            if same_every_time:
                if len(cache) >= CACHE_MAX_ENTRIES:
                    cache.clear()
                cache[tlv] = _clone(group)  # a private copy: callers may change theirs
            else:
                all_cacheable = False
            append(group)
            continue
        all_cacheable = False
        decoder = decoders.get(ie_type)
        if decoder is not None:
            try:
                append(decoder(data[vstart:off]))
            except (ValueError, IndexError, struct.error) as exc:
                raise _value_error(exc, ie_type, mandatory) from None
        elif ie_type & 0x8000:
            if length < 2:
                raise CodecError(
                    f"vendor IE {ie_type} without enterprise ID",
                    cause=Cause.INVALID_LENGTH,
                    offending_ie=ie_type,
                )
            append(VendorIE(ie_type, data[vstart] << 8 | data[vstart + 1], data[vstart + 2 : off]))
        else:
            append(RawIE(ie_type, data[vstart:off]))
    return all_cacheable


def _raise_missing(ies: list[IE], required: frozenset[int]) -> None:
    missing = required.difference([ie.type for ie in ies])
    if missing:
        first = min(missing)
        raise CodecError(
            f"mandatory IE {ie_type_name(first)} missing",
            cause=Cause.MANDATORY_IE_MISSING,
            offending_ie=first,
        )


def _decode_at(data: bytes, offset: int, header: Header | None = None) -> tuple[Message, Header]:
    if header is None:
        header = decode_header(data, offset)
    end = offset + 4 + header.length
    required = MANDATORY_IES[header.msg_type]
    try:
        ies = decode_ies(data, offset + header.header_len, end, required)
        if required and not required.issubset([ie.type for ie in ies]):
            _raise_missing(ies, required)
    except CodecError as exc:
        exc.header = header
        raise
    msg = Message(header.msg_type, header.seq, ies, header.seid, header.priority)
    return msg, header


def decode(data: bytes) -> Message:
    """Decode the first PFCP message of a datagram (see :func:`decode_datagram` for the
    piggybacked ones). Raises only :class:`CodecError`."""
    try:
        return _decode_at(data, 0)[0]
    except CodecError:
        raise
    except Exception as exc:  # a decoder bug must not escape as anything but CodecError
        raise CodecError(f"internal decoder error: {exc!r}", cause=Cause.REQUEST_REJECTED) from exc


def decode_datagram(data: bytes, header: Header | None = None) -> list[Message]:
    """Decode every message of a datagram, following FO (piggybacked messages). When one
    fails, the CodecError's ``decoded_before`` holds the messages decoded ahead of it.
    ``header``: the first message's header when the caller already decoded it."""
    out = []
    offset = 0
    while True:
        try:
            msg, header = _decode_at(data, offset, header if offset == 0 else None)
        except CodecError as exc:
            exc.decoded_before = out
            raise
        except Exception as exc:
            error = CodecError(f"internal decoder error: {exc!r}", cause=Cause.REQUEST_REJECTED)
            error.decoded_before = out
            raise error from exc
        out.append(msg)
        offset += 4 + header.length
        if not header.follow_on or offset >= len(data):
            return out


def encode_ies(ies: list[IE]) -> bytes:
    parts = []
    for ie in ies:
        value = encode_ies(ie.ies) if type(ie) is Grouped else ie.encode()  # type: ignore[attr-defined]
        ie_type = ie.type
        if type(ie) is VendorIE and not ie_type & 0x8000:
            raise CodecError(f"vendor IE type {ie_type} lacks the enterprise bit", cause=None)
        if len(value) > 0xFFFF:
            raise CodecError(f"IE {ie_type_name(ie_type)} longer than 65535 octets", cause=None)
        parts.append(_pack_tl(ie_type, len(value)))
        parts.append(value)
    return b"".join(parts)


def encode(msg: Message, follow_on: bool = False) -> bytes:
    """Encode one message. Raises :class:`CodecError` for values that cannot be encoded."""
    try:
        body = encode_ies(msg.ies)
    except CodecError:
        raise
    except (ValueError, TypeError, OverflowError, struct.error, AttributeError) as exc:
        raise CodecError(f"cannot encode {msg.name}: {exc}", cause=None) from exc
    header = Header(msg.msg_type, msg.seq, msg.seid, msg.priority, follow_on)
    return encode_header(header, len(body)) + body


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
    "encode_ies",
]

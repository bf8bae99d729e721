"""PFCP message header (TS 29.244 clause 7.2.2)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import _walk
from .cause import Cause
from .errors import CodecError
from .message_types import KNOWN_MESSAGE_TYPES, SESSION_MESSAGE_TYPES

PFCP_VERSION = 1
NODE_HEADER_LEN = 8  # 4 mandatory octets + sequence number (3) + spare (1)
SESSION_HEADER_LEN = 16  # ... + SEID (8)
MAX_SEQ = 0xFFFFFF

_FIRST4 = struct.Struct("!BBH")
_SEID_SEQ = struct.Struct("!QI")
_SEQ = struct.Struct("!I")
_SESSION_HEADER = struct.Struct("!BBHQI")  # (_FIRST4 then _SEID_SEQ, in one)


@dataclass(slots=True)
class Header:
    msg_type: int
    seq: int
    # S=1: the SEID. Session messages must carry one; the decoder still accepts a node message
    # with S=1 (some tools send it) and a session message without (the receiver rejects it).
    seid: int | None = None
    priority: int | None = None  # message priority when MP=1
    follow_on: bool = False  # FO: another message follows in the same datagram
    version: int = PFCP_VERSION
    length: int = 0  # octets after the first four, as on the wire

    @property
    def header_len(self) -> int:
        return SESSION_HEADER_LEN if self.seid is not None else NODE_HEADER_LEN


def decode_header(data: bytes, offset: int = 0) -> Header:
    """Decode the header at ``offset``; checks lengths, version and the S flag."""
    header = _walk_header(data, offset)  # (a valid header of bytes, made in C; else None)
    if header is not None:
        return header
    if len(data) - offset < 4:
        raise CodecError("datagram too short for a PFCP header", cause=None)
    flags, msg_type, length = _FIRST4.unpack_from(data, offset)
    has_seid = flags & 0x01
    needed = SESSION_HEADER_LEN if has_seid else NODE_HEADER_LEN
    if length + 4 < needed or len(data) - offset < needed:
        # Not a whole header, whatever its version: nothing to answer (drop and count).
        raise CodecError(f"message length {length} too short for its header", cause=None)
    if has_seid:
        seid, seq_word = _SEID_SEQ.unpack_from(data, offset + 4)
    else:
        seid = None
        (seq_word,) = _SEQ.unpack_from(data, offset + 4)
    version = flags >> 5
    header = Header(
        msg_type,
        seq_word >> 8,
        seid,
        (seq_word & 0xFF) >> 4 if flags & 0x02 else None,
        bool(flags & 0x04),
        version,
        length,
    )
    if version != PFCP_VERSION:
        raise CodecError(f"PFCP version {version} not supported", cause=None, header=header)
    if msg_type not in KNOWN_MESSAGE_TYPES:
        raise CodecError(f"unknown message type {msg_type}", cause=None, header=header)
    if len(data) - offset < length + 4:
        raise CodecError(
            f"message length {length} exceeds the datagram ({len(data) - offset} octets)",
            cause=Cause.INVALID_LENGTH,
            header=header,
        )
    return header


# The walk's header(): what decode_header makes of a whole valid header in a bytes object,
# None for anything else (codec.reload_tables hands it the Header class).
_walk_header = _walk.header


def encode_header(header: Header, body_len: int) -> bytes:
    """Encode ``header`` for a body of ``body_len`` octets (the IEs)."""
    return header_octets(
        header.msg_type, header.seq, header.seid, header.priority, header.follow_on, body_len
    )


def header_octets(
    msg_type: int,
    seq: int,
    seid: int | None,
    priority: int | None,
    follow_on: bool,
    body_len: int,
) -> bytes:
    """`encode_header` without a Header (the encoder's path: one per datagram sent)."""
    if not 0 <= seq <= MAX_SEQ:
        raise CodecError(f"sequence number {seq} out of range", cause=None)
    flags = 0x24 if follow_on else 0x20  # (PFCP_VERSION << 5, FO)
    last = 0
    if priority is not None:
        if not 0 <= priority <= 15:
            raise CodecError(f"message priority {priority} out of range", cause=None)
        flags |= 0x02
        last = priority << 4
    if seid is not None:
        return _SESSION_HEADER.pack(flags | 0x01, msg_type, 12 + body_len, seid, (seq << 8) | last)
    if msg_type in SESSION_MESSAGE_TYPES:
        raise CodecError(f"session message type {msg_type} needs a SEID", cause=None)
    return _FIRST4.pack(flags, msg_type, 4 + body_len) + _SEQ.pack((seq << 8) | last)

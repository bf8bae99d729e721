"""GTP-U (TS 29.281) as a gNB speaks it on N3: G-PDUs carrying the PDU Session Container
(TS 38.415: UL PDU SESSION INFORMATION with the QFI), echo requests and responses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PORT = 2152
ECHO_REQUEST, ECHO_RESPONSE, ERROR_INDICATION, END_MARKER, G_PDU = 1, 2, 26, 254, 255
EXT_PDU_SESSION_CONTAINER = 0x85
PDU_TYPE_DL, PDU_TYPE_UL = 0, 1
IE_RECOVERY = 14


def g_pdu(teid: int, inner: bytes, qfi: int | None = None) -> bytes:
    """A G-PDU to ``teid``; with ``qfi`` it carries a PDU Session Container (UL PDU SESSION
    INFORMATION, that QFI), as a gNB sends on N3."""
    if qfi is None:
        return struct.pack("!BBHI", 0x30, G_PDU, len(inner), teid) + inner
    container = bytes([1, PDU_TYPE_UL << 4, qfi & 0x3F, 0])  # length 1 (4 octets), next 0
    optional = struct.pack("!HBB", 0, 0, EXT_PDU_SESSION_CONTAINER)
    body = optional + container + inner
    return struct.pack("!BBHI", 0x34, G_PDU, len(body), teid) + body


def echo_request(seq: int) -> bytes:
    return struct.pack("!BBHIHBB", 0x32, ECHO_REQUEST, 4, 0, seq, 0, 0)


def echo_response(seq: int, restart_counter: int = 0) -> bytes:
    """The answer to an Echo Request of sequence number ``seq`` (Recovery IE, TS 29.281 7.2.2)."""
    return struct.pack("!BBHIHBBBB", 0x32, ECHO_RESPONSE, 6, 0, seq, 0, 0, IE_RECOVERY,
                       restart_counter)  # fmt: skip


@dataclass(frozen=True)
class Message:
    msg_type: int
    teid: int
    seq: int | None  # when the S flag is set
    qfi: int | None  # from a PDU Session Container
    payload: bytes  # a G-PDU's T-PDU; the IEs of other messages


def parse(data: bytes) -> Message | None:
    """A GTP-U version 1 message; None when malformed."""
    if len(data) < 8 or data[0] >> 5 != 1 or not data[0] & 0x10:
        return None
    flags, msg_type, length, teid = struct.unpack_from("!BBHI", data)
    end = 8 + length
    if end > len(data):
        return None
    offset, seq, qfi = 8, None, None
    if flags & 0x07:
        if end < 12:
            return None
        if flags & 0x02:
            seq = struct.unpack_from("!H", data, 8)[0]
        next_type = data[11] if flags & 0x04 else 0
        offset = 12
        while next_type:
            if offset >= end or data[offset] == 0:
                return None
            ext_len = data[offset] * 4
            if offset + ext_len > end:
                return None
            if next_type == EXT_PDU_SESSION_CONTAINER and ext_len >= 4:
                qfi = data[offset + 2] & 0x3F
            next_type = data[offset + ext_len - 1]
            offset += ext_len
    return Message(msg_type, teid, seq, qfi, data[offset:end])

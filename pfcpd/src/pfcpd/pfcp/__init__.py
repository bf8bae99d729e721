"""PFCP (3GPP TS 29.244 Rel-17) codec: sans-IO, bytes in, typed messages out, and back.

Import IE classes from their modules (``ies_scalar``, ``ies_flags``, ``ies_address``,
``ies_text``, ``ies_traffic``); importing this package registers them all.
"""

from . import ies_address, ies_flags, ies_scalar, ies_text, ies_traffic  # noqa: F401  (register)
from .cause import Cause
from .codec import (
    decode,
    decode_datagram,
    decode_ies,
    encode,
    encode_datagram,
    encode_groups,
    encode_ies,
)
from .errors import CodecError
from .header import NODE_HEADER_LEN, SESSION_HEADER_LEN, Header, decode_header
from .ie import IE, Grouped, RawIE, VendorIE
from .ie_types import IEType, ie_type_name
from .message_types import MessageType, is_request, is_session_message, message_type_name
from .messages import MANDATORY_IES, IgnoredIE, Message

__all__ = [
    "IE",
    "MANDATORY_IES",
    "NODE_HEADER_LEN",
    "SESSION_HEADER_LEN",
    "Cause",
    "CodecError",
    "Grouped",
    "Header",
    "IEType",
    "IgnoredIE",
    "Message",
    "MessageType",
    "RawIE",
    "VendorIE",
    "decode",
    "decode_datagram",
    "decode_header",
    "decode_ies",
    "encode",
    "encode_datagram",
    "encode_groups",
    "encode_ies",
    "ie_type_name",
    "is_request",
    "is_session_message",
    "message_type_name",
]

"""PFCP message types of TS 29.244 clause 7.3 (Rel-17) and their request/response pairing."""

from enum import IntEnum


class MessageType(IntEnum):
    HEARTBEAT_REQUEST = 1
    HEARTBEAT_RESPONSE = 2
    PFD_MANAGEMENT_REQUEST = 3
    PFD_MANAGEMENT_RESPONSE = 4
    ASSOCIATION_SETUP_REQUEST = 5
    ASSOCIATION_SETUP_RESPONSE = 6
    ASSOCIATION_UPDATE_REQUEST = 7
    ASSOCIATION_UPDATE_RESPONSE = 8
    ASSOCIATION_RELEASE_REQUEST = 9
    ASSOCIATION_RELEASE_RESPONSE = 10
    VERSION_NOT_SUPPORTED_RESPONSE = 11
    NODE_REPORT_REQUEST = 12
    NODE_REPORT_RESPONSE = 13
    SESSION_SET_DELETION_REQUEST = 14
    SESSION_SET_DELETION_RESPONSE = 15
    SESSION_SET_MODIFICATION_REQUEST = 16
    SESSION_SET_MODIFICATION_RESPONSE = 17
    SESSION_ESTABLISHMENT_REQUEST = 50
    SESSION_ESTABLISHMENT_RESPONSE = 51
    SESSION_MODIFICATION_REQUEST = 52
    SESSION_MODIFICATION_RESPONSE = 53
    SESSION_DELETION_REQUEST = 54
    SESSION_DELETION_RESPONSE = 55
    SESSION_REPORT_REQUEST = 56
    SESSION_REPORT_RESPONSE = 57


KNOWN_MESSAGE_TYPES = frozenset(int(t) for t in MessageType)

# Session related messages carry a SEID in the header (S=1); node related ones never do.
SESSION_MESSAGE_TYPES = frozenset(range(50, 58))

REQUEST_TYPES = frozenset(
    {1, 3, 5, 7, 9, 12, 14, 16, 50, 52, 54, 56},
)

# Request type -> its response type.
RESPONSE_TO = {
    1: 2,
    3: 4,
    5: 6,
    7: 8,
    9: 10,
    12: 13,
    14: 15,
    16: 17,
    50: 51,
    52: 53,
    54: 55,
    56: 57,
}


def is_session_message(msg_type: int) -> bool:
    return msg_type in SESSION_MESSAGE_TYPES


def is_request(msg_type: int) -> bool:
    return msg_type in REQUEST_TYPES


_NAMES = {int(t): t.name.lower() for t in MessageType}


def message_type_name(msg_type: int) -> str:
    name = _NAMES.get(msg_type)
    return name if name is not None else f"message_{msg_type}"

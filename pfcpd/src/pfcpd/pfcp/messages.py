"""PFCP messages: the Message type and the IEs each message must carry (TS 29.244 clause 7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ie import IE, IEList
from .ie_types import IEType as T
from .message_types import MessageType as M
from .message_types import message_type_name


@dataclass(slots=True)
class Message(IEList):
    """One PFCP message. ``seid`` is set exactly for session messages (50-57)."""

    msg_type: int
    seq: int
    ies: list[IE] = field(default_factory=list)
    seid: int | None = None
    priority: int | None = None

    @property
    def name(self) -> str:
        return message_type_name(self.msg_type)


def _m(*types: int) -> frozenset[int]:
    return frozenset(types)


_NODE_CAUSE = _m(T.NODE_ID, T.CAUSE)

# IEs marked M in the message tables of clause 7.4 and 7.5 (Rel-17).
MANDATORY_IES: dict[int, frozenset[int]] = {
    M.HEARTBEAT_REQUEST: _m(T.RECOVERY_TIME_STAMP),
    M.HEARTBEAT_RESPONSE: _m(T.RECOVERY_TIME_STAMP),
    M.PFD_MANAGEMENT_REQUEST: _m(),
    M.PFD_MANAGEMENT_RESPONSE: _m(T.CAUSE),
    M.ASSOCIATION_SETUP_REQUEST: _m(T.NODE_ID, T.RECOVERY_TIME_STAMP),
    M.ASSOCIATION_SETUP_RESPONSE: _m(T.NODE_ID, T.CAUSE, T.RECOVERY_TIME_STAMP),
    M.ASSOCIATION_UPDATE_REQUEST: _m(T.NODE_ID),
    M.ASSOCIATION_UPDATE_RESPONSE: _NODE_CAUSE,
    M.ASSOCIATION_RELEASE_REQUEST: _m(T.NODE_ID),
    M.ASSOCIATION_RELEASE_RESPONSE: _NODE_CAUSE,
    M.VERSION_NOT_SUPPORTED_RESPONSE: _m(),
    M.NODE_REPORT_REQUEST: _m(T.NODE_ID, T.NODE_REPORT_TYPE),
    M.NODE_REPORT_RESPONSE: _NODE_CAUSE,
    M.SESSION_SET_DELETION_REQUEST: _m(T.NODE_ID),
    M.SESSION_SET_DELETION_RESPONSE: _NODE_CAUSE,
    M.SESSION_SET_MODIFICATION_REQUEST: _m(T.ALTERNATIVE_SMF_IP_ADDRESS),
    M.SESSION_SET_MODIFICATION_RESPONSE: _NODE_CAUSE,
    M.SESSION_ESTABLISHMENT_REQUEST: _m(T.NODE_ID, T.F_SEID, T.CREATE_PDR, T.CREATE_FAR),
    M.SESSION_ESTABLISHMENT_RESPONSE: _NODE_CAUSE,
    M.SESSION_MODIFICATION_REQUEST: _m(),
    M.SESSION_MODIFICATION_RESPONSE: _m(T.CAUSE),
    M.SESSION_DELETION_REQUEST: _m(),
    M.SESSION_DELETION_RESPONSE: _m(T.CAUSE),
    M.SESSION_REPORT_REQUEST: _m(T.REPORT_TYPE),
    M.SESSION_REPORT_RESPONSE: _m(T.CAUSE),
}

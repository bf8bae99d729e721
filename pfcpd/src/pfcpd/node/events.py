"""What the node reports to its driver besides datagrams: things to log and to persist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..address import Address


class Transmit(NamedTuple):
    """A datagram to send to ``addr`` from the listen endpoint ``local`` (None: any). A
    named tuple: one is made per datagram sent, and a frozen dataclass cost 1.2 us to make
    against 0.3 us."""

    data: bytes
    addr: Address
    local: str | None


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class AssociationEstablished(Event):
    node_id: str
    addr: Address
    initiator: str
    replaced: bool  # an association with that Node ID existed and was overwritten


@dataclass(frozen=True, slots=True)
class AssociationReleased(Event):
    node_id: str
    addr: Address
    reason: str  # "cp_release", "lost", "shutdown"


@dataclass(frozen=True, slots=True)
class AssociationSetupFailed(Event):
    addr: Address
    reason: str


@dataclass(frozen=True, slots=True)
class ReleaseRequested(Event):
    """This node asked the CP to release the association (Association Update with SARR)."""

    node_id: str
    accepted: bool | None  # the CP's answer; None: no answer after N1 retransmissions


@dataclass(frozen=True, slots=True)
class PeerLost(Event):
    node_id: str
    addr: Address
    release_in: float  # seconds until its sessions are released (graceful release period)


@dataclass(frozen=True, slots=True)
class PeerRecovered(Event):
    node_id: str
    addr: Address


@dataclass(frozen=True, slots=True)
class PeerRestarted(Event):
    node_id: str
    addr: Address
    old_time_stamp: int
    new_time_stamp: int
    sessions_kept: bool


@dataclass(frozen=True, slots=True)
class DatagramDropped(Event):
    """Dropped without an answer; ``reason`` is the metrics label."""

    addr: Address
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class RequestRejected(Event):
    """A request answered with an error cause (it failed to decode, or it was refused)."""

    addr: Address
    msg_type: int
    cause: int
    detail: str


@dataclass(frozen=True, slots=True)
class InternalError(Event):
    """A bug: an unexpected exception while handling a datagram from ``addr`` (``stage``:
    decode, request, response, session_handler). The request, if it was one, was answered
    with cause 77 System failure (a heartbeat, which has no Cause, was dropped); the driver
    logs ``error`` with its traceback."""

    addr: Address
    stage: str
    detail: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class IEsIgnored(Event):
    """A message was processed without some of its IEs (TS 29.244 clause 7.6.8/7.6.9: not
    expected where they were, or optional with an incorrect value); ``ignored`` describes
    each one."""

    addr: Address
    msg_type: int
    seq: int
    ignored: tuple[str, ...]

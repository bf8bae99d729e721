"""The hook through which the session engine plugs into the node.

The node owns transport concerns (peers, associations, sequence numbers, retransmission,
duplicate detection, the association check that yields cause 72). Everything about PFCP
sessions goes through a :class:`SessionHandler`: the node hands it each session-related
request from an associated peer and sends back the response it returns; it tells it when a
peer's sessions must go; it routes the responses to requests the handler asked the node to
send (Session Report, Node Report); it folds the handler's timer into its own. Like the node,
a handler does no I/O: it is called with ``now`` and returns messages. To originate a request
it uses the :class:`RequestSender` (the node) handed to :meth:`SessionHandler.attach`.

Group commit: a handler may answer a request with a change it has not yet made durable. The
node calls :meth:`SessionHandler.commit` before any datagram leaves (once per batch of
datagrams the driver hands it): the handler makes every change since the last call durable at
once, and names the requests whose change it could not make durable and rolled back; the node
then sends their refusal (cause 77) instead of the answer it was given.

Until the session engine exists, :class:`NoSessionEngine` answers honestly: it holds no
session, so a modification or deletion names an unknown SEID (cause 65, SEID 0), and an
establishment or a session set request is refused with cause 76 "Service not supported".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from ..address import Address
from ..pfcp import IE, Cause, IEType, Message, MessageType
from ..pfcp.ies_address import FSEID, NodeID
from ..pfcp.ies_scalar import Cause as CauseIE


class PeerGone(enum.Enum):
    """Why a CP peer's sessions are in question."""

    # the association ended: the CP released it, or set up another in its place
    RELEASED = "released"
    LOST = "lost"  # heartbeats unanswered N1 times, graceful release period over
    RESTARTED = "restarted"  # the CP's Recovery Time Stamp changed


@dataclass(frozen=True, slots=True)
class Peer:
    """The associated CP a session request came from."""

    node_id: str  # the CP's Node ID as text
    addr: Address  # where its requests come from and our requests go


class RequestSender(Protocol):
    """What a handler may call back: send a request to an associated CP (the node does the
    sequence number, T1/N1 retransmission and response matching)."""

    def send_request(
        self,
        node_id: str,
        request: Message,
        now: float,
        ipv4: str | None = None,
        ipv6: str | None = None,
    ) -> int | None:
        """Send ``request`` on CP ``node_id``'s association: to the CP F-SEID address
        ``ipv4``/``ipv6`` of the session it is about when given (TS 29.244 7.5.4.1), else to
        the association's address. None when ``node_id`` has no association."""
        ...

    def peer_at(self, address: str) -> str | None:
        """The Node ID of the established association whose CP is at ``address`` (its
        address, its Node ID, or one of its Alternative SMF IP Addresses), or None."""
        ...

    def same_smf_set(self, node_id: str, other: str) -> bool:
        """The two CPs are associated with the same SMF Set ID."""
        ...


class SessionHandler(Protocol):
    """What the node needs from a session engine. All calls are synchronous and do no I/O."""

    def attach(self, sender: RequestSender) -> None:
        """Called once by the node it is plugged into."""
        ...

    def up_features(self) -> frozenset[str]:
        """UP Function Features flag names the engine implements (``"FTUP"``, ...); the node
        advertises their union with its own in Association Setup messages."""
        ...

    def handle_request(
        self, request: Message, peer: Peer, local_node_id: NodeID, now: float
    ) -> Message:
        """Answer a session-related request from an associated peer: types 50, 52, 54 (session
        establishment/modification/deletion) and 14, 16 (session set deletion/modification).
        Return the complete response; the node sets its sequence number, caches it for
        duplicates and sends it. Unknown SEID: cause 65 with SEID 0 in the header. The node
        has already answered duplicates from its cache and peers without association (72)."""
        ...

    def handle_pfd_management(self, request: Message, now: float) -> Message:
        """Answer a PFD Management Request (type 3) from an associated peer."""
        ...

    def commit(self) -> list[tuple[Message, Message]]:
        """Make the changes answered since the last call durable, all at once. Returns
        (request, refusal) for each request whose change could not be made durable: it is
        rolled back, and ``refusal`` (cause 77) replaces the answer given for ``request``
        (whose sequence number it carries)."""
        ...

    def peer_seid(self, up_seid: int) -> int | None:
        """The CP's SEID of the session whose UP SEID is ``up_seid`` (for the header of an
        error response to a request that failed to decode), or None when unknown."""
        ...

    def has_sessions(self, node_id: str) -> bool:
        """CP ``node_id`` has sessions here (kept after its association ended, restored, or
        of its association)."""
        ...

    def peer_gone(
        self,
        peer: Peer,
        reason: PeerGone,
        keep_sessions: bool,
        now: float,
        kept_at: frozenset[str] | None = None,
    ) -> None:
        """The peer's sessions are to be deleted, or kept for restoration when
        ``keep_sessions`` (per ``pfcp.on_peer_lost`` / ``pfcp.on_peer_restart``, or the PFCP
        Session Retention Information of the CP's new Association Setup Request, TS 29.244
        6.2.6.2.2). ``kept_at``, with ``keep_sessions``: only the sessions whose CP F-SEID
        has one of these addresses are kept, the others deleted (its CP PFCP Entity IP
        Addresses); None: all are kept."""
        ...

    def peer_recovered(self, peer: Peer, now: float) -> None:
        """The peer answers heartbeats again after N1 went unanswered (its association LOST,
        recovered within the graceful release period): its sessions stayed, but what was
        sent to it meanwhile went unanswered."""
        ...

    def response_received(self, request: Message, response: Message | None, now: float) -> None:
        """The outcome of a request sent with ``PfcpNode.send_request`` (Session Report,
        Node Report): the peer's response, or None when N1 retransmissions went unanswered."""
        ...

    def get_timer(self) -> float | None:
        """When the handler next needs :meth:`handle_timer` (node clock), or None."""
        ...

    def handle_timer(self, now: float) -> None:
        """Time-driven work (time thresholds, inactivity, buffering), run by the node's timer."""
        ...


def cause_response(request: Message, cause: int, seid: int, node_id: NodeID | None) -> Message:
    """The response to ``request`` carrying only ``cause`` (and Node ID when given)."""
    from ..pfcp.message_types import RESPONSE_TO

    ies: list[IE] = []
    if node_id is not None:
        ies.append(node_id)
    ies.append(CauseIE(cause))
    seid_field = seid if request.msg_type >= MessageType.SESSION_ESTABLISHMENT_REQUEST else None
    return Message(RESPONSE_TO[request.msg_type], request.seq, ies, seid_field)


_F_SEID = int(IEType.F_SEID)  # (a module int: a lookup on the IntEnum class is a call)


def establishment_peer_seid(request: Message) -> int:
    """The CP's SEID of a Session Establishment Request (0 when it has no F-SEID)."""
    fseid = request.get(_F_SEID)
    return fseid.seid if isinstance(fseid, FSEID) else 0


class NoSessionEngine:
    """The handler used until the session engine exists: it holds no sessions."""

    def attach(self, sender: RequestSender) -> None:
        return None

    def up_features(self) -> frozenset[str]:
        return frozenset()

    def handle_request(
        self, request: Message, peer: Peer, local_node_id: NodeID, now: float
    ) -> Message:
        t = request.msg_type
        if t == MessageType.SESSION_ESTABLISHMENT_REQUEST:
            seid = establishment_peer_seid(request)
            return cause_response(request, Cause.SERVICE_NOT_SUPPORTED, seid, local_node_id)
        if t in (MessageType.SESSION_MODIFICATION_REQUEST, MessageType.SESSION_DELETION_REQUEST):
            return cause_response(request, Cause.SESSION_CONTEXT_NOT_FOUND, 0, None)
        # Session set deletion / modification: not available without a session engine.
        return cause_response(request, Cause.SERVICE_NOT_SUPPORTED, 0, local_node_id)

    def handle_pfd_management(self, request: Message, now: float) -> Message:
        # PFDM is not advertised: no PFD management without the session engine.
        return cause_response(request, Cause.SERVICE_NOT_SUPPORTED, 0, None)

    def commit(self) -> list[tuple[Message, Message]]:
        return []

    def peer_seid(self, up_seid: int) -> int | None:
        return None

    def has_sessions(self, node_id: str) -> bool:
        return False

    def peer_gone(
        self,
        peer: Peer,
        reason: PeerGone,
        keep_sessions: bool,
        now: float,
        kept_at: frozenset[str] | None = None,
    ) -> None:
        return None

    def peer_recovered(self, peer: Peer, now: float) -> None:
        return None

    def response_received(self, request: Message, response: Message | None, now: float) -> None:
        return None

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

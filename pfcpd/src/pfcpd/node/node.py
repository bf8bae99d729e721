"""The UPF-side PFCP node (TS 29.244 clause 6): associations, heartbeats, transactions.

Sans-IO, in the style of aioquic's ``QuicConnection``: the driver feeds datagrams with
:meth:`PfcpNode.datagram_received` and timer expiries with :meth:`PfcpNode.handle_timer`
(``now`` is a monotonic clock in seconds), then collects :meth:`datagrams_to_send`,
:meth:`next_event` and :meth:`get_timer`. Nothing here touches a socket, a file or a clock
(except ``perf_counter`` for the handling-time histogram).
"""

from __future__ import annotations

import ipaddress
import math
import struct
import time
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass

from ..address import Address, Facts, facts, is_loopback
from ..config import PFCP_PORT, PfcpConfig, RateLimitConfig, is_dns_name
from ..pfcp import (
    IE,
    Cause,
    CodecError,
    Grouped,
    IEType,
    Message,
    MessageType,
    decode,
    decode_datagram,
    decode_header,
    encode,
    is_request,
    is_session_message,
)
from ..pfcp.header import NODE_HEADER_LEN, Header
from ..pfcp.header import _walk_header as walk_header
from ..pfcp.ies_address import FSEID, CPPFCPEntityIPAddress, NodeID
from ..pfcp.ies_flags import (
    CPFunctionFeatures,
    PFCPASRspFlags,
    PFCPAssociationReleaseRequestFlags,
    UPFunctionFeatures,
)
from ..pfcp.ies_scalar import Cause as CauseIE
from ..pfcp.ies_scalar import GracefulReleasePeriod, OffendingIE, RecoveryTimeStamp
from ..pfcp.message_types import REQUEST_TYPES, RESPONSE_TO, message_type_name
from ..pfcp.messages import ALLOWED_IES, MANDATORY_IES
from .allow_list import AllowList, IPNetwork
from .association import Association, AssociationsAt, AssociationState
from .events import (
    AssociationEstablished,
    AssociationReleased,
    AssociationSetupFailed,
    DatagramDropped,
    Event,
    IEsIgnored,
    InternalError,
    PeerLost,
    PeerRecovered,
    PeerRestarted,
    ReleaseRequested,
    RequestRejected,
    Transmit,
)
from .features import NODE_UP_FEATURES, up_function_features_ie
from .node_metrics import HANDLED, NodeMetrics, PeerTally
from .rate_limit import RateLimiter
from .session_handler import (
    NoSessionEngine,
    PeerGone,
    SessionHandler,
    establishment_peer_seid,
)
from .transactions import Outgoing, ResponseCache, SequenceNumbers, request_digest

_new_tuple = tuple.__new__  # (a named tuple made without the Python frame of its __new__)

M = MessageType


def _types(*types: MessageType) -> frozenset[int]:
    """A set of message types as plain ints: a message's type (an int) is found in it by
    identity (small ints are shared), where against an IntEnum member it took a rich
    comparison."""
    return frozenset(int(t) for t in types)


SESSION_REQUESTS = _types(
    M.SESSION_ESTABLISHMENT_REQUEST,
    M.SESSION_MODIFICATION_REQUEST,
    M.SESSION_DELETION_REQUEST,
    M.SESSION_SET_DELETION_REQUEST,
    M.SESSION_SET_MODIFICATION_REQUEST,
)
# Session requests that name their session by the SEID in the header: without an association
# their answer (72) needs nothing from the body.
SESSION_REQUESTS_BY_SEID = _types(M.SESSION_MODIFICATION_REQUEST, M.SESSION_DELETION_REQUEST)
_ASSOCIATION_REQUESTS = (
    M.ASSOCIATION_SETUP_REQUEST,
    M.ASSOCIATION_UPDATE_REQUEST,
    M.ASSOCIATION_RELEASE_REQUEST,
)
ASSOCIATION_REQUESTS = _types(*_ASSOCIATION_REQUESTS)
# The responses that confirm an association change, with their request type.
ASSOCIATION_ANSWERED = {RESPONSE_TO[t]: t for t in _ASSOCIATION_REQUESTS}
# Requests only a UP function sends: a CP sending them gets "request rejected".
UP_ONLY_REQUESTS = _types(M.NODE_REPORT_REQUEST, M.SESSION_REPORT_REQUEST)


class _Labels(dict[int, str]):
    """Value -> its metrics label, made once by ``make`` on first use. The request path
    subscripts it (a functools.cache wrapper was called through a new argument tuple each
    time, four times per request). The keys are octets of the protocol (message types,
    causes): at most 256."""

    def __init__(self, make: Callable[[int], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: int) -> str:
        label = self[key] = self._make(key)
        return label


def _cause_text(value: int) -> str:
    try:
        return Cause(value).name.lower()
    except ValueError:
        return str(value)


def _no_host_address(ip: str) -> bool:
    """`PfcpNode.is_host_address` when the driver knows none."""
    return False


def _no_source_address(ip: str) -> str | None:
    """`PfcpNode.source_address` when the driver knows none."""
    return None


_TYPE_LABELS = _Labels(message_type_name)  # (the codec's name of each message type)
_CAUSE_NAMES = _Labels(_cause_text)


def type_label(msg_type: int) -> str:
    """The metrics label of a message type (the codec's name, computed once per type)."""
    return _TYPE_LABELS[msg_type]


def _cause_name(value: int) -> str:
    return _CAUSE_NAMES[value]


# Plain ints for the per-request path: an IntEnum member looked up on its class costs some
# 60 ns more than a module global (the enum metaclass's __getattr__ turns every attribute
# lookup on the class into a call).
_CAUSE_IE = int(IEType.CAUSE)
_RECOVERY_TIME_STAMP_IE = int(IEType.RECOVERY_TIME_STAMP)
_HEARTBEAT_REQUEST_TYPE = int(M.HEARTBEAT_REQUEST)


def cause_label(msg: Message) -> str:
    ie = msg.get(_CAUSE_IE)
    if ie is None:
        return "none"
    return _CAUSE_NAMES[ie.value]  # type: ignore[attr-defined]


# Message types that cannot carry a Cause IE: the decoder sets one aside as unexpected, so
# the cause label of a decoded message of these types is "none" without looking (requests:
# their IE lists are the longest).
_WITHOUT_CAUSE = frozenset(t for t, allowed in ALLOWED_IES.items() if IEType.CAUSE not in allowed)


def received_cause_label(msg: Message) -> str:
    """`cause_label` of a decoded message."""
    return "none" if msg.msg_type in _WITHOUT_CAUSE else cause_label(msg)


_HEARTBEAT_HANDLED = HANDLED + _HEARTBEAT_REQUEST_TYPE  # (its PeerTally.counts index)
_HEARTBEAT_LABELS = (type_label(M.HEARTBEAT_RESPONSE), "none")  # (a response without Cause)

# Units of the PFCP timer coding (as in the Graceful Release Period IE): unit -> seconds.
_TIMER_UNITS = ((0, 2), (1, 60), (2, 600), (3, 3600), (4, 36000))
_TIMER_INFINITE = 7


def establishment_cp_seid(data: bytes, err: CodecError) -> int:
    """The SEID of the CP F-SEID of a Session Establishment Request that failed to decode
    (``err``: the message of ``data`` after those it decoded before), read from the
    message's top-level IEs; 0 when none decodes (TS 29.244 7.2.2.4.2: the response's
    SEID is 0 only when the peer's SEID is not available)."""
    header = err.header
    assert header is not None
    offset = 0
    for _ in err.decoded_before:
        if offset + 4 > len(data):
            return 0
        offset += 4 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    at = offset + header.header_len
    end = min(offset + 4 + header.length, len(data))
    while at + 4 <= end:
        ie_type = int.from_bytes(data[at : at + 2], "big")
        stop = at + 4 + int.from_bytes(data[at + 2 : at + 4], "big")
        if stop > end:
            break
        if ie_type == IEType.F_SEID:
            try:
                return FSEID.decode(data[at + 4 : stop]).seid
            except (ValueError, IndexError, struct.error):
                return 0
        at = stop
    return 0


_CP_PFCP_ENTITY_IP_ADDRESS = int(IEType.CP_PFCP_ENTITY_IP_ADDRESS)


def session_retention(msg: Message) -> frozenset[str] | None:
    """The PFCP Session Retention Information of an Association Setup Request (TS 29.244
    7.4.4.1): None when absent; else the addresses of its CP PFCP Entity IP Address IEs
    (8.2.135), each as the codec names it (as a CP F-SEID's); empty: none given, all the
    sessions are to be retained."""
    info = msg.get(IEType.PFCP_SESSION_RETENTION_INFORMATION)
    if not isinstance(info, Grouped):
        return None
    return frozenset(
        address
        for ie in info.get_all(_CP_PFCP_ENTITY_IP_ADDRESS)
        if isinstance(ie, CPPFCPEntityIPAddress)
        for address in (ie.ipv4, ie.ipv6)
        if address is not None
    )


def graceful_release_period_ie(seconds: float) -> GracefulReleasePeriod | None:
    """The Graceful Release Period IE for ``seconds`` (None for 0): the finest unit that can
    hold it, rounded up, so the CP waits at least the configured period; beyond the largest
    codable value (31 x 10 h), infinite."""
    if seconds <= 0:
        return None
    for unit, scale in _TIMER_UNITS:
        value = math.ceil(seconds / scale)
        if value <= 31:
            return GracefulReleasePeriod(unit, value)
    return GracefulReleasePeriod(_TIMER_INFINITE, 0)


@dataclass(slots=True)
class SetupTarget:
    """An SMF this node associates to at start-up (``pfcp.associate_to``).

    ``host`` is an IP literal or a DNS name; a name is resolved (by the driver, see
    :meth:`PfcpNode.resolutions_wanted`) before every attempt, so ``addr`` follows DNS.
    """

    host: str
    port: int
    next_attempt_at: float
    addr: Address | None = None  # where the last attempt went (None: name not resolved yet)
    # The listen endpoint the last attempt left from (None: the daemon's choice), which the
    # association it sets up names (`Association.local`)
    local: str | None = None
    node_id: str | None = None  # the SMF's Node ID once an attempt succeeded
    in_flight: bool = False  # a setup request or a name resolution is under way
    attempts: int = 0

    @property
    def is_name(self) -> bool:
        return is_dns_name(self.host)


class PfcpNode:
    def __init__(
        self,
        *,
        node_id: str,
        config: PfcpConfig,
        recovery_time_stamp: int,
        session_handler: SessionHandler | None = None,
        metrics: NodeMetrics | None = None,
        associations: Iterable[Association] = (),
        lost_peers: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        first_seq: int = 1,
        request_port: int = PFCP_PORT,
        is_host_address: Callable[[str], bool] | None = None,
        source_address: Callable[[str], str | None] | None = None,
    ) -> None:
        self.node_id = NodeID.from_text(node_id)
        self.recovery_time_stamp = recovery_time_stamp
        self.config = config
        self.handler: SessionHandler = session_handler or NoSessionEngine()
        self.metrics = metrics or NodeMetrics()
        self._handling_bounds = self.metrics.handling_time.bounds
        self.allow_list = AllowList(config.allowed_peers)
        self.rate_limiter = RateLimiter(
            config.rate_limit.requests_per_second, config.rate_limit.burst
        )
        self._clock = clock
        self._associations: dict[str, Association] = {a.node_id: a for a in associations}
        # Node ID -> Recovery Time Stamp of each CP whose association ended with its
        # sessions kept (`on_peer_lost: keep`), until its next association: a different
        # time stamp then says it restarted (`_came_back`). Kept in the node state file with
        # the associations (`lost_peers()`).
        self._lost_peers: dict[str, int] = dict(lost_peers or {})
        # [addr]: the association of the peer at addr, or None (made anew whenever
        # _associations changes: `_associations_changed`)
        self._association_at = AssociationsAt(self._associations)
        self._targets: list[SetupTarget] = []
        self._resolutions: list[tuple[str, int]] = []  # names the driver is asked to resolve
        # (the same list: a driver skips `resolutions_wanted` while it is empty)
        self.pending_resolutions: Sequence[tuple[str, int]] = self._resolutions
        self._outgoing: OrderedDict[tuple[Address, int], Outgoing] = OrderedDict()
        self._seq = SequenceNumbers(first_seq)
        # Where session-related requests go (`_request_address`): the port of a CP F-SEID
        # address other than the association's; this node's own addresses (its listen
        # addresses and Node ID: they do not change while it runs); with a wildcard listen
        # address, the host's other addresses are this node's too, known to the driver
        # alone (`is_host_address`, which the daemon sets); the listen endpoints a request
        # to an address of the other family may leave from (`_endpoint_to`), and which of
        # the host's addresses the kernel sends from to an address (`source_address`, the
        # driver's too: the route's source, or None when it does not know).
        self.request_port = request_port
        self.is_host_address = is_host_address or _no_host_address
        self.source_address = source_address or _no_source_address
        listen = config.listen
        own = [ep.host for ep in listen] + [self.node_id.value]  # (named as F-SEIDs are)
        self._own_addresses = frozenset(f.text if (f := facts(h)) else h for h in own)
        self._wildcard_listen = any(ipaddress.ip_address(ep.host).is_unspecified for ep in listen)
        # (IPv4: the IPv4 endpoints, then the IPv6 wildcard's, which takes IPv4 too; IPv6:
        # the IPv6 endpoints; each in the configuration's order, with whether it is bound
        # to a loopback address)
        ipv4 = [ep for ep in listen if ep.family == 4] + [ep for ep in listen if ep.host == "::"]
        ipv6 = [ep for ep in listen if ep.family == 6]
        self._endpoints_of_family: dict[int, tuple[tuple[str, bool], ...]] = {
            family: tuple((str(ep), is_loopback(ep.host)) for ep in eps)
            for family, eps in ((4, ipv4), (6, ipv6))
        }
        # For the kernel's source address (`_endpoint_to`), of each family: the endpoint
        # bound to each address off loopback (the first of an address on several ports),
        # the first wildcard one, and whether the choice takes asking: whether those and
        # the first endpoint off loopback (the choice without a source) are two distinct
        # endpoints or more (one address on several ports, or wildcards alone, are one
        # choice whatever the source: not asked)
        self._endpoint_bound_to: dict[int, dict[str, str]] = {4: {}, 6: {}}
        self._wildcard_of_family: dict[int, str | None] = {4: None, 6: None}
        self._source_matters: dict[int, bool] = {}
        for family, eps in ((4, ipv4), (6, ipv6)):
            off_loopback = [ep for ep in eps if not is_loopback(ep.host)]
            for ep in off_loopback:
                bound = facts(ep.host)
                assert bound is not None  # (an IP literal: the configuration's check)
                if bound.ip.is_unspecified:
                    if self._wildcard_of_family[family] is None:
                        self._wildcard_of_family[family] = str(ep)
                else:
                    self._endpoint_bound_to[family].setdefault(bound.text, str(ep))
            wildcard = self._wildcard_of_family[family]
            candidates = set(self._endpoint_bound_to[family].values())
            candidates.update(str(ep) for ep in off_loopback[:1])
            candidates.update(() if wildcard is None else (wildcard,))
            self._source_matters[family] = len(candidates) > 1
        for assoc in self._associations.values():
            self._name_endpoint(assoc)  # (a record of an older state file names none)
        self._cache = ResponseCache(config.response_cache_time)
        self._transmits: list[Transmit] = []
        # Session answers given since the last commit_sessions: id(request) -> (request,
        # its answer's datagram, request type), for the handler's group commit.
        self._session_answers: dict[int, tuple[Message, Transmit, int]] = {}
        self._events: deque[Event] = deque()
        # (the same deque: a driver skips `next_event` while it is empty)
        self.pending_events: Sized = self._events
        # (recovery time stamp, the response's octets before and after its sequence number)
        self._heartbeat_response = (-1, b"", b"")
        self._stopping = False
        self.state_dirty = False  # associations changed: the driver persists them
        self.handler.attach(self)
        self.metrics.gauge(
            "pfcpd_associations",
            "Associations up (established or releasing; lost ones not counted)",
            lambda: sum(a.state is not AssociationState.LOST for a in self._associations.values()),
        )
        self.metrics.gauge(
            "pfcpd_transactions_in_flight",
            "Requests of this node awaiting a response",
            lambda: len(self._outgoing),
        )
        self.metrics.gauge(
            "pfcpd_response_cache_entries",
            "Responses kept to answer retransmitted requests",
            lambda: len(self._cache),
        )

    # -- driver interface ----------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin associating to ``pfcp.associate_to``; probe restored associations."""
        self._targets = []
        for ep in self.config.associate_to:
            target = SetupTarget(ep.host, ep.port, now)
            if not target.is_name:
                target.addr = (ep.host, ep.port)
            self._targets.append(target)
        for assoc in self._associations.values():
            assoc.next_heartbeat_at = now

    def stop(self) -> None:
        """Originate no new requests; in-flight ones still complete or time out."""
        self._stopping = True

    @property
    def in_flight(self) -> int:
        return len(self._outgoing)

    def reconfigure(
        self, allowed_peers: Iterable[IPNetwork] | None, rate_limit: RateLimitConfig
    ) -> None:
        """Apply a reloaded allow-list and rate limit; associations are untouched."""
        self.allow_list = AllowList(allowed_peers)
        self.rate_limiter = RateLimiter(rate_limit.requests_per_second, rate_limit.burst)

    def datagrams_to_send(self) -> list[Transmit]:
        """What to send now; the session changes answered so far are made durable first
        (`commit_sessions`)."""
        self.commit_sessions()
        return self.committed_datagrams()

    def committed_datagrams(self) -> list[Transmit]:
        """`datagrams_to_send` for a driver that called `commit_sessions` since the node's
        last input: what to send now, without committing again (nothing to commit)."""
        out, self._transmits = self._transmits, []
        return out

    def commit_sessions(self) -> None:
        """Group commit: the session handler makes the changes it answered since the last
        call durable at once; an answer whose change could not be (rolled back) is replaced
        by its refusal (cause 77, not cached: a retransmission is handled afresh), wherever
        it waits to be sent, a retransmission's copy from the cache included."""
        answered, self._session_answers = self._session_answers, {}
        failed = self.handler.commit()
        for request, refusal in failed:
            entry = answered.get(id(request))
            if entry is None or entry[0] is not request:
                continue  # (not answered through this node)
            _, tx, request_type = entry
            self._cache.discard(tx.addr, request.seq)
            refusal.seq = request.seq
            data = encode(refusal)
            self.metrics.count_sent(tx.addr[0], type_label(refusal.msg_type), cause_label(refusal))
            detail = "the session change cannot be made durable: rolled back"
            self._events.append(
                RequestRejected(tx.addr, request_type, Cause.SYSTEM_FAILURE, detail)
            )
            # (the answer, and copies of it from the response cache: the same octets to the
            # same peer; a copy is another bytes object)
            self._transmits = [
                Transmit(data, t.addr, t.local) if t.addr == tx.addr and t.data == tx.data else t
                for t in self._transmits
            ]

    def resolutions_wanted(self) -> list[tuple[str, int]]:
        """``(name, port)`` of ``pfcp.associate_to`` entries to resolve now; the driver
        answers each with :meth:`resolved` (it must not block: a resolver runs elsewhere)."""
        out = self._resolutions.copy()
        self._resolutions.clear()  # (the list `pending_resolutions` is)
        return out

    def resolved(
        self, host: str, port: int, addresses: list[str], now: float, error: str | None = None
    ) -> None:
        """The outcome of resolving ``host``: its addresses in preference order (empty with
        ``error`` when the resolver failed). The first one the allow-list admits is used."""
        for target in self._targets:
            if (target.host, target.port) != (host, port) or not target.in_flight:
                continue
            allowed = [a for a in addresses if self.allow_list.allows(a)]
            if not allowed:
                target.in_flight = False
                target.next_attempt_at = now + self.config.associate_retry_interval
                if error is None:
                    listed = ", ".join(addresses) or "no address"
                    error = f"{host} resolves to {listed}, none in pfcp.allowed_peers"
                self._events.append(AssociationSetupFailed((host, port), error))
                continue
            target.addr = (allowed[0], port)
            target.in_flight = False
            if not self._stopping and not self._target_associated(target):
                self._send_setup(target, now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def associations(self) -> list[Association]:
        return list(self._associations.values())

    def lost_peers(self) -> dict[str, int]:
        """Node ID -> Recovery Time Stamp of the CPs whose association ended with their
        sessions kept, not associated since (a copy, for the node state file)."""
        return dict(self._lost_peers)

    def get_timer(self) -> float | None:
        # (Asked after every input: comparisons in place, no list of candidates.)
        inf = math.inf
        at = inf
        if self._outgoing:
            at = next(iter(self._outgoing.values())).deadline
        expiry = self._cache.next_expiry()
        if expiry is not None:  # rounded up: a wake-up a second at most for the cache
            expiry = float(math.ceil(expiry))
            if expiry < at:
                at = expiry
        stopping = self._stopping
        for assoc in self._associations.values():
            release_at = assoc.release_at
            if release_at is not None and release_at < at:
                at = release_at
            if not stopping and not assoc.heartbeat_in_flight and assoc.next_heartbeat_at < at:
                at = assoc.next_heartbeat_at
        handler_at = self.handler.get_timer()
        if handler_at is not None and handler_at < at:
            at = handler_at
        if not stopping:
            for t in self._targets:
                if t.next_attempt_at < at and not t.in_flight and not self._target_associated(t):
                    at = t.next_attempt_at
        return None if at == inf else at

    def handle_timer(self, now: float) -> None:
        self._cache.expire(now)
        self._retransmit_due(now)
        handler_at = self.handler.get_timer()
        if handler_at is not None and handler_at <= now:
            self.handler.handle_timer(now)
        for assoc in list(self._associations.values()):
            if assoc.release_at is not None and assoc.release_at <= now:
                self._end_association(assoc, "lost", PeerGone.LOST, now)
                continue
            if (
                not self._stopping
                and not assoc.heartbeat_in_flight
                and assoc.next_heartbeat_at <= now
            ):
                self._send_heartbeat(assoc, now)
        if not self._stopping:
            for target in self._targets:
                if (
                    not target.in_flight
                    and target.next_attempt_at <= now
                    and not self._target_associated(target)
                ):
                    if target.is_name:
                        target.in_flight = True  # resolving; ``resolved`` sends the request
                        self._resolutions.append((target.host, target.port))
                    else:
                        self._send_setup(target, now)

    def datagram_received(
        self, data: bytes, addr: Address, now: float, local: str | None = None
    ) -> None:
        # The source is judged before anything is decoded: the allow-list, then the peer's
        # rate limit, which a response to a request of this node passes (that is this node's
        # own traffic: a CP answering many Session Reports must not make it retransmit).
        ip = addr[0]
        allow_list = self.allow_list
        if allow_list.networks is not None and not (
            allow_list.verdicts.get(ip) or allow_list.allows(ip)
        ):
            self._drop(addr, "not_allowed", f"{ip} is not in pfcp.allowed_peers")
            return
        if not (self._outgoing and self._answers_outgoing(data, addr)) and not (
            self.rate_limiter.admit(ip, now)
        ):
            self.metrics.rate_limited.inc()
            self._drop(addr, "rate_limited", f"{ip} exceeds pfcp.rate_limit")
            return
        cache = self._cache
        if now >= cache.nothing_expires_before:
            cache.expire(now)
        # (a whole valid header, made in C; None: decode_header says what is wrong)
        header = walk_header(data)
        if header is None:
            try:
                header = decode_header(data)
            except CodecError as err:
                self._undecodable(err, data, addr, local, now)
                return
        digest: int | None = None  # of the datagram, when it carries a request
        msg_type = header.msg_type
        if msg_type not in REQUEST_TYPES:
            if (addr, header.seq) not in self._outgoing:
                what = f"{message_type_name(msg_type)} seq {header.seq}"
                self._drop(addr, "unmatched_response", what)
                return
        else:
            digest = request_digest(data)
            cached = cache.get(addr, header.seq, msg_type, digest, now)
            if cached is not None:
                self.metrics.duplicates.inc(_TYPE_LABELS[msg_type])
                self.metrics.count_sent_labelled(ip, cached.labels)
                self._transmits.append(_new_tuple(Transmit, (cached.data, addr, local)))
                return
            if msg_type in SESSION_REQUESTS_BY_SEID and self._association_at[addr] is None:
                # No association: the answer (72) needs nothing from the body; not decoded.
                self.metrics.requests_handled.inc(type_label(msg_type))
                cause = Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
                response = self._cause_response(msg_type, header.seq, cause, 0)
                self._answer(response, msg_type, addr, local, now, None)
                return
        try:
            messages = decode_datagram(data, header)
        except CodecError as err:
            self._undecodable(err, data, addr, local, now)
            return
        except Exception as exc:  # a codec bug: logged, counted, answered with cause 77
            what = f"{message_type_name(msg_type)} seq {header.seq}"
            self._internal_error(exc, "decode", addr, what)
            self._system_failure(header, addr, local, now)
            return
        metrics = self.metrics
        tally = metrics.tallies.get(ip) or metrics.tally(ip)
        for msg in messages:
            t = msg.msg_type
            if t in _WITHOUT_CAUSE:  # (received_cause_label "none": counted by type)
                tally.counts[t] += 1
            else:
                metrics.count_received(ip, _TYPE_LABELS[t], cause_label(msg))
            if msg.ignored:
                self._ignored_ies(msg, addr)
            request = t in REQUEST_TYPES
            try:
                if request:
                    if digest is None:  # a request following a response in the datagram
                        digest = request_digest(data)
                    if t == _HEARTBEAT_REQUEST_TYPE:  # (_request's first case, called here)
                        self._heartbeat_request(msg, addr, local, now, digest, tally)
                    else:
                        self._request(msg, addr, local, now, digest, tally)
                else:
                    self._response(msg, addr, now)
            except Exception as exc:  # a bug must cost one message, not the daemon
                stage = "request" if request else "response"
                self._internal_error(exc, stage, addr, f"{msg.name} seq {msg.seq}")
                if request:
                    self._system_failure(msg, addr, local, now)

    def roll_back(
        self,
        durable: Iterable[Association],
        unconfirmed: list[Transmit],
        lost_peers: Mapping[str, int] | None = None,
    ) -> list[Transmit]:
        """The driver could not make the associations durable: they go back to ``durable``
        (the last state written), the CPs lost with their sessions kept to ``lost_peers``
        (when given: `lost_peers()` as last written), and the answers in ``unconfirmed``
        that confirmed an association change since (Association Setup/Update/Release
        Responses) become cause 77 System failure, forgotten by the response cache so that
        a retransmission is handled afresh. Returns what to send instead of ``unconfirmed``."""
        self._associations = {a.node_id: a for a in durable}
        self._associations_changed()
        if lost_peers is not None:
            self._lost_peers = dict(lost_peers)
        self.state_dirty = False
        out = []
        for tx in unconfirmed:
            msg = decode(tx.data)  # (this node's own encoding)
            request_type = ASSOCIATION_ANSWERED.get(msg.msg_type)
            if request_type is None or cause_label(msg) != "request_accepted":
                out.append(tx)
                continue
            self._cache.discard(tx.addr, msg.seq)
            refused = self._cause_response(request_type, msg.seq, Cause.SYSTEM_FAILURE, 0)
            detail = "the node state file cannot be written: change rolled back"
            self._events.append(
                RequestRejected(tx.addr, request_type, Cause.SYSTEM_FAILURE, detail)
            )
            self.metrics.count_sent(tx.addr[0], type_label(refused.msg_type), cause_label(refused))
            out.append(Transmit(encode(refused), tx.addr, tx.local))
        return out

    # -- requests this node originates ------------------------------------------------------------

    def send_request(
        self,
        node_id: str,
        request: Message,
        now: float,
        ipv4: str | None = None,
        ipv6: str | None = None,
    ) -> int | None:
        """Send a request (Session Report, Node Report) to the associated peer ``node_id`` on
        behalf of the session handler; its outcome goes to ``handler.response_received``.
        ``ipv4``/``ipv6``: the addresses of the session's CP F-SEID, where a session-related
        request goes (`_request_address`); without them, the association's address.
        Returns the sequence number used, or None when there is no such association (T1/N1
        retransmission and the association's loss or release are the association's, whatever
        the address)."""
        assoc = self._associations.get(node_id)
        if assoc is None:
            return None

        def done(response: Message | None, when: float) -> None:
            self.handler.response_received(request, response, when)

        addr, local = assoc.addr, assoc.local
        if ipv4 is not None or ipv6 is not None:
            addr, local = self._request_address(assoc, ipv4, ipv6)
        return self._send(request, addr, local, now, done)

    def _request_address(
        self, assoc: Association, ipv4: str | None, ipv6: str | None
    ) -> tuple[Address, str | None]:
        """Where a session-related request to ``assoc``'s CP goes, and from which listen
        endpoint: the CP F-SEID's address (TS 29.244 5.6.2: the F-SEID is the SEID and the IP
        address at which the CP expects the session's messages; 7.5.2, 7.5.4.1: the UP
        function uses it for the session's subsequent messages; 4.3.2: a request's IP
        destination is an address of the peer, which CP and UP tell each other at the
        session's establishment). An F-SEID may carry both
        families (8.2.37) and the spec leaves the choice to the UP function: the family of
        the association's address first, from the association's endpoint (the CP answers
        pfcpd in it, and that endpoint talks to it; but not for an address off loopback
        when that endpoint is bound to loopback: the kernel does not route a loopback
        source off the host), else the other from a listen endpoint of that family
        (`_endpoint_to`); an address no endpoint reaches, or that `_answerable` refuses, is
        not used: the association's address instead. Each address
        is checked only when an endpoint reaches it, and the other not once one is found
        (the host-address check may cost system calls); an address of the other family is
        checked with the rule that asks nothing (`_first_endpoint_to`: whether an endpoint
        reaches it), then by `_answerable`, and only an address taken has its endpoint
        chosen by the kernel's source (`_endpoint_to`): the driver is not asked about an
        address refused. The port: 8805 at an address other
        than the association's (29.244 4.2.2: the UDP destination port of a request is
        8805; ``request_port``), the association's at its address (a peer on another port
        keeps it)."""
        v6 = ":" in assoc.addr[0]
        found = [f for t in (ipv4, ipv6) if t is not None and (f := facts(t)) is not None]
        found.sort(key=lambda f: (f.version == 6) != v6)  # (the association's family first)
        for addr in found:
            other = (addr.version == 6) != v6
            if other:
                if self._first_endpoint_to(addr) is None:  # (none of the family reaches it)
                    continue
            elif (
                not addr.loopback and (assoc.local, True) in self._endpoints_of_family[addr.version]
            ):
                continue
            ip = self._answerable(addr, assoc)
            if ip is None:
                continue
            # (only now, for an address taken: which endpoint of the other family may ask
            # the driver, `_endpoint_to`; one that reaches it at all, the rule above, not)
            local = self._endpoint_to(addr) if other else assoc.local
            port = assoc.addr[1] if ip == assoc.addr[0] else self.request_port
            return (ip, port), local
        return assoc.addr, assoc.local

    def _name_endpoint(self, assoc: Association) -> None:
        """An association that names no listen endpoint (restored from a record written
        before pfcpd kept it; set up by a datagram that named none) gets `_endpoint_to` its
        CP's address. One the CP's setup arrived on keeps that; one pfcpd set up itself
        names the endpoint its setup request left from (`SetupTarget.local`), chosen by the
        same rule."""
        if assoc.local is None and assoc.facts is not None:
            assoc.local = self._endpoint_to(assoc.facts)

    def _endpoint_to(self, addr: Facts) -> str | None:
        """The listen endpoint a request to ``addr`` leaves from when no other is known (an
        Association Setup Request of pfcpd's own, `associate_to`; an address of the family
        other than the association's; a restored association whose record names none).

        For an address off loopback that is neither link-local nor never a destination
        (`address.Facts.nowhere`), when the family's endpoints make a choice (two distinct
        candidates or more among the endpoint bound to each address, the first wildcard
        and the first endpoint off loopback; not one address on several ports, nor
        wildcards alone), the driver is asked which of the host's addresses the kernel
        sends from to ``addr`` (`source_address`: the route's source). The endpoint bound
        to exactly that address is chosen, wherever it is listed (the first of several
        ports); else, for a source no endpoint is bound to, the first wildcard endpoint of
        the family (IPv4: 0.0.0.0, else [::]), whose datagrams the kernel gives that same
        source. The specific endpoint comes before a wildcard: both send from that address,
        but only the specific one names it (`Association.local`, the state file). (Not a
        matter of which socket gets the CP's answers: pfcpd never listens on a wildcard and
        a specific address of the same port, the kernel refuses the second bind(),
        EADDRINUSE, `open_sockets`; each answer comes back to the endpoint it went from.)

        Otherwise (the driver knows no source: it cannot tell, there is no route, or it
        does not ask; a source no endpoint is bound to and no wildcard; a loopback,
        link-local or nowhere ``addr``, never asked about): `_first_endpoint_to`."""
        family = addr.version
        if self._source_matters[family] and not (addr.loopback or addr.link_local or addr.nowhere):
            source = self.source_address(addr.text)
            named = facts(source) if source is not None else None
            if named is not None:
                endpoint = self._endpoint_bound_to[family].get(named.text)
                if endpoint is None:
                    endpoint = self._wildcard_of_family[family]
                if endpoint is not None:
                    return endpoint
        return self._first_endpoint_to(addr)

    def _first_endpoint_to(self, addr: Facts) -> str | None:
        """The rule without the kernel's source, which asks nothing: the first endpoint of
        ``addr``'s family (IPv4: an IPv4 one, else the IPv6 wildcard), but not one bound to
        loopback for an address off loopback (the kernel does not route a loopback source
        off the host); None: none reaches it, and then neither does `_endpoint_to`'s
        choice (which asks only among two endpoints or more off loopback)."""
        for endpoint, on_loopback in self._endpoints_of_family[addr.version]:
            if addr.loopback or not on_loopback:
                return endpoint
        return None

    def _answerable(self, addr: Facts, assoc: Association) -> str | None:
        """``addr``'s name (`address.Facts.text`: as the socket layer names its answers'
        source), when a request may go there; else None. Not there: an unspecified, "this
        network" (0.0.0.0/8), multicast or broadcast address; a link-local one unless the
        CP's association is at a link-local address of the same family (sent from the
        association's endpoint, in its scope); a loopback one unless the CP's association is
        on loopback; this node's own address: a listen address, its Node ID, or with a
        wildcard listen address one of the host's (`is_host_address`): it would answer its
        own request, and the answer would end the transaction; an address the allow-list
        leaves out (the answer would be dropped unread, the request retransmitted until it
        fails). The association's own address is always taken, before those last checks
        (the CP answers there, even on this host; and the usual F-SEID address costs no
        host-address probe). Neither address is parsed here: the F-SEID's facts are kept by
        `address.facts`, the association's by the association."""
        if addr.nowhere:
            return None
        cp = assoc.facts
        if addr.link_local and not (cp and cp.link_local and cp.version == addr.version):
            return None
        if addr.loopback and not (cp and cp.loopback):
            return None
        text = addr.text
        if text == assoc.addr[0]:
            return text
        if (
            text in self._own_addresses
            or (self._wildcard_listen and self.is_host_address(text))
            or not self.allow_list.allows(text)
        ):
            return None
        return text

    def peer_at(self, address: str) -> str | None:
        """The Node ID of the established association whose CP is at ``address`` (its
        address, its Node ID, or one of its Alternative SMF IP Addresses), or None."""
        for assoc in self._associations.values():
            if assoc.state == AssociationState.ESTABLISHED and assoc.reached_at(address):
                return assoc.node_id
        return None

    def same_smf_set(self, node_id: str, other: str) -> bool:
        """The CPs ``node_id`` and ``other`` are associated with the same SMF Set ID."""
        a, b = self._associations.get(node_id), self._associations.get(other)
        return (
            a is not None
            and b is not None
            and a.smf_set_id is not None
            and (a.smf_set_id == b.smf_set_id)
        )

    def request_release(self, node_id: str, now: float) -> bool:
        """Ask the CP to release the association (Association Update Request with SARR and the
        graceful release period); the CP then sends Association Release Request."""
        assoc = self._associations.get(node_id)
        if assoc is None:
            return False
        ies: list[IE] = [self.node_id, PFCPAssociationReleaseRequestFlags.of("SARR")]
        grace = graceful_release_period_ie(self.config.graceful_release_period)
        if grace is not None:
            ies.append(grace)
        assoc.state = AssociationState.RELEASING
        self.state_dirty = True

        def done(response: Message | None, when: float) -> None:
            accepted = None
            if response is not None:
                accepted = cause_label(response) == "request_accepted"
            if not accepted and self._associations.get(node_id) is assoc:
                assoc.state = AssociationState.ESTABLISHED
                self.state_dirty = True
            self._events.append(ReleaseRequested(node_id, accepted))

        msg = Message(M.ASSOCIATION_UPDATE_REQUEST, 0, ies)
        self._send(msg, assoc.addr, assoc.local, now, done)
        return True

    def _send(
        self,
        request: Message,
        addr: Address,
        local: str | None,
        now: float,
        on_done: Callable[[Message | None, float], None],
    ) -> int:
        """Send ``request``, numbered in the node's one series (`SequenceNumbers`), to
        ``addr``: retransmitted every T1 up to N1 times, ``on_done`` called with its response
        or None (no response)."""
        request.seq = self._seq.next()
        while (addr, request.seq) in self._outgoing:  # 2**24 requests in flight: not in practice
            request.seq = self._seq.next()
        data = encode(request)
        tx = Outgoing(request, data, addr, local, now, now + self.config.t1, 0, on_done)
        self._outgoing[(addr, request.seq)] = tx
        self._transmit(data, addr, local, request)
        return request.seq

    def _retransmit_due(self, now: float) -> None:
        # Deadlines are non-decreasing in insertion order (all are "last send + t1"), and a
        # retransmitted request moves to the end: the first entry is always the earliest.
        while self._outgoing:
            key, tx = next(iter(self._outgoing.items()))
            if tx.deadline > now:
                return
            name = type_label(tx.request.msg_type)
            if tx.retransmissions < self.config.n1:
                tx.retransmissions += 1
                tx.deadline = now + self.config.t1
                self._outgoing.move_to_end(key)
                self.metrics.retransmissions.inc(name)
                self._transmit(tx.data, tx.addr, tx.local, tx.request)
            else:
                del self._outgoing[key]
                self.metrics.timeouts.inc(name)
                if tx.on_done is not None:
                    tx.on_done(None, now)

    def _response(self, msg: Message, addr: Address, now: float) -> None:
        key = (addr, msg.seq)
        tx = self._outgoing.get(key)
        expected = (
            RESPONSE_TO.get(tx.request.msg_type) if tx is not None else None,
            M.VERSION_NOT_SUPPORTED_RESPONSE,
        )
        if tx is None or msg.msg_type not in expected:
            self._drop(addr, "unmatched_response", f"{msg.name} seq {msg.seq}")
            return
        del self._outgoing[key]
        name = type_label(tx.request.msg_type)
        self.metrics.transactions_completed.inc(name)
        self.metrics.request_latency.observe(now - tx.first_sent_at, name)
        if tx.on_done is not None:
            tx.on_done(msg, now)

    def _send_heartbeat(self, assoc: Association, now: float) -> None:
        assoc.heartbeat_in_flight = True
        # The next one is due an interval after this one was due, not after its answer came:
        # round trips and retransmissions do not stretch the period. A node far behind its
        # schedule (restored state, a stalled loop) starts a fresh one.
        due = assoc.next_heartbeat_at + self.config.heartbeat_interval
        assoc.next_heartbeat_at = due if due > now else now + self.config.heartbeat_interval

        def done(response: Message | None, when: float) -> None:
            self._heartbeat_done(assoc, response, when)

        msg = Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(self.recovery_time_stamp)])
        self._send(msg, assoc.addr, assoc.local, now, done)

    def _heartbeat_done(self, assoc: Association, response: Message | None, now: float) -> None:
        assoc.heartbeat_in_flight = False
        if self._associations.get(assoc.node_id) is not assoc:
            return  # released or replaced meanwhile
        if response is None or response.msg_type != M.HEARTBEAT_RESPONSE:
            if assoc.state is not AssociationState.LOST:
                self._peer_lost(assoc, now)
            return
        assoc.last_heartbeat_ok_at = now
        self._check_recovery(assoc, response, now)
        if assoc.state is AssociationState.LOST:
            assoc.state = AssociationState.ESTABLISHED
            assoc.lost_at = assoc.release_at = None
            self.state_dirty = True
            self._events.append(PeerRecovered(assoc.node_id, assoc.addr))
            self.handler.peer_recovered(assoc.peer, now)

    def _peer_lost(self, assoc: Association, now: float) -> None:
        grace = self.config.graceful_release_period
        assoc.state = AssociationState.LOST
        assoc.lost_at = now
        assoc.release_at = now + grace
        self.state_dirty = True
        self.metrics.peers_lost.inc()
        self._events.append(PeerLost(assoc.node_id, assoc.addr, grace))
        if grace <= 0:
            self._end_association(assoc, "lost", PeerGone.LOST, now)

    def _send_setup(self, target: SetupTarget, now: float) -> None:
        target.in_flight = True
        target.attempts += 1

        def done(response: Message | None, when: float) -> None:
            self._setup_done(target, response, when)

        ies: list[IE] = [self.node_id, RecoveryTimeStamp(self.recovery_time_stamp)]
        features = self._features_ie()
        if features is not None:
            ies.append(features)
        assert target.addr is not None
        to = facts(target.addr[0])
        target.local = self._endpoint_to(to) if to is not None else None
        self._send(
            Message(M.ASSOCIATION_SETUP_REQUEST, 0, ies), target.addr, target.local, now, done
        )

    def _setup_done(self, target: SetupTarget, response: Message | None, now: float) -> None:
        target.in_flight = False
        target.next_attempt_at = now + self.config.associate_retry_interval
        where = target.addr or (target.host, target.port)
        if response is None:
            self._events.append(AssociationSetupFailed(where, "no response"))
            return
        if response.msg_type != M.ASSOCIATION_SETUP_RESPONSE:
            self._events.append(AssociationSetupFailed(where, response.name))
            return
        cause = cause_label(response)
        if cause != "request_accepted":
            self._events.append(AssociationSetupFailed(where, f"cause {cause}"))
            return
        node_id: NodeID = response.get(IEType.NODE_ID)  # type: ignore[assignment]
        ts: RecoveryTimeStamp = response.get(IEType.RECOVERY_TIME_STAMP)  # type: ignore[assignment]
        features = response.get(IEType.CP_FUNCTION_FEATURES)
        target.node_id = node_id.value
        self._establish(
            node_id.value,
            where,
            target.local,
            ts.value,
            "up",
            features.flags if isinstance(features, CPFunctionFeatures) else 0,
            now,
        ).set_smf_set(response)

    # -- requests this node answers ---------------------------------------------------------------

    def _request(
        self,
        msg: Message,
        addr: Address,
        local: str | None,
        now: float,
        digest: int,
        tally: PeerTally,
    ) -> None:
        """Answer ``msg``; ``digest`` (of its datagram) keys its answer in the response cache;
        counted in ``tally`` (the metrics' of its source address)."""
        t = msg.msg_type
        if t == _HEARTBEAT_REQUEST_TYPE:
            self._heartbeat_request(msg, addr, local, now, digest, tally)
            return
        started = self._clock()
        # Only answers that may follow an effect are cached: those to associated peers and to
        # association requests (a setup comes before its association exists). Anything else
        # is answered the same way again when retransmitted, so never-associated (perhaps
        # spoofed) sources cannot fill the cache and push out the entries that guard real
        # transactions.
        # (The association is looked up once, before the request takes effect.)
        session = True  # answered by the session handler: its change awaits the commit
        if t in SESSION_REQUESTS:  # (the most frequent, first)
            assoc = self._association_at[addr]
            cache = assoc is not None
            if assoc is not None:  # (the handler answers)
                try:
                    response = self.handler.handle_request(msg, assoc.peer, self.node_id, now)
                except Exception as exc:
                    what = f"{msg.name} seq {msg.seq}"
                    self._internal_error(exc, "session_handler", addr, what)
                    response = self._cause_response(t, msg.seq, Cause.SYSTEM_FAILURE, 0)
            else:
                response = self._session_without_association(msg)
        elif t in ASSOCIATION_REQUESTS:
            cache, session = True, False
            if t == M.ASSOCIATION_SETUP_REQUEST:
                response = self._association_setup_request(msg, addr, local, now)
            elif t == M.ASSOCIATION_UPDATE_REQUEST:
                response = self._association_update_request(msg, addr, now)
            else:
                response = self._association_release_request(msg, addr, now)
        else:
            assoc = self._association_at[addr]
            cache = assoc is not None
            if t == M.PFD_MANAGEMENT_REQUEST:
                response = self._pfd_management_request(msg, addr, now, assoc)
            else:  # UP_ONLY_REQUESTS: a CP has no business sending these
                session = False
                response = self._cause_response(t, msg.seq, Cause.REQUEST_REJECTED, 0)
        response.seq = msg.seq
        tally.counts[HANDLED + t] += 1
        tx = self._answer(response, t, addr, local, now, digest if cache else None, tally)
        if session:
            self._session_answers[id(msg)] = (msg, tx, t)
        # (Histogram.observe_key, inline, into the series of the type's label)
        seconds = self._clock() - started
        series = self.metrics.handling_series[t]
        series[bisect_left(self._handling_bounds, seconds)] += 1
        series[-1] += seconds

    def _answer(
        self,
        response: Message,
        request_type: int,
        addr: Address,
        local: str | None,
        now: float,
        cache_for: int | None,
        tally: PeerTally | None = None,
    ) -> Transmit:
        """Send ``response``; cached for retransmissions of the request whose digest is
        ``cache_for`` (None: not cached); counted in ``tally`` (the metrics' of ``addr``'s
        address; None: looked up)."""
        data = encode(response)
        cause = response.get(_CAUSE_IE)  # (cause_label, inline: once per answer)
        labels = (
            _TYPE_LABELS[response.msg_type],
            "none" if cause is None else _CAUSE_NAMES[cause.value],  # type: ignore[attr-defined]
        )
        if cache_for is not None:
            self._cache.put(addr, response.seq, request_type, cache_for, data, labels, now)
        if tally is None:
            metrics = self.metrics
            tally = metrics.tallies.get(addr[0]) or metrics.tally(addr[0])
        sent = tally.sent
        sent[labels] = sent.get(labels, 0) + 1
        tx = _new_tuple(Transmit, (data, addr, local))
        self._transmits.append(tx)
        return tx

    def _heartbeat_request(
        self,
        msg: Message,
        addr: Address,
        local: str | None,
        now: float,
        digest: int,
        tally: PeerTally,
    ) -> None:
        """Answer a Heartbeat Request: the response is always the same but for its
        sequence number, so it is encoded once and copied with the request's (the
        node's most frequent datagram; a Message built and encoded each time cost 3.4 us of
        its ~15)."""
        started = self._clock()
        assoc = self._association_at[addr]
        if assoc is not None:  # (_check_recovery, inline)
            stamp = msg.get(_RECOVERY_TIME_STAMP_IE)
            if isinstance(stamp, RecoveryTimeStamp) and (
                stamp.value != assoc.cp_recovery_time_stamp
            ):
                self._peer_restarted(assoc, stamp.value, now)
        tally.counts[_HEARTBEAT_HANDLED] += 1
        ts, head, tail = self._heartbeat_response
        if ts != self.recovery_time_stamp:
            ts = self.recovery_time_stamp
            template = encode(Message(M.HEARTBEAT_RESPONSE, 0, [RecoveryTimeStamp(ts)]))
            head, tail = template[:4], template[7:]  # (around the sequence number)
            self._heartbeat_response = ts, head, tail
        data = head + msg.seq.to_bytes(3, "big") + tail
        if assoc is not None:  # (cached only for associated peers, as every answer)
            labels = _HEARTBEAT_LABELS
            self._cache.put(addr, msg.seq, _HEARTBEAT_REQUEST_TYPE, digest, data, labels, now)
        sent = tally.sent
        sent[_HEARTBEAT_LABELS] = sent.get(_HEARTBEAT_LABELS, 0) + 1
        self._transmits.append(_new_tuple(Transmit, (data, addr, local)))
        seconds = self._clock() - started
        series = self.metrics.handling_series[_HEARTBEAT_REQUEST_TYPE]
        series[bisect_left(self._handling_bounds, seconds)] += 1
        series[-1] += seconds

    def _association_setup_request(
        self, msg: Message, addr: Address, local: str | None, now: float
    ) -> Message:
        node_id: NodeID = msg.get(IEType.NODE_ID)  # type: ignore[assignment]
        ts: RecoveryTimeStamp = msg.get(IEType.RECOVERY_TIME_STAMP)  # type: ignore[assignment]
        features = msg.get(IEType.CP_FUNCTION_FEATURES)
        new_peer = node_id.value not in self._associations and not any(
            a.addr == addr for a in self._associations.values()
        )
        if new_peer and len(self._associations) >= self.config.max_associations:
            # Each association costs heartbeats and state-file writes: a bounded number, so
            # a stream of setups from many (spoofed) allowed addresses cannot exhaust pfcpd.
            self._events.append(
                RequestRejected(
                    addr,
                    msg.msg_type,
                    Cause.NO_RESOURCES_AVAILABLE,
                    f"pfcp.max_associations ({self.config.max_associations}) reached",
                )
            )
            return self._cause_response(msg.msg_type, msg.seq, Cause.NO_RESOURCES_AVAILABLE, 0)
        retention = session_retention(msg)
        # (TS 29.244 6.2.6.2.2: PSREI says the sessions the CP asked for are retained,
        # 8.2.134: those of an association with the Node ID, or kept after it ended)
        retained = retention is not None and (
            node_id.value in self._associations or self.handler.has_sessions(node_id.value)
        )
        self._establish(
            node_id.value,
            addr,
            local,
            ts.value,
            "cp",
            features.flags if isinstance(features, CPFunctionFeatures) else 0,
            now,
            retention,
        ).set_smf_set(msg)
        ies: list[IE] = [self.node_id, CauseIE(Cause.REQUEST_ACCEPTED)]
        ies.append(RecoveryTimeStamp(self.recovery_time_stamp))
        up_features = self._features_ie()
        if up_features is not None:
            ies.append(up_features)
        if retained:
            ies.append(PFCPASRspFlags.of("PSREI"))
        return Message(M.ASSOCIATION_SETUP_RESPONSE, msg.seq, ies)

    def _establish(
        self,
        node_id: str,
        addr: Address,
        local: str | None,
        cp_ts: int,
        initiator: str,
        cp_features: int,
        now: float,
        retention: frozenset[str] | None = None,
    ) -> Association:
        """Set up the association with CP ``node_id`` (an Association Setup Request of the
        CP's, ``initiator`` "cp", with its PFCP Session Retention Information's CP PFCP
        Entity IP Addresses as ``retention``, `session_retention`; or the CP's answer to
        this node's, "up")."""
        # One association per CP (TS 29.244 5.8.1): a setup from the address of an association
        # with another Node ID means that CP now calls itself otherwise; the old association
        # and its sessions go.
        for other in list(self._associations.values()):
            if other.addr == addr and other.node_id != node_id:
                self._end_association(other, "replaced", PeerGone.RELEASED, now)
        existing = self._associations.get(node_id)
        lost_ts = self._lost_peers.pop(node_id, None)  # (the CP's next association: here)
        if lost_ts is not None and existing is None:
            self._came_back(node_id, addr, local, lost_ts, cp_ts, initiator, retention, now)
        if existing is not None and initiator == "cp":
            self._overwrite(existing, cp_ts, retention, now)
        elif existing is not None and existing.cp_recovery_time_stamp != cp_ts:
            self._peer_restarted(existing, cp_ts, now)
        if existing is None or existing.addr != addr:
            # A new association (or the CP at a new address): the answers cached for the
            # address are another run's. A restarted CP numbering from 1 again may repeat
            # one of that run's requests octet for octet; it is a new transaction.
            self._cache.discard_peer(addr)
        assoc = Association(
            node_id=node_id,
            addr=addr,
            local=local,
            cp_recovery_time_stamp=cp_ts,
            initiator=initiator,
            established_at=now,
            cp_features=cp_features,
            next_heartbeat_at=now + self.config.heartbeat_interval,
        )
        self._name_endpoint(assoc)  # (a setup whose datagram named no endpoint)
        self._associations[node_id] = assoc
        self._associations_changed()
        self.state_dirty = True
        self.metrics.associations_established.inc(initiator)
        self._events.append(AssociationEstablished(node_id, addr, initiator, existing is not None))
        return assoc

    def _association_update_request(self, msg: Message, addr: Address, now: float) -> Message:
        assoc = self._named_association(msg, addr)
        if assoc is None:
            return self._no_association(msg, addr)
        features = msg.get(IEType.CP_FUNCTION_FEATURES)
        if isinstance(features, CPFunctionFeatures):
            assoc.cp_features = features.flags
            self.state_dirty = True
        before = assoc.smf_set_id, assoc.alternative_addresses
        assoc.set_smf_set(msg)
        if (assoc.smf_set_id, assoc.alternative_addresses) != before:
            self.state_dirty = True
        return self._cause_response(msg.msg_type, msg.seq, Cause.REQUEST_ACCEPTED, 0)

    def _association_release_request(self, msg: Message, addr: Address, now: float) -> Message:
        assoc = self._named_association(msg, addr)
        if assoc is None:
            return self._no_association(msg, addr)
        self._end_association(assoc, "cp_release", PeerGone.RELEASED, now)
        return self._cause_response(msg.msg_type, msg.seq, Cause.REQUEST_ACCEPTED, 0)

    def _named_association(self, msg: Message, addr: Address) -> Association | None:
        """The association an Association Update or Release Request names by its Node ID,
        when the request comes from that association's peer (its IP address; the port may
        differ, as for any request of a CP). Another host naming it gets nothing: else any
        allowed host could change or release another CP's association and its sessions."""
        node_id: NodeID = msg.get(IEType.NODE_ID)  # type: ignore[assignment]
        assoc = self._associations.get(node_id.value)
        if assoc is None or assoc.addr[0] != addr[0]:
            return None
        return assoc

    def _no_association(self, msg: Message, addr: Address) -> Message:
        cause = Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
        node_id: NodeID = msg.get(IEType.NODE_ID)  # type: ignore[assignment]
        detail = f"no association with Node ID {node_id.value} at {addr[0]}"
        self._events.append(RequestRejected(addr, msg.msg_type, cause, detail))
        return self._cause_response(msg.msg_type, msg.seq, cause, 0)

    def _session_without_association(self, msg: Message) -> Message:
        """The answer to a session request from a peer without an association (72; an
        establishment's names the CP's SEID)."""
        seid = (
            establishment_peer_seid(msg) if msg.msg_type == M.SESSION_ESTABLISHMENT_REQUEST else 0
        )
        return self._cause_response(
            msg.msg_type, msg.seq, Cause.NO_ESTABLISHED_PFCP_ASSOCIATION, seid
        )

    def _pfd_management_request(
        self, msg: Message, addr: Address, now: float, assoc: Association | None
    ) -> Message:
        """PFD Management comes from an associated CP (TS 29.244 6.2.5), ``assoc``; the
        session handler owns the PFDs."""
        if assoc is None:
            return self._cause_response(
                msg.msg_type, msg.seq, Cause.NO_ESTABLISHED_PFCP_ASSOCIATION, 0
            )
        try:
            return self.handler.handle_pfd_management(msg, now)
        except Exception as exc:
            self._events.append(
                RequestRejected(addr, msg.msg_type, Cause.SYSTEM_FAILURE, f"handler: {exc!r}")
            )
            return self._cause_response(msg.msg_type, msg.seq, Cause.SYSTEM_FAILURE, 0)

    # -- errors --------------------------------------------------------------------------------

    def _undecodable(
        self, err: CodecError, data: bytes, addr: Address, local: str | None, now: float
    ) -> None:
        header = err.header
        if header is None or (err.version_not_supported and len(data) < NODE_HEADER_LEN):
            # No header, or another version's too short to hold even a PFCP v1 node header.
            reason = "too_short" if header is not None or "short" in err.reason else "malformed"
            self._drop(addr, reason, str(err))
            return
        if err.version_not_supported:
            response = Message(M.VERSION_NOT_SUPPORTED_RESPONSE, header.seq)
            self._transmit(encode(response), addr, local, response)
            return
        if err.cause is None:
            self._drop(addr, "unknown_type", str(err))
            return
        if not is_request(header.msg_type):
            self._drop(addr, "malformed_response", str(err))
            return
        if header.msg_type == M.HEARTBEAT_REQUEST:
            # A Heartbeat Response has no Cause IE to say what was wrong: drop and count.
            self._drop(addr, "malformed_heartbeat", str(err))
            return
        seid = 0
        if is_session_message(header.msg_type) and header.seid:
            seid = self.handler.peer_seid(header.seid) or 0
        elif header.msg_type == M.SESSION_ESTABLISHMENT_REQUEST:
            seid = establishment_cp_seid(data, err)  # (the CP's, when its F-SEID decodes)
        response = self._cause_response(header.msg_type, header.seq, err.cause, seid)
        # Only where the response may carry one (TS 29.244 clause 7.2.3.2): the association
        # responses, for one, have no Offending IE.
        if err.offending_ie is not None and IEType.OFFENDING_IE in ALLOWED_IES[response.msg_type]:
            response.ies.append(OffendingIE(err.offending_ie))
        self.metrics.requests_handled.inc(type_label(header.msg_type))
        self._events.append(RequestRejected(addr, header.msg_type, err.cause, str(err)))
        cache_for = request_digest(data) if self._association_at[addr] is not None else None
        self._answer(response, header.msg_type, addr, local, now, cache_for)

    def _answers_outgoing(self, data: bytes, addr: Address) -> bool:
        """The datagram's first octets (message type, and the sequence number after the SEID
        when S=1) name a response to a request this node has in flight to ``addr``; read
        without decoding the header, before the rate limit."""
        if not self._outgoing or len(data) < 8 or is_request(data[1]):
            return False
        at = 12 if data[0] & 1 else 4
        return (addr, int.from_bytes(data[at : at + 3], "big")) in self._outgoing

    def _internal_error(self, exc: Exception, stage: str, addr: Address, what: str) -> None:
        """A bug met while handling a datagram: counted, and reported with the exception
        (the driver logs its traceback)."""
        self.metrics.internal_errors.inc(stage)
        self._events.append(InternalError(addr, stage, f"{what}: {exc!r}", exc))

    def _system_failure(
        self, request: Header | Message, addr: Address, local: str | None, now: float
    ) -> None:
        """Answer a request this node failed on (a bug) with cause 77 System failure; a
        response or a heartbeat (whose response has no Cause) is dropped instead. Not cached:
        a retransmission is handled afresh."""
        t = request.msg_type
        if not is_request(t) or t == M.HEARTBEAT_REQUEST:
            self._drop(addr, "internal_error", f"{message_type_name(t)} seq {request.seq}")
            return
        seid = 0
        if is_session_message(t) and request.seid:
            seid = self.handler.peer_seid(request.seid) or 0
        response = self._cause_response(t, request.seq, Cause.SYSTEM_FAILURE, seid)
        self._answer(response, t, addr, local, now, None)

    def _cause_response(self, request_type: int, seq: int, cause: int, seid: int) -> Message:
        """A response carrying ``cause`` and the mandatory IEs this node can always supply
        (Node ID, Recovery Time Stamp); ``seid`` goes in the header of session responses."""
        response_type = RESPONSE_TO[request_type]
        mandatory = MANDATORY_IES[response_type]
        ies: list[IE] = []
        if IEType.NODE_ID in mandatory:
            ies.append(self.node_id)
        ies.append(CauseIE(cause))
        if IEType.RECOVERY_TIME_STAMP in mandatory:
            ies.append(RecoveryTimeStamp(self.recovery_time_stamp))
        return Message(response_type, seq, ies, seid if is_session_message(response_type) else None)

    def _ignored_ies(self, msg: Message, addr: Address) -> None:
        for ignored in msg.ignored:
            self.metrics.ies_ignored.inc("unexpected" if ignored.unexpected else "incorrect")
        described = tuple(str(ignored) for ignored in msg.ignored)
        self._events.append(IEsIgnored(addr, msg.msg_type, msg.seq, described))

    def _drop(self, addr: Address, reason: str, detail: str) -> None:
        self.metrics.dropped.inc(reason)
        self._events.append(DatagramDropped(addr, reason, detail))

    # -- helpers -------------------------------------------------------------------------------

    def _transmit(self, data: bytes, addr: Address, local: str | None, msg: Message) -> Transmit:
        return self._transmit_labelled(
            data, addr, local, (type_label(msg.msg_type), cause_label(msg))
        )

    def _transmit_labelled(
        self, data: bytes, addr: Address, local: str | None, labels: tuple[str, str]
    ) -> Transmit:
        self.metrics.count_sent_labelled(addr[0], labels)
        tx = _new_tuple(Transmit, (data, addr, local))
        self._transmits.append(tx)
        return tx

    def _features_ie(self) -> UPFunctionFeatures | None:
        return up_function_features_ie(NODE_UP_FEATURES | self.handler.up_features())

    def _target_associated(self, target: SetupTarget) -> bool:
        """An association with this SMF exists: at its address, or under the Node ID it gave
        (it may have set one up itself, from another port)."""
        if target.node_id is not None and target.node_id in self._associations:
            return True
        return target.addr is not None and any(
            a.addr == target.addr for a in self._associations.values()
        )

    def _associations_changed(self) -> None:
        """`_associations` gained or lost an association, or is another dict:
        `_association_at`'s kept answers may no longer hold."""
        self._association_at = AssociationsAt(self._associations)

    def _check_recovery(self, assoc: Association, msg: Message, now: float) -> None:
        ts = msg.get(_RECOVERY_TIME_STAMP_IE)
        if isinstance(ts, RecoveryTimeStamp) and ts.value != assoc.cp_recovery_time_stamp:
            self._peer_restarted(assoc, ts.value, now)

    def _peer_restarted(self, assoc: Association, new_ts: int, now: float) -> None:
        """A restart of the CP this node detects (its Recovery Time Stamp changed in a
        heartbeat, or in the answer to this node's Association Setup Request): its
        sessions are purged or kept per ``pfcp.on_peer_restart``."""
        keep = self.config.on_peer_restart == "keep"
        self._restart_noticed(assoc, new_ts, keep)
        self._peer_gone(assoc, PeerGone.RESTARTED, keep, now)

    def _restart_noticed(self, assoc: Association, new_ts: int, kept: bool) -> None:
        """The CP's Recovery Time Stamp changed: counted and told (``kept``: whether its
        sessions are kept, all or those it asked for)."""
        old = assoc.cp_recovery_time_stamp
        assoc.cp_recovery_time_stamp = new_ts
        self.state_dirty = True
        self._cache.discard_peer(assoc.addr)  # answers to the CP's previous run
        self.metrics.peer_restarts.inc()
        self._events.append(PeerRestarted(assoc.node_id, assoc.addr, old, new_ts, kept))

    def _came_back(
        self,
        node_id: str,
        addr: Address,
        local: str | None,
        old_ts: int,
        cp_ts: int,
        initiator: str,
        retention: frozenset[str] | None,
        now: float,
    ) -> None:
        """CP ``node_id``, whose association ended with its sessions kept (`_lost_peers`:
        its Recovery Time Stamp then, ``old_ts``), associates again with Recovery Time Stamp
        ``cp_ts``. Another time stamp than its association had says it restarted meanwhile
        and lost its sessions (as one in a heartbeat does, TS 23.527 restoration). Its own
        Association Setup Request decides as one that overwrites an association does
        (`_overwrite`, TS 29.244 6.2.6.2.2: with PFCP Session Retention Information they are
        kept, all or those at its CP PFCP Entity IP Addresses, else deleted); its answer to
        this node's, as a restart seen in a heartbeat (`_peer_restarted`:
        ``pfcp.on_peer_restart``). The same time stamp and no retention: the sessions stay,
        its own again (the lost association's, resumed)."""
        # (its association as it was, at its new address: the handler finds the sessions by
        # Node ID)
        gone = Association(
            node_id=node_id,
            addr=addr,
            local=local,
            cp_recovery_time_stamp=old_ts,
            initiator=initiator,
            established_at=now,
        )
        if initiator == "cp":
            if old_ts != cp_ts or retention is not None:
                self._overwrite(gone, cp_ts, retention, now)
        elif old_ts != cp_ts:
            self._peer_restarted(gone, cp_ts, now)

    def _overwrite(
        self, assoc: Association, cp_ts: int, retention: frozenset[str] | None, now: float
    ) -> None:
        """The CP sets up an association with the Node ID of ``assoc`` again (TS 29.244
        6.2.6.2.2): the new one overwrites it, whatever the Recovery Time Stamp, and the
        CP's sessions are deleted unless the request has PFCP Session Retention Information
        (``retention`` not None): then they are kept, all of them, or with CP PFCP Entity
        IP Addresses (``retention`` not empty) those whose CP F-SEID has one of them.
        ``pfcp.on_peer_restart`` has no say: the CP tells what becomes of its sessions."""
        if assoc.cp_recovery_time_stamp != cp_ts:
            self._restart_noticed(assoc, cp_ts, retention is not None)
        kept_at = retention or None  # (empty: all kept)
        self._peer_gone(assoc, PeerGone.RELEASED, retention is not None, now, kept_at)

    def _peer_gone(
        self,
        assoc: Association,
        gone: PeerGone,
        keep: bool,
        now: float,
        kept_at: frozenset[str] | None = None,
    ) -> None:
        """The handler takes the CP's sessions away (unless ``keep``; with ``kept_at``, those
        whose CP F-SEID has none of its addresses), after a group commit of
        the session changes answered so far in this batch: a change not yet durable may
        have moved a session to or from this CP (a Session Modification's CP F-SEID at
        another CP of its SMF Set, a Session Set Modification), and whose the session is
        is known once that change is durable or undone (cause 77). Removed by its owner
        in memory before, an undone move left a session the journal keeps and the engine
        lost, or a session of a CP with no association."""
        if not keep or kept_at is not None:
            self.commit_sessions()
        self.handler.peer_gone(assoc.peer, gone, keep, now, kept_at)

    def _end_association(self, assoc: Association, reason: str, gone: PeerGone, now: float) -> None:
        if self._associations.get(assoc.node_id) is assoc:
            del self._associations[assoc.node_id]
            self._associations_changed()
        # Its heartbeat in flight, if any, has nobody left to concern.
        for key, tx in list(self._outgoing.items()):
            if tx.addr == assoc.addr and tx.request.msg_type == M.HEARTBEAT_REQUEST:
                del self._outgoing[key]
        assoc.heartbeat_in_flight = False
        self.state_dirty = True
        self.metrics.associations_released.inc(reason)
        self._events.append(AssociationReleased(assoc.node_id, assoc.addr, reason))
        keep = gone is PeerGone.LOST and self.config.on_peer_lost == "keep"
        self._peer_gone(assoc, gone, keep, now)
        if keep and self.handler.has_sessions(assoc.node_id):
            # (its next association tells whether it restarted meanwhile: `_came_back`)
            self._lost_peers[assoc.node_id] = assoc.cp_recovery_time_stamp
        for target in self._targets:
            if target.addr == assoc.addr or target.node_id == assoc.node_id:
                target.next_attempt_at = now + self.config.associate_retry_interval

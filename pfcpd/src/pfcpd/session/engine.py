"""The session engine: the node's :class:`SessionHandler` (TS 29.244 clauses 5 and 7.5).

Sans-IO like the node: it is called with ``now`` (node clock, seconds) and returns messages;
its two effects, the datapath and the journal, are objects handed to it. Every request is
all or nothing: rules are checked and compiled on a copy, allocations are taken, the
datapath installs the new program atomically, the journal makes the change durable, and
only then does the answer confirm it; a failure at any step undoes the earlier ones.

Group commit: a request's change is staged (the records to write, how to undo it, what to
do once it is durable) and the answer returned; :meth:`SessionEngine.commit`, which the node
calls before any datagram leaves, writes every change staged since the last call in one
journal transaction. When that fails, each change is undone, newest first, and each request
is answered with cause 77 instead (the node swaps the answers). Allocations a change gives
back are freed only once it is durable, so an undo never finds them taken by another.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import heapq
import ipaddress
import itertools
import logging
import operator
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring_ascii
from typing import Any

from ..datapath.interface import (
    ApplyAction,
    Datapath,
    DatapathError,
    DatapathEvent,
    EventType,
    Far,
    IPAddress,
    IPNetwork,
    Pdr,
    SessionProgram,
    Usage,
)
from ..metrics import LabelledGauge, Registry
from ..node.session_handler import (
    Peer,
    PeerGone,
    RequestSender,
    cause_response,
    establishment_peer_seid,
)
from ..pfcp import (
    IE,
    Cause,
    Grouped,
    IEType,
    IgnoredIE,
    Message,
    MessageType,
    decode_ies,
    encode_groups,
    encode_ies,
)
from ..pfcp.codec import drop_encode_cache
from ..pfcp.ies_address import (
    FQCSID,
    FSEID,
    FTEID,
    NodeID,
    OuterHeaderCreation,
    UEIPAddress,
    remember_v4_octets,
)
from ..pfcp.ies_flags import PFCPSMReqFlags, PFCPSRRspFlags, ReportingTriggers, ReportType
from ..pfcp.ies_scalar import PDRID, OffendingIE
from ..pfcp.ies_scalar import Cause as CauseIE
from ..pfcp.ies_text import ApplicationID, UEIPAddressPoolIdentity
from ..pfcp.ies_traffic import RULE_ID_URR, DownlinkDataServiceInformation, FailedRuleID
from ..pfcp.messages import ALLOWED_IES
from .addresses import drop_shared, remember_network, shared_network
from .allocation import Exhausted, TeidAllocator, UeAddressPools
from .answers import answer_template
from .compile import (
    FAR_SHAPE,
    Chosen,
    CompileContext,
    Volumes,
    add_pdrs,
    compile_program,
    compile_stored,
    far_like,
    far_with,
    local_fteid,
    network_instance_name,
    ohc_like,
    ohc_position,
    pdr_common,
    pfcp_pdr_id,
    stored_parts,
    ue_networks,
)
from .errors import RuleError
from .frozen import new_pdr, new_program
from .journal import Journal, JournalError
from .metrics import SessionMetrics
from .packing import pack_rules, unpack_rules
from .pfd import PfdStore
from .record import (
    BINARY_RECORD_VERSION,
    FIXED_OCTETS,
    books_octets,
    fixed_octets,
    read_record,
)
from .record import HEAD as record_head
from .rules import (
    KINDS,
    RuleSet,
    check_far_references,
    check_references,
    ie_value,
    merge_update,
    no_such_rule,
    rule_id,
    rule_ies,
)
from .session_set import FqCsids, csid_keys, fq_csids, group_id, moved_fseid, selectors
from .settings import EngineSettings
from .shapes import (
    PER_SESSION_PDI,
    SHAPE_ENTRIES,
    EstablishmentShape,
    FarFill,
    FillPlan,
    PdrFill,
    PdrPlan,
    PdrStep,
    ShapeMemos,
    ShapeToken,
    establishment_key,
    far_shape,
    pdi_slots,
    pdr_shape,
    plan_pieces,
    remember,
)
from .stored import FarUpdate, StoredLayout, StoredLayouts
from .usage import (
    INFINITY,
    RECORD_PEERS,
    U64_MAX,
    ZERO,
    Counts,
    PacketTimes,
    UrrBook,
    drop_rule_fields,
    fseid_hex,
    json_ints,
    json_value,
    measures,
    packet_times,
    record_peer_texts,
    report_counts,
    usage_report,
)

log = logging.getLogger("pfcpd.session")
M = MessageType
T = IEType
NTP_UNIX_OFFSET = 2208988800
# The JSON record's version: 2, the rules compressed (``rz``, `packing`); 1 (``rules``) still
# read. The usual session's record is binary (`record.BINARY_RECORD_VERSION`).
RECORD_VERSION = 2
# IE types a rule needs: one of them set aside by the codec (incorrect value) inside a rule
# group makes the request fail with 69 rather than install a rule that means something else.
RULE_GROUPS = frozenset(
    ie_type
    for kind in KINDS.values()
    for ie_type in kind[:3]
    if ie_type not in (T.REMOVE_PDR, T.REMOVE_FAR, T.REMOVE_QER, T.REMOVE_URR, T.REMOVE_BAR)
) | {T.PDI, T.FORWARDING_PARAMETERS, T.UPDATE_FORWARDING_PARAMETERS}
# The rule groups that change a session's PDRs, its BAR.
_PDR_IE_TYPES = frozenset(KINDS["pdr"][:3])
_BAR_IE_TYPES = frozenset(KINDS["bar"][:3])
_CREATE_IE_TYPES = tuple(kind[0] for kind in KINDS.values())
_REMOVE_IE_TYPES = frozenset(kind[2] for kind in KINDS.values())
# Usage report triggers by datapath event.
_EVENT_TRIGGER = {
    EventType.USAGE_THRESHOLD: "VOLTH",
    EventType.USAGE_QUOTA: "VOLQU",
    EventType.TIME_THRESHOLD: "TIMTH",
    EventType.TIME_QUOTA: "TIMQU",
}
# UP Function Features (TS 29.244 8.2.25) the engine implements, each with its tests.
UP_FEATURES = frozenset(
    {"FTUP", "UEIP", "BUCP", "DDND", "DLBD", "EMPU", "PFDM", "MNOP", "RESPS", "VTIME"}
)


# Leaf IEs answers carry again and again: one instance each, whose octets the codec then
# finds by identity (`codec.encode_ies`).
_ACCEPTED = CauseIE(Cause.REQUEST_ACCEPTED)
_NO_SM_FLAGS = PFCPSMReqFlags()


@functools.lru_cache(maxsize=1024)
def _pdr_id_ie(pdr_id: int) -> PDRID:
    return PDRID(pdr_id)


def _names(ie_type: int) -> str:
    from ..pfcp import ie_type_name

    return ie_type_name(ie_type)


@dataclass(slots=True)
class Session:
    up_seid: int
    cp_seid: int
    cp_node_id: str
    cp_fseid: FSEID
    rules_blob: bytes  # the rules as encoded PFCP groups, compressed (`packing`)
    # (peer, TEID) of each outer header its FARs create (Error Indications name them). The
    # program itself is not kept: the datapath has it, and `SessionEngine._program` compiles
    # it again from the rules when it is needed (reports, operators).
    peers: tuple[tuple[IPAddress, int], ...]
    teids: tuple[int, ...] = ()  # (tuples: 24 bytes less than a list each)
    # (network instance, UE address or prefix as text): an IPv4Network object costs ~450
    # bytes, its text ~60; `_network` makes the object when an allocation is given back.
    ue: tuple[tuple[str, str], ...] = ()
    urrs: dict[int, UrrBook] = field(default_factory=dict)
    bar_duration_s: int | None = None
    established_ntp: float = 0.0
    fq_csids: FqCsids = ()  # the FQ-CSIDs the CP gave it, one per node type
    group_id: str | None = None  # the Group Id the CP gave it

    apps: frozenset[str] = frozenset()  # Application IDs its PDRs name
    ddn_delay: float = 0.0  # seconds: its BAR's Downlink Data Notification Delay

    @property
    def key(self) -> str:
        # (= f"s:{seid:x}": % costs a third less, no format spec to parse)
        return "s:%x" % self.up_seid  # noqa: UP031

    @property
    def rules(self) -> RuleSet:
        """The rules, decoded afresh (the caller may change them)."""
        raw = unpack_rules(self.rules_blob)
        return RuleSet.from_groups(decode_ies(raw, 0, len(raw)))

    def set_rules(self, rules: RuleSet, encoded: dict[int, bytes] | None = None) -> None:
        """``encoded``: `RuleSet.encoded` of ``rules`` as they are now, when at hand."""
        groups = rules.groups()
        if encoded is not None:
            raw = b"".join([encoded[id(g)] for g in groups])
        else:
            raw = encode_groups(list[IE](groups))
        self.rules_blob = pack_rules(raw)
        self.derive(rules)

    def derive(self, rules: RuleSet) -> None:
        """What the engine looks up often, taken from the rules once."""
        self.apps = _applications(rules)
        bars = rules.bar
        delay = (
            next((ie_value(b, T.DOWNLINK_DATA_NOTIFICATION_DELAY) for b in bars.values()), 0)
            if bars
            else 0
        )
        # TS 29.244 8.2.28: multiples of 50 ms (0.0: the one shared float, no object each)
        self.ddn_delay = delay * 0.05 if delay else 0.0

    def record(self) -> bytes:
        """The journal's record, one per session at every commit; `_restore_session` reads
        it (`record.read_record`). A session of the usual shape in binary (see the record
        module: one struct, and octets made once per CP and network instance), any other
        as JSON text (`json_record`)."""
        fseid, ue, teids = self.cp_fseid, self.ue, self.teids
        established = self.established_ntp  # (most books' period start: one float object)
        if (
            type(fseid) is FSEID
            and len(ue) == 1
            and len(teids) == 1
            and type(teid := teids[0]) is int
            and type(established) is float
            and self.bar_duration_s is None
            and self.group_id is None
            and not self.fq_csids
        ):
            up_seid, cp_seid, seid, node = self.up_seid, self.cp_seid, fseid.seid, self.cp_node_id
            ((name, address),) = ue
            if (
                type(up_seid) is type(cp_seid) is type(seid) is int
                and type(name) is type(address) is type(node) is str
            ):
                try:  # (struct.error: a value out of its field's range; then as JSON)
                    books = books_octets(self.urrs, established)
                    if books is not None:
                        key = (node, fseid.ipv4, fseid.ipv6, name)
                        fixed = FIXED_OCTETS.get(key) or fixed_octets(*key)
                        rz, text = self.rules_blob, address.encode()
                        return b"".join(
                            (
                                _HEAD(BINARY_RECORD_VERSION, up_seid, cp_seid, seid,
                                      established, teid, len(rz), len(text)),
                                rz, text, fixed, books,
                            )
                        )  # fmt: skip
                except (struct.error, UnicodeEncodeError):
                    pass
        return self.json_record()

    def json_record(self) -> bytes:
        """The record as JSON text (as ``json.dumps`` with separators "," and ":" writes
        it) made without a dict. A session with an F-SEID as the codec decodes them, no
        BAR, FQ-CSID or Group Id in one piece, with the texts of its CP's Node ID and
        F-SEID addresses made once (`record_peer_texts`); any other as `_record_text`
        writes it (the same text: `test_record_fast`)."""
        fseid = self.cp_fseid
        seid, up_seid, cp_seid = fseid.seid, self.up_seid, self.cp_seid
        established = self.established_ntp  # (most books' period start: one float object)
        if not (
            type(fseid) is FSEID
            and type(seid) is int
            and 0 <= seid <= U64_MAX
            and type(up_seid) is int
            and type(cp_seid) is int
            and type(established) is float
            and -INFINITY < established < INFINITY
            and self.bar_duration_s is None
            and self.group_id is None
            and not self.fq_csids
        ):
            return self._record_text().encode()
        # (an exact int or finite float: f-strings write them as json_value does)
        est = f"{established}"
        peer = RECORD_PEERS.get((self.cp_node_id, fseid.ipv4, fseid.ipv6))
        if peer is None:
            peer = record_peer_texts(self.cp_node_id, fseid.ipv4, fseid.ipv6)
        ues, urrs, teid_text = self._record_lists(established, est)
        head, tail = peer
        return (
            f'{_RECORD_HEAD}{up_seid},"cp_seid":{cp_seid}{head}{seid.to_bytes(8, "big").hex()}'
            f"{tail}{binascii.b2a_base64(self.rules_blob, newline=False).decode()}"
            f'","teids":{teid_text},"ue":[{ues}],"urrs":{{{urrs}}},"bar_duration":null,'
            f'"established":{est},"fq_csids":"","group_id":null}}'
        ).encode()

    def _record_lists(self, established: float, est: str) -> tuple[str, str, str]:
        """The record's UE addresses (the list's items), URR books (the object's members)
        and TEIDs (the list), ``est`` the text of ``established``."""
        ue = self.ue
        if len(ue) == 1:  # (the usual session: no list)
            ((n, a),) = ue
            ues = f"[{encode_basestring_ascii(n)},{encode_basestring_ascii(a)}]"
        else:
            ues = ",".join(
                [f"[{encode_basestring_ascii(n)},{encode_basestring_ascii(a)}]" for n, a in ue]
            )
        books = self.urrs
        if len(books) == 1:  # (the usual session: no list)
            ((k, b),) = books.items()
            urrs = f'"{k}":{b.json_text(established, est)}'
        else:
            urrs = ",".join([f'"{k}":{b.json_text(established, est)}' for k, b in books.items()])
        teids = self.teids
        if len(teids) == 1 and type(teid := teids[0]) is int:  # (json_ints' usual case)
            teid_text = f"[{int.__repr__(teid)}]"
        else:
            teid_text = json_ints(teids)
        return ues, urrs, teid_text

    def _record_text(self) -> str:
        """`record`'s text, for any session."""
        rz = binascii.b2a_base64(self.rules_blob, newline=False).decode()  # (= b64encode)
        csids = encode_ies(list[IE](self.fq_csids)).hex() if self.fq_csids else ""
        established = self.established_ntp  # (most books' period start: one float object)
        # (a finite float, as json_value writes it: without its checks)
        est = (
            float.__repr__(established)
            if type(established) is float and -INFINITY < established < INFINITY
            else json_value(established)
        )
        ues, urrs, teid_text = self._record_lists(established, est)
        node = encode_basestring_ascii(self.cp_node_id)
        bar, group = self.bar_duration_s, self.group_id
        return (
            f'{{"v":{RECORD_VERSION},"up_seid":{int.__repr__(self.up_seid)},'
            f'"cp_seid":{int.__repr__(self.cp_seid)},"cp_node_id":{node},'
            f'"cp_fseid":"{fseid_hex(self.cp_fseid)}","rz":"{rz}","teids":{teid_text},'
            f'"ue":[{ues}],"urrs":{{{urrs}}},'
            f'"bar_duration":{"null" if bar is None else json_value(bar)},'
            f'"established":{est},"fq_csids":"{csids}",'
            f'"group_id":{"null" if group is None else json_value(group)}}}'
        )


_RECORD_HEAD = f'{{"v":{RECORD_VERSION},"up_seid":'  # (`Session.record`)
_HEAD = record_head.pack


# What a UE pool gives (`UeAddressPools.take_text`).
UeTaken = tuple[IPNetwork, str, str, int, bytes]
# A session filled in (`SessionEngine._fill`): the octets of its rules, its program, its UE
# addresses' texts (`Session.ue`), its answer's Created PDRs, its FARs' peers.
_Filled = tuple[
    bytes,
    SessionProgram,
    tuple[tuple[str, str], ...],
    list[IE],
    tuple[tuple[IPAddress, int], ...],
]
# The own values of a session of a `FillPlan` but its FARs' peers, as a datapath's
# `ShapedInstall` takes them: each PDR's local F-TEID and UE IP.
_Slots = tuple[list[tuple[IPAddress, int] | None], list[IPNetwork | None]]
# A session filled in from a `FillPlan` (`SessionEngine._fill`): `_Filled` with its program,
# or (when the datapath may install it from its own values) those values (`_Slots`).
# Its answer's Created PDRs: or, when its shape's `AnswerTemplate` makes the answer, the
# octets of its allocations (`FillPlan.takes`) that template takes, in a tuple.
_Created = list[IE] | tuple[bytes, ...]
_FilledAny = tuple[
    bytes,
    SessionProgram | _Slots,
    tuple[tuple[str, str], ...],
    _Created,
    tuple[tuple[IPAddress, int], ...],
]
# `_FilledAny` of the two kinds: with the session's program (`_filled`), with its own
# values (`_fill_values`).
_FilledProgram = tuple[
    bytes, SessionProgram, tuple[tuple[str, str], ...], _Created, tuple[tuple[IPAddress, int], ...]
]
_FilledSlots = tuple[
    bytes, _Slots, tuple[tuple[str, str], ...], _Created, tuple[tuple[IPAddress, int], ...]
]
_TL = struct.Struct("!HH")
_pack_u32 = struct.Struct("!I").pack


class _Allocations:
    """What one request took (given back if the request fails)."""

    __slots__ = ("created", "teids", "texts", "ue")

    def __init__(self) -> None:
        self.teids: list[int] = []
        self.ue: list[tuple[str, IPNetwork]] = []
        # PDR ID -> the children of its Created PDR: its PDR ID, then the IEs chosen
        self.created: dict[int, list[IE]] = {}
        # id(UE network) -> (its address's text, str(network)): of the networks in ``ue``
        self.texts: dict[int, tuple[str, str]] = {}


@dataclass
class _PendingReport:
    up_seid: int
    reports: list[Grouped]


@dataclass(slots=True)
class _Staged:
    """A change answered but not yet durable (see `SessionEngine.commit`)."""

    request: Message | None  # None: no answer depends on it (checkpoints, reports)
    # The header SEID and Node ID of its answer when it cannot be made durable (cause 77)
    refusal: tuple[int, NodeID | None] | None
    undo: Callable[[], None] | None  # puts the state back as before the change
    done: Callable[[], None] | None  # once durable (frees what it gave back, ...)
    label: str = ""  # the accepted answer's message name, counted once durable
    seids: list[int] | None = None  # the sessions it handed the datapath (`_touched`)


class SessionEngine:
    def __init__(
        self,
        settings: EngineSettings,
        datapath: Datapath,
        journal: Journal,
        registry: Registry | None = None,
        ntp_clock: Callable[[], float] = lambda: time.time() + NTP_UNIX_OFFSET,
    ) -> None:
        self.settings = settings
        self.datapath = datapath
        self.journal = journal
        self._ntp = ntp_clock
        self.sessions: dict[int, Session] = {}
        self._by_cp: dict[tuple[str, int], int] = {}  # (CP node id, CP SEID) -> UP SEID
        self._next_seid = 1
        self.teids = TeidAllocator()
        self.ue_pools = UeAddressPools(settings.ue_pools)
        self.pfds = PfdStore()
        self._sender: RequestSender | None = None
        self._pending: dict[int, _PendingReport] = {}  # id(request) -> what it reported
        self._next_poll: float | None = None
        self._next_checkpoint: float | None = None
        self._checkpoint_queue: list[int] = []
        self._next_activity = 0.0
        self._timed_seids: set[int] = set()  # sessions with URRs watched over time
        # remote TEID -> UP SEID, or a tuple of them when several (rare: no tuple each)
        self._by_peer_teid: dict[int, int | tuple[int, ...]] = {}
        # DLDRs waiting for their notification delay: a heap of (due, order, SEID, event)
        self._delayed_dldr: list[tuple[float, int, int, DatapathEvent]] = []
        self._dldr_seq = itertools.count()
        registry = registry or Registry()
        self.metrics = SessionMetrics(registry, lambda: len(self.sessions))
        registry.add(
            LabelledGauge(
                "pfcpd_allocations_in_use",
                "Allocations held, by pool: teid (local TEIDs), <network instance>:<UE prefix>"
                " (UE addresses, IPv6 /64 prefixes)",
                "pool",
                self._allocations_in_use,
            )
        )
        self._ctx = CompileContext(
            settings.n3_address, settings.network_instance_index, self.pfds.flows
        )
        # How the datapath installs a program of a shape it keeps from the session's own
        # values alone, when it can (`_dp_install_filled`).
        self._shaped = datapath.shaped()
        # What sessions of one shape repeat (bounded, `drop_caches`).
        self.memos = ShapeMemos(self._ctx.compiled)
        self._layouts = StoredLayouts(FAR_SHAPE)  # of the stored rules (`_modify_fars`)
        # (IPv4 text, IPv6 text) of the N3 address (F-TEIDs) and of the PFCP address (F-SEIDs)
        self._n3_text = _v4v6_text(settings.n3_address)
        self._pfcp_text = _v4v6_text(settings.pfcp_address)
        # Group commit: records to write at the next commit (key -> session, None to
        # delete it; "pfd" -> None means the PFDs' record) and the changes staged.
        self._dirty: dict[str, Session | None] = {}
        self._pfd_dirty = False
        self._staged: list[_Staged] = []
        # SEIDs handed to the datapath (install, remove) since the last staged change: the
        # change's sessions, for the datapath's barrier (`_unprogrammed`).
        self._touched: list[int] = []

    def drop_caches(self) -> None:
        """Empty the bounded caches the engine draws on (shared addresses, compiled rules,
        the codec's encoded leaf IEs, the URR rules' parameters): what remains is the
        sessions' own state (the benchmark's memory figure)."""
        drop_shared()
        self.memos.clear()
        self._layouts.clear()
        drop_encode_cache()
        drop_rule_fields()

    def _allocations_in_use(self) -> dict[str, float]:
        usage: dict[str, float] = {"teid": self.teids.in_use}
        usage.update(self.ue_pools.usage())
        return usage

    # -- SessionHandler --------------------------------------------------------------------

    def attach(self, sender: RequestSender) -> None:
        self._sender = sender

    def up_features(self) -> frozenset[str]:
        return UP_FEATURES

    def handle_request(
        self, request: Message, peer: Peer, local_node_id: NodeID, now: float
    ) -> Message:
        t = request.msg_type
        try:
            if t == M.SESSION_ESTABLISHMENT_REQUEST:
                response = self._establish(request, peer, local_node_id, now)
            elif t == M.SESSION_MODIFICATION_REQUEST:
                response = self._modify(request, peer, now)
            elif t == M.SESSION_DELETION_REQUEST:
                response = self._delete(request, peer, now)
            elif t == M.SESSION_SET_DELETION_REQUEST:
                response = self._set_delete(request, peer, local_node_id, now)
            elif t == M.SESSION_SET_MODIFICATION_REQUEST:
                response = self._set_modify(request, peer, local_node_id)
            else:
                response = cause_response(request, Cause.SERVICE_NOT_SUPPORTED, 0, local_node_id)
        except Exception:
            log.exception("session engine: %s seq %d", request.name, request.seq)
            self.metrics.errors.inc("request")
            raise
        staged = self._staged[-1] if self._staged else None
        if staged is not None and staged.request is request:
            staged.label = response.name  # counted by commit, with its final cause
        else:
            self.metrics.requests.inc(response.name, _cause_label(response))
        return response

    # -- group commit ----------------------------------------------------------------------

    def _stage(
        self,
        request: Message | None = None,
        refusal: tuple[int, NodeID | None] | None = None,
        undo: Callable[[], None] | None = None,
        done: Callable[[], None] | None = None,
    ) -> None:
        touched = self._touched
        if touched:
            self._touched = []
        self._staged.append(_Staged(request, refusal, undo, done, "", touched or None))

    def _dp_install(self, seid: int, program: SessionProgram, **kwargs: bool) -> None:
        self.datapath.install(seid, program, **kwargs)
        self._touched.append(seid)

    def _dp_install_filled(
        self,
        seid: int,
        shape: EstablishmentShape,
        slots: _Slots,
        peers: tuple[tuple[IPAddress, int], ...],
    ) -> None:
        """Install a session of ``shape``'s `FillPlan` (its own values ``slots`` and its FARs'
        ``peers``: `_fill_values`): from those alone when the datapath keeps the shape by
        its token (`ShapedInstall.install_shaped`), else its program (`_fill_program`)."""
        fill = shape.fill
        assert fill is not None and self._shaped is not None
        local_fteids, ue_ips = slots
        if not self._shaped.install_shaped(
            seid, shape.token, local_fteids, ue_ips, peers, shape.bar
        ):
            self._dp_install(seid, self._fill_program(shape, fill, slots, peers))
            return
        self._touched.append(seid)

    def _dp_remove(self, seid: int) -> dict[int, Usage]:
        self._touched.append(seid)
        return self.datapath.remove(seid)

    def _run_step(self, step: Callable[[], None] | None, where: str) -> None:
        if step is None:
            return
        try:
            step()
        except Exception:  # a bug: logged and counted; the other changes' steps still run
            log.exception("session engine: %s step", where)
            self.metrics.errors.inc(where)

    def _write(self, session: Session) -> None:
        """Journal ``session`` as it is at the next commit."""
        self._dirty[session.key] = session

    def _erase(self, key: str) -> None:
        self._dirty[key] = None

    def commit(self) -> list[tuple[Message, Message]]:
        """Make every change staged since the last call durable in one journal transaction
        (SessionHandler.commit). When the journal fails, the changes are undone, newest
        first, and (request, refusal) returned for each request that was answered.
        First the datapath's barrier (`Datapath.settle`): a change the datapath refused is
        undone and refused the same way, the others go on."""
        unprogrammed = self.datapath.settle()
        if not self._staged and not self._dirty and not self._pfd_dirty:
            self._touched = []
            return []
        dirty, self._dirty = self._dirty, {}
        staged, self._staged = self._staged, []
        pfd, self._pfd_dirty = self._pfd_dirty, False
        refused: list[tuple[Message, Message]] = []
        if unprogrammed:
            staged, refused = self._unprogrammed(staged, dirty, unprogrammed)
        puts = {key: s.record() for key, s in dirty.items() if s is not None}
        if pfd:
            puts["pfd"] = self.pfds.record()
        deletes = [key for key, s in dirty.items() if s is None]
        try:
            if puts or deletes:
                self.journal.commit(puts, deletes)
        except JournalError as err:
            self._journal_failed(err, max(1, len(staged)))
            failed = self._undo(staged)
            self._settle_undone()
            return refused + failed
        accepted: dict[str, int] = {}  # answer's name -> how many (counted once each)
        for change in staged:
            label = change.label
            if label:
                accepted[label] = accepted.get(label, 0) + 1
            if change.done is not None:
                self._run_step(change.done, "commit")
        requests = self.metrics.requests
        for label, count in accepted.items():
            requests.inc(label, "request_accepted", amount=count)
        if self._dirty or self._pfd_dirty:
            self.commit()  # (what the done steps changed: no answer waits for it)
        return refused

    def _unprogrammed(
        self,
        staged: list[_Staged],
        dirty: dict[str, Session | None],
        failed: dict[int, DatapathError],
    ) -> tuple[list[_Staged], list[tuple[Message, Message]]]:
        """The datapath refused the changes of the sessions ``failed``: every change of the
        batch that touched one of them (and, in turn, every change touching a session of
        those) is undone, newest first, its request refused with cause 77, and its records
        left as the sessions are now. Returns the changes that go on, and the refusals."""
        bad = set(failed)
        doomed = [False] * len(staged)
        grew = True
        while grew:
            grew = False
            for i, change in enumerate(staged):
                if not doomed[i] and change.seids and not bad.isdisjoint(change.seids):
                    doomed[i] = grew = True
                    bad.update(change.seids)
        refused = self._undo([c for i, c in enumerate(staged) if doomed[i]])
        for seid in bad:
            key = f"s:{seid:x}"
            if key in dirty:
                dirty[key] = self.sessions.get(seid)
        log.warning(
            "%d change(s) of %d session(s) refused by the datapath, rolled back: %s",
            len(refused),
            len(bad),
            "; ".join(f"0x{seid:x}: {err}" for seid, err in sorted(failed.items())),
        )
        self._settle_undone()
        return [c for i, c in enumerate(staged) if not doomed[i]], refused

    def _undo(self, changes: list[_Staged]) -> list[tuple[Message, Message]]:
        """Undo ``changes``, newest first; (request, its cause 77 refusal) of each that
        answered a request, in their order."""
        failed: list[tuple[Message, Message]] = []
        for change in reversed(changes):
            self._run_step(change.undo, "undo")
            if change.request is not None and change.refusal is not None:
                seid, node_id = change.refusal
                refusal = cause_response(change.request, Cause.SYSTEM_FAILURE, seid, node_id)
                failed.append((change.request, refusal))
                if change.label:
                    self.metrics.requests.inc(refusal.name, "system_failure")
        failed.reverse()
        return failed

    def _settle_undone(self) -> None:
        """Wait for the datapath to take what the undo steps reinstalled (logged if not)."""
        self._touched = []
        for seid, err in self.datapath.settle().items():
            log.error("session 0x%x: datapath undo: %s", seid, err)

    def handle_pfd_management(self, request: Message, now: float) -> Message:
        """Replace the PFDs of the Application IDs named; sessions whose PDRs match one of
        them are recompiled and reinstalled."""
        try:
            changes = self.pfds.parse(request)
        except RuleError as err:
            return self._refuse(request, err, 0, None)
        before = self.pfds.apply(changes)
        self._pfd_dirty = True
        affected = [s for s in self.sessions.values() if s.apps & changes.keys()]
        for session in affected:
            self._reinstall(session)

        def undo() -> None:
            self.pfds.undo(before)
            for session in affected:
                if session.up_seid in self.sessions:
                    self._reinstall(session)

        refusal = (0, None)
        self._stage(request, refusal, undo)
        return cause_response(request, Cause.REQUEST_ACCEPTED, 0, None)

    def peer_seid(self, up_seid: int) -> int | None:
        s = self.sessions.get(up_seid)
        return None if s is None else s.cp_seid

    def peer_gone(self, peer: Peer, reason: PeerGone, keep_sessions: bool, now: float) -> None:
        try:
            self._peer_gone(peer, reason, keep_sessions)
        except Exception:  # a bug: logged and counted, the node's association work goes on
            log.exception("session engine: peer %s %s", peer.node_id, reason.value)
            self.metrics.errors.inc("peer_gone")

    def _peer_gone(self, peer: Peer, reason: PeerGone, keep_sessions: bool) -> None:
        if keep_sessions:
            log.info("CP %s %s: its sessions are kept", peer.node_id, reason.value)
            return
        seids = [s.up_seid for s in self.sessions.values() if s.cp_node_id == peer.node_id]
        label = f"peer_{reason.value}"
        for seid in seids:
            self._remove_local(seid, label)
        if seids:
            log.info("CP %s %s: %d sessions deleted", peer.node_id, reason.value, len(seids))

    def response_received(self, request: Message, response: Message | None, now: float) -> None:
        try:
            self._response_received(request, response, now)
        except Exception:  # a bug: logged and counted
            log.exception("session engine: response to %s", request.name)
            self.metrics.errors.inc("response")

    def _response_received(self, request: Message, response: Message | None, now: float) -> None:
        pending = self._pending.pop(id(request), None)
        if pending is None:
            return
        session = self.sessions.get(pending.up_seid)
        if response is None:
            # Never answered: the counts it carried go into the next report.
            if session is not None:
                for group in pending.reports:
                    urr_id = ie_value(group, T.URR_ID)
                    book = session.urrs.get(urr_id or 0)
                    if book is not None:
                        book.baseline = book.baseline + report_counts(group)
                self._commit_quietly(session)
            return
        cause = ie_value(response, T.CAUSE)
        if cause == Cause.SESSION_CONTEXT_NOT_FOUND and session is not None:
            log.info("CP has no session 0x%x (report answered 65): removed", session.up_seid)
            self._remove_local(session.up_seid, "report_response_65")
            return
        if session is None:
            return
        flags = response.get(T.PFCPSRRSP_FLAGS)
        if isinstance(flags, PFCPSRRspFlags) and flags.has("DROBU"):
            self.datapath.drop_buffered(session.up_seid)
        update_bar = response.get(T.UPDATE_BAR_SESSION_REPORT_RESPONSE)
        if isinstance(update_bar, Grouped):
            self._update_bar_from_report(session, update_bar)
        if cause == Cause.REQUEST_ACCEPTED and (
            response.get(T.FQ_CSID) is not None or response.get(T.GROUP_ID) is not None
        ):
            # The CP that took the session over gives it a new FQ-CSID or Group Id (5.22.4).
            session.fq_csids = fq_csids(response, session.fq_csids)
            session.group_id = group_id(response, session.group_id)
            self._commit_quietly(session)

    def get_timer(self) -> float | None:
        if not self.sessions:
            return None
        times = [t for t in (self._next_poll, self._next_checkpoint) if t is not None]
        if self._delayed_dldr:
            times.append(self._delayed_dldr[0][0])
        return min(times) if times else 0.0

    def handle_timer(self, now: float) -> None:
        try:
            while self._delayed_dldr and self._delayed_dldr[0][0] <= now:
                _, _, seid, ev = heapq.heappop(self._delayed_dldr)
                self._send_dldr(seid, ev, now)
            if self._next_poll is None or self._next_poll <= now:
                self._next_poll = now + self.settings.poll_interval
                self.poll_datapath(now)
                # Traffic activity (START, STOPT, QUHTI: times in seconds) is read from the
                # datapath once per activity_interval, not on every poll.
                activity = now >= self._next_activity
                if activity:
                    self._next_activity = now + self.settings.activity_interval
                self._time_triggers(now, activity)
            if self._next_checkpoint is None:
                self._next_checkpoint = now + self.settings.checkpoint_interval
            elif self._next_checkpoint <= now:
                # checkpoint_batch sessions per poll (round robin), so a checkpoint never
                # stalls the node: a pass over all of them takes sessions / batch polls,
                # and the next pass starts checkpoint_interval after one ends.
                if not self._checkpoint_queue:
                    # Only sessions with packets since the last pass can have new counts
                    # (reads with reset keep dp_seen in step); all when the datapath
                    # cannot tell. (A read costs ~30 us: every session at every pass is
                    # more than a core from ~50k sessions on.)
                    moved = self.datapath.sessions_with_traffic()
                    self._checkpoint_queue = (
                        list(self.sessions)
                        if moved is None
                        else [seid for seid in moved if seid in self.sessions]
                    )
                batch = self._checkpoint_queue[-self.settings.checkpoint_batch :]
                del self._checkpoint_queue[-self.settings.checkpoint_batch :]
                self.checkpoint(now, batch)
                if self._checkpoint_queue:  # the next slice at the next poll, not at once
                    self._next_checkpoint = now + self.settings.poll_interval
                else:
                    self._next_checkpoint = now + self.settings.checkpoint_interval
        except Exception:  # a bug: logged and counted; the node's timer goes on
            log.exception("session engine timer")
            self.metrics.errors.inc("timer")

    # -- establishment ---------------------------------------------------------------------

    def _establish(self, req: Message, peer: Peer, node_id: NodeID, now: float) -> Message:
        cp_seid = establishment_peer_seid(req)
        fseid = req.get(T.F_SEID)
        assert isinstance(fseid, FSEID)
        existing = self._by_cp.get((peer.node_id, cp_seid))
        if existing is not None:
            # The CP's F-SEID names a session it already has here: refused, as upg-vpp
            # does ("Duplicate F-SEID"); the CP deletes it first or uses another SEID.
            return cause_response(req, Cause.REQUEST_REJECTED, cp_seid, node_id)
        if len(self.sessions) >= self.settings.max_sessions:
            return cause_response(req, Cause.NO_RESOURCES_AVAILABLE, cp_seid, node_id)
        key = establishment_key(req)
        shape = self.memos.establishments.get(key) if key is not None else None
        alloc = _Allocations()
        rules: RuleSet | None = None
        try:
            if shape is not None:  # (checked and compiled before: only the allocations)
                # (answered from its octets when the shape's template names this Node ID)
                answer = shape.answer
                if answer is not None and answer.node_id is not node_id:
                    answer = None
                raw, filled, ue, created, peers = self._fill(shape, req, alloc, answer is not None)
            else:
                types = {ie.type for ie in req.ies}
                _check_ignored(req)
                if not types.isdisjoint(UNSUPPORTED_RULES):
                    _check_supported(req)  # (raises naming the first)
                rules = RuleSet.created_by(req)
                self._check_references(rules)
                shapes = self._allocate(rules, alloc)
                encoded = rules.encoded()
                filled = program = compile_program(self._ctx, rules, encoded=encoded, shapes=shapes)
                ue, created, peers = _texts(alloc.ue, alloc.texts), _created_pdrs(alloc), ()
        except RuleError as err:
            self._free(alloc)
            return self._refuse(req, err, cp_seid, node_id)
        seid = self._new_seid()
        session = Session(
            up_seid=seid,
            cp_seid=cp_seid,
            cp_node_id=peer.node_id,
            cp_fseid=fseid,
            rules_blob=b"",
            peers=peers,
            teids=tuple(alloc.teids),
            ue=ue,
            established_ntp=self._ntp(),
        )
        if shape is not None:
            session.rules_blob = pack_rules(raw)
            session.fq_csids = shape.fq_csids
            session.group_id = shape.group_id
            session.ddn_delay = shape.ddn_delay
            urr_groups = shape.urr_groups
        else:
            assert rules is not None
            session.peers = _peers(program)
            if T.FQ_CSID in types:
                session.fq_csids = fq_csids(req)
            if T.GROUP_ID in types:
                session.group_id = group_id(req)
            session.set_rules(rules, encoded)
            urr_groups = rules.urr
        start = session.established_ntp  # (one float object for both)
        for urr_id, g in urr_groups.items():
            session.urrs[urr_id] = self._new_book(g, start, now)
        try:
            if isinstance(filled, SessionProgram):
                self._dp_install(seid, filled)
            else:  # (a shape's `FillPlan`, the datapath's `ShapedInstall`)
                assert shape is not None
                self._dp_install_filled(seid, shape, filled, peers)
        except DatapathError as err:
            self._free(alloc)
            log.warning("establishment refused by the datapath: %s", err)
            return cause_response(req, Cause.RULE_CREATION_MODIFICATION_FAILURE, cp_seid, node_id)
        self._add(session)
        self._write(session)

        def undo() -> None:
            self._detach(session)
            self._free(alloc)

        refusal = (cp_seid, node_id)
        self._stage(req, refusal, undo, self.metrics.established.inc)
        if type(created) is tuple:  # (the allocations' octets: `AnswerTemplate`)
            assert shape is not None and shape.answer is not None
            return shape.answer.answer(req.seq, cp_seid, list(created), seid)
        assert isinstance(created, list)
        ies: list[IE] = [node_id, _ACCEPTED, self._up_fseid(seid), *created]
        if rules is not None and key is not None:
            self._learn(key, req, rules, encoded, program, session, created, node_id)
        return Message(M.SESSION_ESTABLISHMENT_RESPONSE, req.seq, ies, cp_seid)

    def _fill(
        self, shape: EstablishmentShape, req: Message, alloc: _Allocations, answer: bool = False
    ) -> _FilledAny:
        """The allocations of ``req``, of ``shape`` (as `_allocate` takes them, in the same
        order, refused the same way), filled in (`_filled`; `_fill_each` without a
        `FillPlan`); with a `FillPlan` and a datapath that has `ShapedInstall`, the
        session's own values in place of its program (`_fill_values`: the program is made
        only if the datapath does not keep the shape, `_dp_install_filled`). ``answer``:
        the shape's `AnswerTemplate` makes the answer (no Created PDRs made: the
        allocations' octets in their place)."""
        ies = _aligned(shape.layout, req.ies)
        fill = shape.fill
        if fill is None:
            return self._fill_each(shape, ies, alloc)
        values: list[bytes] = []  # per allocation: its octets
        made: list[Any] = []  # per allocation: its TEID, or what the pool gave (`UeTaken`)
        for instance, pdr_id in fill.takes:
            if instance is None:
                try:
                    teid = self.teids.take()
                except Exhausted:
                    raise self._teids_exhausted() from None
                alloc.teids.append(teid)
                values.append(_pack_u32(teid))
                made.append(teid)
                continue
            try:
                ue = self.ue_pools.take_text(instance, 4)
            except Exhausted:
                raise self._ue_refusal(pdr_id, instance, 4, True) from None
            if ue is None:
                raise self._ue_refusal(pdr_id, instance, 4, False)
            net, text = ue[0], ue[1]
            alloc.ue.append((instance, net))
            # (the PDRs naming the address find the object allocated (`shared_network`), the
            # encoders its octets)
            remember_network(text, net, 32)
            remember_v4_octets(text, ue[4])
            values.append(ue[4])
            made.append(ue)
        if self._shaped is not None:
            return self._fill_values(fill, ies, values, made, answer)
        return self._filled(shape, fill, ies, values, made, answer)

    def _filled(
        self,
        shape: EstablishmentShape,
        fill: FillPlan,
        ies: list[IE],
        values: list[bytes],
        made: list[Any],
        answer: bool = False,
    ) -> _FilledProgram:
        """The session of ``shape`` from the request's IEs ``ies`` (`_aligned`) and, per
        allocation of `FillPlan.takes`, its octets (``values``: a TEID's, an IPv4
        address's) and its TEID or what the pool gave (``made``): the octets of its
        rules, its program, its UE addresses' texts, its Created PDRs (``answer``: the
        allocations' octets instead, `_fill`) and its FARs' peers."""
        raw, slots, ue, created, peers = self._fill_values(fill, ies, values, made, answer)
        return raw, self._fill_program(shape, fill, slots, peers), ue, created, peers

    def _fill_values(
        self,
        fill: FillPlan,
        ies: list[IE],
        values: list[bytes],
        made: list[Any],
        answer: bool = False,
    ) -> _FilledSlots:
        """`_filled`, with the session's own values (`_Slots`) in place of its program."""
        created: _Created = tuple(values) if answer else []
        for at in fill.far_octets:
            values.append(ies[at].raw)  # type: ignore[attr-defined]
        values += fill.constants
        raw = b"".join(fill.order(values))
        n3 = fill.n3
        local_fteids: list[tuple[IPAddress, int] | None] = []
        ue_ips: list[IPNetwork | None] = []
        for p in fill.pdrs:
            if isinstance(p, PdrFill):
                fteid_at, ue_at, _ = p
                local_fteids.append((n3, made[fteid_at]) if fteid_at >= 0 else None)
                ue_ips.append(made[ue_at][0] if ue_at >= 0 else None)
            else:
                for pdr in p:
                    local_fteids.append(pdr.local_fteid)
                    ue_ips.append(pdr.ue_ip)
        ctx = self._ctx
        peers: list[tuple[IPAddress, int]] = []
        for f in fill.fars:
            if type(f) is FarFill:
                g = ies[f.at]
                assert isinstance(g, Grouped)
                peers.append(ohc_like(ctx, g, f.far_id, f.ohc_at))
            elif f.outer_header_creation is not None:  # type: ignore[union-attr]
                peers.append(f.outer_header_creation)  # type: ignore[union-attr]
        if not answer:
            ipv4, ipv6 = self._n3_text
            for pdr_ie, chosen in fill.created:
                children = [pdr_ie]
                for at, sd in chosen:
                    v = made[at]
                    children.append(
                        FTEID(v, ipv4, ipv6) if sd is None else UEIPAddress(v[1], None, sd)
                    )
                created.append(Grouped(_CREATED_PDR, children))  # type: ignore[union-attr]
        ues = fill.ues
        if len(ues) == 1:  # (the usual session)
            ((at, instance),) = ues
            ue: tuple[tuple[str, str], ...] = ((instance, made[at][2]),)
        else:
            ue = tuple([(instance, made[at][2]) for at, instance in ues])
        return raw, (local_fteids, ue_ips), ue, created, tuple(peers)

    def _fill_program(
        self,
        shape: EstablishmentShape,
        fill: FillPlan,
        slots: _Slots,
        peers: tuple[tuple[IPAddress, int], ...],
    ) -> SessionProgram:
        """The program of a session of ``shape``'s ``fill`` whose own values are ``slots``
        and ``peers`` (`_fill_values`)."""
        local_fteids, ue_ips = slots
        pdrs: list[Pdr] = []
        for p in fill.pdrs:
            if type(p) is PdrFill:
                pid, prec, source, far_id, inst, qfi, sdf, ohr, qers, urrs = p.fields
                i = len(pdrs)
                local, net = local_fteids[i], ue_ips[i]
                pdrs.append(
                    new_pdr(pid, prec, source, far_id, local, net, inst, qfi, sdf, ohr, qers, urrs)
                )
            else:
                pdrs += p  # type: ignore[arg-type]
        fars: list[Far] = []
        n = 0
        for f in fill.fars:
            if type(f) is FarFill:
                fars.append(far_with(f.base, peers[n]))
                n += 1
            else:
                if f.outer_header_creation is not None:  # type: ignore[union-attr]
                    n += 1
                fars.append(f)  # type: ignore[arg-type]
        # (its UE addresses IPv4 ones (`FillPlan`): the prefix lengths of the shape's)
        return new_program(tuple(pdrs), tuple(fars), shape.qers, shape.urrs, shape.bar, shape.token)

    def _fill_each(self, shape: EstablishmentShape, ies: list[IE], alloc: _Allocations) -> _Filled:
        """`_fill` of a shape without `FillPlan` (``ies``: the request's, `_aligned`): each
        F-TEID and UE IP Address as `_allocate` fills it in, each PDR's octets made by its
        `PdrPlan`."""
        by_choose_id: dict[int, FTEID] = {}
        ue_by_family: dict[tuple[str, int], IPNetwork] = {}
        octets: list[bytes] = []
        pdrs: list[Pdr] = []
        ctx = self._ctx
        for step in shape.steps:
            plan = step.plan
            if plan is None:
                octets.append(step.octets)
                pdrs += step.pdrs
                continue
            pdr_id = step.pdr_id
            children = list(step.children)
            for at in plan.filled:
                child = children[at]
                if isinstance(child, FTEID):
                    children[at] = self._choose_fteid(pdr_id, child, by_choose_id, alloc, False)
                else:
                    assert isinstance(child, UEIPAddress)
                    children[at] = self._choose_ue(pdr_id, child, step.pool, ue_by_family, alloc)
            pdr_octets = plan.octets(step.pdr_type, step.pdi_type, children)
            assert pdr_octets is not None  # (a shape's fit when it was learnt: `_learn`)
            octets.append(pdr_octets)
            add_pdrs(ctx, pdrs, pdr_id, step.common, *_first_fteid_ue(children))
        for part in shape.rest:
            if isinstance(part, bytes):
                octets.append(part)
            else:  # (a FAR creating an outer header: the request's octets)
                octets.append(_octets(ies[part]))
        fars: list[Far] = []
        for far in shape.fars:
            if isinstance(far, Far):
                fars.append(far)
            else:
                g = ies[far[0]]
                assert isinstance(g, Grouped)
                fars.append(far_like(ctx, far[1], g, far[2]))
        # (an IPv6 pool of another prefix length than when the shape was learnt: no token)
        token = shape.token if _ue_lengths(pdrs) == shape.ue_lengths else None
        program = new_program(tuple(pdrs), tuple(fars), shape.qers, shape.urrs, shape.bar, token)
        ue = _texts(alloc.ue, alloc.texts)
        return b"".join(octets), program, ue, _created_pdrs(alloc), _peers(program)

    def _learn(
        self,
        key: tuple[object, ...],
        req: Message,
        rules: RuleSet,
        encoded: dict[int, bytes],
        program: SessionProgram,
        session: Session,
        created: list[IE],
        node_id: NodeID,
    ) -> None:
        """After establishing ``req`` the long way (answered naming ``node_id``): the
        second time a request of its shape is, keep its `EstablishmentShape` (the next ones
        take `_fill`'s way)."""
        memos = self.memos
        if key not in memos.seen:
            remember(memos.seen, key, None, SHAPE_ENTRIES)
            return
        shape = self._shape_of(req, rules, encoded, program, session, created, node_id)
        if shape is not None:
            remember(memos.establishments, key, shape, SHAPE_ENTRIES)

    def _shape_of(
        self,
        req: Message,
        rules: RuleSet,
        encoded: dict[int, bytes],
        program: SessionProgram,
        session: Session,
        created: list[IE],
        node_id: NodeID | None = None,
    ) -> EstablishmentShape | None:
        """The `EstablishmentShape` of ``req``, which made ``session`` (with ``rules``, their
        ``encoded`` octets and ``program``; ``created``: its answer's Created PDRs, which
        named ``node_id``); None when its PDRs name Application IDs, or when filling the
        shape in with this session's allocations does not give back the same octets and
        PDRs (then the request is not one `_fill` can take). Its `FillPlan`, when it has
        one, is kept only if filling it in with this session's allocations gives back the
        same session; so is its `AnswerTemplate` (made with ``node_id``) only if it gives
        back this session's answer."""
        if session.apps:
            return None
        ctx = self._ctx
        steps: list[PdrStep] = []
        octets: list[bytes] = []  # what `_fill` gives with this session's allocations
        pdrs: list[Pdr] = []
        try:
            for pdr_id, g in RuleSet.created_by(req).pdr.items():  # (the CP's PDRs)
                common, fteid, ue, same = pdr_common(ctx, pdr_id, g)
                raw = g.raw
                plan = self.memos.plans.get(raw) if raw is not None else None
                if plan is None:
                    plan = self._pdr_plan(pdr_id, g)
                if not same or raw is None:
                    return None
                if plan is None:
                    out: list[Pdr] = []
                    add_pdrs(ctx, out, pdr_id, common, fteid, ue)
                    steps.append(PdrStep(pdr_id, common, raw, tuple(out), None))
                    octets.append(raw)
                    pdrs += out
                    continue
                pdi = g.ies[plan.pdi_at]
                assert isinstance(pdi, Grouped)
                pool = plan.pool
                if pool is None and any(isinstance(c, UEIPAddress) for c in pdi.ies):
                    pool = self._ue_pool_instance(pdr_id, g, pdi)
                steps.append(
                    PdrStep(
                        pdr_id, common, b"", (), plan, g.type, pdi.type, tuple(pdi.ies), pool or ""
                    )
                )
                made = rules.pdr[pdr_id].ies[plan.pdi_at]  # (the PDI as filled in)
                assert isinstance(made, Grouped)
                pdr_octets = plan.octets(g.type, pdi.type, made.ies)
                if pdr_octets is None:
                    return None
                octets.append(pdr_octets)
                add_pdrs(ctx, pdrs, pdr_id, common, *_first_fteid_ue(made.ies))
        except RuleError:
            return None
        # The FARs creating an outer header: by their group's position in the request.
        at = {id(ie): i for i, ie in enumerate(req.ies) if ie.type == T.CREATE_FAR}
        own = {id(g) for g in rules.far.values() if far_shape(encoded[id(g)]) is not None}
        groups = rules.groups()
        rest = tuple(
            [at[id(g)] if id(g) in own else encoded[id(g)] for g in groups[len(rules.pdr) :]]
        )
        fars = tuple(
            [
                (at[id(g)], far, fid) if id(g) in own else far
                for (fid, g), far in zip(rules.far.items(), program.fars, strict=True)
            ]
        )
        shape = EstablishmentShape(
            tuple(steps),
            rest,
            fars,
            program.qers,
            program.urrs,
            program.bar,
            dict(rules.urr),
            session.ddn_delay,
            session.fq_csids,
            session.group_id,
            (
                len(req.ies),
                tuple([i for i, ie in enumerate(req.ies) if not isinstance(ie, Grouped)]),
            ),
            ue_lengths=_ue_lengths(program.pdrs),
        )
        # Filled in with this session's allocations, the shape gives back this session.
        octets += [p if isinstance(p, bytes) else _octets(req.ies[p]) for p in rest]
        whole = b"".join([encoded[id(group)] for group in groups])
        if b"".join(octets) != whole or tuple(pdrs) != program.pdrs:
            log.debug("establishment shape not kept: filling it in gives another session")
            return None
        fill = self._fill_plan(shape, req.ies)
        if fill is None:
            return shape
        got = self._session_takes(fill, session)
        kept = (whole, program, session.ue, created, session.peers)
        if got is None:
            return shape
        values = list(got[0])  # (`_filled` appends to its list)
        if self._filled(shape, fill, req.ies, *got) != kept:
            log.debug("establishment fill plan not kept: filling it in gives another session")
            return shape
        answer = None
        if node_id is not None:
            fseid = self._up_fseid(session.up_seid)
            ordinary = encode_ies([node_id, _ACCEPTED, fseid, *created])
            head = (node_id, _ACCEPTED)
            answer = answer_template(fill, head, fseid, self._n3_text, (values, ordinary))
            if answer is None:
                log.debug("establishment answer template not kept: it gives another answer")
        return replace(shape, fill=fill, answer=answer)

    def _fill_plan(self, shape: EstablishmentShape, ies: list[IE]) -> FillPlan | None:
        """The `FillPlan` of ``shape`` (learnt from a request of IEs ``ies``), None when an
        F-TEID or UE IP Address to fill in is not of the usual kinds or the CP gave one."""
        ipv4, ipv6 = self._n3_text
        n3 = local_fteid(self._ctx, FTEID(0, ipv4, ipv6))
        assert n3 is not None
        takes: list[tuple[str | None, int]] = []
        by_choose_id: dict[int, int] = {}  # CHOOSE ID -> its allocation
        by_instance: dict[str, int] = {}  # network instance -> its UE address's allocation
        ues: list[tuple[int, str]] = []
        parts: list[bytes | int] = []  # the rules' octets: int: an allocation's
        pdrs: list[PdrFill | tuple[Pdr, ...]] = []
        created: list[tuple[IE, tuple[tuple[int, bool | None], ...]]] = []
        fteid_octets = FTEID(0, ipv4, ipv6).encode()  # (flags, TEID, address)
        for step in shape.steps:
            plan = step.plan
            if plan is None:
                parts.append(step.octets)
                pdrs.append(step.pdrs)
                continue
            pieces = plan.pieces
            kinds = [i for i, c in enumerate(step.children) if c.type in PER_SESSION_PDI]
            if plan.given or pieces is None or tuple(kinds) != plan.filled:
                return None
            body: list[bytes | int] = [pieces[0]]
            chosen: list[tuple[int, bool | None]] = []
            first_fteid = first_ue = -1
            for i, at in enumerate(plan.filled):
                child = step.children[at]
                if isinstance(child, FTEID):
                    cid = child.choose_id
                    take = by_choose_id.get(cid) if cid is not None else None
                    if take is None:
                        if not (child.choose_v4 if ipv4 is not None else child.choose_v6):
                            return None  # (refused: `_choose_fteid`)
                        take = len(takes)
                        takes.append((None, step.pdr_id))
                        if cid is not None:
                            by_choose_id[cid] = take
                    value = fteid_octets
                    source: bool | None = None
                    first_fteid = take if first_fteid < 0 else first_fteid
                elif (
                    isinstance(child, UEIPAddress)
                    and child.choose_v4
                    and not child.choose_v6
                    and child.ipv6 is None
                ):
                    take = by_instance.get(step.pool, -1)
                    if take < 0:
                        take = by_instance[step.pool] = len(takes)
                        takes.append((step.pool, step.pdr_id))
                        ues.append((take, step.pool))
                    source = child.source
                    value = UEIPAddress("0.0.0.0", None, source).encode()  # (flags, address)
                    first_ue = take if first_ue < 0 else first_ue
                else:
                    return None
                # (the TLV: its type and length, flags, the allocation's 4 octets, the rest)
                body += (_TL.pack(child.type, len(value)) + value[:1], take, value[5:])
                body.append(pieces[i + 1])
                chosen.append((take, source))
            length = 0
            for b in body:
                length += len(b) if isinstance(b, bytes) else 4
            pdr_length = len(plan.head) + 4 + length + len(plan.tail)
            if pdr_length > 0xFFFF:
                return None
            parts += (
                _TL.pack(step.pdr_type, pdr_length),
                plan.head,
                _TL.pack(step.pdi_type, length),
                *body,
                plan.tail,
            )
            pdrs.append(PdrFill(first_fteid, first_ue, (step.pdr_id, *step.common)))
            created.append((_pdr_id_ie(step.pdr_id), tuple(chosen)))
        if not takes:
            return None
        far_octets: list[int] = []
        for part in shape.rest:
            if isinstance(part, int):
                far_octets.append(part)
                part = len(takes) + len(far_octets) - 1
            parts.append(part)
        fars: list[Far | FarFill] = []
        for far in shape.fars:
            if isinstance(far, Far):
                fars.append(far)
                continue
            g = ies[far[0]]
            assert isinstance(g, Grouped)
            ohc_at = ohc_position(g)
            if ohc_at is None:
                return None
            fars.append(FarFill(far[0], ohc_at, far[1], far[2]))
        # The constant octets run together, after the values.
        constants: list[bytes] = []
        order: list[int] = []
        first = len(takes) + len(far_octets)
        for part in parts:
            if type(part) is int:
                order.append(part)
            elif order and order[-1] >= first:
                constants[-1] += part  # type: ignore[operator]
            else:
                order.append(first + len(constants))
                constants.append(part)  # type: ignore[arg-type]
        if len(order) < 2:  # (itemgetter of one index gives the item, not a tuple)
            return None
        return FillPlan(
            tuple(takes),
            operator.itemgetter(*order),
            tuple(far_octets),
            tuple(constants),
            n3[0],
            tuple(pdrs),
            tuple(fars),
            tuple(created),
            tuple(ues),
        )

    def _session_takes(
        self, fill: FillPlan, session: Session
    ) -> tuple[list[bytes], list[Any]] | None:
        """``session``'s allocations as `_fill` takes them for ``fill`` (its ``values`` and
        ``made``), None when they are not what it takes."""
        teids = list(session.teids)
        ue = list(session.ue)
        values: list[bytes] = []
        made: list[Any] = []
        for instance, _ in fill.takes:
            if instance is None:
                if not teids:
                    return None
                teid = teids.pop(0)
                values.append(_pack_u32(teid))
                made.append(teid)
                continue
            if not ue or ue[0][0] != instance:
                return None
            net_text = ue.pop(0)[1]
            net = _network(net_text)
            if net.version != 4 or net.prefixlen != 32:
                return None
            text, octets = str(net.network_address), net.network_address.packed
            values.append(octets)
            made.append((shared_network(text, 32), text, net_text, 32, octets))
        return (values, made) if not teids and not ue else None

    def _check_references(self, rules: RuleSet) -> None:
        """`check_references` of a new session's rules, once per shape: what it checks
        depends on the octets of the PDRs and URRs, the IDs of the FARs, QERs and BARs and
        the BAR IDs the FARs name (`_references_key`), kept when the check passed."""
        key = _references_key(rules)
        checked = self.memos.checked
        if key is not None and key in checked:
            return
        check_references(rules)
        if key is not None:
            remember(checked, key, None, SHAPE_ENTRIES)

    def _new_book(self, urr: Grouped, start_ntp: float, now: float) -> UrrBook:
        return UrrBook.created(urr, start_ntp, now)

    def _allocate(self, rules: RuleSet, alloc: _Allocations) -> dict[int, bytes | Chosen]:
        """Fill in every F-TEID with CH and UE IP Address with CHV4/CHV6 of ``rules``' PDRs
        (PDRs with one CHOOSE ID share one F-TEID; a session has one UE address per
        network instance and family). Returns the shapes of the PDRs filled in whose every
        F-TEID and UE IP Address was chosen here (`compile_pdrs`): id(new group) -> the
        octets of the group as it came, with the first F-TEID and UE IP Address chosen."""
        by_choose_id: dict[int, FTEID] = {}
        ue_by_family: dict[tuple[str, int], IPNetwork] = {}
        shapes: dict[int, bytes | Chosen] = {}
        plans = self.memos.plans
        for pdr_id, pdr in rules.pdr.items():
            raw = pdr.raw
            plan = plans.get(raw) if raw is not None else None
            if plan is None:
                plan = self._pdr_plan(pdr_id, pdr)
                if plan is None:
                    continue  # (nothing to fill in: not kept, its octets may be a session's)
                if raw is not None:
                    remember(plans, raw, plan, SHAPE_ENTRIES)
            pdi = pdr.ies[plan.pdi_at]
            assert isinstance(pdi, Grouped)
            children = list(pdi.ies)
            fteid: FTEID | None = None  # (the first of each filled in)
            ue: UEIPAddress | None = None
            for at in plan.filled:
                child = children[at]
                if isinstance(child, FTEID):
                    got = children[at] = self._choose_fteid(pdr_id, child, by_choose_id, alloc)
                    fteid = fteid or got
                else:
                    assert isinstance(child, UEIPAddress)
                    pool = plan.pool
                    if pool is None:  # (raises what made the plan without one)
                        pool = self._ue_pool_instance(pdr_id, pdr, pdi)
                    chosen = children[at] = self._choose_ue(
                        pdr_id, child, pool, ue_by_family, alloc
                    )
                    ue = ue or chosen
            # (new groups: the request's stay as they came, `RuleSet.create`)
            new_pdi = Grouped(pdi.type, children)
            new = Grouped(pdr.type, [new_pdi if c is pdi else c for c in pdr.ies])
            if raw is not None:
                new.raw = plan.octets(pdr.type, pdi.type, children)
                if not plan.given:  # (then its F-TEIDs and UE addresses are all filled in)
                    shapes[id(new)] = Chosen(raw, fteid, ue)
            rules.pdr[pdr_id] = new
        return shapes

    def _pdr_plan(self, pdr_id: int, pdr: Grouped) -> PdrPlan | None:
        """The `PdrPlan` of a Create PDR, None when its PDI asks for nothing to be filled
        in. What it holds depends on the PDR's octets (and the engine's settings) alone."""
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi_at = next(i for i, c in enumerate(pdr.ies) if c is pdi)
        raw = pdr.raw
        # Where the F-TEIDs and UE IP Addresses are: found in the octets (`pdi_slots`, as
        # `pdr_shape` finds them), or among the children of a group without octets.
        positions = [i for i, c in enumerate(pdi.ies) if c.type in PER_SESSION_PDI]
        found = pdi_slots(raw) if raw is not None else None
        if found is not None and (
            found.pdi_at != pdi_at or [p for p, _, _ in found.slots] != positions
        ):
            found = None  # (not reached: a group keeps octets that are its children's)
        filled: list[int] = []
        given = False  # an F-TEID or UE address the CP gave (in the octets)
        asks_ue = False
        for at in positions:
            child = pdi.ies[at]
            if isinstance(child, FTEID):
                if child.choose:
                    filled.append(at)
                else:
                    given = True
            elif isinstance(child, UEIPAddress):
                if child.choose_v4 or child.choose_v6:
                    given = given or child.ipv4 is not None or child.ipv6 is not None
                    filled.append(at)
                    asks_ue = True
                else:
                    given = True
        if not filled:
            return None
        pool = None
        if asks_ue:
            with contextlib.suppress(RuleError):  # (raised again when its UE address is chosen)
                pool = self._ue_pool_instance(pdr_id, pdr, pdi)
        head = tail = b""
        pieces: tuple[bytes, ...] | None = None
        if found is not None and raw is not None:
            # The octets around the IEs filled in, cut from the CP's; encoded instead when
            # the CP's are not what encoding the IEs they hold gives (what encoding the
            # filled-in group gives is the bar: `encode_groups`).
            head, tail, pieces = plan_pieces(raw, tuple(filled))
            bounds = [-1, *filled, len(pdi.ies)]
            encoded = tuple(
                [encode_groups(pdi.ies[a + 1 : b]) for a, b in itertools.pairwise(bounds)]
            )
            before, after = encode_groups(pdr.ies[:pdi_at]), encode_groups(pdr.ies[pdi_at + 1 :])
            if (head, tail, pieces) != (before, after, encoded):
                head, tail, pieces = before, after, encoded
        return PdrPlan(pdi_at, tuple(filled), pool, given, head, tail, pieces)

    def _choose_fteid(
        self,
        pdr_id: int,
        want: FTEID,
        by_choose_id: dict[int, FTEID],
        alloc: _Allocations,
        copy: bool = True,
    ) -> FTEID:
        """The F-TEID chosen for ``want`` (CH): the one chosen before for its CHOOSE ID, else
        a new TEID on our N3 address. It goes in the PDR's Created PDR; ``copy``: the PDR
        gets a copy of it (False: the F-TEID itself, for a caller that keeps neither)."""
        choose_id = want.choose_id
        got = by_choose_id.get(choose_id) if choose_id is not None else None
        if got is None:
            ipv4, ipv6 = self._n3_text  # (ipv4 set: our N3 address is IPv4)
            if not (want.choose_v4 if ipv4 is not None else want.choose_v6):
                n3 = self.settings.n3_address
                raise RuleError(
                    Cause.INVALID_F_TEID_ALLOCATION_OPTION,
                    f"PDR {pdr_id}: F-TEID CH asks for no IPv{n3.version} address (our N3)",
                    offending_ie=T.F_TEID,
                )
            try:
                teid = self.teids.take()
            except Exhausted:
                raise self._teids_exhausted() from None
            alloc.teids.append(teid)
            got = FTEID(teid, ipv4, ipv6)
            if choose_id is not None:
                by_choose_id[choose_id] = got
        created = alloc.created.get(pdr_id)  # (`_created`, inline)
        if created is None:
            alloc.created[pdr_id] = [_pdr_id_ie(pdr_id), got]
        else:
            created.append(got)
        return FTEID(got.teid, got.ipv4, got.ipv6) if copy else got

    def _choose_ue(
        self,
        pdr_id: int,
        want: UEIPAddress,
        instance: str,
        taken: dict[tuple[str, int], IPNetwork],
        alloc: _Allocations,
    ) -> UEIPAddress:
        if want.choose_v4 and not want.choose_v6 and want.ipv6 is None:  # (the usual one)
            text = self._take_ue(pdr_id, instance, 4, taken, alloc)
            got = UEIPAddress(text, None, want.source)
            created = alloc.created.get(pdr_id)  # (`_created`, inline)
            if created is None:
                alloc.created[pdr_id] = [_pdr_id_ie(pdr_id), got]
            else:
                created.append(got)
            return got
        nets: dict[int, IPNetwork] = {}
        texts: dict[int, str] = {}  # version -> the address's text, of those allocated
        for version, asked, given in (
            (4, want.choose_v4, want.ipv4),
            (6, want.choose_v6, want.ipv6),
        ):
            if not asked:
                if given is not None:
                    nets[version] = ue_networks(UEIPAddress(**{f"ipv{version}": given}))[0]  # type: ignore[arg-type]
                continue
            texts[version] = self._take_ue(pdr_id, instance, version, taken, alloc)
            nets[version] = taken[(instance, version)]
        v4, v6 = nets.get(4), nets.get(6)
        got = UEIPAddress(
            ipv4=(texts.get(4) or _address_text(v4)) if v4 is not None else None,
            ipv6=(texts.get(6) or _address_text(v6)) if v6 is not None else None,
            source=want.source,
            ipv6_prefix_length=v6.prefixlen if v6 is not None and v6.prefixlen != 64 else None,
        )
        _created(alloc, pdr_id, got)
        return got

    def _take_ue(
        self,
        pdr_id: int,
        instance: str,
        version: int,
        taken: dict[tuple[str, int], IPNetwork],
        alloc: _Allocations,
    ) -> str:
        """The text of the session's UE address (IPv6: prefix) of ``instance`` and
        ``version``: the one another PDR of the request took (``taken``), else a new one."""
        key = (instance, version)
        net = taken.get(key)
        if net is not None:
            return alloc.texts[id(net)][0]  # (another PDR's: made then)
        try:
            got = self.ue_pools.take_text(instance, version)
        except Exhausted:
            raise self._ue_refusal(pdr_id, instance, version, True) from None
        if got is None:
            raise self._ue_refusal(pdr_id, instance, version, False)
        net, text, net_text, prefixlen, _ = got
        alloc.ue.append((instance, net))
        taken[key] = net
        alloc.texts[id(net)] = (text, net_text)
        # (the PDRs naming the address then find the object allocated: `shared_network`)
        remember_network(text, net, prefixlen)
        return text

    def _teids_exhausted(self) -> RuleError:
        self.metrics.allocations.inc("teid")
        return RuleError(
            Cause.NO_RESOURCES_AVAILABLE, "local TEIDs exhausted", offending_ie=T.F_TEID
        )

    def _ue_refusal(self, pdr_id: int, instance: str, version: int, exhausted: bool) -> RuleError:
        """Why PDR ``pdr_id`` gets no UE address of ``instance``: its pools of ``version``
        are ``exhausted``, or it has none."""
        if exhausted:
            self.metrics.allocations.inc(f"ue_ipv{version}")
            return RuleError(
                Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED,
                f"network instance {instance!r}: IPv{version} UE pool exhausted",
            )
        return RuleError(
            Cause.RULE_CREATION_MODIFICATION_FAILURE,
            f"PDR {pdr_id}: network instance {instance!r} has no IPv{version} UE pool",
            failed_rule=(0, pdr_id),
        )

    def _ue_pool_instance(self, pdr_id: int, pdr: Grouped, pdi: Grouped) -> str:
        """Whose UE pools a PDR's CHV4/CHV6 draw from: the network instance its UE IP Address
        Pool Identity names (pool identities are network instance names here), else the
        PDI's network instance, else the first configured."""
        pool = pdr.get(T.UE_IP_ADDRESS_POOL_IDENTITY)
        if isinstance(pool, UEIPAddressPoolIdentity):
            if pool.identity not in self.settings.ue_pools:
                raise RuleError(
                    Cause.RULE_CREATION_MODIFICATION_FAILURE,
                    f"PDR {pdr_id}: no UE pool identity {pool.identity!r}"
                    " (identities are network instance names)",
                    failed_rule=(0, pdr_id),
                )
            return pool.identity
        return network_instance_name(pdi) or self._default_instance()

    def _default_instance(self) -> str:
        return next(iter(self.settings.ue_pools), "")

    def _free(self, alloc: _Allocations) -> None:
        for teid in alloc.teids:
            self.teids.free(teid)
        for name, net in alloc.ue:
            self.ue_pools.free(name, net)

    # -- modification ----------------------------------------------------------------------

    def _modify(self, req: Message, peer: Peer, now: float) -> Message:
        session = self._session_of(req, peer)
        if session is None:
            return cause_response(req, Cause.SESSION_CONTEXT_NOT_FOUND, 0, None)
        by_type = rule_ies(req)
        if len(by_type) == 1 and T.UPDATE_FAR in by_type and not session.apps:
            answer = self._modify_fars(req, session, by_type[T.UPDATE_FAR])
            if answer is not None:
                return answer
        cp_seid = session.cp_seid
        alloc = _Allocations()
        # Only a request with PDR groups changes the PDRs: a stored PDR has no CHOOSE left
        # to allocate (`_allocate`), and its F-TEIDs and UE addresses are the session's.
        pdrs_changed = not by_type.keys().isdisjoint(_PDR_IE_TYPES)
        try:
            _check_ignored(req)
            _check_supported(req)
            rules = session.rules
            rules.remove(by_type)
            changed = rules.update(by_type)
            rules.create(by_type)
            # The references of the rules the request leaves alone still hold, unless it
            # removes a rule.
            only: set[int] | None = None
            if by_type.keys().isdisjoint(_REMOVE_IE_TYPES):
                only = {id(g) for g in changed}
                only.update(id(g) for t in _CREATE_IE_TYPES for g in by_type.get(t, ()))
            check_references(rules, only)
            _check_queries(req, session)
            shapes = self._allocate(rules, alloc) if pdrs_changed else {}
        except RuleError as err:
            self._free(alloc)
            return self._refuse(req, err, cp_seid, None)
        # The PDRs as they were decoded (or came) compile once per shape (`pdr_shape`).
        for g in rules.pdr.values():
            if g.raw is not None:
                shapes[id(g)] = pdr_shape(g.raw)
        flags = req.get(T.PFCPSMREQ_FLAGS)
        sm_flags = flags if isinstance(flags, PFCPSMReqFlags) else PFCPSMReqFlags()
        sndem = _sends_end_marker(by_type.get(T.UPDATE_FAR, ()))
        now_ntp = self._ntp()
        # Usage reports: of removed URRs (their counters go with them), of URRs named in
        # Query URR, and of every URR with QAURR; read before the new program replaces them.
        before = session.urrs
        wanted: dict[int, str] = {u: "TERMR" for u in before if u not in rules.urr}
        for q in req.get_all(T.QUERY_URR):
            qid = ie_value(q, T.URR_ID) if isinstance(q, Grouped) else None
            if qid is not None:
                wanted.setdefault(qid, "IMMER")
        if sm_flags.has("QAURR"):
            for urr_id in before:
                wanted.setdefault(urr_id, "IMMER")
        updated = {rule_id(u, "urr"): u for u in by_type.get(T.UPDATE_URR, ())}
        # Copy on write: a book this request changes (a report, an update) is a copy; the
        # books before it (``before``, left as they are) are what its undo puts back.
        books = before
        if wanted or updated or len(rules.urr) != len(before):
            books = dict(before)  # (every URR not in the rules now is reported: TERMR)
            for urr_id in wanted.keys() | updated.keys():
                books[urr_id] = books[urr_id].copy()
            session.urrs = books  # (the reports read them there)
            container = T.USAGE_REPORT_MODIFICATION_RESPONSE
            reports = [
                self._report(session, urr_id, (trigger,), now_ntp, container)
                for urr_id, trigger in wanted.items()
            ]
            for urr_id in wanted:
                if urr_id not in rules.urr:
                    del books[urr_id]
            for urr_id, g in rules.urr.items():
                if urr_id not in books:
                    books[urr_id] = self._new_book(g, now_ntp, now)
                elif urr_id in updated:
                    book = books[urr_id]
                    fresh = self._new_book(g, book.period_start_ntp, now)
                    book.next_periodic = fresh.next_periodic
                    book.configure(g, now_ntp)
                    if updated[urr_id].get(T.VOLUME_QUOTA) is not None:
                        book.consumed = ZERO  # a new quota counts from now
                    if updated[urr_id].get(T.TIME_QUOTA) is not None:
                        book.grant_time(now_ntp)
                    if any(updated[urr_id].get(t) is not None for t in _GRANTS):
                        book.grant(now_ntp)
        else:
            reports = []
        old = session.rules_blob, session.apps, session.ddn_delay, session.peers
        old_allocations = session.teids, session.ue
        old_sets = session.fq_csids, session.group_id
        encoded = rules.encoded()
        try:
            program = compile_program(
                self._ctx,
                rules,
                session.bar_duration_s,
                urr_offsets(books),
                blocked_urrs(books),
                encoded,
                shapes,
            )
            self._dp_install(session.up_seid, program, send_end_marker=sndem)
        except (RuleError, DatapathError) as err:
            self._undo_reports(session, reports, before)
            self._free(alloc)
            if isinstance(err, RuleError):
                return self._refuse(req, err, cp_seid, None)
            log.warning("modification refused by the datapath: %s", err)
            return cause_response(req, Cause.RULE_CREATION_MODIFICATION_FAILURE, cp_seid, None)
        freed_teids: set[int] = set()
        freed_ue: list[tuple[str, str]] = []
        if pdrs_changed:
            freed_teids, freed_ue = self._released(session, rules, alloc)
            session.teids = (*(t for t in session.teids if t not in freed_teids), *alloc.teids)
            session.ue = (*(u for u in session.ue if u not in freed_ue), *_texts(alloc.ue))
        session.rules_blob = pack_rules(b"".join([encoded[id(g)] for g in rules.groups()]))
        if pdrs_changed or not by_type.keys().isdisjoint(_BAR_IE_TYPES):
            session.derive(rules)  # (what it derives comes from the PDRs and the BAR)
        self._modified(session, req, program)
        if books is not before:
            session.urrs = books
            self._refresh_timed(session)
        self._write(session)

        def undo() -> None:
            session.rules_blob, session.apps, session.ddn_delay, old_peers = old
            session.teids, session.ue = old_allocations
            session.fq_csids, session.group_id = old_sets
            self._set_peers(session, old_peers)
            self._undo_reports(session, reports, before)
            self._free(alloc)
            if self.sessions.get(session.up_seid) is session:  # (else removed since)
                self._reinstall(session)
                self._refresh_timed(session)

        def done() -> None:
            for teid in freed_teids:
                self.teids.free(teid)
            for name, net in freed_ue:
                self.ue_pools.free(name, _network(net))
            self._modification_done(session, now_ntp, sm_flags.has("DROBU"))

        refusal = (cp_seid, None)
        self._stage(req, refusal, undo, done)
        ies: list[IE] = [_ACCEPTED]
        ies += _created_pdrs(alloc)
        ies += reports
        return Message(M.SESSION_MODIFICATION_RESPONSE, req.seq, ies, cp_seid)

    def _modify_fars(
        self, req: Message, session: Session, updates: list[Grouped]
    ) -> Message | None:
        """`_modify` of a request whose rule groups are all Update FARs (the N3 path switch
        at a handover): the same answer, record and program, made from the layout of the
        session's stored rules (`stored`): those FARs are decoded, updated and encoded
        again in place, and compiled again; the rest of the program is what the stored
        rules compiled to before (`compile.stored_parts`). None, having changed nothing:
        the long way does it (the request reports usage, the session's URRs are not its
        rules', the layout or what its rules compiled to is not at hand)."""
        flags = req.get(T.PFCPSMREQ_FLAGS)
        sm_flags = flags if isinstance(flags, PFCPSMReqFlags) else _NO_SM_FLAGS
        if sm_flags.has("QAURR") or req.get(T.QUERY_URR) is not None:
            return None
        raw = unpack_rules(session.rules_blob)
        layout = self._layouts.find(raw) or self._layouts.learn(raw)
        before = session.urrs
        if layout is None or before.keys() != layout.urr_ids:
            return None
        cp_seid = session.cp_seid
        try:
            _check_ignored(req)
            _check_supported(req)
            # `RuleSet.update`, on the FARs named only (each decoded once, in place), or
            # what an update of that shape made of the FAR's shape (`StoredLayouts.far_update`)
            far_at, fars = layout.far_at, layout.fars
            merged: dict[int, Grouped] = {}
            quick, quick_at = None, -1  # (and the FAR's index)
            for update in updates:
                far_id = rule_id(update, "far")
                far = merged.get(far_id)
                if far is None:
                    at = far_at.get(far_id)
                    if at is None:
                        raise no_such_rule("far", far_id)
                    if len(updates) == 1:
                        quick = self._layouts.far_update(layout, at, raw, update)
                        if quick is not None:
                            merged[far_id] = quick[0].group
                            quick_at = at
                            break
                    far = _stored_group(raw, fars[at][1])
                    if far is None:
                        return None
                    merged[far_id] = far
                merge_update(far, update)
            # (`check_references` of the FARs updated, in the session's order)
            changed = {f[0]: merged[f[0]] for f in fars if f[0] in merged}
            for far_id, far in changed.items():
                check_far_references(far_id, far, layout.bars)
        except RuleError as err:
            return self._refuse(req, err, cp_seid, None)
        updated: dict[int, tuple[Grouped, bytes] | tuple[Far, OuterHeaderCreation]] = {}
        octets: dict[int, bytes] = {}
        if quick is not None:
            shaped, ohc = quick
            value = ohc.encode()
            base = self._ctx.compiled.get(shaped.key)
            if len(value) != shaped.length or not isinstance(base, Far):
                return None
            (far_id,) = changed
            updated[far_id] = base, ohc
            octets[far_id] = b"".join((shaped.head, value, shaped.tail))
        else:
            for far_id, g in changed.items():
                octets[far_id] = encoded = encode_groups([g])
                updated[far_id] = g, encoded
        offsets = urr_offsets(before)
        parts = stored_parts(self._ctx, layout, raw, changed, offsets)
        if parts is None:
            return None
        sndem = _sends_end_marker(updates)
        now_ntp = self._ntp()
        blocked = blocked_urrs(before)
        try:
            program = compile_stored(
                self._ctx,
                layout,
                parts,
                updated,
                session.bar_duration_s,
                offsets,
                blocked,
            )
            if quick is not None and not offsets and not blocked:
                program = self._modified_shape(program, layout, quick_at, quick[0])
            self._dp_install(session.up_seid, program, send_end_marker=sndem)
        except (RuleError, DatapathError) as err:
            session.urrs = before  # (`_undo_reports`: nothing was read)
            if isinstance(err, RuleError):
                return self._refuse(req, err, cp_seid, None)
            log.warning("modification refused by the datapath: %s", err)
            return cause_response(req, Cause.RULE_CREATION_MODIFICATION_FAILURE, cp_seid, None)
        old = session.rules_blob, session.peers
        old_sets = session.fq_csids, session.group_id
        # The stored octets with the FARs' own in place (`RuleSet.groups` order)
        pieces: list[bytes] = []
        at = 0
        for far_id, (start, stop), _, _ in fars:
            change = octets.get(far_id)
            if change is not None:
                pieces += (raw[at:start], change)
                at = stop
        pieces.append(raw[at:])
        session.rules_blob = pack_rules(b"".join(pieces))
        self._modified(session, req, program)
        self._write(session)

        def undo() -> None:
            session.rules_blob, old_peers = old
            session.fq_csids, session.group_id = old_sets
            self._set_peers(session, old_peers)
            session.urrs = before
            if self.sessions.get(session.up_seid) is session:  # (else removed since)
                self._reinstall(session)
                self._refresh_timed(session)

        def done() -> None:
            self._modification_done(session, now_ntp, sm_flags.has("DROBU"))

        self._stage(req, (cp_seid, None), undo, done)
        return Message(M.SESSION_MODIFICATION_RESPONSE, req.seq, [_ACCEPTED], cp_seid)

    def _modified_shape(
        self, program: SessionProgram, layout: StoredLayout, at: int, update: FarUpdate
    ) -> SessionProgram:
        """``program`` with the token of its shape (`SessionProgram.token`, kept in
        ``memos.modified``): `compile_stored` made it of rules stored in ``layout``, FAR
        ``at`` updated as `FarUpdate` ``update`` has it, with no URR compiled with its
        offsets nor blocked. Such programs are the same but for the sessions' own values:
        their PDRs and FARs come from the rules kept by the layout's and the update's keys
        (`compile.stored_parts`), their QERs and URRs are the same objects; only how many
        PDRs a UE IP Address makes, and which have a local F-TEID and a UE address of
        which prefix length, may differ between two sessions of a layout (its leaves'
        values: a dual-stack address, a prefix of another length), and are in the key."""
        key: list[object] = [id(layout), at, id(update)]
        for p in program.pdrs:
            ue = p.ue_ip
            key += (p.local_fteid is None, -1 if ue is None else ue.prefixlen)
        memo = self.memos.modified
        shape = tuple(key)
        found = memo.get(shape)
        if found is None or found[0] is not layout or found[1] is not update:
            found = (layout, update, ShapeToken())  # (holds them: their ids stay theirs)
            remember(memo, shape, found, SHAPE_ENTRIES)
        return new_program(
            program.pdrs, program.fars, program.qers, program.urrs, program.bar, found[2]
        )

    def _pause_or_resume(self, session: Session, now_ntp: float) -> bool:
        """URRs whose rule now pauses (INAM) or resumes their measurement: pausing keeps
        the counts and the time metered so far for later; resuming discards what the
        datapath counted meanwhile, and time metering starts again with the next packet
        (TS 29.244 5.2.2.3.1). True when one did."""
        changed = False
        for urr_id, book in session.urrs.items():
            if book.inam == book.inactive:
                continue
            try:
                usage = self.datapath.read_usage(session.up_seid, urr_id, reset=True)
            except DatapathError as err:
                log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
                continue
            counts = Counts.of(usage)
            if book.inam:
                book.baseline = book.baseline + counts
                book.taken(counts)
                book.saw(packet_times(usage, self.datapath.now_ns(), now_ntp), now_ntp)
                book.stop_metering(now_ntp)
            else:
                book.taken(ZERO)
                book.last_packet_ntp = 0.0  # (the datapath's counts start afresh)
                book.seen_ntp = now_ntp
            book.inactive, changed = book.inam, True
        return changed

    def _session_of(self, req: Message, peer: Peer) -> Session | None:
        """The session the request's SEID names, if the requesting CP owns it: another CP's
        session is as unknown to it as a missing one (65)."""
        session = self.sessions.get(req.seid or 0)
        if session is None or session.cp_node_id != peer.node_id:
            return None
        return session

    def _reinstall(self, session: Session) -> None:
        """Install the session's program again, recompiled with its current URR offsets."""
        try:
            program = compile_program(
                self._ctx,
                session.rules,
                session.bar_duration_s,
                urr_offsets(session.urrs),
                blocked_urrs(session.urrs),
            )
            self._dp_install(session.up_seid, program)
            self._set_program(session, program)
        except (RuleError, DatapathError) as err:
            log.error("session 0x%x: reinstall failed: %s", session.up_seid, err)

    def _released(
        self, session: Session, rules: RuleSet, alloc: _Allocations
    ) -> tuple[set[int], list[tuple[str, str]]]:
        """Allocations of ``session`` that ``rules`` no longer use."""
        used_teids: set[int] = set()
        used_ue: set[str] = set()  # UE addresses (prefixes: their first address) as text
        for pdr in rules.pdr.values():
            pdi = pdr.get(T.PDI)
            assert isinstance(pdi, Grouped)
            fteid = pdi.get(T.F_TEID)
            if isinstance(fteid, FTEID) and fteid.teid is not None:
                used_teids.add(fteid.teid)
            ue_ie = pdi.get(T.UE_IP_ADDRESS)
            if isinstance(ue_ie, UEIPAddress):
                used_ue.update(a for a in (ue_ie.ipv4, ue_ie.ipv6) if a is not None)
        teids = {t for t in session.teids if t not in used_teids}
        ue = [(name, net) for name, net in session.ue if net.partition("/")[0] not in used_ue]
        return teids, ue

    def _undo_reports(
        self, session: Session, reports: list[Grouped], snapshot: dict[int, UrrBook]
    ) -> None:
        """Reports read but not sent: the URRs' books as before, with the counts the reads
        took from the datapath kept as baseline (and as consumed)."""
        session.urrs = snapshot
        for group in reports:
            book = snapshot.get(ie_value(group, T.URR_ID) or 0)
            if book is None or group.get(T.VOLUME_MEASUREMENT) is None:
                continue  # (a report without measurement read nothing with reset)
            counts = report_counts(group)
            taken = counts.minus(book.baseline)
            book.baseline = counts
            book.consumed = book.consumed + taken

    # -- deletion --------------------------------------------------------------------------

    def _delete(self, req: Message, peer: Peer, now: float) -> Message:
        session = self._session_of(req, peer)
        if session is None:
            return cause_response(req, Cause.SESSION_CONTEXT_NOT_FOUND, 0, None)
        now_ntp = self._ntp()
        final = self._delete_staged(session, "cp", now_ntp, req)
        ies: list[IE] = [_ACCEPTED]
        for urr_id, (counts, times) in final.items():
            book = session.urrs[urr_id]
            container = T.USAGE_REPORT_DELETION_RESPONSE
            ies.append(usage_report(container, urr_id, book, counts, ("TERMR",), now_ntp, times))
        return Message(M.SESSION_DELETION_RESPONSE, req.seq, ies, session.cp_seid)

    def _delete_staged(
        self, session: Session, reason: str, now_ntp: float, req: Message
    ) -> dict[int, tuple[Counts, PacketTimes | None]]:
        """Take ``session`` out of the datapath and the engine now; its allocations are
        freed once the deletion is durable. Its final counts per URR (see `_detach`)."""
        marks = _report_marks(session)
        final = self._detach(session, now_ntp)
        self._erase(session.key)
        refusal = (session.cp_seid, None)
        self._stage(
            req,
            refusal,
            self._undelete(session, marks, final),
            lambda: self._release(session, reason),
        )
        return final

    def _undelete(
        self,
        session: Session,
        marks: dict[int, tuple[float, ...]],
        final: dict[int, tuple[Counts, PacketTimes | None]],
    ) -> Callable[[], None]:
        """How to undo the deletion of ``session``: back in the engine and the datapath,
        its URRs as before its final reports (``marks``, `_report_marks`), with the counts
        the datapath had (``final``) as their baseline, so that no count is lost."""

        def undo() -> None:
            for urr_id, (counts, _) in final.items():
                book = session.urrs[urr_id]
                book.restore_marks(marks[urr_id])
                book.taken(counts.minus(book.baseline))  # (a fresh datapath counts from 0)
                book.baseline = counts
            self._add(session)
            self._reinstall(session)

        return undo

    def _set_delete(self, req: Message, peer: Peer, node_id: NodeID, now: float) -> Message:
        """Session Set Deletion (TS 29.244 7.4.6): the requesting CP's sessions of the
        FQ-CSIDs named (a partial failure), or all of them when it names none."""
        named = csid_keys(c for c in req.get_all(T.FQ_CSID) if isinstance(c, FQCSID))
        seids = [
            s.up_seid
            for s in self.sessions.values()
            if s.cp_node_id == peer.node_id and (not named or named & csid_keys(s.fq_csids))
        ]
        undos: list[Callable[[], None]] = []
        deleted: list[Session] = []
        for seid in seids:
            session = self.sessions[seid]
            marks = _report_marks(session)
            final = self._detach(session)
            self._erase(session.key)
            undos.append(self._undelete(session, marks, final))
            deleted.append(session)

        def undo() -> None:
            for step in reversed(undos):
                step()

        def done() -> None:
            for session in deleted:
                self._release(session, "session_set")

        refusal = (0, node_id)
        self._stage(req, refusal, undo, done)
        return cause_response(req, Cause.REQUEST_ACCEPTED, 0, node_id)

    def _set_modify(self, req: Message, peer: Peer, node_id: NodeID) -> Message:
        """Session Set Modification (TS 29.244 7.4.7, see session_set): the sessions of the
        requesting CP and of its SMF set named by each PFCP Session Change Info go to the
        associated CP at its Alternative SMF IP Address, all of them or none (journaled
        before the answer)."""
        moves: dict[int, tuple[str, FSEID]] = {}
        try:
            for selector in selectors(req):
                target = self._peer_at(selector.alternative.ipv4, selector.alternative.ipv6)
                for s in self.sessions.values():
                    if s.up_seid in moves or not self._may_move(peer.node_id, s.cp_node_id):
                        continue
                    if not selector.matches(s.fq_csids, s.group_id, s.cp_fseid):
                        continue
                    if target is None:
                        raise RuleError(
                            Cause.REQUEST_REJECTED,
                            f"no CP associated at {selector.alternative}",
                            offending_ie=T.ALTERNATIVE_SMF_IP_ADDRESS,
                        )
                    moves[s.up_seid] = (target, moved_fseid(s.cp_fseid, selector.alternative))
            taken: set[tuple[str, int]] = set()
            for seid, (target, _) in moves.items():
                key = (target, self.sessions[seid].cp_seid)
                other = self._by_cp.get(key)
                if key in taken or (other is not None and other not in moves):
                    raise RuleError(
                        Cause.REQUEST_REJECTED,
                        f"CP {target} already has a session with CP SEID 0x{key[1]:x}",
                        offending_ie=T.PFCP_SESSION_CHANGE_INFO,
                    )
                taken.add(key)
        except RuleError as err:
            return self._refuse(req, err, 0, node_id)
        moved = {seid: self.sessions[seid] for seid in moves}
        before = {seid: (s.cp_node_id, s.cp_fseid) for seid, s in moved.items()}

        def move(to: dict[int, tuple[str, FSEID]]) -> None:
            for s in moved.values():
                self._by_cp.pop((s.cp_node_id, s.cp_seid), None)
            for seid, s in moved.items():
                s.cp_node_id, s.cp_fseid = to[seid]
                self._by_cp[(s.cp_node_id, s.cp_seid)] = seid

        move(moves)
        for s in moved.values():
            self._write(s)
        refusal = (0, node_id)
        self._stage(req, refusal, lambda: move(before))
        if moved:
            log.info(
                "CP %s: %d sessions moved (session set modification)", peer.node_id, len(moved)
            )
        return cause_response(req, Cause.REQUEST_ACCEPTED, 0, node_id)

    def _may_move(self, requester: str, owner: str) -> bool:
        """A CP moves its own sessions and those of CPs of its SMF set (5.22.4)."""
        if requester == owner:
            return True
        return self._sender is not None and self._sender.same_smf_set(requester, owner)

    def _peer_at(self, *addresses: str | None) -> str | None:
        """The Node ID of the associated CP at one of ``addresses``."""
        if self._sender is None:
            return None
        for address in addresses:
            if address is not None and (node := self._sender.peer_at(address)) is not None:
                return node
        return None

    def _remove(
        self, session: Session, reason: str, now_ntp: float = 0.0
    ) -> dict[int, tuple[Counts, PacketTimes | None]]:
        """Take ``session`` out of the datapath and the engine, its allocations freed; its
        final counts per URR (baselines included) and the times of their first and last
        packets."""
        final = self._detach(session, now_ntp)
        self._release(session, reason)
        return final

    def _detach(
        self, session: Session, now_ntp: float = 0.0
    ) -> dict[int, tuple[Counts, PacketTimes | None]]:
        """Take ``session`` out of the datapath and the engine's indexes (its allocations
        stay taken: `_release`); its final counts as `_remove` returns them."""
        dp_now = self.datapath.now_ns()
        try:
            usage = self._dp_remove(session.up_seid)
        except DatapathError as err:
            log.error("session 0x%x: datapath remove: %s", session.up_seid, err)
            usage = {}
        final: dict[int, tuple[Counts, PacketTimes | None]] = {}
        for urr_id, book in session.urrs.items():
            counts, times = book.baseline, None
            if urr_id in usage and not book.inactive:  # (paused: its counts are not usage)
                counts = counts + Counts.of(usage[urr_id])
                times = packet_times(usage[urr_id], dp_now, now_ntp)
            final[urr_id] = counts, times
        self.sessions.pop(session.up_seid, None)
        self._timed_seids.discard(session.up_seid)
        self._index(session, False)
        self._by_cp.pop((session.cp_node_id, session.cp_seid), None)
        return final

    def _release(self, session: Session, reason: str) -> None:
        """Free what a detached session held."""
        for teid in session.teids:
            self.teids.free(teid)
        for name, net in session.ue:
            self.ue_pools.free(name, _network(net))
        for key, pending in list(self._pending.items()):
            if pending.up_seid == session.up_seid:
                del self._pending[key]
        self.metrics.deleted.inc(reason)

    def _remove_local(self, seid: int, reason: str) -> None:
        session = self.sessions.get(seid)
        if session is None:
            return
        # Removed at once, durable or not (the peer no longer has it): should the commit
        # fail, a restart brings it back and the next report about it is answered 65 again.
        self._erase(session.key)
        self._remove(session, reason)

    # -- reports ---------------------------------------------------------------------------

    def _report(
        self,
        session: Session,
        urr_id: int,
        triggers: tuple[str, ...],
        now_ntp: float,
        container: int,
    ) -> Grouped:
        book = session.urrs[urr_id]
        counts, times = book.baseline, None
        measured = measures(triggers)  # else the counts go on into the next report
        try:
            usage = self.datapath.read_usage(session.up_seid, urr_id, reset=measured)
            if book.inactive:  # paused: the datapath's counts are not usage
                if measured:
                    book.taken(ZERO)
            else:
                times = packet_times(usage, self.datapath.now_ns(), now_ntp)
                if measured:
                    taken = Counts.of(usage)
                    counts = counts + taken
                    book.taken(taken)
        except DatapathError as err:
            log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
        if measured:
            book.baseline = ZERO
            book.last_packets = 0
        return usage_report(container, urr_id, book, counts, triggers, now_ntp, times)

    def _send_report(
        self,
        session: Session,
        report_type: str,
        ies: list[IE],
        now: float,
        reports: list[Grouped] | None = None,
        label: str | None = None,
    ) -> None:
        request = Message(
            M.SESSION_REPORT_REQUEST, 0, [ReportType.of(report_type), *ies], session.cp_seid
        )
        if self._sender is None:
            log.error("session engine not attached: report dropped")
            return
        seq = self._sender.send_request(session.cp_node_id, request, now)
        if seq is None:
            # No association (lost, kept sessions): the usage goes back for later.
            for group in reports or []:
                book = session.urrs.get(ie_value(group, T.URR_ID) or 0)
                if book is not None:
                    book.baseline = book.baseline + report_counts(group)
            return
        self.metrics.reports.inc(label or report_type)
        self._pending[id(request)] = _PendingReport(session.up_seid, list(reports or []))

    def _usage_reports(self, session: Session, due: dict[int, set[str]], now: float) -> None:
        # Linked usage reporting (TS 29.244 5.2.2.4): a URR with LIUSA reports whenever a
        # URR it links reports.
        for urr_id, book in session.urrs.items():
            if book.linked and book.reports("LIUSA") and any(u in due for u in book.linked):
                due.setdefault(urr_id, set()).add("LIUSA")
        now_ntp = self._ntp()
        groups = [
            self._report(
                session, urr_id, tuple(sorted(trig)), now_ntp, T.USAGE_REPORT_REPORT_REQUEST
            )
            for urr_id, trig in due.items()
            if urr_id in session.urrs
        ]
        if not groups:
            return
        label = ",".join(sorted({t for trig in due.values() for t in trig}))
        self._send_report(session, "USAR", list(groups), now, groups, label)
        # The datapath counts a quota from its last reset: give it what is left, unless
        # the quota is used up (the datapath then keeps dropping until the CP sets one).
        if any(
            session.urrs[u].quota and "VOLQU" not in trig
            for u, trig in due.items()
            if u in session.urrs
        ):
            self._reinstall(session)
        self._commit_quietly(session)

    def poll_datapath(self, now: float) -> None:
        """Handle the datapath's events (reports they trigger are sent now)."""
        events = self.datapath.poll_events()
        due: dict[int, dict[int, set[str]]] = {}
        for ev in events:
            trigger = _EVENT_TRIGGER.get(ev.type)
            if trigger is not None:
                session = self.sessions.get(ev.seid)
                if session is not None and self._urr_reports(session, ev.id, trigger):
                    due.setdefault(ev.seid, {}).setdefault(ev.id, set()).add(trigger)
            elif ev.type == EventType.DL_DATA_REPORT:
                self._dl_data_report(ev, now)
            elif ev.type == EventType.ERROR_INDICATION:
                self._error_indication(ev, now)
        for seid, urrs in due.items():
            session = self.sessions.get(seid)
            if session is not None:
                self._usage_reports(session, urrs, now)

    def _urr_reports(self, session: Session, urr_id: int, trigger: str) -> bool:
        book = session.urrs.get(urr_id)
        return book is not None and book.reports(trigger)

    def _dl_data_report(self, ev: DatapathEvent, now: float) -> None:
        """DLDR now, or after the BAR's Downlink Data Notification Delay (DDND)."""
        session = self.sessions.get(ev.seid)
        if session is None:
            return
        if session.ddn_delay > 0:
            due = now + session.ddn_delay
            heapq.heappush(self._delayed_dldr, (due, next(self._dldr_seq), ev.seid, ev))
            return
        self._send_dldr(ev.seid, ev, now)

    def _send_dldr(self, seid: int, ev: DatapathEvent, now: float) -> None:
        """The DLDR of ``ev``, unless the PDR's FAR no longer buffers with NOCP (the
        session changed during the notification delay)."""
        session = self.sessions.get(seid)
        if session is None:
            return
        try:
            program = self._program(session)
        except RuleError:
            return
        fars = {f.far_id: f for f in program.fars}
        pdr = next((p for p in program.pdrs if p.pdr_id == ev.id), None)
        far = fars.get(pdr.far_id) if pdr is not None else None
        if far is None or not far.apply_action & ApplyAction.NOCP:
            return
        pdr_id = pfcp_pdr_id(ev.id)
        children: list[IE] = [PDRID(pdr_id)]
        if ev.value:
            children.append(DownlinkDataServiceInformation(qfi=ev.value))
        self._send_report(
            session, "DLDR", [Grouped(T.DOWNLINK_DATA_REPORT, children)], now, label="DLDR"
        )

    def _error_indication(self, ev: DatapathEvent, now: float) -> None:
        """A GTP-U Error Indication names a TEID of a peer: the sessions forwarding to it
        (found through an index by TEID: a flood of indications costs no scan)."""
        teid = ev.value
        for seid in sorted(_seids(self._by_peer_teid.get(teid, ()))):
            session = self.sessions[seid]
            for peer, far_teid in session.peers:
                if far_teid != teid:
                    continue
                fteid = FTEID(
                    teid,
                    str(peer) if peer.version == 4 else None,
                    str(peer) if peer.version == 6 else None,
                )
                report = Grouped(T.ERROR_INDICATION_REPORT, [fteid])
                self._send_report(session, "ERIR", [report], now, label="ERIR")
                break

    def _time_triggers(self, now: float, activity: bool = True) -> None:
        """Periodic reports, start/stop of traffic, quota holding time, quota validity
        time and dropped DL traffic threshold."""
        now_ntp = self._ntp()
        for seid in list(self._timed_seids):
            session = self.sessions[seid]
            due: dict[int, set[str]] = {}
            expired = False
            for urr_id, book in session.urrs.items():
                if book.next_periodic is not None and book.next_periodic <= now:
                    while book.next_periodic <= now:
                        book.next_periodic += book.period or 1
                    due.setdefault(urr_id, set()).add("PERIO")
                if book.validity_over(now_ntp):
                    expired = True
                    if book.reports("QUVTI"):
                        due.setdefault(urr_id, set()).add("QUVTI")
                qht = book.holding_time if book.reports("QUHTI") else 0
                idt = book.inactivity
                watch_start, watch_stop = book.reports("START"), book.reports("STOPT")
                watch_dropped = book.reports("DROTH") and any(book.dropped_threshold)
                watch_time = book.watches_time and not book.inactive
                watch = watch_start or watch_stop or qht or watch_dropped or watch_time
                if not activity or not watch:
                    continue
                try:
                    usage = self.datapath.read_usage(session.up_seid, urr_id)
                except DatapathError:
                    continue
                if watch_time:  # time metering follows the traffic
                    book.saw(packet_times(usage, self.datapath.now_ns(), now_ntp), now_ntp)
                    for limit in book.time_limits(now_ntp):
                        expired = expired or limit == "TIMQU"  # (its traffic stops)
                        if book.reports(limit):
                            due.setdefault(urr_id, set()).add(limit)
                if watch_dropped and book.dropped_threshold_reached(usage):
                    due.setdefault(urr_id, set()).add("DROTH")
                if usage.packets_total != book.last_packets:
                    book.last_packets = usage.packets_total
                    book.idle_since = now
                    if not book.active:
                        book.active = True
                        if watch_start:
                            due.setdefault(urr_id, set()).add("START")
                    continue
                idle = now - book.idle_since
                if book.active and watch_stop and idle >= (idt or 1):
                    book.active = False
                    due.setdefault(urr_id, set()).add("STOPT")
                if qht and idle >= qht:
                    book.idle_since = now  # once per holding time without traffic
                    due.setdefault(urr_id, set()).add("QUHTI")
            if due:
                self._usage_reports(session, due, now)
            if expired:  # the quota's traffic stops (after the report read its counts)
                self._reinstall(session)
                self._commit_quietly(session)

    def _update_bar_from_report(self, session: Session, update: Grouped) -> None:
        """Update BAR of a Session Report Response: DL buffering duration and suggested
        packet count."""
        bar_id = ie_value(update, T.BAR_ID)
        rules = session.rules
        if bar_id is None or bar_id not in rules.bar:
            return
        duration = update.get(T.DL_BUFFERING_DURATION)
        if duration is not None:
            session.bar_duration_s = duration.seconds  # type: ignore[attr-defined]
        count = update.get(T.DL_BUFFERING_SUGGESTED_PACKET_COUNT)
        bar = rules.bar[bar_id]
        delay = update.get(T.DOWNLINK_DATA_NOTIFICATION_DELAY)
        if delay is not None:
            bar.ies = [c for c in bar.ies if c.type != T.DOWNLINK_DATA_NOTIFICATION_DELAY]
            bar.ies.append(delay)
            bar.raw = None
            session.set_rules(rules)
        if count is not None:
            from ..pfcp.ies_scalar import SuggestedBufferingPacketsCount

            value = min(255, int(count.value))  # type: ignore[attr-defined]
            bar.ies = [c for c in bar.ies if c.type != T.SUGGESTED_BUFFERING_PACKETS_COUNT]
            bar.ies.append(SuggestedBufferingPacketsCount(value))
            bar.raw = None
            session.set_rules(rules)
        self._reinstall(session)
        self._commit_quietly(session)

    # -- durability ------------------------------------------------------------------------

    def checkpoint(self, now: float, seids: Iterable[int] | None = None) -> None:
        """Journal the datapath's counters (not reset) of the sessions ``seids`` (all by
        default) as part of their unreported usage, so a restart with a datapath that loses
        its counters loses at most the traffic since the checkpoint."""
        for seid in self.sessions if seids is None else seids:
            session = self.sessions.get(seid)
            if session is None:
                continue
            moved = False
            for urr_id, book in session.urrs.items():
                if book.inactive:  # paused: its datapath counts are not usage
                    continue
                try:
                    counts = Counts.of(self.datapath.read_usage(seid, urr_id))
                except DatapathError:
                    continue
                if counts.values != book.dp_seen.values:
                    book.dp_seen = counts
                    moved = True
            if moved:
                self._write(session)

    def _commit_quietly(self, session: Session) -> None:
        """Journal the session at the next commit (no answer waits for it)."""
        self._write(session)

    def _journal_failed(self, err: JournalError, changes: int = 1) -> None:
        log.error("%d session change(s) not durable, rolled back: %s", changes, err)
        self.metrics.journal_failures.inc(amount=changes)

    def restore(self, records: Iterable[tuple[str, bytes]], now: float) -> int:
        """Bring back journaled sessions (and PFDs): allocations reserved, programs
        reinstalled. Returns the number of sessions restored."""
        restored = 0
        # PFDs first: sessions with application PDRs compile against them.
        for key, value in sorted(records, key=lambda kv: kv[0] != "pfd"):
            try:
                if key == "pfd":
                    self.pfds.restore(value)
                elif key.startswith("s:"):
                    self._restore_session(value, now)
                    restored += 1
            except Exception as err:  # a bad record costs that record, logged
                log.error("journal record %s not restored: %r", key, err)
                self.metrics.restore_failures.inc()
        self._touched = []
        return restored

    def _restore_session(self, value: bytes, now: float) -> None:
        d: dict[str, Any] = read_record(value)
        version = d.get("v")
        if version == 1:  # (the rules not compressed yet)
            raw_rules = base64.b64decode(d["rules"])
            packed = pack_rules(raw_rules)
        elif version == RECORD_VERSION:
            packed = base64.b64decode(d["rz"])
            raw_rules = unpack_rules(packed)
        elif version == BINARY_RECORD_VERSION:
            packed = d["rz"]
            raw_rules = unpack_rules(packed)
        else:
            raise ValueError(f"record version {version}")
        rules = RuleSet.from_groups(decode_ies(raw_rules, 0, len(raw_rules)))
        fseid = d["cp_fseid"]
        if version != BINARY_RECORD_VERSION:  # (JSON: the IE's octets in hex)
            raw_fseid = bytes.fromhex(fseid)
            (fseid,) = decode_ies(raw_fseid, 0, len(raw_fseid))
        assert isinstance(fseid, FSEID)
        session = Session(
            up_seid=int(d["up_seid"]),
            cp_seid=int(d["cp_seid"]),
            cp_node_id=str(d["cp_node_id"]),
            cp_fseid=fseid,
            rules_blob=packed,
            peers=(),
            teids=tuple(int(t) for t in d["teids"]),
            ue=tuple((sys.intern(str(n)), str(_network(a))) for n, a in d["ue"]),
            urrs={int(k): UrrBook.from_json(v) for k, v in d["urrs"].items()},
            bar_duration_s=d.get("bar_duration"),
            established_ntp=float(d.get("established", 0.0)),
            group_id=d.get("group_id"),
        )
        raw_csids = bytes.fromhex(d.get("fq_csids", ""))
        session.fq_csids = tuple(
            c for c in decode_ies(raw_csids, 0, len(raw_csids)) if isinstance(c, FQCSID)
        )
        # The datapath kept this session's counters (VPP, while pfcpd was away): they still
        # hold what the last checkpoint saw; else those counts are lost with it and stay in
        # the baseline the journal holds.
        kept = self.datapath.keeps_counts(session.up_seid)
        for book in session.urrs.values():
            book.restored_at(session.established_ntp)
            if kept:
                book.kept_by_datapath()
            else:
                book.dp_seen = ZERO
        for urr_id, g in rules.urr.items():
            fresh = self._new_book(g, 0.0, now)
            book = session.urrs.setdefault(urr_id, fresh)
            book.next_periodic, book.idle_since = fresh.next_periodic, now
            book.configure(g)
        session.derive(rules)
        program = compile_program(
            self._ctx,
            rules,
            session.bar_duration_s,
            urr_offsets(session.urrs),
            blocked_urrs(session.urrs),
        )
        session.peers = _peers(program)
        if session.up_seid in self.sessions or (session.cp_node_id, session.cp_seid) in self._by_cp:
            raise ValueError(f"session 0x{session.up_seid:x} restored twice")
        alloc = _Allocations()
        try:
            for teid in session.teids:
                if not self.teids.reserve(teid):
                    raise ValueError(f"TEID {teid} already taken")
                alloc.teids.append(teid)
            for name, text in session.ue:
                net = _network(text)
                if self.ue_pools.reserve(name, net):
                    alloc.ue.append((name, net))
                elif self.ue_pools.owned(name, net):
                    raise ValueError(f"UE address {net} ({name}) taken twice")
                else:  # the pool left the configuration: the session keeps its address
                    log.warning(
                        "session 0x%x: UE address %s is in no pool of %s now",
                        session.up_seid,
                        net,
                        name,
                    )
            self.datapath.install(session.up_seid, program)
        except (ValueError, DatapathError):
            self._free(alloc)
            raise
        self._add(session)
        self._next_seid = max(self._next_seid, session.up_seid + 1)

    # -- operators -------------------------------------------------------------------------

    def sessions_view(self, seid: int | None = None) -> list[dict[str, object]]:
        """What ``pfcpd show sessions`` shows: JSON-ready dicts, one per session."""
        chosen = (
            ([self.sessions[seid]] if seid is not None and seid in self.sessions else [])
            if seid is not None
            else list(self.sessions.values())
        )
        out: list[dict[str, object]] = []
        for s in chosen:
            rules = s.rules
            urrs: dict[str, object] = {}
            for urr_id, book in s.urrs.items():
                entry: dict[str, object] = {
                    "ur_seqn": book.seqn,
                    "baseline": list(book.baseline.values),
                }
                try:
                    u = self.datapath.read_usage(s.up_seid, urr_id)
                    entry["bytes"] = [u.bytes_total, u.bytes_ul, u.bytes_dl]
                    entry["packets"] = [u.packets_total, u.packets_ul, u.packets_dl]
                except DatapathError:
                    pass
                urrs[str(urr_id)] = entry
            out.append(
                {
                    "up_seid": s.up_seid,
                    "cp_seid": s.cp_seid,
                    "cp_node_id": s.cp_node_id,
                    "established_ntp": int(s.established_ntp),
                    "pdrs": sorted(rules.pdr),
                    "fars": {
                        str(f.far_id): {
                            "apply_action": int(f.apply_action),
                            "outer_header_creation": None
                            if f.outer_header_creation is None
                            else [str(f.outer_header_creation[0]), f.outer_header_creation[1]],
                        }
                        for f in self._fars(s)
                    },
                    "qers": sorted(rules.qer),
                    "urrs": urrs,
                    "teids": list(s.teids),
                    "ue_addresses": [n for _, n in s.ue],
                }
            )
        return out

    # -- helpers ---------------------------------------------------------------------------

    def _add(self, session: Session) -> None:
        self.sessions[session.up_seid] = session
        self._by_cp[(session.cp_node_id, session.cp_seid)] = session.up_seid
        self._refresh_timed(session)
        self._index(session, True)

    def _index(self, session: Session, add: bool) -> None:
        """The remote TEIDs the session's FARs send to (for Error Indications). A TEID's
        session is its SEID, its sessions a tuple when there are several (a set would cost
        200 bytes per session, a tuple of one 48)."""
        seid = session.up_seid
        for _, teid in session.peers:
            seids = _seids(self._by_peer_teid.get(teid, ()))
            if add:
                if seid not in seids:
                    self._by_peer_teid[teid] = (*seids, seid) if seids else seid
            elif seid in seids:
                rest = tuple(s for s in seids if s != seid)
                if rest:
                    self._by_peer_teid[teid] = rest if len(rest) > 1 else rest[0]
                else:
                    del self._by_peer_teid[teid]

    def _set_program(self, session: Session, program: SessionProgram) -> None:
        self._set_peers(session, _peers(program))

    def _modification_done(self, session: Session, now_ntp: float, drobu: bool) -> None:
        """After a modification of ``session`` is committed: its URRs' measurement paused or
        resumed as its rules now ask, its buffered downlink data dropped (``drobu``)."""
        if session.up_seid not in self.sessions:
            return  # (deleted since, in the same commit)
        if self._pause_or_resume(session, now_ntp):
            self._write(session)
        if drobu:
            self.datapath.drop_buffered(session.up_seid)

    def _modified(self, session: Session, req: Message, program: SessionProgram) -> None:
        """What a modification changes in ``session`` besides its rules and books: the
        peers of its new ``program``, the FQ-CSIDs and Group Id ``req`` gives."""
        peers = _peers(program)
        if peers != session.peers:
            self._set_peers(session, peers)
        if req.get(T.FQ_CSID) is not None:
            session.fq_csids = fq_csids(req, session.fq_csids)
        session.group_id = group_id(req, session.group_id)

    def _set_peers(self, session: Session, peers: tuple[tuple[IPAddress, int], ...]) -> None:
        known = session.up_seid in self.sessions
        if known:
            self._index(session, False)
        session.peers = peers
        if known:
            self._index(session, True)

    def _program(self, session: Session) -> SessionProgram:
        """The session's program as installed, compiled again from its rules (RuleError
        when they no longer compile, e.g. its PFDs were removed since)."""
        return compile_program(
            self._ctx,
            session.rules,
            session.bar_duration_s,
            urr_offsets(session.urrs),
            blocked_urrs(session.urrs),
        )

    def _fars(self, session: Session) -> tuple[Far, ...]:
        try:
            return self._program(session).fars
        except RuleError:
            return ()

    def _refresh_timed(self, session: Session) -> None:
        if _timed(session):
            self._timed_seids.add(session.up_seid)
        else:
            self._timed_seids.discard(session.up_seid)

    def _new_seid(self) -> int:
        while self._next_seid in self.sessions or self._next_seid == 0:
            self._next_seid = (self._next_seid + 1) & 0xFFFFFFFFFFFFFFFF
        seid = self._next_seid
        self._next_seid = (seid + 1) & 0xFFFFFFFFFFFFFFFF
        return seid

    def _up_fseid(self, seid: int) -> FSEID:
        return FSEID(seid, *self._pfcp_text)

    def _refuse(self, req: Message, err: RuleError, seid: int, node_id: NodeID | None) -> Message:
        log.info("%s seq %d refused: %s (cause %d)", req.name, req.seq, err.detail, err.cause)
        response = cause_response(req, err.cause, seid, node_id)
        allowed = ALLOWED_IES[response.msg_type]
        if err.offending_ie is not None and T.OFFENDING_IE in allowed:
            response.ies.append(OffendingIE(err.offending_ie))
        if err.failed_rule is not None and T.FAILED_RULE_ID in allowed:
            response.ies.append(FailedRuleID(*err.failed_rule))
        return response


def urr_offsets(books: dict[int, UrrBook]) -> dict[int, tuple[Volumes, Volumes]]:
    """Per URR: bytes counted towards its threshold outside the datapath (the baseline)
    and towards its quota (consumed), for :func:`compile_program`."""
    out: dict[int, tuple[Volumes, Volumes]] = {}
    for urr_id, b in books.items():
        if b.baseline or b.consumed:
            base, used = b.baseline.values, b.consumed.values
            out[urr_id] = ((base[0], base[1], base[2]), (used[0], used[1], used[2]))
    return out


def blocked_urrs(books: dict[int, UrrBook]) -> frozenset[int]:
    """URRs whose granted quota is no longer valid, or whose time quota the engine found
    used up (their traffic is dropped)."""
    blocked = [u for u, b in books.items() if b.quota_expired or b.time_quota_over]
    return frozenset(blocked) if blocked else _NONE_BLOCKED


_NONE_BLOCKED: frozenset[int] = frozenset()


# What grants a URR a new quota (its Quota Validity Time counts again).
_GRANTS = (T.VOLUME_QUOTA, T.TIME_QUOTA, T.QUOTA_VALIDITY_TIME)


def _v4v6_text(address: IPAddress) -> tuple[str | None, str | None]:
    text = str(address)
    return (text, None) if address.version == 4 else (None, text)


def _address_text(net: IPNetwork) -> str:
    """The text of ``net``'s address; ``net`` is then what `shared_network` gives for it
    (the PDRs naming the address find the object, no parsing)."""
    if net.version == 4:  # (what str() gives, a fifth of its cost)
        text = socket.inet_ntoa(int(net.network_address).to_bytes(4, "big"))
    else:
        text = str(net.network_address)
    remember_network(text, net)
    return text


def _texts(
    ue: list[tuple[str, IPNetwork]], known: dict[int, tuple[str, str]] | None = None
) -> tuple[tuple[str, str], ...]:
    """(network instance, str(network)) of each allocation; ``known``: the texts at hand
    (`_Allocations.texts`)."""
    if known:
        out = []
        for name, net in ue:
            texts = known.get(id(net))
            out.append((name, texts[1] if texts is not None else str(net)))
        return tuple(out)
    return tuple([(name, str(net)) for name, net in ue])


assert not FTEID.CACHEABLE and not UEIPAddress.CACHEABLE  # (see `PdrPlan.octets`)


def _report_marks(session: Session) -> dict[int, tuple[float, ...]]:
    """What a Usage Report changes in its URR's book (`usage_report`), per URR."""
    return {u: b.report_marks() for u, b in session.urrs.items()}


def _seids(entry: int | tuple[int, ...]) -> tuple[int, ...]:
    return (entry,) if isinstance(entry, int) else entry


def _network(text: str) -> IPNetwork:
    """The network of ``text`` (as `_texts` writes it: "address/prefix length")."""
    address, _, plen = text.partition("/")
    if plen.isdigit() and plen.isascii() and "." in address:
        try:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
        except OSError:
            pass
        else:  # (from the integer: parsing the text costs twice as much)
            return ipaddress.IPv4Network((value, int(plen)))
    return ipaddress.ip_network(text)


def _peers(program: SessionProgram) -> tuple[tuple[IPAddress, int], ...]:
    return tuple(
        f.outer_header_creation for f in program.fars if f.outer_header_creation is not None
    )


def _ue_lengths(pdrs: Iterable[Pdr]) -> tuple[int, ...]:
    """The prefix length of each PDR's UE address (-1: none): `EstablishmentShape.ue_lengths`."""
    return tuple([-1 if p.ue_ip is None else p.ue_ip.prefixlen for p in pdrs])


def _references_key(rules: RuleSet) -> tuple[object, ...] | None:
    """What `check_references` reads of ``rules``: the PDRs' and URRs' octets (the rule IDs
    they name), the FARs' IDs with the BAR ID each names, the QERs' and BARs' IDs (None
    when a PDR or URR has no octets: built here or changed)."""
    pdrs = tuple([g.raw for g in rules.pdr.values()])
    urrs = tuple([g.raw for g in rules.urr.values()])
    if None in pdrs or None in urrs:
        return None
    fars = tuple([(far_id, ie_value(g, T.BAR_ID)) for far_id, g in rules.far.items()])
    return (pdrs, urrs, fars, tuple(rules.qer), tuple(rules.bar))


def _check_queries(req: Message, session: Session) -> None:
    for q in req.get_all(T.QUERY_URR):
        qid = ie_value(q, T.URR_ID) if isinstance(q, Grouped) else None
        if qid is not None and qid not in session.urrs:
            raise RuleError(
                Cause.RULE_CREATION_MODIFICATION_FAILURE,
                f"Query URR {qid}: no such URR",
                failed_rule=(RULE_ID_URR, qid),
            )


def _timed(session: Session) -> bool:
    """The session has URRs the engine watches over time (periodic, start/stop of
    traffic, quota holding time, dropped DL traffic, quota validity, time metering that
    pauses without traffic)."""
    return any(
        b.triggers & _TIMED_TRIGGERS or b.validity_ntp or b.watches_time
        for b in session.urrs.values()
    )


_TIMED_TRIGGERS = ReportingTriggers.of("PERIO", "START", "STOPT", "QUHTI", "DROTH").flags


def _applications(rules: RuleSet) -> frozenset[str]:
    apps = set()
    for pdr in rules.pdr.values():
        for pdi in pdr.ies:  # (`get`, inline, twice: every PDR at every change)
            if pdi.type == T.PDI:
                if isinstance(pdi, Grouped):
                    for app in pdi.ies:
                        if app.type == T.APPLICATION_ID:
                            if isinstance(app, ApplicationID):
                                apps.add(app.text)
                            break
                break
    return frozenset(apps) if apps else _NO_APPS


_NO_APPS: frozenset[str] = frozenset()


def _stored_group(raw: bytes, span: tuple[int, int]) -> Grouped | None:
    """The rule group at ``span`` of a session's stored octets, decoded as `Session.rules`
    decodes it; None when its decoding sets an IE aside (it then keeps no octets)."""
    ignored: list[IgnoredIE] = []
    ies = decode_ies(raw, span[0], span[1], ignored)
    if ignored or len(ies) != 1:
        return None
    g = ies[0]
    return g if isinstance(g, Grouped) and g.raw is not None else None


def _sends_end_marker(update_fars: Iterable[IE]) -> bool:
    """Whether one of ``update_fars``' Update Forwarding Parameters has PFCPSMReq-Flags
    with SNDEM (TS 29.244 8.2.58: end markers on the old path before the switch)."""
    return any(
        isinstance(f, PFCPSMReqFlags) and f.has("SNDEM")
        for g in update_fars
        if isinstance(g, Grouped)
        for ufp in g.get_all(T.UPDATE_FORWARDING_PARAMETERS)
        if isinstance(ufp, Grouped)
        for f in ufp.ies
    )


def _aligned(layout: tuple[int, tuple[int, ...]], ies: list[IE]) -> list[IE]:
    """A request's IEs ``ies`` with its groups where they were in the request an
    `EstablishmentShape` was learnt from (``layout``: its number of IEs, the positions of
    those that were no group): ``ies`` themselves when they are (the leaves that are not
    part of its shape, such as a User ID, may come anywhere)."""
    count, leaves = layout
    if len(ies) == count:
        for at in leaves:
            if isinstance(ies[at], Grouped):
                break
        else:
            return ies
    groups = iter([ie for ie in ies if isinstance(ie, Grouped)])
    out = [ies[0]] * count  # (the leaves: not read)
    kept = set(leaves)
    for at in range(count):
        if at not in kept:
            out[at] = next(groups)
    return out


def _octets(ie: IE) -> bytes:
    """The octets a decoded group kept (`Grouped.raw`)."""
    assert isinstance(ie, Grouped) and ie.raw is not None
    return ie.raw


def _first_fteid_ue(children: list[IE]) -> tuple[IE | None, IE | None]:
    """The first F-TEID and the first UE IP Address among a PDI's ``children``."""
    fteid = ue = None
    for c in children:
        if fteid is None and isinstance(c, FTEID):
            fteid = c
        elif ue is None and isinstance(c, UEIPAddress):
            ue = c
    return fteid, ue


def _created(alloc: _Allocations, pdr_id: int, ie: IE) -> None:
    """``ie`` (chosen for PDR ``pdr_id``) goes in the PDR's Created PDR."""
    ies = alloc.created.get(pdr_id)
    if ies is None:
        alloc.created[pdr_id] = [_pdr_id_ie(pdr_id), ie]
    else:
        ies.append(ie)


_CREATED_PDR = T.CREATED_PDR


def _created_pdrs(alloc: _Allocations) -> list[IE]:
    return [Grouped(_CREATED_PDR, ies) for ies in alloc.created.values()]


def _cause_label(msg: Message) -> str:
    value = ie_value(msg, T.CAUSE)
    try:
        return Cause(value or 0).name.lower()
    except ValueError:
        return str(value)


# Session rules this engine does not implement (their features are not advertised): a
# request carrying one is refused (76) rather than half applied.
UNSUPPORTED_RULES = frozenset(
    {
        T.CREATE_TRAFFIC_ENDPOINT,
        T.UPDATE_TRAFFIC_ENDPOINT,
        T.CREATE_MAR,
        T.UPDATE_MAR,
        T.CREATE_SRR,
        T.UPDATE_SRR,
        T.PROVIDE_ATSSS_CONTROL_INFORMATION,
        T.CREATE_BRIDGE_INFO_FOR_TSC,
    }
)


def _check_supported(req: Message) -> None:
    for ie in req.ies:
        if ie.type in UNSUPPORTED_RULES:
            raise RuleError(
                Cause.SERVICE_NOT_SUPPORTED,
                f"{ie.name} is not supported",
                offending_ie=ie.type,
            )


def _check_ignored(req: Message) -> None:
    """An IE inside a rule group that the codec set aside as incorrect: the rule would mean
    something else without it, so the request fails (69, naming it)."""
    for ignored in req.ignored:
        if ignored.unexpected or not ignored.path:
            continue
        if any(name in _RULE_GROUP_NAMES for name in ignored.path):
            raise RuleError(
                Cause.MANDATORY_IE_INCORRECT,
                f"{ignored}: a rule needs it",
                offending_ie=ignored.ie.type,
            )


_RULE_GROUP_NAMES = frozenset(_names(t) for t in RULE_GROUPS)

__all__ = ["Session", "SessionEngine"]

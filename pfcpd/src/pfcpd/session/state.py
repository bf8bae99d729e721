"""What the session engine holds and the steps its requests share: `EngineState`, the base of
every part of `SessionEngine` (engine.py).

It holds the sessions and their indexes (by CP and CP SEID, by the remote TEIDs their FARs
send to, those watched over time), the TEID and UE address allocators, the PFDs, the memos
by shape, the reports awaiting the CP's answer and the changes staged for the next commit
(`Staged`, `commit`). Its methods are what every kind of request does: stage a change,
install a session in the datapath or remove it, journal it at the next commit, index it,
compile and install its program again from its rules (`_reinstall`), take it out of the
engine (`_detach`, then `_release` once durable) and refuse a request with the cause of a
`RuleError`.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Collection, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..datapath.interface import (
    Datapath,
    DatapathError,
    DatapathEvent,
    IPAddress,
    SessionProgram,
    Usage,
)
from ..metrics import LabelledGauge, Registry
from ..node.session_handler import Peer, RequestSender, cause_response
from ..pfcp import Cause, Grouped, IEType, Message, MessageType
from ..pfcp.codec import drop_encode_cache
from ..pfcp.ies_address import FSEID, NodeID
from ..pfcp.ies_flags import ReportingTriggers
from ..pfcp.ies_scalar import Cause as CauseIE
from ..pfcp.ies_scalar import OffendingIE
from ..pfcp.ies_traffic import FailedRuleID
from ..pfcp.message_types import message_type_name
from ..pfcp.messages import ALLOWED_IES
from .addresses import drop_shared
from .allocation import TeidAllocator, UeAddressPools
from .compile import FAR_SHAPE, CompileContext, Volumes, compile_program
from .dldr import DLDR_RESENDS, Episode, episodes_ended
from .errors import RuleError
from .gtpu_path import SEQ_MODULO, PathMonitor
from .inactivity import IdleWatch
from .journal import Journal
from .marks import SEID_CHUNK, SEID_MAX, Marks, seid_after
from .metrics import SessionMetrics, register_path_metrics
from .pfd import PfdStore
from .session import KeptPeers, Session, kept_peers, program_peers, ue_network
from .settings import EngineSettings
from .shapes import ShapeMemos
from .stored import StoredLayouts
from .usage import (
    NO_DROPS,
    Books,
    Counts,
    Dropped,
    OneBook,
    PacketTimes,
    UrrBook,
    drop_rule_fields,
    dropped_of,
    final_counts,
)

log = logging.getLogger("pfcpd.session")
T = IEType
NTP_UNIX_OFFSET = 2208988800
# Sessions sending to one remote TEID past which the index keeps them in a set (`_index`).
SHARED_AS_SET = 8
# Leaf IEs answers carry again and again: one instance each, whose octets the codec then
# finds by identity (`codec.encode_ies`).
ACCEPTED = CauseIE(Cause.REQUEST_ACCEPTED)
# (`Staged.label` of an establishment, its answer's name, which `handle_request` sets: the
# commit counts the sessions established by it)
ESTABLISHED = message_type_name(MessageType.SESSION_ESTABLISHMENT_RESPONSE)
# What the undo of a staged change put back into a session's URR books (`_kept_by_undo`):
# by URR ID, the book, the counts read with reset (None: no report's) and the dropped DL
# counts those reads took.
KeptByUndo = dict[int, tuple[UrrBook, Counts | None, Dropped]]
# A CP F-SEID's (IPv4, IPv6) addresses (texts), and its key in the CP index (`_by_cp`): its
# SEID, or (SEID, IPv4, IPv6) when another session has the SEID at other addresses
CpAddresses = tuple[str | None, str | None]
CpKey = int | tuple[int, str | None, str | None]


@dataclass(slots=True)
class PendingReport:
    """A Session Report Request awaiting the CP's answer: its session, the usage it carried
    and the session's move count then (``Session.cp_moves``: should the session move before
    the answer comes, even away and back or moved and undone, the answer is stale:
    `Reporting._response_received`)."""

    up_seid: int
    reports: list[Grouped]
    cp_moves: int
    # an ERIR's (UP SEID, remote TEID, peer): no other for it while this one is out
    erir: tuple[int, int, IPAddress | None] | None = None
    # a DLDR's episode token (`EngineState._dldr_open`)
    dldr: int | None = None


# A step of a staged change (`Staged.undo`): a function called without arguments, or a
# function and its arguments (an establishment's undo: one tuple, where a closure cost a
# function object, a cell per variable it names and their loads through the cells).
Step = Callable[[], None] | tuple[Callable[..., None], *tuple[Any, ...]]


@dataclass(slots=True)
class Staged:
    """A change answered but not yet durable (see `SessionEngine.commit`)."""

    request: Message | None  # None: no answer depends on it (checkpoints, reports)
    # The header SEID and Node ID of its answer when it cannot be made durable (cause 77)
    refusal: tuple[int, NodeID | None] | None
    undo: Step | None  # puts the state back as before the change
    done: Callable[[], None] | None  # once durable (frees what it gave back, ...)
    label: str = ""  # the accepted answer's message name, counted once durable
    seids: list[int] | None = None  # the sessions it handed the datapath (`_touched`)


class EngineState:
    """The engine's state and the steps its requests share (see the module)."""

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
        # CP node id -> {CP F-SEID: UP SEID}, per node, not keyed by a (node, SEID) tuple,
        # which cost 56 bytes per session (of ~1,480 at 1,000,000 sessions). A CP F-SEID
        # is its SEID and its addresses (TS 29.244 5.6.2: a SEID names a session at an IP
        # address of the CP): keyed by the SEID alone, the addresses those of the session
        # it names; a session with that SEID at other addresses is keyed by (SEID, IPv4,
        # IPv6), its addresses noted in `_cp_other` (`_cp_put`).
        self._by_cp: dict[str, dict[CpKey, int]] = {}
        # CP node id -> the (IPv4, IPv6) addresses of its entries keyed by (SEID, IPv4, IPv6)
        # (while it has entries): where a CP F-SEID sharing an address may be (`_cp_session`)
        self._cp_other: dict[str, set[CpAddresses]] = {}
        self._next_seid = 1
        # (no UP SEID from it on was handed out: marks.py; and ``_next_seid`` at the last
        # `_top_up`; whether the journal's marks gave it, `Restoring._resume`)
        self._seid_mark = 1
        self._seid_topped = 1
        self._seid_resumed = False
        self.teids = TeidAllocator()
        self.ue_pools = UeAddressPools(settings.ue_pools)
        self.teids.marked = self._marks_moved
        self.ue_pools.watch(self._marks_moved)
        self.pfds = PfdStore()
        self._sender: RequestSender | None = None
        self._pending: dict[int, PendingReport] = {}  # id(request) -> what it reported
        # UP SEID -> the `_pending` keys of its reports (a deletion or release looks up its
        # session's, not every report out: thousands while a CP is slow to answer)
        self._pending_of: dict[int, set[int]] = {}
        self._erir_out: set[tuple[int, int, IPAddress | None]] = set()  # `PendingReport.erir`
        self._next_poll: float | None = None
        self._next_checkpoint: float | None = None
        self._checkpoint_queue: list[int] = []
        # Volume thresholds and quotas whose events no poll may have had, reported at the
        # next polls (`Reporting._lost_limits`): sessions to check against the datapath's
        # counts (a slice per poll), and the limits the counts journaled from a datapath
        # that lost its counters reached (SEID -> URR ID -> triggers).
        self._limit_checks: list[int] = []
        self._limit_tries: dict[int, int] = {}  # SEID -> checks whose counts were not read
        # after lost events: the SEIDs of every session then, a cursor the polls go on with
        self._limit_sweep: Iterator[int] | None = None
        self._limits_found: dict[int, dict[int, set[str]]] = {}
        self._next_activity = 0.0
        self._timed_seids: set[int] = set()  # sessions with URRs watched over time
        # Sessions with a User Plane Inactivity Timer (TS 29.244 5.11.2): UP SEID -> its
        # watch (inactivity.py); and the SEIDs whose watch record to write or delete at the
        # next commit (written as it is then: deleted, its entry dropped, when it or its
        # session is gone).
        self._idle: dict[int, IdleWatch] = {}
        self._idle_dirty: set[int] = set()
        # remote TEID -> UP SEID, or a tuple of them when several (rare: no tuple each)
        self._by_peer_teid: dict[int, int | tuple[int, ...] | set[int]] = {}
        # GTP-U path management (`paths.PathReporting`), when configured: told the FARs'
        # peers by `_index`
        self._paths = (
            PathMonitor(settings.gtpu_path, random.randrange(SEQ_MODULO))
            if settings.gtpu_path is not None
            else None
        )
        # DLDRs waiting for their notification delay: a heap of (due, episode token, SEID,
        # event); the open episodes of DLDRs (dldr.py): UP SEID -> token -> episode
        self._delayed_dldr: list[tuple[float, int, int, DatapathEvent]] = []
        self._dldr_seq = itertools.count()
        self._dldr_open: dict[int, dict[int, Episode]] = {}
        # the sessions with owed DLDR episodes (`Episode.owed`), by the CP they are owed to
        self._dldr_owed: dict[str, set[int]] = {}
        # the SEIDs whose open episodes' record to write or delete at the next commit
        # (`dldr.episodes_record`: written as they are then, deleted when none is open)
        self._dldr_dirty: set[int] = set()
        # the episodes the installs since the datapath's last barrier ended (SEID -> token
        # -> episode): put back for a session whose change the datapath refused
        # (`GroupCommit._unprogrammed`: its buffer and reported marks stay as they were)
        self._dldr_unsettled: dict[int, dict[int, Episode]] = {}
        registry = registry or Registry()
        self.metrics = SessionMetrics(registry, lambda: len(self.sessions))
        if self._paths is not None:
            monitor = self._paths
            register_path_metrics(registry, monitor, lambda: self._paths is monitor)
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
        self._marks_dirty = False  # (the allocators' marks moved: their record, marks.py)
        self._staged: list[Staged] = []
        # SEIDs handed to the datapath (install, remove) since the last staged change: the
        # change's sessions, for the datapath's barrier (`_unprogrammed`).
        self._touched: list[int] = []
        # The sessions whose changes the datapath refused at its barrier, while their undo
        # steps run (`_unprogrammed`): an establishment's undo finds it not installed.
        self._refused_installs: frozenset[int] = frozenset()
        # (CP node id, CP SEID, IPv4, IPv6) -> the UP SEID of the session that left that CP
        # F-SEID's index entry since the last commit (`_cp_drop`): a change of the batch
        # giving it to another session depends on that session's changes (`_cp_follow`).
        self._vacated: dict[tuple[str, int, str | None, str | None], int] = {}
        # UP SEIDs of the sessions whose CP reference (CP, CP F-SEID) a change rewrote since
        # the last commit (`_cp_move`, `_refer_cp`): a Session Set Modification moving one
        # of them is undone with that change (`SetModification`).
        self._cp_rewritten: set[int] = set()
        # CPs whose index entries a move left out of the order of `sessions` (`_cp_move`)
        self._cp_unordered: set[str] = set()

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
        self._staged.append(Staged(request, refusal, undo, done, "", touched or None))

    def _dp_install(
        self, seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        if end_markers:
            self.datapath.install(seid, program, end_markers=end_markers)
        else:
            self.datapath.install(seid, program)
        self._touched.append(seid)
        if seid in self._dldr_open:
            ended = episodes_ended(self._dldr_open[seid], program)
            if ended:
                self._dldr_dirty.add(seid)
                self._dldr_unsettled.setdefault(seid, {}).update(ended)

    def _dp_remove(self, seid: int) -> dict[int, Usage]:
        self._touched.append(seid)
        return self.datapath.remove(seid)

    def _read_reset(
        self, seid: int, urr_id: int, reset: bool = True, taken: dict[int, Dropped] | None = None
    ) -> Usage:
        """The datapath's counts of URR ``urr_id`` of session ``seid``, read with ``reset``:
        the time of last packet such a read clears is a packet the session's inactivity
        watch sees (`IdleWatch.saw`: its activity check may not have read it yet); the
        dropped DL traffic it clears counts on towards the URR's Dropped DL Traffic
        Threshold (`UrrBook.dropped_taken`), and is added into ``taken`` (by URR ID: a
        change's reads, for the books its undo puts back)."""
        usage = self.datapath.read_usage(seid, urr_id, reset=reset)
        if not reset:
            return usage
        dropped = dropped_of(usage)
        if taken is not None and dropped != NO_DROPS:
            packets, octets = taken.get(urr_id, NO_DROPS)
            taken[urr_id] = packets + dropped[0], octets + dropped[1]
        session = self.sessions.get(seid)
        book = session.urrs.get(urr_id) if session is not None else None
        if book is not None:
            book.dropped_taken(dropped)
        if self._idle:
            watch = self._idle.get(seid)
            if watch is not None and watch.saw(usage.last_packet_ns):
                self._idle_dirty.add(seid)
        return usage

    def _run_step(self, step: Step | None, where: str) -> None:
        if step is None:
            return
        try:
            if type(step) is tuple:  # (a function and its arguments)
                step[0](*step[1:])
            else:
                step()  # type: ignore[operator]
        except Exception:  # a bug: logged and counted; the other changes' steps still run
            log.exception("session engine: %s step", where)
            self.metrics.errors.inc(where)

    def _write(self, session: Session) -> None:
        """Journal ``session`` as it is at the next commit."""
        self._dirty[session.key] = session

    def _erase(self, key: str) -> None:
        self._dirty[key] = None

    def _idle_timer(self, session: Session, timer: int) -> None:
        """``session``'s User Plane Inactivity Timer is ``timer`` seconds (TS 29.244 8.2.83:
        0 stops the detection), from an establishment or a modification: each one given
        starts a new inactivity period, now. Journaled at the next commit; should the
        session's changes of the batch be undone, the watch before it is put back."""
        seid = session.up_seid
        idle = self._idle
        old = idle.get(seid)
        if timer:
            idle[seid] = IdleWatch(timer, self.datapath.now_ns())
        elif old is None:
            return
        else:
            del idle[seid]
        self._idle_dirty.add(seid)

        def undo() -> None:
            if old is None:
                idle.pop(seid, None)
            else:
                idle[seid] = old
            self._idle_dirty.add(seid)

        self._staged.append(Staged(None, None, undo, None, "", [seid]))

    def _commit_quietly(self, session: Session) -> None:
        """Journal the session at the next commit (no answer waits for it)."""
        self._write(session)

    def _written(self, session: Session) -> bool:
        """An earlier change of the batch wrote ``session`` (else no undo of the batch puts
        back older URR books of it: `_kept_by_undo`, `_usage_kept`)."""
        return bool(self._staged) and session.key in self._dirty

    def _after_undos(self, session: Session, step: Callable[[], None]) -> None:
        """Stage ``step`` as the batch's first change: run last when the batch's changes
        are undone (the journal refused the commit), or when the changes of ``session``
        are (the datapath refused one of them, `_unprogrammed`), after their undos."""
        self._staged.insert(0, Staged(None, None, step, None, "", [session.up_seid]))

    def _kept_by_undo(self, session: Session, written: bool) -> KeptByUndo:
        """Where the undo of the change being staged notes the counts it puts back into
        ``session``'s URR books (URR ID -> the book, the counts: read from the datapath,
        whose counters the read reset, and the dropped DL counts the reads took: they count
        on towards a Dropped DL Traffic Threshold, `UrrBook.dropped_taken`). The undo of an
        earlier change of the batch (``written``: one wrote the session, `_written`), run
        after it, may put back the books that change replaced, without them: a step run
        after the undos (`_after_undos`) puts them into the books left, installs the
        session's program again with them (what is left of a quota, to a threshold) and
        journals them."""
        kept: KeptByUndo = {}
        if not written:
            return kept  # (no undo of the batch puts back older books)

        def again() -> None:
            if self.sessions.get(session.up_seid) is not session:
                return
            replaced = False
            for urr_id, (book, counts, dropped) in kept.items():
                now = session.urrs.get(urr_id)
                if now is not None and now is not book:  # (put back by an earlier undo)
                    if counts is not None:
                        now.baseline = now.baseline + counts
                        now.taken(counts)
                    now.dropped_taken(dropped)
                    replaced = True
            if replaced:
                self._reinstall(session)
                self._commit_quietly(session)

        self._after_undos(session, again)
        return kept

    def _session_of(self, req: Message, peer: Peer) -> Session | None:
        """The session the request's SEID names, if the requesting CP owns it: another CP's
        session is as unknown to it as a missing one (65), unless a Session Modification
        of another SMF of the owner's SMF Set takes it over (`Modification._taken_over`)."""
        session = self.sessions.get(req.seid or 0)
        if session is None or session.cp_node_id != peer.node_id:
            return None
        return session

    def _new_book(self, urr: Grouped, start_ntp: float, now: float) -> UrrBook:
        return UrrBook.created(urr, start_ntp, now)

    def _reinstall(self, session: Session) -> None:
        """Install the session's program again, recompiled with its current URR offsets."""
        try:
            program = self._program(session)
        except RuleError as err:
            log.error("session 0x%x: reinstall failed: %s", session.up_seid, err)
            return
        self._install(session, program)

    def _install(self, session: Session, program: SessionProgram) -> None:
        """Install ``program`` as the session's (`_reinstall`)."""
        try:
            self._dp_install(session.up_seid, program)
            self._set_program(session, program)
        except DatapathError as err:
            log.error("session 0x%x: reinstall failed: %s", session.up_seid, err)

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
        self, session: Session, now_ntp: float = 0.0, dropped: dict[int, Dropped] | None = None
    ) -> dict[int, tuple[Counts, PacketTimes | None]]:
        """Take ``session`` out of the datapath and the engine's indexes (its allocations
        stay taken: `_release`); its final counts as `_remove` returns them, and into
        ``dropped`` the dropped DL counts of its URRs the datapath had (by URR ID, those not
        0: `Deletion._undelete`)."""
        dp_now = self.datapath.now_ns()
        try:
            usage = self._dp_remove(session.up_seid)
        except DatapathError as err:
            if session.up_seid in self._refused_installs:  # (its install never happened)
                log.debug("session 0x%x: datapath remove: %s", session.up_seid, err)
            else:
                log.error("session 0x%x: datapath remove: %s", session.up_seid, err)
            usage = {}
        books = session.urrs
        if type(books) is OneBook:  # (the usual session: its one book, no `items` call)
            urr_id = books.urr_id
            final = {urr_id: final_counts(books.book, usage.get(urr_id), dp_now, now_ntp)}
        else:
            final = {}
            for urr_id, book in books.items():
                final[urr_id] = final_counts(book, usage.get(urr_id), dp_now, now_ntp)
        if dropped is not None:
            for urr_id, u in usage.items():
                if u.dropped_dl_packets or u.dropped_dl_bytes:
                    dropped[urr_id] = dropped_of(u)
        self.sessions.pop(session.up_seid, None)
        self._timed_seids.discard(session.up_seid)
        if session.up_seid in self._idle:  # (its record goes at the next commit)
            self._idle_dirty.add(session.up_seid)
        if self._dldr_open.get(session.up_seid):  # (its open DLDR episodes' too)
            self._dldr_dirty.add(session.up_seid)
        self._index(session, False)
        self._cp_drop(session.cp_node_id, session.cp_seid, session.up_seid, _addresses(session))
        return final

    def _release(self, session: Session, reason: str) -> None:
        """Free what a detached session held."""
        # (`teids_of`, `ue_of` inline: the type checker does not follow them)
        teids, ue = session.teids_kept, session.ue_kept
        for teid in (teids,) if type(teids) is int else teids:  # type: ignore[union-attr]
            self.teids.free(teid)
        for name, net in (ue,) if ue and type(ue[0]) is str else ue:  # type: ignore[str-unpack]
            self.ue_pools.free(name, ue_network(net))
        for key in self._pending_of.pop(session.up_seid, ()):
            pending = self._pending.pop(key)
            if pending.erir is not None:
                self._erir_out.discard(pending.erir)
        if session.up_seid not in self.sessions:  # (its DLDRs' episodes end with it)
            self._dldr_open.pop(session.up_seid, None)  # (their record gone: `_detach`)
            owed = self._dldr_owed.get(session.cp_node_id)
            if owed is not None:
                owed.discard(session.up_seid)
                if not owed:
                    del self._dldr_owed[session.cp_node_id]
        self.metrics.deleted.inc(reason)

    def _remove_local(self, seid: int, reason: str) -> None:
        session = self.sessions.get(seid)
        if session is None:
            return
        # Removed at once, durable or not (the peer no longer has it): should the commit
        # fail, a restart brings it back and the next report about it is answered 65 again.
        # No change is staged for it: its removal is none of the next change's sessions.
        touched = len(self._touched)
        self._erase(session.key)
        self._remove(session, reason)
        del self._touched[touched:]
        # (never undone: a purge keeps no `_vacated` entry per session it removed)
        key = session.cp_node_id, session.cp_seid, session.cp_ipv4, session.cp_ipv6
        if self._vacated.get(key) == seid:
            del self._vacated[key]

    def _add(self, session: Session) -> None:
        seid = session.up_seid
        self.sessions[seid] = session
        node, cp_seid = session.cp_node_id, session.cp_seid
        by_key = self._by_cp.get(node)
        if by_key is not None and cp_seid not in by_key:  # (`_cp_put`'s usual case, inline)
            by_key[cp_seid] = seid
        else:
            self._cp_put(node, cp_seid, seid, (session.cp_ipv4, session.cp_ipv6))
        if _timed(session):  # (`_refresh_timed`, inline)
            self._timed_seids.add(seid)
        else:
            self._timed_seids.discard(seid)
        peers, index = session.peers_kept, self._by_peer_teid
        # (`_index`'s usual case, inline: one peer, its TEID new to the index)
        if self._paths is None and peers and type(peers[0]) is not tuple:
            teid: int = peers[1]  # type: ignore[assignment]
            if teid not in index:
                index[teid] = seid
                return
        self._index(session, True)

    def has_sessions(self, node_id: str) -> bool:
        """CP ``node_id`` has sessions here (`SessionHandler.has_sessions`): an entry in the
        CP index, which keeps none for a CP without sessions."""
        return bool(self._by_cp.get(node_id))

    def _cp_session(
        self,
        node_id: str,
        cp_seid: int,
        ipv4: str | None,
        ipv6: str | None,
        exact: bool = False,
        excluding: Container[int] = (),
    ) -> int | None:
        """The UP SEID of CP ``node_id``'s session whose CP F-SEID has SEID ``cp_seid`` at
        ``ipv4`` or ``ipv6`` (TS 29.244 5.6.2: the SEID names one session at each address
        of the CP), if there is one here, other than those of ``excluding`` (a session
        taking that CP F-SEID: every other holder is looked at, the entry under the SEID
        and those under (SEID, IPv4, IPv6)); with ``exact``, the session of that very
        F-SEID (SEID and both addresses)."""
        by_key = self._by_cp.get(node_id)
        if by_key is None:
            return None
        held = by_key.get(cp_seid)
        if held is not None and held not in excluding:
            s = self.sessions.get(held)
            if s is None or (
                (s.cp_ipv4 == ipv4 and s.cp_ipv6 == ipv6)
                if exact
                else _shares(s.cp_ipv4, s.cp_ipv6, ipv4, ipv6)
            ):
                return held
        others = self._cp_other.get(node_id)
        if not others:  # (the usual CP: one SEID, one session)
            return None
        if exact:
            held = by_key.get((cp_seid, ipv4, ipv6))
            return None if held in excluding else held
        for v4, v6 in others:
            if _shares(v4, v6, ipv4, ipv6):
                held = by_key.get((cp_seid, v4, v6))
                if held is not None and held not in excluding:
                    return held
        return None

    def _cp_put(
        self,
        node_id: str,
        cp_seid: int,
        up_seid: int,
        addresses: CpAddresses | None = None,
    ) -> None:
        """Index session ``up_seid`` as CP ``node_id``'s session of CP F-SEID ``cp_seid`` at
        ``addresses`` (IPv4, IPv6; the session's when not given): under the SEID, or when
        another session has that entry at other addresses under (SEID, IPv4, IPv6). The
        entry of another session still here with that CP F-SEID is kept, and this logged:
        a CP F-SEID names one session (an establishment with one in use is refused as a
        duplicate), the one the CP was told about last. (No change meets this: an undo
        putting a session back on an entry undoes the changes that gave the entry to
        another, `_cp_follow`; it is a guard.)"""
        if addresses is None:
            addresses = _addresses(self.sessions[up_seid])
        by_key = self._by_cp.get(node_id)
        if by_key is None:
            by_key = self._by_cp[node_id] = {}
        key: CpKey = cp_seid
        held = by_key.get(cp_seid)
        if held is not None and held != up_seid and (s := self.sessions.get(held)) is not None:
            if _addresses(s) != addresses:  # (the SEID at other addresses: another's)
                key = (cp_seid, *addresses)
                held = by_key.get(key)
                self._cp_other.setdefault(node_id, set()).add(addresses)
            if held is not None and held != up_seid and held in self.sessions:
                log.warning(
                    "session 0x%x: CP %s SEID 0x%x is session 0x%x's, index left to it",
                    up_seid,
                    node_id,
                    cp_seid,
                    held,
                )
                return
        by_key[key] = up_seid

    def _cp_drop(
        self,
        node_id: str,
        cp_seid: int,
        up_seid: int,
        addresses: CpAddresses | None = None,
    ) -> None:
        """Forget that CP ``node_id``'s session of CP F-SEID ``cp_seid`` at ``addresses``
        (the session's when not given) is session ``up_seid``: only when the index gives it
        that session (another may hold the entry, see `_cp_put`). No dict is left for a CP
        without sessions; the CP F-SEID is noted as vacated by it until the commit
        (`_cp_follow`)."""
        if addresses is None:
            addresses = _addresses(self.sessions[up_seid])
        by_key = self._by_cp.get(node_id)
        if by_key is None:
            return
        key: CpKey = cp_seid
        if by_key.get(key) != up_seid:
            key = (cp_seid, *addresses)
            if by_key.get(key) != up_seid:
                return
        del by_key[key]
        if not by_key:
            del self._by_cp[node_id]
            self._cp_other.pop(node_id, None)
        self._vacated[(node_id, cp_seid, *addresses)] = up_seid

    def _cp_follow(self, node_id: str, cp_seid: int, ipv4: str | None, ipv6: str | None) -> bool:
        """The change being staged gives CP ``node_id``'s CP F-SEID (``cp_seid``, ``ipv4``,
        ``ipv6``) to a session. When a change of this batch took it from another session,
        the other session is one of this change's (`_touched`): should the datapath refuse
        a change of it, that change's undo puts it back on the entry, and this change is
        undone and refused with it (`_unprogrammed`) instead of leaving two sessions with
        one CP F-SEID. True when it did."""
        gone = self._vacated.get((node_id, cp_seid, ipv4, ipv6))
        if gone is None:
            return False
        self._touched.append(gone)
        return True

    def _cp_move(self, moves: Iterable[tuple[Session, str, FSEID]]) -> set[str]:
        """Sessions take new CP F-SEIDs, each move ``(session, CP node id, CP F-SEID)``
        (Session Set Modification, a Session Modification with a CP F-SEID, their undo):
        the entries of all of them leave the index first, then each session goes under its
        new one (one move may take the entry another leaves). A session taken out of the
        engine since (an undo after a purge) takes its F-SEID and no entry. An entry put is
        its CP's last: until `_cp_order` (at once, or when `_cp_seids` reads the CP's
        entries) they are out of the order of `sessions`. Returns the CPs given entries."""
        moves = list(moves)
        for s, _, _ in moves:
            self._cp_drop(s.cp_node_id, s.cp_seid, s.up_seid, _addresses(s))
        nodes: set[str] = set()
        rewritten = self._cp_rewritten
        owed = self._dldr_owed
        for s, node, fseid in moves:
            if owed and s.cp_node_id != node:
                self._dldr_owed_moved(s.up_seid, s.cp_node_id, node)
            s.cp_node_id, s.cp_fseid = node, fseid
            rewritten.add(s.up_seid)
            s.cp_moves += 1  # (a report's answer from before is stale: `PendingReport`)
            if self.sessions.get(s.up_seid) is s:
                self._cp_put(node, s.cp_seid, s.up_seid, _addresses(s))
                nodes.add(node)
        self._cp_unordered |= nodes
        return nodes

    def _dldr_ended(self, seid: int) -> None:
        """Every open DLDR episode of session ``seid`` ended (its buffer discarded: the
        datapath re-armed every report)."""
        if self._dldr_open.pop(seid, None) is not None:
            self._dldr_dirty.add(seid)

    def _dldr_owed_moved(self, seid: int, old: str, new: str) -> None:
        """Session ``seid`` moves from CP ``old`` to CP ``new``: the DLDRs it owes (dldr.py)
        are owed to ``new``, sent once that CP can be told (not held behind ``old``'s)."""
        owed = self._dldr_owed.get(old)
        if owed is None or seid not in owed:
            return
        owed.discard(seid)
        if not owed:
            del self._dldr_owed[old]
        self._dldr_owed.setdefault(new, set()).add(seid)

    def _dldr_owe_capped(self, seid: int, node_id: str) -> None:
        """Each episode of session ``seid`` whose report went unanswered `DLDR_RESENDS`
        times (`Reporting._dldr_done`: not sent again while its CP stays associated and
        reachable) is owed to CP ``node_id``, its re-sends counted anew: the CP learns of
        its data once it can be told (TS 29.244 5.2.3.1: it never got the episode's
        report). Called when that can have changed: the CP's association ended, was set up
        again or recovered, its sessions kept (`Reporting.dldrs_owed_again`), or the session
        moved to another CP (a Session Set Modification, a Session Modification by another
        CP of its SMF Set). One whose last report is still out has its re-sends counted anew
        alone: unanswered, that report goes again (`_dldr_done`), owed when the CP cannot be
        told then (no second request of the episode while one is out)."""
        episodes = self._dldr_open.get(seid)
        if not episodes:
            return
        out: set[int | None] | None = None  # (the episodes of its reports out)
        for token, episode in episodes.items():  # (values replaced: no key added)
            if episode.resends < DLDR_RESENDS or episode.owed or episode.answered:
                continue
            if out is None:
                pending = self._pending
                out = {pending[key].dldr for key in self._pending_of.get(seid, ())}
            if token in out:
                episodes[token] = replace(episode, resends=0)
                continue
            episodes[token] = replace(episode, owed=True, resends=0)
            self._dldr_owed.setdefault(node_id, set()).add(seid)

    def _cp_readdress(self, session: Session, fseid: FSEID) -> None:
        """``session``'s CP F-SEID takes the addresses of ``fseid`` (its SEID, same CP; not
        a move: `Session.cp_moves` stays). Its entry under the SEID stays where it is (the
        entry's addresses are the session's); one under (SEID, IPv4, IPv6) is put under
        the new ones, last (`_cp_unordered`). The old CP F-SEID is vacated (`_cp_follow`)."""
        node, seid, old = session.cp_node_id, session.up_seid, _addresses(session)
        new = fseid.ipv4, fseid.ipv6
        self._cp_rewritten.add(seid)
        if new == old:
            session.cp_fseid = fseid
            return
        by_key = self._by_cp.get(node)
        if by_key is not None and by_key.get(session.cp_seid) == seid:
            session.cp_fseid = fseid
            self._vacated[(node, session.cp_seid, *old)] = seid
        elif self.sessions.get(seid) is session:
            self._cp_drop(node, session.cp_seid, seid, old)
            session.cp_fseid = fseid
            self._cp_put(node, session.cp_seid, seid, new)
            self._cp_unordered.add(node)
        else:  # (taken out of the engine since: no entry)
            session.cp_fseid = fseid

    def _cp_seids(self, node_id: str) -> list[int]:
        """The UP SEIDs of CP ``node_id``'s sessions, in the order of `sessions` (a list of
        its own: the caller removes them). The index holds every session under its CP
        F-SEID, in that order (`_add` adds a session last to both, `_cp_order` puts the
        entries of moved sessions in it, here when a move left them out of it); should its
        entries not number the sessions or name one that is not the CP's (a bug, logged
        and counted), they come from the sessions themselves. (A session named twice fails
        the count unless another is missing: hence the check that each is named once.)"""
        if node_id in self._cp_unordered:
            self._cp_order((node_id,))
        by_cp, sessions = self._by_cp, self.sessions
        by_seid = by_cp.get(node_id)
        seids = [] if by_seid is None else list(by_seid.values())
        entries = sum(map(len, by_cp.values()))
        if (
            entries == len(sessions)
            and all(s is not None and s.cp_node_id == node_id for s in map(sessions.get, seids))
            and len(set(seids)) == len(seids)
        ):
            return seids
        log.error(
            "CP index: %d entries for %d sessions, %d under CP %s: its sessions found one by one",
            entries,
            len(sessions),
            len(seids),
            node_id,
        )
        self.metrics.errors.inc("cp_index")
        return [s.up_seid for s in sessions.values() if s.cp_node_id == node_id]

    def _cp_order(self, nodes: Iterable[str]) -> None:
        """Put the index entries of CPs ``nodes`` in the order of `sessions`: a move
        (`_cp_move`) adds a session's entry last, where `sessions` keeps its place. An
        entry stays only if its session is here under that CP F-SEID."""
        by_cp, nodes = self._by_cp, set(nodes)
        self._cp_unordered -= nodes
        nodes = {node for node in nodes if node in by_cp}
        if not nodes:
            return
        theirs = [s for s in self.sessions.values() if s.cp_node_id in nodes]  # (one pass)
        ordered: dict[str, dict[CpKey, int]] = {node: {} for node in nodes}
        for s in theirs:
            node, cp_seid, seid = s.cp_node_id, s.cp_seid, s.up_seid
            if by_cp[node].get(cp_seid) == seid:
                ordered[node][cp_seid] = seid
            elif by_cp[node].get(key := (cp_seid, s.cp_ipv4, s.cp_ipv6)) == seid:
                ordered[node][key] = seid
        for node, by_key in ordered.items():
            if by_key:
                by_cp[node] = by_key
            else:
                del by_cp[node]
                self._cp_other.pop(node, None)

    def _index(self, session: Session, add: bool) -> None:
        """The remote TEIDs the session's FARs send to (for Error Indications). A TEID's
        session is its SEID, its sessions a tuple when there are several (a set would cost
        200 bytes per session, a tuple of one 48), a set past `SHARED_AS_SET` (gNBs number
        their TEIDs alike: a TEID many sessions send to is then changed in place, not
        copied at each session's change)."""
        seid, peers = session.up_seid, session.peers_kept
        index = self._by_peer_teid
        paths = self._paths
        # (`peers_of` inline: the type checker does not follow it)
        peer: IPAddress
        teid: int
        for peer, teid in (peers,) if peers and type(peers[0]) is not tuple else peers:  # type: ignore[assignment]
            if paths is not None:  # (GTP-U path management: the peers in use)
                paths.use(peer, 1 if add else -1)
            entry = index.get(teid)
            if entry is None and add:  # (the usual TEID: the session's alone)
                index[teid] = seid
                continue
            if type(entry) is set:
                if add:
                    entry.add(seid)
                else:
                    entry.discard(seid)
                    if len(entry) <= SHARED_AS_SET // 2:
                        index[teid] = tuple(entry)
                continue
            seids = seids_of(entry) if entry is not None else ()
            if add:
                if seid not in seids:
                    if not seids:
                        index[teid] = seid
                    elif len(seids) < SHARED_AS_SET:
                        index[teid] = (*seids, seid)
                    else:
                        index[teid] = {*seids, seid}
            elif seid in seids:
                rest = tuple(s for s in seids if s != seid)
                if rest:
                    index[teid] = rest if len(rest) > 1 else rest[0]
                else:
                    del index[teid]

    def _set_program(self, session: Session, program: SessionProgram) -> None:
        self._keep_peers(session, kept_peers(program_peers(program)))

    def _keep_peers(self, session: Session, kept: KeptPeers) -> None:
        """The session's FARs' peers are ``kept`` (as ``Session.peers_kept`` holds them)."""
        known = session.up_seid in self.sessions
        if known:
            self._index(session, False)
        session.peers_kept = kept
        if known:
            self._index(session, True)

    def _program(self, session: Session) -> SessionProgram:
        """The session's program as installed, compiled again from its rules and the PFDs
        known now (RuleError when they no longer compile, e.g. new PFDs give a PDR more
        SDF filters than it may have)."""
        return compile_program(
            self._ctx,
            session.rules,
            session.bar_duration_s,
            urr_offsets(session.urrs),
            blocked_urrs(session.urrs),
            urr_grants=urr_grants(session.urrs),
            bar_grant=session.bar_grant,
        )

    def _refresh_timed(self, session: Session) -> None:
        if _timed(session):
            self._timed_seids.add(session.up_seid)
        else:
            self._timed_seids.discard(session.up_seid)

    def _new_seid(self) -> int:
        """The next UP SEID not in use, in increasing order from 1 to `SEID_MAX`, then from
        1 again; one taken at or past the mark (not one of the `SEID_CHUNK` before it,
        circularly: marks.py) moves the mark `SEID_CHUNK` ahead of it."""
        sessions = self.sessions
        seid = self._next_seid
        while seid in sessions:
            seid = seid + 1 if seid < SEID_MAX else 1
        self._next_seid = seid + 1 if seid < SEID_MAX else 1
        ahead = self._seid_mark - seid
        if not 0 < ahead <= SEID_CHUNK and not 0 < ahead % SEID_MAX <= SEID_CHUNK:
            self._seid_mark = seid_after(seid, SEID_CHUNK)  # (it was at or past the mark)
            self._marks_moved()
        return seid

    def _marks_moved(self) -> None:
        """An allocator's mark moved: the marks' record goes with the next commit, and the
        other allocators in use move theirs with it when less than half a chunk ahead
        (`_top_up`): one write rather than one each."""
        if not self._marks_dirty:
            self._marks_dirty = True
            self._top_up()

    def _top_up(self) -> None:
        """`allocation._Space.top_up` of the TEIDs and the UE pools, and its like of the UP
        SEIDs: taken from since the last call, their mark less than half a chunk ahead of
        the next one, the mark moves a chunk ahead of it."""
        self.teids.top_up()
        self.ue_pools.top_up()
        nxt = self._next_seid
        if nxt != self._seid_topped:
            self._seid_topped = nxt
            if (self._seid_mark - nxt) % SEID_MAX < SEID_CHUNK // 2:
                self._seid_mark = seid_after(nxt, SEID_CHUNK)

    def _marks(self) -> Marks:
        return Marks(self.teids.mark, self._seid_mark, self.ue_pools.marks())

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

    def _refused_by_datapath(
        self, req: Message, err: DatapathError, seid: int, node_id: NodeID | None
    ) -> Message:
        """The answer to ``req`` whose program the datapath refused when installed. 73
        "Rule creation/modification Failure" names the rule that failed (TS 29.244 Table
        7.5.3.1-1, 7.5.5.1-1: Failed Rule ID), so it answers a refusal naming one rule
        (`DatapathError.failed_rule`); any other (a key another session holds, a table
        full) is 77 "System failure", as a refusal at the datapath's barrier is
        (`GroupCommit`)."""
        log.warning("%s seq %d refused by the datapath: %s", req.name, req.seq, err)
        if err.failed_rule is not None:
            cause = Cause.RULE_CREATION_MODIFICATION_FAILURE
            failed = RuleError(cause, str(err), failed_rule=err.failed_rule)
            return self._refuse(req, failed, seid, node_id)
        return cause_response(req, Cause.SYSTEM_FAILURE, seid, node_id)


def urr_offsets(books: Books) -> dict[int, tuple[Volumes, Volumes]]:
    """Per URR: bytes counted towards its threshold outside the datapath (the baseline)
    and towards its quota (consumed), for :func:`compile_program`."""
    out: dict[int, tuple[Volumes, Volumes]] = {}
    for urr_id, b in books.items():
        if b.baseline or b.consumed:
            base, used = b.baseline.values, b.consumed.values
            out[urr_id] = ((base[0], base[1], base[2]), (used[0], used[1], used[2]))
    return out


def urr_grants(books: Books) -> dict[int, int]:
    """Per URR with a Time Quota the datapath meters, granted again at least once: its
    grants (`UrrBook.time_grants`), for :func:`compile_program` (the engine applies the
    Time Quota of a URR whose time metering it does, ``own_time``)."""
    grants = {u: b.time_grants for u, b in books.items() if b.time_grants and not b.own_time}
    return grants if grants else _NO_GRANTS


_NO_GRANTS: dict[int, int] = {}


def blocked_urrs(books: Books) -> frozenset[int]:
    """URRs whose granted quota is no longer valid, or whose time quota is used up (their
    traffic is dropped), unless their measurement is paused (INAM: no quota applies)."""
    blocked = [u for u, b in books.items() if b.quota_expired or (b.time_quota_over and not b.inam)]
    return frozenset(blocked) if blocked else _NONE_BLOCKED


_NONE_BLOCKED: frozenset[int] = frozenset()


def _v4v6_text(address: IPAddress) -> tuple[str | None, str | None]:
    text = str(address)
    return (text, None) if address.version == 4 else (None, text)


def seids_of(entry: int | tuple[int, ...] | set[int]) -> Collection[int]:
    """The SEIDs of an entry of the remote-TEID index (`EngineState._index`)."""
    return (entry,) if isinstance(entry, int) else entry


def _timed(session: Session) -> bool:
    """The session has URRs the engine watches over time (periodic, start/stop of
    traffic, quota holding time, dropped DL traffic, quota validity, time metering that
    pauses without traffic, a Monitoring Time not reached yet)."""
    # (a loop, `watches_time` inline: no generator and properties per session added)
    books = session.urrs
    for b in (books.book,) if type(books) is OneBook else books.values():  # (no call: one book)
        if (
            b.triggers & _TIMED_TRIGGERS
            or b.validity_ntp
            or (b.duration and b.inactivity > 0)  # (`UrrBook.pauses`)
            or (b.own_time and (b.time_threshold or b.time_quota))
            or b.monitoring_ntp
        ):
            return True
    return False


_TIMED_TRIGGERS = ReportingTriggers.of("PERIO", "START", "STOPT", "QUHTI", "DROTH").flags


def _addresses(session: Session) -> CpAddresses:
    """The (IPv4, IPv6) addresses of ``session``'s CP F-SEID."""
    return session.cp_ipv4, session.cp_ipv6


def _shares(ipv4: str | None, ipv6: str | None, other4: str | None, other6: str | None) -> bool:
    """Two CP F-SEIDs' addresses have one in common."""
    return (ipv4 is not None and ipv4 == other4) or (ipv6 is not None and ipv6 == other6)

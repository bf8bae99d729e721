"""`VppDatapath`: the Datapath interface on the UPF plugin inside VPP.

Calls: one ``upf_session_add_del`` per install/remove (the whole program in one message,
one round trip per PFCP transaction), made synchronously from pfcpd's event loop through
`client.ApiClient` (its own thread and asyncio loop).

Usage: reads without reset (the engine's checkpoints, START/STOP watching, ``show
sessions``) are answered from a cache that the client's thread refreshes every
``usage_refresh`` seconds with one ``upf_session_usage_dump`` (a plugin without it: one
pipelined ``upf_usage_get`` per session); a URR VPP made since is cached with the counts it
started with, 0: every URR of a session VPP created, and a URR id new to the session a
modification brings (VPP keeps the counts of a URR a modification ends: that id brought
back continues them). Only reads with reset (usage reports) and the first read of a URR
the cache does not hold (a URR id that comes back, a URR added to a session VPP held before
pfcpd created it) wait for VPP. A read is not cached for a session whose counts a change
sent after the read may have changed otherwise than by packets: its creation, its
removal, a reset, a modification that adds or ends URRs (the client's thread numbers the
reads and those changes as it sends them; VPP answers in that order). The usage dump is
given ``call_timeout`` and DUMP_PER_SESSION per session to answer (decoding the details
of many sessions takes longer than one call). A refresh that fails (VPP's error, no answer
in time) is logged and counted (`refresh_failures`), and the next one is made a period
later; each connection has one refresh loop (a generation ends the loop of the connection
before).

Events: ``want_upf_events`` at connect; ``upf_event`` messages are turned into
DatapathEvents in the client's thread and handed over by `poll_events` (never blocks).
The plugin drops an event its packet thread's queue has no room for and counts it ("events
lost" of ``upf_counters_get``): the usage refresh reads that count too, and `events_lost`
tells the engine when it grew (the engine then checks every session's volume limits
against the counts, as after a restart).

pfcpd restart: VPP keeps its sessions. At construction the datapath dumps VPP's sessions
(SEID and cookie, a digest of the rules sent). The engine then restores its journal:
those installs are deferred, and `start` sends them all at once (pipelined): a session
VPP holds with the same cookie is left as it is, one with another cookie is modified, a
missing one is created, and a session VPP holds that the journal does not have is deleted.
Packets keep flowing all along, and VPP's URR counters of the sessions it kept go on
counting: `keeps_counts` tells the engine so, which restores their usage baseline without
what the last checkpoint read from them. Nothing counted while pfcpd was away is lost.

VPP restart: the API socket closes; every call fails at once with VppUnavailable (the
engine answers the PFCP request with a rule creation/modification failure), and the
client's thread reconnects every 0.5 s. When VPP answers again, it re-binds the network
instances and interfaces, subscribes to events again and re-programs every session
(pipelined), then accepts calls again; it logs how long VPP was away and how long the
re-programming took.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pfcpd.datapath.interface import (
    Datapath,
    DatapathError,
    DatapathEvent,
    EchoSent,
    IPAddress,
    SessionCounters,
    SessionProgram,
    Usage,
)
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import ApiClient, Call, VppCallError, VppNoMessage, VppUnavailable
from pfcpd.datapath.vpp.settings import VppDatapathSettings
from pfcpd.datapath.vpp.wire import (
    DETAILS,
    REPLY,
    ReplyDecoder,
    SessionPacker,
    Unsupported,
    UsageDetailsDecoder,
)

log = logging.getLogger("pfcpd.datapath.vpp")

RECONNECT_INTERVAL = 0.5  # s between attempts to reach VPP again
REFRESH_CHUNK = 1024  # upf_usage_get calls in flight at once while refreshing
# s a usage dump may take per session beyond call_timeout. Reading and decoding a session's
# details takes the client's thread 5-15 us (wire.UsageDetailsDecoder; vpp_papi's decoder,
# if it does not compile: 20-45 us) on a 2-core VM: 50,000 sessions 0.3-0.7 s (1.0-2.2 s)
DUMP_PER_SESSION = 100e-6
LOST_EVENTS_COUNTER = (3, 1)  # (kind, index) of "events lost" in upf_counters_get
_OP_NAMES = {tr.OP_CREATE: "create", tr.OP_MODIFY: "modify", tr.OP_DELETE: "delete"}

ClientFactory = Callable[..., ApiClient]


POST_EVERY = 32  # pipelined changes packed before they are handed to the client's thread
_RETRY = {
    (tr.OP_CREATE, tr.ENTRY_ALREADY_EXISTS): tr.OP_MODIFY,
    (tr.OP_MODIFY, tr.NO_SUCH_ENTRY): tr.OP_CREATE,
}


@dataclasses.dataclass(slots=True)
class _Change:
    """An install sent (or to send) to VPP, its reply not checked yet."""

    seid: int
    op: int
    program: SessionProgram
    cookie: int
    call: Call
    before: tuple[SessionProgram, int] | None  # the session's (program, cookie) before it


def _as_error(exc: BaseException) -> DatapathError:
    return exc if isinstance(exc, DatapathError) else DatapathError(str(exc))


def _zero(urr_id: int) -> Usage:
    """The counts of a URR just created or reset."""
    return Usage(urr_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _urr_ids(program: SessionProgram | None) -> set[int]:
    return {u.urr_id for u in program.urrs} if program is not None else set()


def _mark_of(ch: _Change) -> tuple[int, bool] | None:
    """How sending ``ch`` marks its session for the usage cache (`VppDatapath._mark`): a
    create, as new (what the cache held of the SEID goes); a modify that adds or ends URRs;
    None: another modify (VPP's counts go on)."""
    if ch.op == tr.OP_CREATE:
        return (ch.seid, True)
    if ch.op == tr.OP_MODIFY and _urr_ids(ch.program) != _urr_ids(ch.before and ch.before[0]):
        return (ch.seid, False)
    return None


def _cause(exc: BaseException, timeout: float) -> str:
    """What made a call fail, for the log (asyncio's timeout says nothing)."""
    if isinstance(exc, TimeoutError):
        return str(exc) or f"VPP did not answer within {timeout:g} s"
    if isinstance(exc, DatapathError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclasses.dataclass(slots=True)
class _RefreshPlan:
    """What a usage refresh loop reads (a message the plugin turned out not to have is
    not asked for again)."""

    dump: bool = True  # upf_session_usage_dump (else one upf_usage_get per session)
    count_lost: bool = True  # upf_counters_get's count of lost events


class VppStartError(Exception):
    """VPP cannot be used as configured (interface missing, plugin absent, ...)."""


class VppDatapath(Datapath):
    """Connects (waiting up to ``connect_timeout``), binds the interfaces, subscribes to
    events and dumps VPP's sessions; then the engine restores into it, then `start`."""

    def __init__(
        self,
        settings: VppDatapathSettings,
        client_factory: ClientFactory = ApiClient,
        pipelined: bool = False,
    ) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._programs: dict[int, tuple[SessionProgram, int]] = {}  # SEID -> (program, cookie)
        self._usage: dict[int, dict[int, Usage]] = {}  # the cache; written in the client thread
        self._usage_filled = False  # a refresh filled the cache since the last (re)connect
        # A read of the counts (a usage dump, an upf_usage_get) is cached for a session only
        # if no change of its counts other than its packets' was sent after the read (VPP
        # answers the calls in the order sent): its creation, its removal, a reset, a
        # modification that adds or ends URRs. Each such change is marked with the number
        # (`_seq`) it was sent under; a read takes the number current when it is sent. The
        # client's thread alone writes these, in the step that sends the call.
        self._seq = 0
        self._marks: dict[int, int] = {}  # SEID -> _seq its last change was sent under
        self._open: collections.Counter[int] = collections.Counter()  # reads in flight: _seq
        # SEID -> every URR id VPP's state of the session has held since VPP created it (known
        # for the sessions pfcpd created there): VPP keeps the counts of a URR a program drops,
        # and a later program with that id continues them; an id new to the session counts
        # from 0 (under _lock: the client's thread rewrites it when it re-programs VPP).
        self._urr_history: dict[int, set[int]] = {}
        self._events: collections.deque[DatapathEvent] = collections.deque()
        self._restoring = True
        self._held: dict[int, int] = {}  # SEID -> cookie VPP held at connect
        # SEID -> its buffered DL packets, of the sessions VPP held at connect with some
        self._held_buffers: dict[int, int] = {}
        # The plugin's clock (VPP's vlib time, ns) minus time.monotonic_ns(), from the
        # now_ns of the last usage reply: Usage.first/last_packet_ns are in the plugin's clock.
        self._clock_offset = 0
        self._deferred: list[tuple[int, Call]] = []  # (SEID, call)
        # Pipelined changes: not sent yet, and sent but their reply not checked (`settle`)
        self.pipelined = pipelined
        self._unsent: list[_Change] = []
        self._sent: list[_Change] = []
        self._refused: set[int] = set()  # SEIDs VPP refused to create (since removed)
        self._packer: SessionPacker | None = None
        self._ready = False
        self._closing = False
        self.unknown_events = 0
        # The plugin's count of events lost (None: not read yet, or the plugin has none),
        # and whether it grew and the refresh after the read has not filled the usage cache
        # yet (both in the client's thread's refresh); how many times that refresh told the
        # loss (`_tell_lost`: the client's thread alone writes it) and how many of those
        # `events_lost` has told the engine (its thread alone writes it).
        self._lost_count: int | None = None
        self._lost_pending = False
        self._lost_told = 0
        self._lost_asked = 0
        self.reconnects = 0
        self.program_failures = 0
        self.refresh_failures = 0  # usage refresh rounds that failed
        # The connection's generation (the client's thread alone writes it): a new one when
        # the connection is lost and when a usage refresh starts; a refresh loop runs while
        # its generation is the current one.
        self._generation = 0
        self.client = client_factory(
            settings.api_socket, settings.call_timeout, self._on_message, self._on_lost
        )
        try:
            self._connect_at_start()
            self._held = self.client.run(self._setup(), settings.call_timeout * 10)
        except BaseException:
            self.client.close()
            raise
        self._ready = True
        log.info(
            "VPP at %s: connected; it holds %d session(s)", settings.api_socket, len(self._held)
        )

    # -- Datapath interface -------------------------------------------------------------
    def install(
        self, seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        """Pipelined (the daemon): the change is packed and sent (every POST_EVERY changes,
        and before any call that waits for VPP), its reply checked by `settle`. Otherwise
        it is sent and its reply awaited at once (DatapathError when VPP refuses it).
        ``end_markers``: upf.api's ``send_end_marker`` is one flag per message, so the
        plugin sends End Markers for every FAR switched to another GTP-U tunnel when one of
        them asks (not for a FAR removed)."""
        if self._restoring:
            self._defer(seid, program)
            return
        self._check_ready()
        with self._lock:
            before = self._programs.get(seid)
        op = tr.OP_MODIFY if before is not None else tr.OP_CREATE
        call, cookie = self._session_call(seid, op, program, bool(end_markers))
        with self._lock:
            self._programs[seid] = (program, cookie)  # (what VPP holds once it acknowledges)
        self._unsent.append(_Change(seid, op, program, cookie, call, before))
        if not self.pipelined:
            failed = self.settle()
            if seid in failed:
                raise failed[seid]
        elif len(self._unsent) >= POST_EVERY:
            self._post()

    def settle(self) -> dict[int, DatapathError]:
        """Wait for VPP's replies to every change sent since the last call; the sessions
        whose change VPP refused (or could not take: VPP gone), each with its error. A
        session VPP held behind pfcpd's back (create: ENTRY_ALREADY_EXISTS) or lost
        (modify: NO_SUCH_ENTRY) is sent its last program again as a modify or a create.
        A refused session is left as VPP holds it (its last change VPP took, if any)."""
        self._post()
        changes, self._sent = self._sent, []
        if not changes:
            return {}
        try:
            results = self.client.collect(self._bulk_timeout(len(changes)))
        except DatapathError as exc:
            results = [exc] * len(changes)
        if len(results) != len(changes):  # (the connection was replaced meanwhile)
            results = [VppUnavailable("VPP closed the API connection")] * len(changes)
        last: dict[int, int] = {}  # SEID -> index of its last change
        for i, ch in enumerate(changes):
            last[ch.seid] = i
        failed: dict[int, DatapathError] = {}
        took: dict[int, _Change] = {}  # SEID -> its last change VPP took
        fresh: dict[int, set[int]] = {}  # SEID -> URRs VPP made in this batch (counting from 0)
        retries: list[_Change] = []
        for i, (ch, result) in enumerate(zip(changes, results, strict=True)):
            if not isinstance(result, Exception):
                took[ch.seid] = ch
                self._note_urrs(ch, fresh)
                continue
            if ch.seid in failed:
                continue
            retry = _RETRY.get((ch.op, int(getattr(result, "retval", 0))))
            if retry is None or not isinstance(result, DatapathError):
                failed[ch.seid] = _as_error(result)
            elif last[ch.seid] == i:
                # VPP's sessions differ from pfcpd's (an orphan left by a failed reconcile,
                # a session deleted in VPP's CLI): make VPP's what pfcpd confirms.
                log.warning("session 0x%x: %s; sent again as %s", ch.seid, result, _OP_NAMES[retry])
                call, cookie = self._session_call(ch.seid, retry, ch.program)
                retries.append(_Change(ch.seid, retry, ch.program, cookie, call, ch.before))
            # (else a later change of the session, which VPP took or not, decides)
        if retries:
            again: list[Any] = self.client.run(
                self._send_many([r.call for r in retries], [(r.seid, True) for r in retries]),
                self._bulk_timeout(len(retries)),
            )
            for ch, result in zip(retries, again, strict=True):
                if isinstance(result, Exception):
                    failed[ch.seid] = _as_error(result)
                    continue
                took[ch.seid] = ch
                # a create: VPP had lost the session; a modify: VPP held a session pfcpd did
                # not know of, its counts and their history unknown
                self._note_urrs(ch, fresh)
        with self._lock:
            for seid, err in failed.items():
                first = next(c for c in changes if c.seid == seid)
                held = took.get(seid)
                if held is not None:
                    self._programs[seid] = (held.program, held.cookie)
                elif first.before is not None:
                    self._programs[seid] = first.before
                else:
                    self._programs.pop(seid, None)
                    self._refused.add(seid)
                log.warning("session 0x%x: VPP did not take the change: %s", seid, err)
        self.program_failures += len(failed)
        for seid, ch in took.items():
            if seid not in failed:
                self._prune_usage(seid, ch.program)
                made = fresh.get(seid)
                if made and seid in self._programs:  # (not one removed since)
                    self._zero_usage(seid, [u.urr_id for u in ch.program.urrs if u.urr_id in made])
        return failed

    def _note_urrs(self, ch: _Change, fresh: dict[int, set[int]]) -> None:
        """VPP took ``ch``: the URRs it made for it (a created session's, the ids a modify
        brings that the session never had) count from 0 (into ``fresh``); a modify of a
        session whose history is unknown (VPP held it before pfcpd created it) makes none
        pfcpd knows of."""
        ids = {u.urr_id for u in ch.program.urrs}
        with self._lock:
            if ch.seid not in self._programs:  # (removed since: nothing to keep of it)
                fresh.pop(ch.seid, None)
                return
            if ch.op == tr.OP_CREATE:
                self._urr_history[ch.seid] = set(ids)
                fresh[ch.seid] = ids
                return
            history = self._urr_history.get(ch.seid)
            if history is None:
                fresh.pop(ch.seid, None)
                return
            new = ids - history
            history |= new
        if new:
            fresh.setdefault(ch.seid, set()).update(new)

    def _zero_usage(self, seid: int, urr_ids: Iterable[int]) -> None:
        """Cache the counts of URRs VPP made since the last usage refresh (a session it
        created, a URR id new to the session a modification brings): they started at 0
        there (a read without reset then needs no call to VPP). A refresh that cached them
        already cached later counts: those stay."""
        cache = self._usage.setdefault(seid, {})
        for urr_id in urr_ids:
            cache.setdefault(urr_id, _zero(urr_id))

    def _prune_usage(self, seid: int, program: SessionProgram) -> None:
        cache = self._usage.get(seid)
        if cache is not None:
            kept = {u.urr_id for u in program.urrs}
            for urr_id in [u for u in cache if u not in kept]:
                cache.pop(urr_id, None)

    def _post(self) -> None:
        """Send the changes not sent yet (one hop to the client's thread for all)."""
        if self._unsent:
            unsent, self._unsent = self._unsent, []
            self._sent += unsent
            marks = [m for m in map(_mark_of, unsent) if m is not None]
            before = functools.partial(self._mark, marks) if marks else None
            self.client.post([c.call for c in unsent], before)

    def remove(self, seid: int) -> dict[int, Usage]:
        with self._lock:
            entry = self._programs.pop(seid, None)
            self._urr_history.pop(seid, None)
        self._usage.pop(seid, None)
        if entry is None:
            if seid in self._refused:  # (VPP refused its creation: nothing to remove)
                self._refused.discard(seid)
                return {}
            raise DatapathError(f"session 0x{seid:x} not installed")
        self._check_ready()
        self._post()
        call = self._session_call(seid, tr.OP_DELETE, None)[0]
        (reply,) = self.client.run(
            self._send_many([call], [(seid, True)]), self.settings.call_timeout
        )
        if isinstance(reply, Exception):
            raise reply
        self._note_clock(reply)
        return tr.usages_of(reply)

    def held_buffers(self) -> dict[int, int]:
        """The sessions VPP held at connect with buffered DL packets (``upf_session_dump``'s
        ``buffered_pkts``, read then), until `start`."""
        return dict(self._held_buffers)

    def keeps_counts(self, seid: int) -> bool:
        """VPP held the session when pfcpd connected: its counters went on meanwhile (a
        modification of its program at reconcile keeps them too)."""
        return seid in self._held

    def read_usage(self, seid: int, urr_id: int, reset: bool = False) -> Usage:
        with self._lock:
            entry = self._programs.get(seid)
        if entry is None:
            raise DatapathError(f"session 0x{seid:x} not installed")
        if not reset:
            cached = self._usage.get(seid, {}).get(urr_id)
            if cached is not None:
                return cached
        self._check_ready()
        self._post()
        usage: Usage = self.client.run(self._read(seid, urr_id, reset), self.settings.call_timeout)
        return usage

    def poll_events(self) -> list[DatapathEvent]:
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def usage_cached(self) -> bool:
        """A usage refresh has filled the cache since pfcpd (re)connected: a read without
        reset is answered from it, without a call to VPP."""
        return self._usage_filled

    def events_lost(self) -> bool:
        """The plugin's count of lost events grew since the last call (seen by the usage
        refresh, every ``usage_refresh`` seconds): told once the usage cache holds the
        counts read after the count (the engine's check reads that cache)."""
        told = self._lost_told  # (one read: a loss told from now on is the next call's)
        lost = told != self._lost_asked
        self._lost_asked = told
        return lost

    def drop_buffered(self, seid: int) -> int:
        try:
            self._check_ready()
            self._post()
            reply = self.client.call("upf_session_drop_buffered", seid=seid)
        except DatapathError as exc:
            log.warning("session 0x%x: buffered packets not dropped: %s", seid, exc)
            return 0
        return int(reply.n_dropped)

    def rearm_dl_data_report(self, seid: int, pdr_id: int, qfi: int) -> bool:
        """The plugin re-arms it (``upf_session_rearm_dl_report``). A plugin without the
        message (older than this pfcpd), VPP away or refusing it: logged, False."""
        try:
            self._check_ready()
            self._post()
            reply = self.client.call(
                "upf_session_rearm_dl_report", seid=seid, pdr_id=pdr_id, qfi=qfi
            )
        except VppNoMessage:
            log.warning("session 0x%x: the plugin cannot re-arm a DL data report", seid)
            return False
        except DatapathError as exc:
            log.warning("session 0x%x: DL data report not re-armed: %s", seid, exc)
            return False
        return bool(reply.rearmed)

    def buffered(self, seid: int) -> int | None:
        """The plugin's count (``upf_session_dump``'s ``buffered_pkts``); 0 when VPP has no
        such session; None when VPP is away or refuses the call (logged)."""
        try:
            self._check_ready()
            self._post()
            _, details = self.client.call("upf_session_dump", seid=seid)
        except DatapathError as exc:
            log.warning("session 0x%x: buffered packets not counted: %s", seid, exc)
            return None
        return sum(int(d.buffered_pkts) for d in details if int(d.seid) == seid)

    def send_echo(self, source: IPAddress, peer: IPAddress, seq: int) -> EchoSent:
        """The plugin sends it (``upf_gtpu_echo_send``, routed in FIB table 0) and reports
        its Echo Response as an event record. UNSUPPORTED: the plugin has no such message
        (older than this pfcpd). VPP away or refusing it: logged, NOT_SENT (a VPP outage is
        not a failure of the paths)."""
        try:
            self._check_ready()
            self._post()
            self.client.call("upf_gtpu_echo_send", src=source, dst=peer, seq=seq)
        except VppNoMessage:
            return EchoSent.UNSUPPORTED
        except DatapathError as exc:
            log.warning("GTP-U Echo Request to %s not sent: %s", peer, exc)
            return EchoSent.NOT_SENT
        return EchoSent.SENT

    def close(self) -> None:
        """Disconnect; VPP keeps every session (a pfcpd restart reconciles with them)."""
        self._closing = True
        self._ready = False
        self.client.close()

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """End of the restore: send the deferred installs and delete what VPP holds that
        the journal does not (pipelined); then refresh usage in the background."""
        started = time.monotonic()
        with self._lock:
            self._restoring = False
            calls, self._deferred = self._deferred, []
            orphans = [seid for seid in self._held if seid not in self._programs]
        calls += [(seid, self._session_call(seid, tr.OP_DELETE, None)[0]) for seid in orphans]
        results = self.client.call_many([c for _, c in calls], self._bulk_timeout(len(calls)))
        failed = self._log_failures(calls, results, "reconcile")
        self._note_clocks(results)
        self._note_created(calls, results, self._held)
        self.program_failures += failed
        kept = sum(1 for seid in self._programs if seid in self._held)
        log.info(
            "VPP reconciled in %.3f s: %d session(s) restored (%d VPP kept), %d deleted "
            "(not in the journal), %d failed",
            time.monotonic() - started,
            len(self._programs),
            kept,
            len(orphans),
            failed,
        )
        self._held = {}
        self._held_buffers = {}
        self.client.call_soon(self._start_refresh)

    @property
    def ready(self) -> bool:
        """Connected, and every session programmed (false while VPP is away)."""
        return self._ready

    # -- in the calling thread -------------------------------------------------------------
    def _check_ready(self) -> None:
        if not self._ready:
            raise VppUnavailable("VPP is not connected (restarting?)")

    def _defer(self, seid: int, program: SessionProgram) -> None:
        """A restore install: sent by `start` (only what VPP does not hold already)."""
        held = self._held.get(seid)
        op = tr.OP_CREATE if held is None else tr.OP_MODIFY
        call, cookie = self._session_call(seid, op, program)
        with self._lock:
            self._programs[seid] = (program, cookie)
        if held != cookie:
            self._deferred.append((seid, call))

    def _session_call(
        self, seid: int, op: int, program: SessionProgram | None, send_end_marker: bool = False
    ) -> tuple[Call, int]:
        """upf_session_add_del for ``program`` and its cookie; packed with the precompiled
        structs when they compiled, else as arguments for vpp_papi's serializer."""
        packer = self._packer
        if packer is None:
            msg = tr.session_message(seid, op, program, send_end_marker)
            return ("upf_session_add_del", msg), int(msg["cookie"])
        rules = tr.program_rules(program) if program is not None and op != tr.OP_DELETE else []
        try:
            packed = packer.rules(rules)
        except struct.error as exc:
            raise DatapathError(
                f"session 0x{seid:x}: a value does not fit upf.api: {exc}"
            ) from None
        cookie = tr.bytes_cookie(packed) if rules else 0
        sndem = send_end_marker and op == tr.OP_MODIFY
        n = len(rules)

        def build(msg_id: int, client_index: int, context: int) -> bytes:
            return packer.message(msg_id, client_index, context, seid, op, sndem, cookie, n, packed)

        return ("upf_session_add_del", build), cookie

    def _do(self, call: Call) -> Any:
        name, args = call
        if callable(args):
            return self.client.call_packed(name, args)
        return self.client.call(name, **args)

    def _connect_at_start(self) -> None:
        deadline = time.monotonic() + self.settings.connect_timeout
        waiting = False
        while True:
            try:
                self.client.connect()
                return
            except VppUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise VppStartError(
                        f"VPP did not answer at {self.settings.api_socket} within "
                        f"{self.settings.connect_timeout:g} s: {exc}"
                    ) from None
                if not waiting:
                    log.info("waiting for VPP at %s: %s", self.settings.api_socket, exc)
                    waiting = True
                time.sleep(RECONNECT_INTERVAL)

    def _bulk_timeout(self, n: int) -> float:
        return self.settings.call_timeout + n * 0.001

    def _note_created(
        self, calls: list[tuple[int, Call]], results: list[Any], held: dict[int, int]
    ) -> None:
        """After the restore's or a re-programming's calls: the URR history of a session
        they created (one create: VPP did not hold it) is its program's; a session VPP
        held and they left as it was keeps its own; any other's is unknown."""
        sent = collections.Counter(seid for seid, _ in calls)
        took = {
            seid
            for (seid, _), r in zip(calls, results, strict=True)
            if not isinstance(r, Exception)
        }
        with self._lock:
            for seid, (program, _) in self._programs.items():
                if seid in held and seid not in sent:
                    continue
                if seid not in held and sent[seid] == 1 and seid in took:
                    self._urr_history[seid] = _urr_ids(program)
                else:
                    self._urr_history.pop(seid, None)

    @staticmethod
    def _log_failures(calls: list[tuple[int, Call]], results: list[Any], what: str) -> int:
        failed = 0
        for (seid, (name, _)), result in zip(calls, results, strict=True):
            if isinstance(result, Exception):
                failed += 1
                log.error("%s: %s of session 0x%x failed: %s", what, name, seid, result)
        return failed

    # -- in the client's thread ------------------------------------------------------------
    async def _setup(self) -> dict[int, int]:
        """Bind network instances and interfaces, subscribe to events; VPP's sessions."""
        await self._bind()
        await self.client.acall("want_upf_events", enable=True, pid=os.getpid())
        try:  # (the events lost from now on are told: `events_lost`)
            await self._count_lost_events()
        except VppUnavailable:
            raise
        except DatapathError as exc:
            log.warning("VPP's count of lost events not read: %s", exc)
        self._packer = self._compile_packer()
        _, details = await self.client.acall("upf_session_dump", seid=tr.ALL_SESSIONS)
        self._held_buffers = {
            int(d.seid): int(d.buffered_pkts) for d in details if int(d.buffered_pkts)
        }
        return {int(d.seid): int(d.cookie) for d in details}

    async def _bind(self) -> None:
        s = self.settings
        _, ifaces = await self.client.acall("sw_interface_dump", name_filter_valid=False)
        index = {str(i.interface_name): int(i.sw_if_index) for i in ifaces}
        wanted: dict[int, tuple[int, int]] = {}  # sw_if_index -> (role, network instance)
        missing = []
        for role, names, ni in [
            (tr.ROLE_N3, s.n3_interfaces, 0),
            (tr.ROLE_N9, s.n9_interfaces, 0),
        ] + [(tr.ROLE_N6, inst.n6_interfaces, i) for i, inst in enumerate(s.instances)]:
            for name in names:
                if name not in index:
                    missing.append(name)
                else:
                    wanted[index[name]] = (role, ni)
        if missing:
            raise VppStartError(
                f"VPP has no interface {', '.join(map(repr, missing))} (datapath.vpp; "
                f"VPP has: {', '.join(sorted(index)) or 'none'})"
            )
        for i, inst in enumerate(s.instances):
            await self.client.acall(
                "upf_nwi_add_del",
                is_add=True,
                network_instance=i,
                ip4_table_id=inst.ip4_table_id,
                ip6_table_id=inst.ip6_table_id,
            )
            if not inst.n6_interfaces:
                log.warning(
                    "network instance %s has no N6 interface in VPP: no downlink enters it",
                    inst.name,
                )
        _, bound = await self.client.acall("upf_interface_dump")
        have = {int(b.sw_if_index): (int(b.role), int(b.network_instance)) for b in bound}
        for sw_if_index, (role, ni) in have.items():
            if wanted.get(sw_if_index) != (role, ni):
                await self.client.acall(
                    "upf_interface_add_del",
                    is_add=False,
                    sw_if_index=sw_if_index,
                    role=role,
                    network_instance=ni,
                )
        for sw_if_index, (role, ni) in wanted.items():
            if have.get(sw_if_index) != (role, ni):
                await self.client.acall(
                    "upf_interface_add_del",
                    is_add=True,
                    sw_if_index=sw_if_index,
                    role=role,
                    network_instance=ni,
                )

    def _on_message(self, message: Any) -> None:
        if type(message).__name__ != "upf_event":
            log.debug("VPP message %s ignored", type(message).__name__)
            return
        events, unknown = tr.events_of(message)
        self._events.extend(events)
        if unknown:
            self.unknown_events += unknown
            log.warning("%d VPP event(s) of unknown type skipped", unknown)

    def _on_lost(self) -> None:
        if self._closing:
            return
        self._ready = False
        self._generation += 1  # (the connection's usage refresh ends)
        log.warning(
            "VPP closed the API connection (stopped or restarted): %d session(s) to "
            "re-program when it is back; PFCP changes are refused until then",
            len(self._programs),
        )
        self.client.spawn(self._recover(time.monotonic()))

    async def _recover(self, lost_at: float) -> None:
        reported = ""  # the last setup error logged (each new one is logged once)
        while not self._closing:
            try:
                await self.client.aconnect()
            except (TimeoutError, VppUnavailable):
                await asyncio.sleep(RECONNECT_INTERVAL)
                continue
            back_at = time.monotonic()
            try:
                held = await self._setup()
                n, failed = await self._reprogram(held)
                with self._lock:
                    kept = any(seid in held for seid in self._programs)
                if kept:
                    # The same VPP (not restarted): its sessions counted on meanwhile and it
                    # dropped the events it raised with no client subscribed (told once the
                    # first refresh has cached the counts).
                    self._lost_pending = True
            except (DatapathError, VppStartError) as exc:
                if str(exc) != reported:
                    reported = str(exc)
                    log.error("VPP is back but cannot be set up: %s; retrying", exc)
                await asyncio.sleep(RECONNECT_INTERVAL)
                continue
            self.reconnects += 1
            self._ready = True
            log.warning(
                "VPP back after %.3f s: %d session(s) re-programmed in %.3f s (%d failed)",
                back_at - lost_at,
                n,
                time.monotonic() - back_at,
                failed,
            )
            self._start_refresh()
            return

    async def _reprogram(self, held: dict[int, int]) -> tuple[int, int]:
        with self._lock:
            programs = dict(self._programs)
        self._usage_filled = False
        self._usage.clear()
        calls = [
            (seid, self._session_call(seid, tr.OP_DELETE, None)[0])
            for seid in held
            if seid not in programs
        ]
        for seid, (program, cookie) in programs.items():
            if held.get(seid) == cookie:
                continue
            op = tr.OP_MODIFY if seid in held else tr.OP_CREATE
            try:
                calls.append((seid, self._session_call(seid, op, program)[0]))
            except DatapathError as exc:
                log.error("re-program: session 0x%x: %s", seid, exc)
        results = await self.client.acall_many([c for _, c in calls])
        self._note_created(calls, results, held)
        failed = self._log_failures(calls, results, "re-program")
        self._note_clocks(results)
        self.program_failures += failed
        return len(calls), failed

    async def _read(self, seid: int, urr_id: int, reset: bool) -> Usage:
        """One URR's counts from VPP (the caller's `run` times it); cached (a reset: as 0)
        unless a change of the session was sent after the read."""
        if reset:
            self._mark([(seid, False)])
        seq = self._capture()
        try:
            args = {"seid": seid, "urr_id": urr_id, "reset": reset}
            reply = await self.client.asend(("upf_usage_get", args))
        finally:
            self._release(seq)
        self._note_clock(reply)
        found = tr.usages_of(reply).get(urr_id)
        if found is None:
            raise DatapathError(f"session 0x{seid:x}: URR {urr_id} unknown to VPP")
        if self._marks.get(seid, 0) <= seq and seid in self._programs:
            cache = self._usage.setdefault(seid, {})
            cache[urr_id] = _zero(urr_id) if reset else found
        return found

    async def _send_many(self, calls: list[Call], marks: list[tuple[int, bool]]) -> list[Any]:
        """Send ``calls`` (per call its reply or its DatapathError), marking ``marks`` in
        the same step (`_mark`)."""
        self._mark(marks)
        return await self.client.acall_many(calls)

    def _mark(self, marks: Iterable[tuple[int, bool]]) -> None:
        """The client's thread, in the step that sends the changes of these sessions: no
        read sent before is cached for them. (SEID, True): a session created or removed,
        what the cache held of it goes too."""
        self._seq += 1
        for seid, anew in marks:
            self._marks[seid] = self._seq
            if anew:
                self._usage.pop(seid, None)

    def _capture(self) -> int:
        """A read is sent (the client's thread, in the step that sends it): its number,
        in flight until `_release`."""
        self._open[self._seq] += 1
        return self._seq

    def _release(self, seq: int) -> None:
        self._open[seq] -= 1
        if self._open[seq] <= 0:
            del self._open[seq]

    def _prune_marks(self) -> None:
        """Forget the marks no read in flight nor to come can be older than."""
        floor = min(self._open, default=self._seq)
        if self._marks:
            self._marks = {seid: m for seid, m in self._marks.items() if m > floor}

    def _start_refresh(self) -> None:
        """Start the usage refresh of the connection (the client's thread): a new
        generation, which ends any loop still running (or sleeping) from before."""
        self._generation += 1
        self.client.spawn(self._refresh_usage(self._generation))

    def _refreshing(self, generation: int) -> bool:
        return generation == self._generation and self._ready and not self._closing

    async def _refresh_usage(self, generation: int) -> None:
        """Refresh the usage cache every usage_refresh seconds while the connection of
        ``generation`` lasts. A round that fails (VPP's error, no answer in time, or a bug)
        is logged with its cause and counted (`refresh_failures`); the next period tries
        again."""
        plan = _RefreshPlan()
        failing = ""  # the cause of the rounds failing in a row (logged once)
        failed = 0  # rounds failed in a row
        while self._refreshing(generation):
            try:
                await self._refresh_round(plan, generation)
            except Exception as exc:  # (not CancelledError: the client ends its tasks)
                if not self._refreshing(generation):
                    return  # (its connection is gone: the next one has a loop of its own)
                self.refresh_failures += 1
                failed += 1
                cause = _cause(exc, self.settings.call_timeout)
                bug = not isinstance(exc, (DatapathError, TimeoutError))  # (its traceback)
                if cause != failing:
                    failing = cause
                    every = self.settings.usage_refresh
                    level = logging.ERROR if bug else logging.WARNING
                    log.log(
                        level,
                        "usage refresh failed: %s; tried again every %g s",
                        cause,
                        every,
                        exc_info=bug,
                    )
                else:
                    log.debug(
                        "usage refresh failed again (%d in a row): %s", failed, cause, exc_info=bug
                    )
            else:
                if failed:
                    log.info("usage refresh done again after %d failed round(s)", failed)
                    failing, failed = "", 0
            await asyncio.sleep(self.settings.usage_refresh)

    async def _refresh_round(self, plan: _RefreshPlan, generation: int) -> None:
        """One refresh: the count of lost events, then one upf_session_usage_dump of every
        session (a plugin without it: one pipelined upf_usage_get per session). Nothing read
        on a connection lost meanwhile is cached."""
        if plan.count_lost:
            try:
                plan.count_lost = await self._count_lost_events()
            except (VppCallError, TimeoutError) as exc:  # (read at the next round)
                cause = _cause(exc, self.settings.call_timeout)
                log.warning("usage refresh: events lost not read: %s", cause)
            except VppUnavailable:
                raise
            except DatapathError as exc:  # (a plugin without upf_counters_get)
                log.warning("usage refresh: events lost not read: %s; not read again", exc)
                plan.count_lost = False
        self._prune_marks()
        lost = self._lost_pending  # (told once the counts read after it are cached)
        skipped = False  # a session's counts not cached (a change sent after the read)
        if plan.dump:
            seq = self._capture()
            try:
                details = await self._dump_usage()
            except (VppCallError, VppUnavailable):
                raise
            except DatapathError as exc:  # (a plugin without it)
                log.warning("usage refresh: %s; reading each session instead", exc)
                plan.dump = False
            else:
                if not self._refreshing(generation):
                    return
                skipped |= self._apply_usage(seq, ((int(d.seid), d) for d in details))
            finally:
                self._release(seq)
        if not plan.dump:
            skipped |= await self._refresh_each(generation)
        if not self._refreshing(generation):
            return
        self._usage_filled = True
        # The engine checks every session's limits against the cache once told: not while
        # a session's counts are those of a round before (told after a round that cached
        # them all).
        if lost and not skipped:
            self._lost_pending = False
            self._tell_lost()

    async def _dump_usage(self) -> list[Any]:
        """upf_session_usage_dump of every session, given call_timeout and DUMP_PER_SESSION
        per session pfcpd holds to answer (VPP streams the details; their decoding takes
        the time)."""
        n = len(self._programs)
        timeout = self.settings.call_timeout + n * DUMP_PER_SESSION
        call: Call = ("upf_session_usage_dump", {"seid": tr.ALL_SESSIONS})
        try:
            _, details = await asyncio.wait_for(self.client.asend(call), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"VPP did not answer the usage dump of {n} session(s) within {timeout:.3g} s"
            ) from None
        return list(details)

    def _tell_lost(self) -> None:
        """Tell the engine events were lost, at its next `events_lost` (the client's thread;
        a count each thread writes alone, so that none is missed while the engine asks)."""
        self._lost_told += 1

    async def _count_lost_events(self) -> bool:
        """Read the plugin's count of lost events (``upf_counters_get``); note when it grew
        (a VPP restarted meanwhile counts from 0 again: the count is taken as it is), for
        `events_lost` once the usage refresh that follows is cached. False: the plugin
        has no such count."""
        reply = await self.client.acall("upf_counters_get")
        for c in reply.counters:
            if (int(c.kind), int(c.index)) == LOST_EVENTS_COUNTER:
                lost = int(c.value)
                if self._lost_count is not None and lost > self._lost_count:
                    log.warning(
                        "VPP lost %d event(s) (its queue full): volume limits are checked",
                        lost - self._lost_count,
                    )
                    self._lost_pending = True
                self._lost_count = lost
                return True
        return False

    async def _refresh_each(self, generation: int) -> bool:
        """Read every session's counts, REFRESH_CHUNK calls at a time; True when a
        session's were not cached (`_apply_usage`)."""
        skipped = False
        with self._lock:
            seids = [s for s, (p, _) in self._programs.items() if p.urrs]
        for i in range(0, len(seids), REFRESH_CHUNK):
            chunk = seids[i : i + REFRESH_CHUNK]
            calls: list[Call] = [
                ("upf_usage_get", {"seid": s, "urr_id": 0, "reset": False}) for s in chunk
            ]
            seq = self._capture()
            try:
                results = await asyncio.wait_for(
                    self.client.acall_many(calls), self._bulk_timeout(len(calls))
                )
            finally:
                self._release(seq)
            if not self._refreshing(generation):
                return skipped
            read = zip(chunk, results, strict=True)
            skipped |= self._apply_usage(
                seq, ((s, r) for s, r in read if not isinstance(r, Exception))
            )
        return skipped

    def _apply_usage(self, seq: int, replies: Iterable[tuple[int, Any]]) -> bool:
        """Cache the usage read when ``_seq`` was ``seq``; not for a session a change was
        sent for since (created, removed, reset, URRs added or ended: VPP may have read
        its counts before the change; the next refresh has them). True when a session
        pfcpd holds was left out that way."""
        skipped = False
        for seid, reply in replies:
            self._note_clock(reply)
            if seid not in self._programs:
                continue
            if self._marks.get(seid, 0) <= seq:
                self._usage[seid] = tr.usages_of(reply)
            else:
                skipped = True
        return skipped

    def _note_clock(self, reply: Any) -> None:
        now = getattr(reply, "now_ns", None)
        if isinstance(now, int) and now > 0:
            self._clock_offset = now - time.monotonic_ns()

    def _note_clocks(self, replies: list[Any]) -> None:
        """The plugin's clock from the last of ``replies`` that carried it (a VPP restarted
        since has a clock begun anew)."""
        for reply in reversed(replies):
            now = getattr(reply, "now_ns", None)
            if not isinstance(reply, Exception) and isinstance(now, int) and now > 0:
                self._note_clock(reply)
                return

    def now_ns(self) -> int:
        """The plugin's clock, estimated from the last reply that carried it (its error is that
        reply's transit time, well under a millisecond over the local API socket)."""
        return time.monotonic_ns() + self._clock_offset

    def _compile_packer(self) -> SessionPacker | None:
        api = self.client.message_definitions("upf")
        if api is None:
            return None
        for name, decoder in ((REPLY, ReplyDecoder), (DETAILS, UsageDetailsDecoder)):
            try:
                self.client.set_fast_reply(name, decoder(api))
            except Unsupported as exc:
                log.warning("%s not compiled (%s): vpp_papi decodes it", name, exc)
        try:
            return SessionPacker(api)
        except Unsupported as exc:
            log.warning("upf.api not compiled (%s): vpp_papi's serializer packs sessions", exc)
            return None

    # -- operators -------------------------------------------------------------------------
    def counters(self) -> SessionCounters:
        """The plugin's datapath-wide counters (upf_counters_get)."""
        self._check_ready()
        reply = self.client.call("upf_counters_get")
        out = SessionCounters()
        for c in reply.counters:
            kind, index, name, value = int(c.kind), int(c.index), str(c.name), int(c.value)
            if kind == 0:
                if index == 0:
                    out.rx_ul = value
                else:
                    out.rx_dl = value
            elif kind == 1 and value:
                out.malformed[name] = value
            elif kind == 2 and value:
                out.drops[name] = value
        return out

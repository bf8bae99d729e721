"""Session Reports (TS 29.244 7.5.8): Usage Reports (USAR) on the datapath's events, the
URRs' triggers and the volume limits counts reached while no event of the datapath could
reach the engine (pfcpd restarted, events lost), Downlink Data Reports (DLDR, after the
BAR's notification delay), Error Indication Reports (ERIR), and what the CP's answers to
them change (cause 65: the session is removed; DROBU; Update BAR; a new FQ-CSID or Group
Id) while the session is still the CP's, at the CP SEID, the report went to (after a move
the answer changes nothing, and counts it did not accept go to the new owner in the next
report).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace

from ..datapath.interface import (
    DLDR_DSCP,
    ApplyAction,
    DatapathError,
    DatapathEvent,
    EventType,
    IPAddress,
    Usage,
)
from ..pfcp import IE, Cause, Grouped, IEType, Message, MessageType
from ..pfcp.ies_address import FTEID, UEIPAddress
from ..pfcp.ies_flags import PFCPSRRspFlags, ReportType, UsageReportTrigger
from ..pfcp.ies_scalar import PDRID
from ..pfcp.ies_text import ApplicationID
from ..pfcp.ies_traffic import DownlinkDataServiceInformation
from .compile import pfcp_pdr_id, quotas_used_up, volume_limits_reached
from .dldr import DLDR_RESENDS, Episode, pdr_far
from .errors import RuleError
from .paths import PathReporting
from .rules import RuleSet, ie_value
from .session import Session
from .session_set import fq_csids, group_id
from .state import PendingReport, Staged, seids_of
from .usage import (
    ZERO,
    Counts,
    Dropped,
    UrrBook,
    counts_back,
    measures,
    octets,
    packet_times,
    usage_reports,
    volume_limited,
)

log = logging.getLogger("pfcpd.session")
M = MessageType
T = IEType
# Checks of a session's volume limits whose counts the datapath fails to read, at most
# (`Reporting._limits_unread`).
LIMIT_CHECK_TRIES = 3
# How long after a checked report an event of its limit may still come late (VPP sends
# its events every 10 ms, the engine polls them every `poll_interval`): past it, or on
# a datapath clock that went back (VPP restarted), no event is taken for late.
LATE_WINDOW_NS = 1_000_000_000
# Usage report triggers by datapath event.
_EVENT_TRIGGER = {
    EventType.USAGE_THRESHOLD: "VOLTH",
    EventType.USAGE_QUOTA: "VOLQU",
    EventType.TIME_THRESHOLD: "TIMTH",
    EventType.TIME_QUOTA: "TIMQU",
}
# The triggers whose Usage Report tells the application detected (`application_detected`)
_APPLICATION_TRIGGERS = frozenset({"START", "STOPT"})


class Reporting(PathReporting):
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
        keys = self._pending_of[pending.up_seid]
        keys.discard(id(request))
        if not keys:
            del self._pending_of[pending.up_seid]
        if pending.erir is not None:
            self._erir_out.discard(pending.erir)
        session = self.sessions.get(pending.up_seid)
        if pending.dldr is not None:
            # (an answer from before the session moved is not its owner's: not answered)
            moved = session is not None and session.cp_moves != pending.cp_moves
            self._dldr_done(pending.up_seid, pending.dldr, response is not None and not moved, now)
        if response is None:
            # Never answered: the counts it carried go into the next report (of a session
            # deleted in this batch: should the deletion be undone, `_usage_if_back`).
            if session is not None:
                self._usage_kept(session, pending.reports)
            else:
                self._usage_if_back(pending.up_seid, pending.reports)
            return
        cause = ie_value(response, T.CAUSE)
        if session is not None and session.cp_moves != pending.cp_moves:
            # The session moved since the report went (another SMF of the set took it over,
            # a Session Set Modification moved it, its owner gave another CP F-SEID), even
            # if back since (the answer may be a retransmission's, given while it was
            # away): the answer is about a session the CP that gives it may no longer hold.
            # Nothing in it applies (65 removes nothing; FQ-CSID, Group Id, DROBU, Update
            # BAR are not taken); counts it did not accept go into the session's next
            # report, to its owner now (accepted, they are delivered: not counted twice).
            log.info(
                "session 0x%x moved since its report to CP SEID 0x%x (moves: %d then, %d now;"
                " now CP %s SEID 0x%x): its answer (cause %s) is not applied",
                session.up_seid,
                request.seid or 0,
                pending.cp_moves,
                session.cp_moves,
                session.cp_node_id,
                session.cp_seid,
                cause,
            )
            if cause != Cause.REQUEST_ACCEPTED:
                self._usage_kept(session, pending.reports)
            return
        if cause == Cause.SESSION_CONTEXT_NOT_FOUND and session is not None:
            log.info("CP has no session 0x%x (report answered 65): removed", session.up_seid)
            self._remove_local(session.up_seid, "report_response_65")
            return
        if session is None:
            if cause != Cause.REQUEST_ACCEPTED:
                self._usage_if_back(pending.up_seid, pending.reports)
            return
        if cause != Cause.REQUEST_ACCEPTED:
            # Not accepted (an overloaded or failing CP: 64, 74, 77, ...): its counts go
            # into the next report, as a report never answered does.
            self._usage_kept(session, pending.reports)
        flags = response.get(T.PFCPSRRSP_FLAGS)
        if isinstance(flags, PFCPSRRspFlags) and flags.has("DROBU"):
            self.datapath.drop_buffered(session.up_seid)
            self._dldr_ended(session.up_seid)  # (every report re-armed)
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

    def _usage_kept(self, session: Session, reports: list[Grouped]) -> None:
        """The counts of ``reports`` (a report no CP took) go back into the session's URRs
        at once, for its next report, a Session Deletion's final one or a Query URR later
        in the batch (`_usage_back`), journaled with the batch. Should the batch's commit
        be refused, the undo of a change of the session puts back the URR books that
        change replaced, without these counts: a step run after the undos (`_after_undos`)
        then puts them into the books the undo put back (not into those it left as they
        were, which hold them)."""
        if not reports:
            return
        written = self._written(session)
        self._counts_back(session, reports)
        self._commit_quietly(session)
        if not written:
            return
        urrs = session.urrs
        # the books the counts went into (an earlier undo puts back the others only)
        books = [session.urrs.get(ie_value(group, T.URR_ID) or 0) for group in reports]

        def again() -> None:
            if self.sessions.get(session.up_seid) is session and session.urrs is not urrs:
                replaced = [
                    group
                    for group, book in zip(reports, books, strict=True)
                    if session.urrs.get(ie_value(group, T.URR_ID) or 0) is not book
                ]
                if replaced:
                    self._counts_back(session, replaced)
                    self._commit_quietly(session)

        self._after_undos(session, again)

    def _usage_if_back(self, seid: int, reports: list[Grouped]) -> None:
        """The counts of ``reports`` (a report no CP took: refused or never answered) of
        session ``seid``, which is gone: should a deletion of this batch be undone (the
        journal refused the batch, or the datapath a change of it), the session comes back
        with the counts it had then, and these go into its URRs (as `_usage_kept` puts
        them), after the undos."""
        if not reports or not self._staged:
            return  # (no change of this batch to undo: gone for good)

        def again() -> None:
            session = self.sessions.get(seid)
            if session is not None:
                self._counts_back(session, reports)
                self._commit_quietly(session)

        self._staged.insert(0, Staged(None, None, again, None, "", [seid]))

    def _counts_back(self, session: Session, reports: list[Grouped]) -> None:
        """The counts of ``reports`` go back into the URRs' baselines (`_usage_back`). A
        Volume Threshold is given to the datapath less the URR's baseline (`compile_urr`):
        the program is installed again when a URR with one gets counts back, so that the
        datapath raises it when baseline and its counts reach it (as the check of the
        counts after a restart takes it, `_lost_limits`)."""
        if _usage_back(session, reports):
            self._reinstall(session)

    def _report(
        self,
        session: Session,
        urr_id: int,
        triggers: tuple[str, ...],
        now_ntp: float,
        container: int,
        checked: frozenset[str] = frozenset(),
        drops: dict[int, Dropped] | None = None,
    ) -> list[Grouped]:
        """The Usage Report of URR ``urr_id`` for ``triggers`` (two when it carries the usage
        before a Monitoring Time apart, `usage_reports`); ``checked``: those of them the
        engine's check of the counts found (`_lost_limits`), whose datapath events raised
        before this report's read are late (`_late`); ``drops``: where its read notes the
        dropped DL counts it took (`_read_reset`). Any report that measures a URR with
        a Volume Threshold takes the counts that may have crossed it: a VOLTH event raised
        before its read is late too (a Query URR or periodic report read them first: the
        crossing is in that report, TS 29.244 5.2.2.2.1, and a VOLTH report after it would
        say a threshold was reached by nothing)."""
        book = session.urrs[urr_id]
        counts, times, packets = book.baseline, None, 0
        measured = measures(triggers)  # else the counts go on into the next report
        if measured and (checked or book.reports("VOLTH")):
            before = self.datapath.now_ns()
            if "VOLTH" in checked or book.reports("VOLTH"):
                book.volth_checked_ns = before
            if "VOLQU" in checked:
                book.volqu_checked_ns = before
        try:
            usage = self._read_reset(session.up_seid, urr_id, measured, drops)
            packets = usage.packets_total
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
            book.read_with_reset(packets)
        return usage_reports(container, urr_id, book, counts, triggers, now_ntp, times)

    def _send_report(
        self,
        session: Session,
        report_type: str,
        ies: list[IE],
        now: float,
        reports: list[Grouped] | None = None,
        label: str | None = None,
        erir: tuple[int, int, IPAddress | None] | None = None,
        dldr: int | None = None,
    ) -> bool:
        """Send a Session Report Request of ``report_type`` with ``ies`` (``reports``: the
        Usage Reports among them; ``erir``: the Error Indication it reports, outstanding
        until answered or given up, `_error_indication`; ``dldr``: the episode token of the
        DLDR it carries, `_send_dldr`); whether it went (else its usage goes back for
        later)."""
        request = Message(
            M.SESSION_REPORT_REQUEST, 0, [ReportType.of(report_type), *ies], session.cp_seid
        )
        if self._sender is None:
            log.error("session engine not attached: report dropped")
            return False
        # To the CP F-SEID's address (TS 29.244 5.6.2, 7.5.2, 7.5.4.1: the F-SEID the CP gave
        # last is where it takes the session's messages), on its CP's association.
        try:
            seq = self._sender.send_request(
                session.cp_node_id, request, now, session.cp_ipv4, session.cp_ipv6
            )
        except Exception:  # a bug: logged and counted; the report's usage is not lost
            log.exception("session engine: report of session 0x%x", session.up_seid)
            self.metrics.errors.inc("report")
            seq = None
        if seq is None:
            # No association (lost, kept sessions), or not sent: the usage goes back for later.
            self._counts_back(session, reports or [])
            return False
        self.metrics.reports.inc(label or report_type)
        self._pending[id(request)] = PendingReport(
            session.up_seid, list(reports or []), session.cp_moves, erir, dldr
        )
        self._pending_of.setdefault(session.up_seid, set()).add(id(request))
        if erir is not None:
            self._erir_out.add(erir)
        return True

    def _usage_reports(
        self,
        session: Session,
        due: dict[int, set[str]],
        now: float,
        checked: dict[int, set[str]] | None = None,
    ) -> None:
        """Report the URRs ``due`` (URR ID -> triggers) of ``session``; ``checked``: the
        triggers of them the check of the counts found (`_report`)."""
        # Linked usage reporting (TS 29.244 5.2.2.4): a URR with LIUSA reports whenever a
        # URR it links reports, a LIUSA report included (a chain reports whole, whatever
        # the order of the URRs).
        linking = [(u, b) for u, b in session.urrs.items() if b.linked and b.reports("LIUSA")]
        while linking:
            more = [u for u, b in linking if any(x in due for x in b.linked)]
            for urr_id in more:
                due.setdefault(urr_id, set()).add("LIUSA")
            linking = [(u, b) for u, b in linking if u not in more]
            if not more:
                break
        now_ntp = self._ntp()
        # A threshold the datapath was given less a baseline (`compile_urr`) counts whole
        # again from the report, which takes the baseline: the program is installed again.
        offset = any(
            session.urrs[u].baseline and session.urrs[u].reports("VOLTH")
            for u, trig in due.items()
            if u in session.urrs and measures(tuple(trig))
        )
        groups: list[Grouped] = []
        rules: RuleSet | None = None
        for urr_id, trig in due.items():
            if urr_id not in session.urrs:
                continue
            made = self._report(
                session,
                urr_id,
                tuple(sorted(trig)),
                now_ntp,
                T.USAGE_REPORT_REPORT_REQUEST,
                frozenset(checked.get(urr_id, ())) if checked else frozenset(),
            )
            if session.apps and not trig.isdisjoint(_APPLICATION_TRIGGERS):
                if rules is None:  # (decoded once, for the reports that need it)
                    rules = session.rules
                made[-1].ies += application_detected(rules, urr_id)
            groups += made
        if not groups:
            return
        label = ",".join(sorted({t for trig in due.values() for t in trig}))
        self._send_report(session, "USAR", list(groups), now, groups, label)
        # The datapath counts a quota from its last reset: give it what is left. A quota
        # used up (VOLQU) compiles to dropping what the URR's PDRs forward, as the datapath
        # that reported it does (`compile.quotas_used_up`).
        if offset or any(session.urrs[u].quota for u in due if u in session.urrs):
            self._reinstall(session)
        self._commit_quietly(session)

    def poll_datapath(self, now: float) -> None:
        """Handle the datapath's events (reports they trigger are sent now), after the DLDRs
        owed to CPs that can be told now (`_send_owed_dldrs`)."""
        if self._dldr_owed:
            self._send_owed_dldrs(now)
        events = self.datapath.poll_events()
        due: dict[int, dict[int, set[str]]] = {}
        for ev in events:
            trigger = _EVENT_TRIGGER.get(ev.type)
            if trigger is not None:
                session = self.sessions.get(ev.seid)
                if (
                    session is not None
                    and not self._late(session, ev, trigger)
                    and self._urr_reports(session, ev.id, trigger)
                    and (trigger != "TIMQU" or self._time_quota_ended(session.urrs[ev.id], ev))
                ):
                    due.setdefault(ev.seid, {}).setdefault(ev.id, set()).add(trigger)
            elif ev.type == EventType.DL_DATA_REPORT:
                self._dl_data_report(ev, now)
            elif ev.type == EventType.BUFFER_EXPIRED:
                self._dldr_ended(ev.seid)  # (discarded: every report re-armed)
            elif ev.type == EventType.ERROR_INDICATION:
                self._error_indication(ev, now)
            elif ev.type == EventType.ECHO_RESPONSE:
                self._echo_response(ev, now)
        if self.datapath.events_lost():
            self._check_every_limit()
        checked: dict[int, dict[int, set[str]]] = {}
        if self._limits_found or self._limit_checks or self._limit_sweep is not None:
            checked = self._lost_limits(due)
        for seid, urrs in due.items():
            session = self.sessions.get(seid)
            if session is not None:
                self._usage_reports(session, urrs, now, checked.get(seid))

    def _late(self, session: Session, ev: DatapathEvent, trigger: str) -> bool:
        """The datapath raised this VOLTH or VOLQU event before the read of a report of
        the same limit that the check of the counts found (`_lost_limits`), or before the
        read of the final report of the URR the URR replaces (`modification._replaced_book`):
        the event came late (VPP sends its events every few milliseconds; the check may
        read counts past the limit before its event reaches the engine), its limit and
        counts are in that report (TS 29.244 5.2.2.2.1: reported once). An event that does
        not tell when it was raised (the local datapath's) is late when the URR's counts
        now do not reach its threshold (`_threshold_reached`): the counts that did went into
        that report (a VOLQU event is compared with the quota in force anyway,
        `_quota_used_up`)."""
        book = session.urrs.get(ev.id)
        if book is None:
            return False
        if trigger == "VOLTH":
            since = book.volth_checked_ns
        elif trigger == "VOLQU":
            since = book.volqu_checked_ns
        else:
            return False
        if not since or (not ev.time_ns and trigger == "VOLQU"):
            return False  # (a VOLQU event without a time: `_quota_used_up` decides)
        if trigger == "VOLTH":  # (one late event at most, within LATE_WINDOW_NS)
            book.volth_checked_ns = 0
        else:
            book.volqu_checked_ns = 0
        if not 0 <= self.datapath.now_ns() - since <= LATE_WINDOW_NS:
            return False
        if ev.time_ns:
            if ev.time_ns >= since:
                return False
        elif trigger != "VOLTH" or self._threshold_reached(session, ev.id, book):
            return False
        log.info(
            "session 0x%x URR %d: %s event raised before the report of it: dropped",
            session.up_seid,
            ev.id,
            trigger,
        )
        return True

    def _threshold_reached(self, session: Session, urr_id: int, book: UrrBook) -> bool:
        """The URR's counts not yet reported (its baseline and the datapath's) reach the
        Volume Threshold of its rule (True when the datapath's cannot be read: as the
        datapath raised it)."""

        def reached(rule: Grouped, usage: Usage) -> bool:
            offsets = (octets(book.baseline), octets(book.consumed))
            if "VOLTH" in volume_limits_reached(urr_id, rule, offsets, octets(usage)):
                return True
            # (a baseline past the threshold alone, counts an undone report put back: the
            # datapath's threshold, less the baseline, says nothing of them)
            (b0, b1, b2), (c0, c1, c2) = offsets[0], octets(usage)
            counted = (b0 + c0, b1 + c1, b2 + c2)
            return "VOLTH" in volume_limits_reached(urr_id, rule, ((0, 0, 0), offsets[1]), counted)

        return self._reached_now(session, urr_id, reached)

    def _time_quota_ended(self, book: UrrBook, ev: DatapathEvent) -> bool:
        """The datapath's TIMQU event: the Time Quota it meters is used up (it drops the
        URR's traffic), reported once per grant (TS 29.244 5.2.2.2.1). The book notes it
        (``time_quota_over``, journaled): a program installed after it drops that traffic
        too (`blocked_urrs`) until the CP grants a new Time Quota. The datapath keeps a
        quota used up through a pause and its end and through a grant undone, but one that
        lost the session's state (restarted: the program installed afresh) meters the
        quota again from its install, and would forward the traffic and raise the event
        again. Not reported:
        an event of a quota reported already (no grant since), or one raised before the
        grant of the quota in force, within LATE_WINDOW_NS of it (about the quota before;
        the counts go into the URR's next report)."""
        if book.time_quota_over:
            return False
        granted = book.time_granted_ns
        if (
            granted
            and ev.time_ns
            and ev.time_ns < granted
            and 0 <= self.datapath.now_ns() - granted <= LATE_WINDOW_NS
        ):
            return False
        book.time_quota_over = True
        return True

    def _lost_limits(self, due: dict[int, dict[int, set[str]]]) -> dict[int, dict[int, set[str]]]:
        """Into ``due``: the volume thresholds (VOLTH) and quotas (VOLQU) that counts no
        report took reached while the datapath's events could not reach the engine (pfcpd
        away: VPP drops the events it raises with no client; or the datapath lost them,
        `Datapath.events_lost`). VPP raises each once, then keeps the threshold marked
        reported or the quota's traffic dropped: no event comes again. First the limits
        the journal's counts reached, of a datapath that lost its counters (found at
        restore, `Restoring._restored_limits`); then a slice of the sessions to check
        (restored ones whose counters the datapath kept; after lost events, every one),
        their URRs' counts read now (`volume_limits_reached`). The events of this poll are
        in ``due`` already: a limit is reported once. Returns the limits it put into
        ``due`` (SEID -> URR ID -> triggers): their events raised before the reports' reads
        are late (`_late`)."""
        checked: dict[int, dict[int, set[str]]] = {}
        found, self._limits_found = self._limits_found, {}
        for seid, urrs in found.items():
            session = self.sessions.get(seid)
            if session is None:
                continue
            for urr_id, triggers in urrs.items():
                for trigger in triggers:
                    # As the datapath's event of it would be (`_urr_reports`): not once a
                    # change since took the trigger from the URR (or the URR), nor a quota
                    # a new grant replaced; a threshold is not compared with the counts
                    # again (a live engine reports a VOLTH event it has not handled yet
                    # after such a change too).
                    if self._urr_reports(session, urr_id, trigger):
                        due.setdefault(seid, {}).setdefault(urr_id, set()).add(trigger)
                        checked.setdefault(seid, {}).setdefault(urr_id, set()).add(trigger)
        if not self.datapath.usage_cached():
            return checked  # (its reads would wait for the datapath, a session at a time)
        n = self.settings.checkpoint_batch
        batch = self._limit_checks[-n:]
        del self._limit_checks[-n:]
        if len(batch) < n and self._limit_sweep is not None:
            more = list(itertools.islice(self._limit_sweep, n - len(batch)))
            if len(more) < n - len(batch):
                self._limit_sweep = None  # (every session checked)
            batch += more
        for seid in batch:
            session = self.sessions.get(seid)
            if session is None:
                self._limit_tries.pop(seid, None)
                continue
            unread = False
            for urr_id, book in session.urrs.items():
                rule = session.rules.urr.get(urr_id)
                if rule is None or book.inactive or not volume_limited(book):
                    continue
                try:
                    usage = self.datapath.read_usage(seid, urr_id)
                except DatapathError as err:
                    log.error("session 0x%x URR %d: %s", seid, urr_id, err)
                    unread = True
                    continue
                if not (usage.bytes_total or usage.bytes_ul or usage.bytes_dl):
                    continue  # (no octets since the last report: no limit reached by them)
                offsets = (octets(book.baseline), octets(book.consumed))
                for trigger in volume_limits_reached(urr_id, rule, offsets, octets(usage)):
                    log.info(
                        "session 0x%x URR %d: %s reached, its event not handled: reported",
                        seid,
                        urr_id,
                        trigger,
                    )
                    due.setdefault(seid, {}).setdefault(urr_id, set()).add(trigger)
                    checked.setdefault(seid, {}).setdefault(urr_id, set()).add(trigger)
            self._limits_unread(seid, unread)
        return checked

    def _limits_unread(self, seid: int, unread: bool) -> None:
        """After the check of session ``seid``'s limits: a URR's counts not read (the
        datapath failed the read) queues it again, after the sessions queued now, up to
        LIMIT_CHECK_TRIES checks in all; then it is given up (logged)."""
        if not unread:
            self._limit_tries.pop(seid, None)
            return
        tries = self._limit_tries.get(seid, 0) + 1
        if tries < LIMIT_CHECK_TRIES:
            self._limit_tries[seid] = tries
            self._limit_checks.insert(0, seid)  # (taken from the end: after the others)
            return
        self._limit_tries.pop(seid, None)
        log.error(
            "session 0x%x: counts not read in %d checks: its volume limits are not checked",
            seid,
            tries,
        )

    def _check_every_limit(self) -> None:
        """The datapath lost events: every session with a volume threshold or quota is
        checked against its counts (`_lost_limits`), a slice per poll, from a cursor over
        the sessions now (a loss while one runs starts it again: those checked since are
        checked again, against counts read after the new loss)."""
        log.warning(
            "the datapath lost events: the volume limits of %d session(s) are checked",
            len(self.sessions),
        )
        self._limit_sweep = iter(list(self.sessions))

    def _urr_reports(self, session: Session, urr_id: int, trigger: str) -> bool:
        book = session.urrs.get(urr_id)
        if book is None or not book.reports(trigger):
            return False
        return trigger != "VOLQU" or self._quota_used_up(session, urr_id, book)

    def _quota_used_up(self, session: Session, urr_id: int, book: UrrBook) -> bool:
        """The URR's Volume Quota, as its rule is now, is used up by the counts read since
        it was granted (``consumed``) and those the datapath holds. Not: the datapath's
        VOLQU event came before the CP granted a new quota (or paused the measurement,
        INAM), and is not about the quota in force: no report (TS 29.244 5.2.2.2.1: VOLQU
        is the quota's exhaustion); the counts go into the URR's next one."""

        def reached(rule: Grouped, usage: Usage) -> bool:
            used = (book.consumed + Counts.of(usage)).values
            volumes = (used[0], used[1], used[2])
            return bool(quotas_used_up([(urr_id, rule)], {urr_id: ((0, 0, 0), volumes)}))

        return self._reached_now(session, urr_id, reached)

    def _reached_now(
        self, session: Session, urr_id: int, reached: Callable[[Grouped, Usage], bool]
    ) -> bool:
        """``reached`` of the URR's rule and the counts the datapath holds of it now (the
        limit checks of `_threshold_reached` and `_quota_used_up`). False when the session
        has no such rule; True when the datapath cannot read the counts (cannot tell:
        reported as the datapath raised it)."""
        rule = session.rules.urr.get(urr_id)
        if rule is None:
            return False
        try:
            usage = self.datapath.read_usage(session.up_seid, urr_id)
        except DatapathError:
            return True
        return reached(rule, usage)

    def _dl_data_report(self, ev: DatapathEvent, now: float) -> None:
        """DLDR now, or after the BAR's Downlink Data Notification Delay (DDND); its
        buffering episode (dldr.py) open from now. Nothing when the PDR's FAR no longer
        buffers with NOCP (the session changed since the datapath raised it: its report is
        re-armed)."""
        session = self.sessions.get(ev.seid)
        if session is None:
            return
        try:
            far = pdr_far(self._program(session), ev.id)
        except RuleError:
            return
        if far is None or not far[1] & ApplyAction.NOCP:
            return
        episodes = self._dldr_open.get(ev.seid)
        if episodes and self._restored_pair(episodes, ev):
            return
        token = next(self._dldr_seq)
        self._dldr_dirty.add(ev.seid)
        if session.ddn_delay > 0:
            # (when it is due journaled: a restart waits out the rest of the delay)
            episode = Episode(ev, far, due_ntp=self._ntp() + session.ddn_delay)
            self._dldr_open.setdefault(ev.seid, {})[token] = episode
            due = now + session.ddn_delay
            heapq.heappush(self._delayed_dldr, (due, token, ev.seid, ev))
            return
        self._dldr_open.setdefault(ev.seid, {})[token] = Episode(ev, far)
        self._send_dldr(ev.seid, token, ev, now)

    def _restored_pair(self, episodes: dict[int, Episode], ev: DatapathEvent) -> bool:
        """``ev`` is the report of a pair (PDR, QFI) a restore opened an episode of after
        taking the datapath's reported mark off to learn it was reported (`Episode.rearmed`):
        that episode's (one report per episode, TS 29.244 5.2.3.1), no new one. The
        episode takes the event's DSCP when its report is still owed (not sent yet): its
        session's episodes are then journaled again (`_dldr_dirty`), so that a restart
        before the report goes sends it with the Paging Policy Indication too."""
        qfi = ev.value & 0x3F
        for token, episode in episodes.items():
            if episode.rearmed and episode.event.id == ev.id and episode.event.value & 0x3F == qfi:
                event = ev if episode.owed else episode.event
                episodes[token] = replace(episode, event=event, rearmed=False)
                if event.value != episode.event.value:  # (the journal has the event value)
                    self._dldr_dirty.add(ev.seid)
                return True
        return False

    def _send_dldr(self, seid: int, token: int, ev: DatapathEvent, now: float) -> bool:
        """The DLDR of ``ev``, unless its episode ``token`` ended (the session changed, or
        its buffer was discarded, during the notification delay: TS 23.401 5.3.4.3, no
        report once the UE is reachable; a later packet of the PDR is reported anew).
        False when it could not be sent (its episode is then owed)."""
        session = self.sessions.get(seid)
        episodes = self._dldr_open.get(seid)
        if session is None or episodes is None or token not in episodes:
            if session is None or episodes == {}:
                self._dldr_open.pop(seid, None)
            return True
        pdr_id = pfcp_pdr_id(ev.id)
        children: list[IE] = [PDRID(pdr_id)]
        # the QFI, and the DSCP of the packet (the Paging Policy Indication, TS 29.244
        # 7.5.8.2: the CP chooses the paging policy from it) when the datapath gives it
        qfi = ev.value & 0x3F or None
        ppi = (ev.value >> 8) & 0x3F if ev.value & DLDR_DSCP else None
        if qfi is not None or ppi is not None:
            children.append(DownlinkDataServiceInformation(ppi=ppi, qfi=qfi))
        report = Grouped(T.DOWNLINK_DATA_REPORT, children)
        episode = episodes[token]
        if self._send_report(session, "DLDR", [report], now, label="DLDR", dldr=token):
            if episode.owed:
                episodes[token] = replace(episode, owed=False)
            return True
        # Not sent (no association with the CP: its sessions kept): owed, sent once the CP
        # can be told (`_send_owed_dldrs`). The pair is not re-armed: its next buffered
        # packets raise nothing (one report per episode, TS 29.244 5.2.3.1; no event, send
        # attempt, log line and re-arm per packet while the CP is away).
        if not episode.owed:
            log.info(
                "session 0x%x PDR %d: DLDR not sent (no association with CP %s): sent once"
                " there is one",
                seid,
                pdr_id,
                session.cp_node_id,
            )
            episodes[token] = replace(episode, owed=True)
        self._dldr_owed.setdefault(session.cp_node_id, set()).add(seid)
        return False

    def _send_owed_dldrs(self, now: float) -> None:
        """Send the DLDRs owed to CPs that can be told now (at each poll): per CP, its
        sessions' owed episodes still open (their data still buffered: the CP learns of
        it once it can, TS 29.244 5.2.3.1, without waiting for another packet), until one
        cannot be sent (the CP still has no association: the rest wait for the next poll).
        One of a session that moved to another CP since goes to that CP (owed to it when
        not sent)."""
        if self._sender is None:
            return
        for node in list(self._dldr_owed):
            seids = self._dldr_owed.pop(node)
            while seids:  # (taken from the set itself: no copy of it per poll)
                seid = seids.pop()
                session = self.sessions.get(seid)
                episodes = self._dldr_open.get(seid)
                if session is None or episodes is None:
                    continue  # (gone, or its episodes ended: nothing owed)
                owed = [(token, e.event) for token, e in episodes.items() if e.owed]
                sent = all(self._send_dldr(seid, token, event, now) for token, event in owed)
                if not sent and session.cp_node_id == node:  # (no association: the rest wait)
                    seids.update(self._dldr_owed.get(node, ()))
                    self._dldr_owed[node] = seids
                    break

    def dldrs_owed_again(self, node_id: str) -> None:
        """The association with CP ``node_id`` ended, or the CP set it up again, its
        sessions kept, or it answered heartbeats again after they went unanswered (LOST,
        recovered within its graceful release period: what was sent to it meanwhile went
        unanswered): each episode of its sessions whose report went unanswered
        `DLDR_RESENDS` times is owed again (`_dldr_owe_capped`)."""
        sessions = self.sessions
        for seid in self._dldr_open:
            session = sessions.get(seid)
            if session is not None and session.cp_node_id == node_id:
                self._dldr_owe_capped(seid, node_id)

    def _dldr_done(self, seid: int, token: int, answered: bool, now: float) -> None:
        """The DLDR of episode ``token`` of session ``seid`` is answered, or not
        (``answered`` False: unanswered after every retransmission, TS 29.244 6.4). An
        answered one marks its episode answered (open until it ends). One the CP never got
        whose episode goes on (its PDR buffering with NOCP all along, nothing discarded) is
        sent again while the datapath holds buffered DL packets of the session (or cannot
        tell): the CP learns
        of the data and pages the UE (TS 29.244 5.2.3.1), that of the packets buffered
        while the report was out included, without waiting for another packet; a new
        request, T1 and N1 apply (not sent: owed, `_send_dldr`), up to `DLDR_RESENDS`
        times per episode: a CP that answers none of them (it answers heartbeats, so its
        association stays) is not sent one every T1 x (N1 + 1) for as long as the data
        waits. Past them the UP function ceases (TS 29.244 6.4: the tries are the
        implementation's to set): the episode goes on without a report (one per episode,
        TS 29.244 5.2.3.1), its data buffered as the BAR says, until it ends (the CP
        changes the FAR, DROBU, the DL Buffering Duration's end: then a new episode is
        reported) or the CP's association ends, is set up again or recovers, its sessions
        kept, or the session moves to another CP (then owed, its re-sends counted anew,
        `_dldr_owe_capped`). Nothing buffered any more:
        the episode is closed and its report re-armed in the datapath, so that the PDR's
        next buffered packet raises it again."""
        episodes = self._dldr_open.get(seid)
        episode = episodes.get(token) if episodes is not None else None
        if episode is None or episodes is None:
            return
        if answered:  # (open until it ends, `dldr.episodes_ended`; journaled answered)
            episodes[token] = replace(episode, answered=True)
            self._dldr_dirty.add(seid)
            return
        if seid in self.sessions and self.datapath.buffered(seid) != 0:
            if episode.resends >= DLDR_RESENDS:
                log.warning(
                    "session 0x%x PDR %d: DLDR not delivered to the CP after %d tries: not sent"
                    " again in this buffering episode (its data stays buffered)",
                    seid,
                    pfcp_pdr_id(episode.event.id),
                    episode.resends + 1,
                )
                return
            log.info(
                "session 0x%x PDR %d: DLDR not delivered to the CP, data still buffered: sent"
                " again",
                seid,
                pfcp_pdr_id(episode.event.id),
            )
            episodes[token] = replace(episode, resends=episode.resends + 1)
            self._send_dldr(seid, token, episode.event, now)
            return
        del episodes[token]
        self._dldr_dirty.add(seid)
        if not episodes:
            del self._dldr_open[seid]
        if seid not in self.sessions:
            return
        log.info(
            "session 0x%x PDR %d: DLDR not delivered to the CP: re-armed for the next packet",
            seid,
            pfcp_pdr_id(episode.event.id),
        )
        self.datapath.rearm_dl_data_report(seid, episode.event.id, episode.event.value & 0x3F)

    def _error_indication(self, ev: DatapathEvent, now: float) -> None:
        """A GTP-U Error Indication names a TEID of a peer: the sessions forwarding to it
        (found through an index by TEID: a flood of indications costs no scan), at the
        peer's address when the indication tells it (``ev.peer``: its GTP-U Peer Address,
        IPv4 or IPv6, TS 29.281 7.3.1; None: the TEID alone). One ERIR per session and
        remote F-TEID while one is outstanding (unanswered, N1 retransmissions left): a
        peer answers every G-PDU to a lost TEID with an indication, and the CP needs to
        hear of the tunnel once, not once per downlink packet."""
        teid = ev.value
        sender = ev.peer
        for seid in sorted(seids_of(self._by_peer_teid.get(teid, ()))):
            session = self.sessions[seid]
            for peer, far_teid in session.peers:
                if far_teid != teid or (sender is not None and peer != sender):
                    continue
                key = (seid, teid, peer)
                if key in self._erir_out:
                    break
                fteid = FTEID(
                    teid,
                    str(peer) if peer.version == 4 else None,
                    str(peer) if peer.version == 6 else None,
                )
                report = Grouped(T.ERROR_INDICATION_REPORT, [fteid])
                self._send_report(session, "ERIR", [report], now, label="ERIR", erir=key)
                break

    def _update_bar_from_report(self, session: Session, update: Grouped) -> None:
        """Update BAR of a Session Report Response: DL buffering duration and suggested
        packet count."""
        bar_id = ie_value(update, T.BAR_ID)
        rules = session.rules
        if bar_id is None or bar_id not in rules.bar:
            return
        duration = update.get(T.DL_BUFFERING_DURATION)
        if duration is not None:
            # another grant, whatever its value: it counts from now (`compile.compile_bar`)
            session.bar_duration_s = duration.seconds  # type: ignore[attr-defined]
            session.bar_grant += 1
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


def _usage_back(session: Session, reports: list[Grouped]) -> bool:
    """The counts of ``reports`` (Usage Reports no CP took) go back into their URRs'
    baselines (those of the usage before a Monitoring Time into what the URR keeps of it,
    `counts_back`): the session's next report carries them (journaled with the session at
    the caller's commit). Whether the baseline of a URR with a Volume Threshold (VOLTH)
    grew."""
    grew = False
    for group in reports:
        book = session.urrs.get(ie_value(group, T.URR_ID) or 0)
        if book is not None:
            counts = counts_back(book, group)
            grew = grew or bool(counts and book.reports("VOLTH"))
            if book.quota_held and _triggered(group, "QUHTI"):
                # the CP did not learn the quota was deemed expired: told again one holding
                # time later unless traffic comes first (the holding time counts from the
                # report's)
                book.quota_held = False
                book.idle_since += book.holding_time
    return grew


def _triggered(group: Grouped, trigger: str) -> bool:
    """The Usage Report's Usage Report Trigger names ``trigger``."""
    triggers = group.get(T.USAGE_REPORT_TRIGGER)
    return isinstance(triggers, UsageReportTrigger) and triggers.has(trigger)


def application_detected(rules: RuleSet, urr_id: int) -> list[IE]:
    """What a Usage Report of START or STOPT of URR ``urr_id`` says of the application
    whose traffic started or stopped (TS 29.244 8.2.19, Table 7.5.8.3-1): when
    the PDRs that link the URR and whose PDI names an Application ID name one application,
    an Application Detection Information with that Application ID (Table 7.5.8.3-2), and
    the PDR ID when one PDR names it (which PDR's packets the URR counted is not known
    apart); a UE IP Address (S/D 0: outside a PDI) when a PDI of theirs gives none, the
    session's first of its PDRs'. No Application Instance ID or Flow Information: START and
    STOPT come from the URR's counts, which tell no flow (not deducible). A URR of PDRs of
    several applications (the counts do not tell which started) or of none: nothing."""
    apps: dict[str, list[int]] = {}
    without_ue = False
    for pdr_id, pdr in rules.pdr.items():
        pdi = pdr.get(T.PDI)
        if not isinstance(pdi, Grouped):
            continue
        app = pdi.get(T.APPLICATION_ID)
        if not isinstance(app, ApplicationID) or not any(
            u.value == urr_id  # type: ignore[attr-defined]
            for u in pdr.get_all(T.URR_ID)
        ):
            continue
        apps.setdefault(app.text, []).append(pdr_id)
        without_ue = without_ue or pdi.get(T.UE_IP_ADDRESS) is None
    if len(apps) != 1:
        return []
    [(app_id, pdr_ids)] = apps.items()
    adi: list[IE] = [ApplicationID(app_id)]
    if len(pdr_ids) == 1:
        adi.append(PDRID(pdr_ids[0]))
    out: list[IE] = [Grouped(T.APPLICATION_DETECTION_INFORMATION, adi)]
    if without_ue:
        ue = _session_ue(rules)
        if ue is not None:
            out.append(ue)
    return out


def _session_ue(rules: RuleSet) -> UEIPAddress | None:
    """The UE IP Address of the first of the session's PDRs whose PDI gives one (its chosen
    address filled in), as a Usage Report carries it (S/D 0), or None."""
    for pdr in rules.pdr.values():
        pdi = pdr.get(T.PDI)
        ue = pdi.get(T.UE_IP_ADDRESS) if isinstance(pdi, Grouped) else None
        if isinstance(ue, UEIPAddress) and (ue.ipv4 is not None or ue.ipv6 is not None):
            return UEIPAddress(ue.ipv4, ue.ipv6)
    return None

"""The engine's timer (`Timers.handle_timer`): Downlink Data Reports whose delay is over, the
datapath's events, the URRs' time triggers (periodic, start/stop of traffic, quota holding
and validity time, time metering, dropped DL traffic, Monitoring Time), the sessions' user
plane inactivity (`Timers._idle_check`), GTP-U path management's Echo Requests and path
failures (`paths.PathReporting`) and checkpoints of the datapath's counters, a slice of the
sessions per poll.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable

from ..datapath.interface import DatapathError
from ..pfcp import IEType
from .reports import Reporting
from .session import Session
from .usage import ZERO, Counts, UrrBook, packet_times, subsequent_rule

log = logging.getLogger("pfcpd.session")


class Timers(Reporting):
    def get_timer(self) -> float | None:
        if not self.sessions:
            # (GTP-U path management forgets the peers the last sessions left when due)
            return self._paths_timer()
        # (Asked at every wake of the node: comparisons in place, no list of candidates.)
        at = self._next_poll
        checkpoint = self._next_checkpoint
        if checkpoint is not None and (at is None or checkpoint < at):
            at = checkpoint
        if self._delayed_dldr:
            delayed = self._delayed_dldr[0][0]
            if at is None or delayed < at:
                at = delayed
        paths = self._paths_timer()
        if paths is not None and (at is None or paths < at):
            at = paths
        return 0.0 if at is None else at

    def handle_timer(self, now: float) -> None:
        try:
            while self._delayed_dldr and self._delayed_dldr[0][0] <= now:
                _, token, seid, ev = heapq.heappop(self._delayed_dldr)
                self._send_dldr(seid, token, ev, now)
            if self._next_poll is None or self._next_poll <= now:
                self._next_poll = now + self.settings.poll_interval
                self.poll_datapath(now)
                # Traffic activity (START, STOPT, QUHTI: times in seconds) is read from the
                # datapath once per activity_interval, not on every poll; and not while its
                # reads would wait for the datapath, a session at a time (`usage_cached`:
                # VPP just (re)connected), but at the first poll after.
                activity = now >= self._next_activity and self.datapath.usage_cached()
                if activity:
                    self._next_activity = now + self.settings.activity_interval
                self._time_triggers(now, activity)
                if activity and self._idle:
                    self._idle_check(now)
            # (after the poll: the Echo Responses it brought count before T3 is judged)
            self._paths_run(now)
            if self._next_checkpoint is None:
                self._next_checkpoint = now + self.settings.checkpoint_interval
            elif self._next_checkpoint <= now and not self.datapath.usage_cached():
                # Its reads would wait for the datapath, a session at a time: tried again
                # at the next poll.
                self._next_checkpoint = now + self.settings.poll_interval
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

    def _time_triggers(self, now: float, activity: bool = True) -> None:
        """Periodic reports, start/stop of traffic, quota holding time, quota validity
        time, dropped DL traffic threshold and Monitoring Time (at every poll: the usage
        before it ends within a poll interval of it)."""
        now_ntp = self._ntp()
        for seid in list(self._timed_seids):
            session = self.sessions[seid]
            due: dict[int, set[str]] = {}
            expired = False
            later: list[int] = []  # Monitoring Times reached after a report (MONIT)
            for urr_id, book in session.urrs.items():
                if book.monitoring_ntp and book.monitoring_ntp <= now_ntp:
                    if book.before_end:
                        # The usage before an earlier Monitoring Time is not reported yet:
                        # reported now (MONIT, with the usage since), then this one splits.
                        due.setdefault(urr_id, set()).add("MONIT")
                        later.append(urr_id)
                    else:
                        split = self._monitoring_time(session, urr_id, book, now_ntp, now)
                        expired = split or expired
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
                    book.quota_held = False  # (the holding time counts again)
                    if not book.active:
                        book.active = True
                        if watch_start:
                            due.setdefault(urr_id, set()).add("START")
                    continue
                idle = now - book.idle_since
                if book.active and watch_stop and idle >= (idt or 1):
                    book.active = False
                    due.setdefault(urr_id, set()).add("STOPT")
                if qht and not book.quota_held and idle >= qht:
                    # Once: not again until traffic or a new grant (`UrrBook.hold_again`)
                    book.quota_held = True
                    due.setdefault(urr_id, set()).add("QUHTI")
            if due:
                self._usage_reports(session, due, now)
            for urr_id in later:
                kept = session.urrs.get(urr_id)
                if kept is not None:
                    expired = self._monitoring_time(session, urr_id, kept, now_ntp, now) or expired
            if expired:  # the quota's traffic stops (after the report read its counts), or
                # the limits after a Monitoring Time apply
                self._reinstall(session)
                self._commit_quietly(session)

    def _idle_check(self, now: float) -> None:
        """User plane inactivity (TS 29.244 5.11.2), at each activity check: a session with
        a User Plane Inactivity Timer whose URRs counted no packet for longer than it is
        reported (Session Report Request, Report Type UPIR), once per inactivity period: a
        packet its URRs count starts the next one (`IdleWatch`). Its counts are read only
        at the end of the timer (a session with traffic: once per timer), and a timer after
        a report. The watch's reported flag is journaled, so a restart does not report the
        same period again."""
        dp_now = self.datapath.now_ns()
        sessions = self.sessions
        for seid, watch in list(self._idle.items()):
            if dp_now < watch.check_ns:  # (no read before the end of the timer)
                continue
            session = sessions.get(seid)
            if session is None:  # (deleted: its watch goes at the commit)
                continue
            if not session.urrs:  # no count tells its packets: never reported (not falsely)
                continue
            last = 0
            for urr_id in session.urrs:
                try:
                    usage = self.datapath.read_usage(seid, urr_id)
                except DatapathError:
                    continue
                if usage.last_packet_ns > last:
                    last = usage.last_packet_ns
            if watch.saw(last):
                self._idle_dirty.add(seid)
            if watch.due(dp_now) and self._send_report(session, "UPIR", [], now):
                watch.report(dp_now)
                self._idle_dirty.add(seid)
                log.info(
                    "session 0x%x: no user plane packet for over %d s: reported (UPIR)",
                    seid,
                    watch.timer,
                )

    def _monitoring_time(
        self, session: Session, urr_id: int, book: UrrBook, now_ntp: float, now: float
    ) -> bool:
        """The URR's Monitoring Time is reached (TS 29.244 5.2.2.3.1): its counts are read
        with reset, as a report reads them, and the measurement so far is kept apart as the
        usage before it (`UrrBook.split`: no report now; the URR's next one carries it,
        `usage_reports`). From now on its rule is the one after the Monitoring Time
        (`subsequent_rule`: the Subsequent thresholds and quotas in place of the others,
        those of the Additional Monitoring Time reached when it is one; journaled with the
        session's rules, the Additional Monitoring Times not reached yet in it), with its
        book's parameters taken from it, the next monitoring time among them. A
        Subsequent Volume or Time Quota is a new grant: it counts from now (the quota left
        at the Monitoring Time goes with it); without one, the quota in force goes on, what
        was used of it before still used. Whether the session's program is to be installed
        again (False: the datapath's counts were not read; tried again at the next poll)."""
        try:
            usage = self._read_reset(session.up_seid, urr_id)
        except DatapathError as err:
            log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
            return False
        times = None
        if book.inactive:  # paused: the datapath's counts are not usage
            book.taken(ZERO)
        else:
            times = packet_times(usage, self.datapath.now_ns(), now_ntp)
            taken = Counts.of(usage)
            book.baseline = book.baseline + taken
            book.taken(taken)
        book.read_with_reset(usage.packets_total)
        book.split(times, now_ntp)
        rules = session.rules
        rule = rules.urr.get(urr_id)
        if rule is not None:
            rule, replaced = subsequent_rule(rule)
            book.configure(rule, now_ntp)
            # Further monitoring times at or before this one (Additional Monitoring Times
            # of the same time, or all past when the rule came) leave no usage between
            # them: their limits apply now too, the last one's in force.
            while book.monitoring_ntp and book.monitoring_ntp <= book.period_start_ntp:
                rule, more = subsequent_rule(rule)
                replaced |= more
                book.configure(rule, now_ntp)
            rules.urr[urr_id] = rule
            session.set_rules(rules)
            if IEType.VOLUME_QUOTA in replaced:
                book.consumed = ZERO  # (the datapath counts from 0 since the read)
            if IEType.TIME_QUOTA in replaced:
                book.grant_time(now_ntp)
                book.time_granted_ns = self.datapath.now_ns()
            if replaced & {IEType.VOLUME_QUOTA, IEType.TIME_QUOTA}:
                book.grant(now_ntp)
                book.hold_again(now)  # (a new quota: its holding time counts from now)
        log.info(
            "session 0x%x URR %d: Monitoring Time reached, the usage before it kept apart",
            session.up_seid,
            urr_id,
        )
        return True

    def checkpoint(self, now: float, seids: Iterable[int] | None = None) -> None:
        """Journal the datapath's counters (not reset) of the sessions ``seids`` (all by
        default) as part of their unreported usage, so a restart with a datapath that loses
        its counters loses at most the traffic since the checkpoint."""
        now_ntp: float | None = None  # (and the datapath's clock: read once, when needed)
        dp_now = 0
        for seid in self.sessions if seids is None else seids:
            session = self.sessions.get(seid)
            if session is None:
                continue
            moved = False
            for urr_id, book in session.urrs.items():
                if book.inactive:  # paused: its datapath counts are not usage
                    continue
                try:
                    usage = self.datapath.read_usage(seid, urr_id)
                except DatapathError:
                    continue
                counts = Counts.of(usage)
                if counts.values != book.dp_seen.values:
                    if now_ntp is None:
                        now_ntp, dp_now = self._ntp(), self.datapath.now_ns()
                    book.set_dp_seen(counts, packet_times(usage, dp_now, now_ntp))
                    moved = True
            if moved:
                self._write(session)

"""Sessions back from the journal at start (`Restoring.restore`): the PFDs and the
allocators' marks first (marks.py: never-used values are handed out from them on; a mark
the record does not validly hold leaves its allocator as without one), then each
session's record read (binary, or JSON of version 1 or 2), its allocations reserved and
its program installed again. A UE address or prefix no pool has as its own any more stays
the session's, logged, and what pools configured since would hand out inside it is held
in use until the session frees it (`UeAddressPools.hold`). Without a UP SEIDs' mark the UP
SEIDs go on after the highest restored (from `SEID_MAX` on: 1).
"""

from __future__ import annotations

import base64
import heapq
import logging
import sys
from collections.abc import Iterable
from typing import Any

from ..datapath.interface import ApplyAction, DatapathEvent, EventType
from ..pfcp import decode_ies
from ..pfcp.ies_address import FQCSID, FSEID
from .choosing import Allocations, Choosing
from .compile import compile_program, volume_limits_reached
from .dldr import KEY_PREFIX as DLDR_PREFIX
from .dldr import Episode, pdr_far, pdr_qfis, read_episodes
from .inactivity import KEY_PREFIX as IDLE_PREFIX
from .inactivity import IdleWatch
from .marks import MARKS_KEY, Marks, seid_after
from .packing import pack_rules, unpack_rules
from .record import BINARY_RECORD_VERSION, read_record
from .rules import RuleSet
from .session import RECORD_VERSION, Session, program_peers, ue_network
from .state import blocked_urrs, urr_grants, urr_offsets
from .usage import Counts, UrrBook, kept_books, octets, volume_limited

log = logging.getLogger("pfcpd.session")
_FIRST = frozenset(("pfd", MARKS_KEY))  # (records restored before the sessions)
# The longest Downlink Data Notification Delay a BAR gives (TS 29.244 8.2.28: 255 x 50 ms)
MAX_DDN_DELAY = 255 * 0.05


class Restoring(Choosing):
    def restore(self, records: Iterable[tuple[str, bytes]], now: float) -> int:
        """Bring back journaled sessions (and PFDs): allocations reserved, programs
        reinstalled. Returns the number of sessions restored."""
        restored = 0
        idle: list[tuple[str, bytes]] = []  # (the sessions' inactivity watches: after them)
        dldr: list[tuple[str, bytes]] = []  # (their open DLDR episodes: after them too)
        # PFDs first: sessions with application PDRs compile against them; the allocators'
        # marks before the sessions, whose values never reach them.
        for key, value in sorted(records, key=lambda kv: kv[0] not in _FIRST):
            try:
                if key == "pfd":
                    self.pfds.restore(value)
                elif key == MARKS_KEY:
                    self._resume(Marks.read(value))
                elif key.startswith("s:"):
                    self._restore_session(value, now)
                    restored += 1
                elif key.startswith(IDLE_PREFIX):
                    idle.append((key, value))
                elif key.startswith(DLDR_PREFIX):
                    dldr.append((key, value))
            except Exception as err:  # a bad record costs that record, logged
                log.error("journal record %s not restored: %r", key, err)
                self.metrics.restore_failures.inc()
        if idle:
            self._restore_idle(idle)
        self._restore_dldr(dldr, now)
        self._touched = []
        return restored

    def _restore_idle(self, records: list[tuple[str, bytes]]) -> None:
        """The restored sessions' User Plane Inactivity Timers (inactivity.py): each
        session's inactivity period counts from now (the datapath's clock may be a new
        one); a period reported before the restart is not reported again. The record of a
        session not restored is deleted at the next commit."""
        now_ns = self.datapath.now_ns()
        for key, value in records:
            try:
                seid = int(key[len(IDLE_PREFIX) :], 16)
                if seid in self.sessions:
                    self._idle[seid] = IdleWatch.read(value, now_ns)
                else:
                    self._idle_dirty.add(seid)
            except Exception as err:  # a bad record costs that record, logged
                log.error("journal record %s not restored: %r", key, err)
                self.metrics.restore_failures.inc()

    def _restore_dldr(self, records: list[tuple[str, bytes]], now: float) -> None:
        """The DLDR episodes of the restored sessions (dldr.py): their journaled records
        (``records``), and the sessions the datapath held across the restart with buffered DL
        packets (`Datapath.held_buffers`: VPP keeps the session, its buffer and its reported
        marks, so no packet raises those reports again). Each such session has each PDR whose
        FAR buffers with NOCP: its journaled episodes open again, those the CP did not answer
        owed to it (sent at the first poll it can be told, TS 29.244 5.2.3.1: the CP hears of
        the data it was never told about; one still inside its notification delay at the restart
        when that delay ends); a PDR and QFI without any journaled that the datapath marked
        reported (raised while pfcpd was away: the event lost) owes its report
        (`_held_episodes`). An answered one is not reported again. A held session with nothing
        buffered has its journaled reports re-armed (nothing to page the UE for; the next
        buffered packet raises one); a datapath that did not hold it (the local one: its buffers
        die with pfcpd) owes nothing. Each record is written again as restored, or deleted, at
        the next commit."""
        journaled: dict[int, list[tuple[int, int, bool, float]]] = {}
        for key, value in records:
            try:
                seid = int(key[len(DLDR_PREFIX) :], 16)
                self._dldr_dirty.add(seid)
                if seid in self.sessions:
                    journaled[seid] = read_episodes(value)
            except Exception as err:  # a bad record costs that record, logged
                log.error("journal record %s not restored: %r", key, err)
                self.metrics.restore_failures.inc()
        buffers = self.datapath.held_buffers()
        for seid, episodes in journaled.items():
            if seid not in buffers and self.datapath.keeps_counts(seid):
                try:
                    for pdr_id, event_value, *_ in episodes:
                        self.datapath.rearm_dl_data_report(seid, pdr_id, event_value & 0x3F)
                except Exception as err:  # (a bad record: logged and counted; the others go on)
                    log.error("session 0x%x: DLDR reports not re-armed: %r", seid, err)
                    self.metrics.restore_failures.inc()
        now_ntp = self._ntp() if buffers else 0.0
        for seid in buffers:
            session = self.sessions.get(seid)
            if session is None:
                continue
            try:
                self._held_episodes(session, journaled.get(seid, []), now, now_ntp)
            except Exception as err:  # a bug: logged and counted; the others go on
                log.error("session 0x%x: DLDR episodes not restored: %r", seid, err)
                self.metrics.restore_failures.inc()

    def _held_episodes(
        self,
        session: Session,
        journaled: list[tuple[int, int, bool, float]],
        now: float,
        now_ntp: float,
    ) -> None:
        """The DLDR episodes of ``session``, which the datapath held with buffered packets
        (`_restore_dldr`): ``journaled`` (PDR, event value, answered, when its report is due)
        open again for each PDR whose FAR buffers with NOCP. One not answered whose Downlink
        Data Notification Delay had not run out at the restart waits out the rest of it (due
        when it was due: its due time is journaled in NTP time, `Episode.due_ntp`; at most
        `MAX_DDN_DELAY` from now, should the wall clock have gone back), as it would have
        without the restart (TS 29.244 8.2.28; the episode ending meanwhile, no report: TS
        23.401 5.3.4.3); the others not answered are owed at once. Each pair of such a PDR
        and a QFI its reports can carry (`pdr_qfis`) without a journaled episode is asked of
        the datapath (`Datapath.rearm_dl_data_report`: whether the pair was marked reported,
        the mark taken off; the datapath counts buffered packets per session, not per PDR,
        but marks each pair it reported): one marked raised its report while pfcpd was away
        (the event lost, or pfcpd stopped before the commit after it) and owes it (its PDR
        and QFI; the DSCP not known), its episode open with `Episode.rearmed` (the pair's
        next packet raises the report again: that event is this episode's, not a new one,
        `Reporting._dl_data_report`); one not marked never buffered (nothing reported, the
        pair armed as it was: its next packet raises one). So the CP hears of each buffered
        pair it was never told of, and of no other. A journaled episode is `Episode.rearmed`
        too: an earlier restore may have taken its pair's mark off (no packet since)."""
        seid = session.up_seid
        program = self._program(session)
        by_pdr: dict[int, list[tuple[int, bool, float]]] = {}
        for pdr_id, value, answered, due_ntp in journaled:
            by_pdr.setdefault(pdr_id, []).append((value, answered, due_ntp))
        open_: dict[int, Episode] = {}
        for pdr in program.pdrs:
            far = pdr_far(program, pdr.pdr_id)
            if far is None or not far[1] & ApplyAction.NOCP:
                continue
            episodes = by_pdr.get(pdr.pdr_id, [])
            for value, answered, due_ntp in episodes:
                ev = DatapathEvent(EventType.DL_DATA_REPORT, seid, pdr.pdr_id, value)
                token = next(self._dldr_seq)
                left = due_ntp - now_ntp
                if not answered and left > 0:  # (its notification delay not over yet)
                    due = now + min(left, MAX_DDN_DELAY)
                    heapq.heappush(self._delayed_dldr, (due, token, seid, ev))
                    open_[token] = Episode(ev, far, due_ntp=due_ntp, rearmed=True)
                    continue
                open_[token] = Episode(ev, far, not answered, answered, rearmed=True)
            journaled_qfis = {value & 0x3F for value, _, _ in episodes}
            for qfi in sorted(pdr_qfis(program, pdr) - journaled_qfis):
                if self.datapath.rearm_dl_data_report(seid, pdr.pdr_id, qfi):
                    ev = DatapathEvent(EventType.DL_DATA_REPORT, seid, pdr.pdr_id, qfi)
                    open_[next(self._dldr_seq)] = Episode(ev, far, owed=True, rearmed=True)
        if not open_:
            return
        self._dldr_open[seid] = open_
        self._dldr_dirty.add(seid)
        owed = sum(1 for e in open_.values() if e.owed)
        if owed:
            self._dldr_owed.setdefault(session.cp_node_id, set()).add(seid)
            log.info(
                "session 0x%x: %d DLDR(s) the CP was not told of, its data buffered across"
                " the restart: sent once it can be told",
                seid,
                owed,
            )

    def _resume(self, marks: Marks) -> None:
        """The allocators hand out never-used values from the journaled marks on (those the
        record holds: `Marks.read`)."""
        if marks.teid is not None:
            self.teids.resume(marks.teid)
        self.ue_pools.resume(marks.ue)
        if marks.seid is not None:  # (past every restored session's: journaled with them)
            self._next_seid = self._seid_mark = self._seid_topped = marks.seid
            self._seid_resumed = True

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
        books = {int(k): UrrBook.from_json(v) for k, v in d["urrs"].items()}
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
            ue=tuple((sys.intern(str(n)), str(ue_network(a))) for n, a in d["ue"]),
            bar_duration_s=d.get("bar_duration"),
            bar_grant=int(d.get("bar_grant", 0)),
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
        lost = {} if kept else {u: b.dp_seen for u, b in books.items() if b.dp_seen}
        for book in books.values():
            book.restored_at(session.established_ntp, kept)
            if kept:
                book.kept_by_datapath()
            else:
                book.lost_by_datapath()
        now_ntp = None
        for urr_id, g in rules.urr.items():
            fresh = self._new_book(g, 0.0, now)
            book = books.setdefault(urr_id, fresh)
            book.idle_since = now
            book.configure(g)
            book.next_periodic = fresh.next_periodic
            if fresh.next_periodic is not None and book.period_start_ntp:
                # The periodic reports go on from the period the journal holds (TS 29.244
                # 5.2.2.2.1): due a Measurement Period after its start, at once when that
                # passed while pfcpd was down; not a whole period after the restart.
                now_ntp = self._ntp() if now_ntp is None else now_ntp
                left = book.period_start_ntp + book.period - now_ntp
                book.next_periodic = now + min(max(left, 0.0), book.period)
        session.urrs = kept_books(books)
        session.derive(rules)
        # (known, with no PFDs if the PFD record has none for them; forgotten again if the
        # record fails to restore)
        made_known = self.pfds.known(session.apps) if session.apps else frozenset()
        alloc = Allocations()
        try:
            program = compile_program(
                self._ctx,
                rules,
                session.bar_duration_s,
                urr_offsets(session.urrs),
                blocked_urrs(session.urrs),
                urr_grants=urr_grants(session.urrs),
                bar_grant=session.bar_grant,
            )
            session.peers = program_peers(program)
            if (
                session.up_seid in self.sessions
                or self._cp_session(
                    session.cp_node_id, session.cp_seid, session.cp_ipv4, session.cp_ipv6, True
                )
                is not None
            ):
                raise ValueError(f"session 0x{session.up_seid:x} restored twice")
            for teid in session.teids:
                if not self.teids.reserve(teid):
                    raise ValueError(f"TEID {teid} already taken")
                alloc.teids.append(teid)
            for name, text in session.ue:
                net = ue_network(text)
                if self.ue_pools.reserve(name, net):
                    alloc.ue.append((name, net))
                elif self.ue_pools.owned(name, net):
                    raise ValueError(f"UE address {net} ({name}) taken twice")
                else:  # the pool left the configuration: the session keeps its address
                    # (what pools configured since hand out inside it held while it does)
                    held = self.ue_pools.hold(name, net)
                    if held:
                        alloc.ue.append((name, net))
                    log.warning(
                        "session 0x%x: UE address %s is in no pool of %s now%s",
                        session.up_seid,
                        net,
                        name,
                        f"; held in use in {', '.join(p.label for p in held)} while it has it"
                        if held
                        else "",
                    )
            self.datapath.install(session.up_seid, program)
        except Exception:
            self._free(alloc)
            self.pfds.forget(made_known)
            raise
        self._add(session)
        if not self._seid_resumed:  # (no mark: after the highest restored)
            self._next_seid = max(self._next_seid, seid_after(session.up_seid, 1))
        self._restored_limits(session, kept, lost)

    def _restored_limits(self, session: Session, kept: bool, lost: dict[int, Counts]) -> None:
        """At restore: the limits to report (`_lost_limits`) of ``session``. Its counters
        kept by the datapath: checked at a poll. Else ``lost`` (URR ID -> the counts the
        last checkpoint read from the datapath, in the journal's baseline and consumption:
        its counters are gone) are checked now, over the books' counts without them."""
        if kept:
            if any(volume_limited(b) and not b.inactive for b in session.urrs.values()):
                self._limit_checks.append(session.up_seid)
            return
        found: dict[int, set[str]] = {}
        for urr_id, counts in lost.items():
            book = session.urrs.get(urr_id)
            rule = session.rules.urr.get(urr_id)
            if book is None or rule is None or book.inactive or not volume_limited(book):
                continue
            offsets = (
                octets(book.baseline.minus(counts)),
                octets(book.consumed.minus(counts)),
            )
            reached = volume_limits_reached(urr_id, rule, offsets, octets(counts))
            if reached:
                found[urr_id] = set(reached)
        if found:
            self._limits_found[session.up_seid] = found

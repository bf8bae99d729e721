"""URR bookkeeping and Usage Report IEs (TS 29.244 5.2.2, 7.5.8.3).

Counters live in the datapath; a report reads them with reset, so each count goes into
exactly one report. What was read but not delivered (a Session Report Request left
unanswered, a rolled-back change) and what a checkpoint saved before a restart is kept as
the URR's ``baseline`` and added to its next report. UR-SEQN counts the URR's reports.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import TypeVar, overload

from ..datapath.interface import Usage
from ..pfcp import IE, Grouped, IEType
from ..pfcp.ie import DECODERS, RawIE
from ..pfcp.ies_address import FSEID
from ..pfcp.ies_flags import (
    MeasurementInformation,
    MeasurementMethod,
    ReportingTriggers,
    UsageInformation,
    UsageReportTrigger,
)
from ..pfcp.ies_scalar import (
    URRID,
    URSEQN,
    DurationMeasurement,
    EndTime,
    StartTime,
    TimeOfFirstPacket,
    TimeOfLastPacket,
)
from ..pfcp.ies_traffic import DroppedDLTrafficThreshold, VolumeMeasurement
from ._record import copy_untracked

T = IEType
_T = TypeVar("_T")
# TS 29.244 5.2.2.3.1: a report triggered only by these carries no measurement (and the
# counts go on into the next report).
UNMEASURED_TRIGGERS = frozenset({"START", "DROTH"})
# Tables 7.5.5.2-1, 7.5.7.2-1, 7.5.8.3-1: Start Time and End Time are present except when
# the trigger is Start of Traffic or Stop of Traffic.
UNTIMED_TRIGGERS = frozenset({"START", "STOPT"})
PacketTimes = tuple[float, float]  # (first, last) packet, NTP seconds
# Packet times are NTP seconds worked out from the datapath's clock at each look: the same
# packet seen twice may differ by this much (a packet after it arrives later).
_SAME_PACKET = 1e-3
# Duration Measurement is whole seconds: metered times worked out from two clocks may
# fall a hair short of a whole second.
_ROUNDING = 1e-6
# "No time" (metering not running, no validity time): one float object, which
# `UrrBook.json_text` knows the text of by identity (an equal -0.0 is another object).
NO_TIME = 0.0
# Dropped DL traffic counts: (packets, octets).
Dropped = tuple[int, int]
# No dropped DL traffic taken into account (`UrrBook.dropped_base`).
NO_DROPS: Dropped = (0, 0)


def measures(triggers: tuple[str, ...]) -> bool:
    """A report for ``triggers`` carries (and resets) the URR's measurement."""
    return not set(triggers) <= UNMEASURED_TRIGGERS


def dropped_of(usage: Usage) -> Dropped:
    """The dropped DL counts of ``usage`` (read from the datapath)."""
    return usage.dropped_dl_packets, usage.dropped_dl_bytes


def packet_times(usage: Usage, dp_now_ns: int, now_ntp: float) -> PacketTimes | None:
    """The wall-clock (NTP) times of the first and last packet ``usage`` counted, from the
    datapath's clock reading ``dp_now_ns`` taken at ``now_ntp``; None when it counted none."""
    if not usage.first_packet_ns or not usage.last_packet_ns:
        return None
    first = now_ntp - max(0, dp_now_ns - usage.first_packet_ns) / 1e9
    last = now_ntp - max(0, dp_now_ns - usage.last_packet_ns) / 1e9
    return first, last


@dataclass(frozen=True, slots=True)
class Counts:
    """Bytes and packets, total/UL/DL. Immutable: most are zero and share ``ZERO``."""

    values: tuple[int, ...] = (0, 0, 0, 0, 0, 0)

    @classmethod
    def of(cls, u: Usage) -> Counts:
        return cls(
            (u.bytes_total, u.bytes_ul, u.bytes_dl, u.packets_total, u.packets_ul, u.packets_dl)
        )

    def __add__(self, other: Counts) -> Counts:
        if not other:
            return self
        if not self:
            return other
        return Counts(tuple(a + b for a, b in zip(self.values, other.values, strict=True)))

    def minus(self, other: Counts) -> Counts:
        return Counts(tuple(a - b for a, b in zip(self.values, other.values, strict=True)))

    def __bool__(self) -> bool:
        return any(self.values)


ZERO = Counts()


@dataclass(slots=True)
class UrrBook:
    """What the engine keeps per URR besides the datapath's counters.

    ``baseline``: counts read from the datapath (with reset) and not yet delivered in a
    report. ``consumed``: counts read from the datapath since the URR's volume quota was
    set, less those the datapath had counted when it was set (the datapath compares its
    quota with its own counts only, so it is given the quota minus this: a negative
    ``consumed`` gives it more). ``dp_seen``: the datapath's counts at the last checkpoint, not yet
    read with reset. The journal holds baseline and consumed with ``dp_seen`` added (a
    datapath that loses its counters on a restart, the local one, lost those) and
    ``dp_seen`` apart ("dp_seen"): `kept_by_datapath` takes them out again for a session whose
    counters the datapath kept (VPP)."""

    seqn: int = 0  # UR-SEQN of the next report
    baseline: Counts = ZERO
    consumed: Counts = ZERO
    dp_seen: Counts = ZERO
    period_start_ntp: float = 0.0  # start of the current measurement period
    next_periodic: float | None = None  # node clock
    active: bool = False  # traffic seen since the last activity check (START/STOPT/QUHTI)
    last_packets: int = 0  # packets counted at the last activity check (-1: `read_with_reset`)
    idle_since: float = 0.0  # node clock of the last activity seen
    # From the URR's rule (not journaled: derived again on restore).
    triggers: int = 0  # Reporting Triggers flags
    period: int = 0  # Measurement Period, seconds
    holding_time: int = 0  # Quota Holding Time, seconds
    inactivity: int = 0  # Inactivity Detection Time, seconds
    quota: bool = False  # a Volume Quota is set
    linked: tuple[int, ...] = ()  # Linked URR IDs (LIUSA: report when one of them does)
    volume: bool = True  # Measurement Method VOLUM: reports carry a Volume Measurement
    duration: bool = True  # Measurement Method DURAT: reports carry a Duration Measurement
    packets: bool = False  # Measurement Information MNOP: packets counted in the Volume one
    # Time metering (DURAT) starts at the first packet, or at once with Measurement
    # Information ISTM (TS 29.244 5.2.2.2.1), and with an Inactivity Detection Time stops
    # that long after the last packet, to start again with the next one (`saw`).
    # ``metering_ntp``: NTP time the running stretch started, 0 = not running;
    # ``metered_s``: seconds metered in the current period before it; ``last_packet_ntp``:
    # the last packet seen; ``seen_ntp``: the last look at the datapath's counters. All
    # journaled.
    metering_ntp: float = NO_TIME
    metered_s: float = 0.0
    last_packet_ntp: float = 0.0
    seen_ntp: float = 0.0
    # Time Threshold and Time Quota (seconds, 0 = none) of a URR whose time metering the
    # datapath cannot do (`engine_meters_time`: it meters from the first packet, without
    # pause): the engine compares them with the time metered, at each activity check.
    # ``time_threshold_done``: reached in this period; ``time_quota_used``: seconds metered
    # since the quota was granted, less the current period's; ``time_quota_over``: used up
    # (the URR's traffic is dropped until the CP grants a new one), also a Time Quota the
    # datapath meters, once its TIMQU event is reported (`Reporting._time_quota_ended`).
    # Journaled.
    own_time: bool = False
    time_threshold: int = 0
    time_quota: int = 0
    time_threshold_done: bool = False
    time_quota_used: float = 0.0
    time_quota_over: bool = False
    # Dropped DL Traffic Threshold (DROTH): (packets, octets), None = not set; and
    # ``dropped_base``, what the datapath's dropped DL counts less it is: the DL traffic
    # dropped since the threshold was last reached (`dropped_threshold_reached`). A read
    # with reset, which starts those counts from 0 again, takes what it read off it
    # (`dropped_taken`: below 0 then), so that a report of another trigger resets none of
    # it. Journaled ("db").
    dropped_threshold: tuple[int | None, int | None] = (None, None)
    dropped_base: tuple[int, int] = NO_DROPS
    # Quota Validity Time (VTIME, 5.2.2.2.1): seconds, from the rule; when the granted quota
    # stops being valid (NTP, 0 = never) and whether it did (then the URR's traffic is
    # dropped until the CP grants a new quota). Both journaled.
    validity: int = 0
    validity_ntp: float = NO_TIME
    quota_expired: bool = False
    # Quota Holding Time (QUHTI, 5.2.2.2.1; TS 32.299 7.2.160): ``quota_held``: no traffic
    # for the holding time, the quota is deemed expired and was reported, once; traffic or
    # a new grant (`hold_again`) starts the holding time again. Journaled ("held").
    quota_held: bool = False
    # Measurement Information INAM (5.2.2.3.1): the rule asks for the measurement to pause;
    # ``inactive``: it is paused (the counts until then are kept in ``baseline``; what the
    # datapath counts meanwhile is discarded). ``inactive`` is journaled.
    inam: bool = False
    inactive: bool = False
    # Monitoring Time (TS 29.244 5.2.2.3.1, e.g. a tariff time change): NTP seconds, from the
    # rule: the earliest of its Monitoring Time and Additional Monitoring Times
    # (`next_monitoring_time`; NO_TIME: none, or all reached: `subsequent_rule` takes each
    # from the rule when it is reached, the later ones staying in the rule). When
    # it is reached (`split`), the measurement so far is the usage before it ("BEF"), kept
    # apart until the URR's next report carries it, as a Usage Report of its own before the
    # one of the usage after it (`usage_reports`): ``before`` (counts), ``before_start`` and
    # ``before_end`` (its period: ``before_end`` NO_TIME when none is kept),
    # ``before_metered`` (seconds of time metering). Journaled ("bef").
    monitoring_ntp: float = NO_TIME
    before: Counts = ZERO
    before_start: float = NO_TIME
    before_end: float = NO_TIME
    before_metered: float = 0.0
    # The datapath's clock (`Datapath.now_ns`) just before the reset read of the last
    # report of a volume threshold (VOLTH) and of a quota (VOLQU) that the engine's check
    # of the counts found (`Reporting._lost_limits`), or of the final report of the URR of
    # the same ID this one replaced (`modification._replaced_book`), 0 = none: the
    # datapath's event of that limit raised before it is late, its counts in that report
    # (not journaled: a restarted engine takes no event raised before it).
    volth_checked_ns: int = dataclasses.field(default=0, compare=False)
    volqu_checked_ns: int = dataclasses.field(default=0, compare=False)
    # The datapath's clock when the CP last granted a Time Quota, or the URR replaced the
    # one of its ID (0 = neither since the engine started): a TIMQU event raised before it
    # is about the quota before (not journaled, as the checked times).
    time_granted_ns: int = dataclasses.field(default=0, compare=False)
    # The Time Quota's grants (`grant_time`), modulo 2**32: the datapath is given it with the
    # quota (`Urr.time_quota_grant`) and re-arms a quota when it changes (meters it again
    # from then; one used up forwards again), the same value granted again too; a grant
    # undone (the count of the grant before, put back by a refused change's undo) continues
    # the quota before it as it was. Journaled ("tg", when not 0): a restored engine
    # installs its programs again with the grants the datapath holds, which then keeps each
    # quota's start (the vpp datapath keeps its sessions across a pfcpd restart).
    time_grants: int = dataclasses.field(default=0, compare=False)
    # The first and last packet (`PacketTimes`) of counts in ``baseline`` whose read from the
    # datapath (with reset: it clears the datapath's times) is in no report sent: a report
    # refused with its change or its batch (`Modification._undo_reports`, `Deletion._undelete`),
    # one no CP took (`counts_back`), the counts before a pause (INAM); None = none. The
    # URR's next report that carries a measurement carries them, with its own (`usage_report`).
    # Journaled ("pt"), with the counts.
    held_times: PacketTimes | None = dataclasses.field(default=None, compare=False)
    # The first and last packet of the counts in ``dp_seen`` (the datapath's, not read with
    # reset, at the last checkpoint); None = none. Journaled ("st"): a restart whose
    # datapath lost its counters holds them with those counts (`lost_by_datapath`).
    seen_times: PacketTimes | None = dataclasses.field(default=None, compare=False)

    def configure(self, urr: Grouped, now_ntp: float = 0.0) -> None:
        """Take the reporting parameters of the URR's rule (a Create URR group) received at
        ``now_ntp`` (0: restored, not received). What a rule gives depends on it alone:
        kept by its octets (`Grouped.raw`), which sessions of one shape share."""
        raw = urr.raw
        got = _RULE_FIELDS.get(raw) if raw is not None else None
        if got is None:
            got = _rule_fields(urr)
            if raw is not None:
                if len(_RULE_FIELDS) >= RULE_FIELDS_ENTRIES:
                    _RULE_FIELDS.clear()
                _RULE_FIELDS[raw] = got
        fields, istm = got
        for name, value in fields:
            setattr(self, name, value)
        if istm and not self.metering_ntp and now_ntp:
            self.metering_ntp = now_ntp

    @classmethod
    def created(cls, urr: Grouped, start_ntp: float, now: float) -> UrrBook:
        """The book of a URR created by its rule (a Create URR group) at ``start_ntp`` (NTP;
        0: restored, not received) and node clock ``now``: configured, created paused with
        INAM (nothing was counted yet), its quota granted, its first periodic report due.
        A rule's octets (`Grouped.raw`) give every field but those five times: the book is
        a copy of its memo's (`_created_kit`: `copy_untracked`, no constructor call with its 46
        arguments) with those set; a rule without octets is configured field by field
        (`_created`), which the memo's books are made with."""
        raw = urr.raw
        kit = _NEW_BOOKS.get(raw)  # (None for a rule without octets: never a key)
        if kit is None:
            if raw is None:
                return cls._created(urr, start_ntp, now)
            kit = _created_kit(urr)
            if len(_NEW_BOOKS) >= RULE_FIELDS_ENTRIES:
                _NEW_BOOKS.clear()
            _NEW_BOOKS[raw] = kit
        model, timed, istm, validity, period = kit
        # (its fields' values immutable: shared with the copy; and acyclic: the book is no
        # object the cyclic GC need traverse, `copy_untracked`)
        book = copy_untracked(model)
        book.period_start_ntp = start_ntp
        book.idle_since = now
        if timed and start_ntp:  # (``timed``: ISTM or a validity time, seldom)
            if istm:
                book.metering_ntp = start_ntp
            if validity:
                book.validity_ntp = start_ntp + validity
        if period:
            book.next_periodic = now + period
        return book

    @classmethod
    def _created(cls, urr: Grouped, start_ntp: float, now: float) -> UrrBook:
        """`created`, field by field."""
        book = cls(period_start_ntp=start_ntp, idle_since=now)
        book.configure(urr, start_ntp)
        book.inactive = book.inam  # created paused: nothing was counted yet
        if start_ntp:
            book.grant(start_ntp)
        period = book.period
        if period and book.reports("PERIO"):
            book.next_periodic = now + period
        return book

    def reports(self, trigger: str) -> bool:
        return bool(self.triggers & ReportingTriggers.of(trigger).flags)

    @property
    def pauses(self) -> bool:
        """Time metering stops without traffic."""
        return self.duration and self.inactivity > 0

    @property
    def watches_time(self) -> bool:
        """The activity checks follow this URR's time metering (it pauses, or the engine
        applies its Time Threshold or Quota). (`state._timed` has it inline: the same
        test.)"""
        return self.pauses or bool(self.own_time and (self.time_threshold or self.time_quota))

    def time_limits(self, now_ntp: float) -> list[str]:
        """The Time Threshold (TIMTH) and Time Quota (TIMQU) the time metered has just
        reached, each once (the threshold once per period, the quota once per grant)."""
        out: list[str] = []
        if not self.own_time:
            return out
        metered = self.metered(now_ntp) + _ROUNDING
        threshold, quota = self.time_threshold, self.time_quota
        if threshold and not self.time_threshold_done and metered >= threshold:
            self.time_threshold_done = True
            out.append("TIMTH")
        if quota and not self.time_quota_over and self.time_quota_used + metered >= quota:
            self.time_quota_over = True
            out.append("TIMQU")
        return out

    def grant_time(self, now_ntp: float) -> None:
        """A Time Quota was granted: it counts the time metered from now; a new quota,
        whatever its value (TS 29.244 5.2.2.2.1), so a new grant (``time_grants``)."""
        self.time_quota_used = -self.metered(now_ntp)
        self.time_quota_over = False
        self.time_grants = (self.time_grants + 1) & 0xFFFFFFFF

    def saw(self, times: PacketTimes | None, now_ntp: float) -> None:
        """Time metering after a look at the datapath at ``now_ntp``: ``times`` of the first
        and last packet it counted since its counters were last reset (None: none).

        Metering starts with the first packet (unless ISTM started it at once). With an
        Inactivity Detection Time it stops when that time passes without a packet (TS
        29.244 5.2.2.2.1: the period without packets after which time measurement stops;
        the period itself is metered, the idle time after it is not), and starts again
        with the next packet. Packets after the last one seen are new: they came after
        the previous look (``seen_ntp``), which bounds when metering starts again."""
        new = times is not None and times[1] > self.last_packet_ntp + _SAME_PACKET
        if self.metering_ntp and self.inactivity:
            end = self._stretch_end(now_ntp)
            earliest_new = max(self.seen_ntp, times[0]) if times is not None and new else now_ntp
            if end < earliest_new:
                self.metered_s += max(0.0, end - max(self.metering_ntp, self.period_start_ntp))
                self.metering_ntp = NO_TIME
        if new:
            assert times is not None
            if not self.metering_ntp:
                self.metering_ntp = min(max(times[0], self.seen_ntp), times[1])
            self.last_packet_ntp = times[1]
        self.seen_ntp = max(self.seen_ntp, now_ntp)

    def stop_metering(self, now_ntp: float) -> None:
        """Time metering stops now (the measurement is paused)."""
        if self.metering_ntp:
            self.metered_s = self.metered(now_ntp)
            self.metering_ntp = NO_TIME

    def _stretch_end(self, now_ntp: float) -> float:
        """Where the running stretch of metering ends, seen at ``now_ntp``."""
        if not self.inactivity:
            return now_ntp
        return min(now_ntp, max(self.last_packet_ntp, self.metering_ntp) + self.inactivity)

    def metered(self, now_ntp: float) -> float:
        """Seconds metered in the current measurement period up to ``now_ntp``."""
        total = self.metered_s
        if self.metering_ntp:
            begin = max(self.metering_ntp, self.period_start_ntp)
            total += max(0.0, self._stretch_end(now_ntp) - begin)
        return total

    def report_marks(self) -> tuple[float, ...]:
        """What a Usage Report changes in the book (`usage_report`), to put back."""
        return (
            self.seqn,
            self.period_start_ntp,
            self.metering_ntp,
            self.metered_s,
            self.last_packet_ntp,
            self.seen_ntp,
            self.time_threshold_done,
            self.time_quota_used,
            self.before_start,
            self.before_end,
            self.before_metered,
            *self.before.values,
            *(self.held_times or (NO_TIME, NO_TIME)),
        )

    def restore_marks(self, marks: tuple[float, ...]) -> None:
        seqn, self.period_start_ntp, self.metering_ntp, *rest = marks
        self.seqn = int(seqn)
        self.metered_s, self.last_packet_ntp, self.seen_ntp, done, self.time_quota_used = rest[:5]
        self.time_threshold_done = bool(done)
        self.before_start, self.before_end, self.before_metered = rest[5:8]
        before = Counts(tuple(int(v) for v in rest[8:14]))
        self.before = before if before else ZERO
        first, last = rest[14:16]
        self.held_times = (first, last) if last else None

    def hold_times(self, times: PacketTimes | None) -> None:
        """``times``, of counts put into ``baseline`` that no report sent carries, go into
        ``held_times`` (the earliest first packet, the latest last one)."""
        held = self.held_times
        if times is None or held is None:
            self.held_times = held or times
        else:
            self.held_times = (min(held[0], times[0]), max(held[1], times[1]))

    def split(self, times: PacketTimes | None, now_ntp: float) -> None:
        """The Monitoring Time is reached (seen at ``now_ntp``, after the datapath's counts
        were read with reset into ``baseline``, ``times`` the first and last packet they
        counted): the measurement period ends at it. What it measured (``baseline``, the
        seconds metered up to the Monitoring Time) is the usage before it, kept apart for
        the next report (`usage_reports`); a new period starts at the Monitoring Time (a
        Time Threshold applies again from it). A Monitoring Time at or before the start of
        the period (already past when the rule came) leaves nothing before it: the period
        goes on, all of it after the Monitoring Time."""
        at = self.monitoring_ntp
        self.monitoring_ntp = NO_TIME
        self.saw(times, now_ntp)
        if not at or at <= self.period_start_ntp:
            return
        metered = self.metered(at)
        self.before, self.baseline = self.baseline, ZERO
        self.held_times = None  # (the usage before it is reported without packet times)
        self.before_start, self.before_end = self.period_start_ntp, at
        self.before_metered = metered
        if self.own_time:  # a new period: the quota keeps what the one before metered
            self.time_quota_used += metered
            self.time_threshold_done = False
        self.period_start_ntp, self.metered_s = at, 0.0

    def grant(self, now_ntp: float) -> None:
        """A quota was granted (the URR created, or updated with a quota or a validity
        time): its Quota Validity Time, if any, counts from now."""
        self.quota_expired = False
        self.validity_ntp = now_ntp + self.validity if self.validity else NO_TIME

    def hold_again(self, now: float) -> None:
        """The Quota Holding Time counts again from node clock ``now`` (an Update URR gave
        a new Volume or Time Quota, or a new Quota Holding Time)."""
        self.quota_held = False
        self.idle_since = now

    def validity_over(self, now_ntp: float) -> bool:
        """The granted quota's validity time just ended (once per grant)."""
        if self.quota_expired or not self.validity_ntp or now_ntp < self.validity_ntp:
            return False
        self.quota_expired = True
        return True

    def dropped_threshold_reached(self, usage: Usage) -> bool:
        """The DL traffic dropped since the threshold was last reached (or the URR was
        created) reaches the Dropped DL Traffic Threshold (TS 29.244 5.2.2.2.1, 8.2.49);
        re-armed when it does. ``usage``: the datapath's counts, read without reset."""
        packets, octets = self.dropped_threshold
        dropped = (usage.dropped_dl_packets, usage.dropped_dl_bytes)
        base_packets, base_octets = self.dropped_base
        if dropped[0] < base_packets or dropped[1] < base_octets:
            # The datapath lost its counts after the threshold was reached (VPP restarted
            # and given the session again, a deletion undone; a pfcpd restart tells it at
            # once: `restored_at`): what it dropped since is not known, what reads with
            # reset took before (below 0) still counts.
            base_packets, base_octets = min(base_packets, 0), min(base_octets, 0)
            self.dropped_base = (base_packets, base_octets)
        if (packets and dropped[0] - base_packets >= packets) or (
            octets and dropped[1] - base_octets >= octets
        ):
            self.dropped_base = dropped
            return True
        return False

    def dropped_taken(self, dropped: Dropped) -> None:
        """A read with reset took ``dropped`` (`dropped_of`) from the datapath: its dropped DL
        counts start from 0 again. What it had dropped since the Dropped DL Traffic Threshold
        was last reached still counts towards it: a report of another trigger carries none of
        it (TS 29.244 5.2.2.2.1: DROTH reports the DL traffic dropped since the last such
        report). Also the book a refused change puts back takes what that change's reads
        took (`Modification._undo_reports`, `Deletion._undelete`)."""
        packets, octets = dropped
        if (packets or octets) and self.reports("DROTH"):
            base_packets, base_octets = self.dropped_base
            self.dropped_base = (base_packets - packets, base_octets - octets)

    def copy(self) -> UrrBook:
        """An independent copy (its counts are copied too)."""
        return dataclasses.replace(self)

    def taken(self, counts: Counts) -> None:
        """``counts`` were read from the datapath with reset."""
        self.consumed = self.consumed + counts
        self.dp_seen = ZERO
        self.seen_times = None

    def set_dp_seen(self, counts: Counts, times: PacketTimes | None) -> None:
        """The datapath counts ``counts`` (not read with reset), their first and last
        packet at ``times``: what the journal holds as usage not reported yet."""
        self.dp_seen = counts
        self.seen_times = times if counts else None

    def read_with_reset(self, packets: int) -> None:
        """A read with reset took the datapath's counts, ``packets`` packets among them:
        the activity check (START, STOPT, QUHTI) counts from 0 again, and takes as traffic
        at its next pass the packets it had not seen (else traffic a report read first
        starts and stops nothing, and the idle time runs on: TS 29.244 5.2.2.2.1)."""
        self.last_packets = -1 if packets > self.last_packets else 0

    def kept_by_datapath(self) -> None:
        """Restored for a session whose datapath counters went on (VPP kept it while pfcpd
        was away): what they held at the checkpoint is in them still, not baseline (their
        packet times too)."""
        if self.dp_seen:  # (else the shared ZERO stays: `as_established`)
            self.baseline = self.baseline.minus(self.dp_seen)
            self.consumed = self.consumed.minus(self.dp_seen)
        self.seen_times = None

    def lost_by_datapath(self) -> None:
        """Restored for a session whose datapath lost its counters (the local one): the
        counts of the last checkpoint stay in the baseline the journal holds, and the times
        of their first and last packet are held for the report that carries them."""
        self.hold_times(self.seen_times)
        self.seen_times = None
        self.dp_seen = ZERO

    def _stored_volumes(self) -> tuple[Counts, Counts]:
        """Baseline and consumed as the journal stores them: with the datapath's counts at
        the checkpoint (``dp_seen``) added back."""
        seen = self.dp_seen
        if seen:
            return self.baseline + seen, self.consumed + seen
        return self.baseline, self.consumed

    def to_json(self) -> dict[str, object]:
        baseline, consumed = self._stored_volumes()
        d: dict[str, object] = {
            "seqn": self.seqn,
            "baseline": list(baseline.values),
            "consumed": list(consumed.values),
            "start": self.period_start_ntp,
            "metering": self.metering_ntp,
            "validity": self.validity_ntp,
            "expired": self.quota_expired,
            "inactive": self.inactive,
        }
        if self.dp_seen:
            d["dp_seen"] = list(self.dp_seen.values)
        if self.quota_held:
            d["held"] = True
        if self.metered_s:
            d["metered"] = self.metered_s
        if self.watches_time:  # (only then: most URRs never pause their time metering)
            d["last"], d["seen"] = self.last_packet_ntp, self.seen_ntp
        if self.own_time or self.time_quota_over:
            d["tq"] = [self.time_threshold_done, self.time_quota_used, self.time_quota_over]
        if self.time_grants:
            d["tg"] = self.time_grants
        if self.before_end:
            d["bef"] = [
                list(self.before.values),
                self.before_start,
                self.before_end,
                self.before_metered,
            ]
        if self.dropped_base != NO_DROPS:
            d["db"] = list(self.dropped_base)
        if self.held_times is not None:
            d["pt"] = list(self.held_times)
        if self.seen_times is not None:
            d["st"] = list(self.seen_times)
        return d

    def restored_at(self, established: float, kept: bool = True) -> None:
        """Restored for a session established at ``established``: a period start equal to
        it (the same double) is that float object again, as when the book was made. The
        datapath kept the session's counters (``kept``: VPP), or lost them: then the dropped
        DL counts `dropped_base` was taken at a DROTH report are gone (the datapath counts
        from 0; what reads with reset took before still counts)."""
        start = self.period_start_ntp
        if start == established and math.copysign(1.0, start) == math.copysign(1.0, established):
            self.period_start_ntp = established
        if not kept and self.dropped_base != NO_DROPS:
            packets, octets = self.dropped_base
            self.dropped_base = (min(packets, 0), min(octets, 0))

    def as_established(self, start: float | None) -> bool:
        """The book holds what one established at NTP time ``start`` (the float object)
        holds but, perhaps, its UR-SEQN: its record is the UR-SEQN alone (`json_text`,
        the binary record's `record.books_octets`)."""
        return (
            self.dp_seen is ZERO
            and self.baseline is ZERO
            and self.consumed is ZERO
            and self.period_start_ntp is start
            and self.metering_ntp is NO_TIME
            and self.validity_ntp is NO_TIME
            and self.quota_expired is False
            and self.inactive is False
            and not self.quota_held
            and not self.metered_s
            and not self.own_time
            and not self.time_quota_over
            and not (self.duration and self.inactivity > 0)  # (not self.pauses)
            and self.before_end is NO_TIME
            and not self.time_grants
            and self.dropped_base == NO_DROPS
            and self.held_times is None
            and self.seen_times is None
        )

    def json_text(self, known: float | None = None, known_text: str = "") -> str:
        """The JSON text of `to_json` (as ``json.dumps(..., separators=(",", ":"))`` writes
        it), without the dict: the journal writes one per URR at every commit.
        ``known_text``: the JSON text of the float object ``known``, written already
        (`Session.json_record`: its establishment time, most books' period start too: a float's
        text is the costliest part of a record)."""
        seen = self.dp_seen
        if self.as_established(known):  # (what the rest writes of it, in one piece)
            seqn = self.seqn
            if seqn == 0 and type(seqn) is int:  # (no report yet)
                return f"{_NEW_BOOK_HEAD}{known_text}{_UNTIMED_TAIL}"
            return (
                f'{{"seqn":{int.__repr__(seqn) if type(seqn) is int else json_value(seqn)},'
                f'"baseline":{_ZERO_TEXT},"consumed":{_ZERO_TEXT},"start":{known_text},'
                f"{_UNTIMED_TEXT}}}"
            )
        if seen is ZERO or not seen:
            baseline, consumed = self.baseline, self.consumed
        else:
            baseline, consumed = self.baseline + seen, self.consumed + seen
        base = _ZERO_TEXT if baseline is ZERO else json_ints(baseline.values)
        spent = _ZERO_TEXT if consumed is ZERO else json_ints(consumed.values)
        seqn, start = self.seqn, self.period_start_ntp
        text = (
            f'{{"seqn":{int.__repr__(seqn) if type(seqn) is int else json_value(seqn)},'
            f'"baseline":{base},"consumed":{spent},'
            f'"start":{known_text if start is known else json_value(start)},'
        )
        if (
            self.metering_ntp is NO_TIME
            and self.validity_ntp is NO_TIME
            and self.quota_expired is False
            and self.inactive is False
        ):
            text += _UNTIMED_TEXT  # (most books)
        else:
            text += (
                f'"metering":{json_value(self.metering_ntp)},'
                f'"validity":{json_value(self.validity_ntp)},'
                f'"expired":{json_value(self.quota_expired)},'
                f'"inactive":{json_value(self.inactive)}'
            )
        if seen is not ZERO and seen:
            text += f',"dp_seen":{json_ints(seen.values)}'
        if self.quota_held:
            text += ',"held":true'
        if self.metered_s:
            text += f',"metered":{json_value(self.metered_s)}'
        if self.watches_time:
            text += f',"last":{json_value(self.last_packet_ntp)},"seen":{json_value(self.seen_ntp)}'
        if self.own_time or self.time_quota_over:
            done, used, over = self.time_threshold_done, self.time_quota_used, self.time_quota_over
            text += f',"tq":[{json_value(done)},{json_value(used)},{json_value(over)}]'
        if self.time_grants:
            text += f',"tg":{int.__repr__(self.time_grants)}'
        if self.before_end:
            text += (
                f',"bef":[{json_ints(self.before.values)},{json_value(self.before_start)},'
                f"{json_value(self.before_end)},{json_value(self.before_metered)}]"
            )
        if self.dropped_base != NO_DROPS:
            text += f',"db":{json_ints(self.dropped_base)}'
        if self.held_times is not None:
            first, last = self.held_times
            text += f',"pt":[{json_value(first)},{json_value(last)}]'
        if self.seen_times is not None:
            first, last = self.seen_times
            text += f',"st":[{json_value(first)},{json_value(last)}]'
        return text + "}"

    @classmethod
    def from_json(cls, d: dict[str, object]) -> UrrBook:
        """The book of `to_json`'s dict. No counts are the shared ZERO, no time NO_TIME
        (as a book is made: `as_established` asks for them)."""

        def counts(name: str) -> Counts:
            values = d.get(name, [0] * 6)
            assert isinstance(values, list) and len(values) == 6
            found = Counts(tuple(int(v) for v in values))
            return found if found else ZERO

        def seconds(name: str) -> float:
            value = d.get(name, 0.0)
            assert isinstance(value, int | float)
            value = float(value)
            return NO_TIME if value == 0.0 and math.copysign(1.0, value) > 0 else value

        seqn = d.get("seqn", 0)
        assert isinstance(seqn, int)
        tq = d.get("tq", [False, 0.0, False])
        assert isinstance(tq, list | tuple) and len(tq) == 3
        done, used, over = tq
        bef = d.get("bef", [[0] * 6, 0.0, 0.0, 0.0])
        assert isinstance(bef, list | tuple) and len(bef) == 4
        before_values, before_start, before_end, before_metered = bef
        assert isinstance(before_values, list) and len(before_values) == 6
        before = Counts(tuple(int(v) for v in before_values))
        grants = d.get("tg", 0)
        assert isinstance(grants, int)
        db = d.get("db")
        if db is None:
            dropped_base = NO_DROPS
        else:
            assert isinstance(db, list | tuple) and len(db) == 2
            dropped_base = (int(db[0]), int(db[1]))

        def times(name: str) -> PacketTimes | None:
            value = d.get(name)
            if value is None:
                return None
            assert isinstance(value, list | tuple) and len(value) == 2
            return float(value[0]), float(value[1])

        return cls(
            held_times=times("pt"),
            seen_times=times("st"),
            dropped_base=dropped_base,
            time_grants=grants,
            before=before if before else ZERO,
            before_start=float(before_start) or NO_TIME,
            before_end=float(before_end) or NO_TIME,
            before_metered=float(before_metered),
            time_threshold_done=bool(done),
            time_quota_used=float(used),
            time_quota_over=bool(over),
            seqn=seqn,
            baseline=counts("baseline"),
            consumed=counts("consumed"),
            dp_seen=counts("dp_seen"),
            period_start_ntp=seconds("start"),
            metering_ntp=seconds("metering"),
            metered_s=seconds("metered"),
            last_packet_ntp=seconds("last"),
            seen_ntp=seconds("seen"),
            validity_ntp=seconds("validity"),
            quota_expired=bool(d.get("expired", False)),
            quota_held=bool(d.get("held", False)),
            inactive=bool(d.get("inactive", False)),
        )


def engine_meters_time(urr: Grouped) -> bool:
    """The URR's time metering is one the datapath cannot do (it meters from the first
    packet, without pause): it pauses after an Inactivity Detection Time, or starts at
    once (Measurement Information ISTM). The engine then applies its Time Threshold and
    Time Quota; the datapath is not given them (`compile_urr`)."""
    method = urr.get(T.MEASUREMENT_METHOD)
    if not (isinstance(method, MeasurementMethod) and method.has("DURAT")):
        return False
    info = urr.get(T.MEASUREMENT_INFORMATION)
    istm = isinstance(info, MeasurementInformation) and info.has("ISTM")
    return istm or _value(urr, T.INACTIVITY_DETECTION_TIME) > 0


# What `UrrBook.configure` takes from a URR's rule, by the rule's octets (emptied when full).
_RULE_FIELDS: dict[bytes, tuple[tuple[tuple[str, object], ...], bool]] = {}
RULE_FIELDS_ENTRIES = 1024


def volume_limited(book: UrrBook) -> bool:
    """The URR reports a volume threshold or quota (VOLTH, VOLQU)."""
    return book.reports("VOLTH") or (book.quota and book.reports("VOLQU"))


def octets(counts: Counts | Usage) -> tuple[int, int, int]:
    """The octets (total, UL, DL) of ``counts``."""
    if isinstance(counts, Usage):
        return counts.bytes_total, counts.bytes_ul, counts.bytes_dl
    v = counts.values
    return v[0], v[1], v[2]


def drop_rule_fields() -> None:
    """Empty `UrrBook.configure`'s and `UrrBook.created`'s memos (they refill as rules are
    configured again)."""
    _RULE_FIELDS.clear()
    _NEW_BOOKS.clear()


# What `UrrBook.created` makes of a URR's rule, by the rule's octets (emptied when full):
# the book created at NTP time 0 and node clock 0 (never changed: `created` copies it), and
# what the times change: whether either of the next two is set, whether ISTM starts
# metering at once, the Quota Validity Time, and the Measurement Period when it asks for
# periodic reports (else 0).
_NEW_BOOKS: dict[bytes | None, tuple[UrrBook, bool, bool, int, int]] = {}


def _created_kit(urr: Grouped) -> tuple[UrrBook, bool, bool, int, int]:
    """`_NEW_BOOKS`' entry for ``urr``: made with `UrrBook._created`, so that the books made
    from it are the ones that makes (`test_urr_book_memo` compares them)."""
    book = UrrBook._created(urr, 0.0, 0.0)
    _, istm = _rule_fields(urr)
    period = book.period if book.period and book.reports("PERIO") else 0
    return book, bool(istm or book.validity), istm, book.validity, period


def _rule_fields(urr: Grouped) -> tuple[tuple[tuple[str, object], ...], bool]:
    """The (field, value) pairs `UrrBook.configure` sets from the URR's rule, in order, and
    whether it asks for time metering to start at once (ISTM)."""
    out: list[tuple[str, object]] = []
    trig = urr.get(T.REPORTING_TRIGGERS)
    triggers = trig.flags if isinstance(trig, ReportingTriggers) else 0
    out.append(("triggers", triggers))
    method = urr.get(T.MEASUREMENT_METHOD)
    if isinstance(method, MeasurementMethod):
        out += [("volume", method.has("VOLUM")), ("duration", method.has("DURAT"))]
    info = urr.get(T.MEASUREMENT_INFORMATION)
    flags = info if isinstance(info, MeasurementInformation) else MeasurementInformation()
    out += [("packets", flags.has("MNOP")), ("inam", flags.has("INAM"))]
    out += [
        ("period", _value(urr, T.MEASUREMENT_PERIOD)),
        ("holding_time", _value(urr, T.QUOTA_HOLDING_TIME)),
        ("inactivity", _value(urr, T.INACTIVITY_DETECTION_TIME)),
        ("quota", urr.get(T.VOLUME_QUOTA) is not None),
        ("linked", tuple(int(ie.value) for ie in urr.get_all(T.LINKED_URR_ID))),  # type: ignore[attr-defined]
    ]
    dropped = urr.get(T.DROPPED_DL_TRAFFIC_THRESHOLD)
    out.append(
        (
            "dropped_threshold",
            (dropped.packets, dropped.octets)
            if isinstance(dropped, DroppedDLTrafficThreshold)
            else (None, None),
        )
    )
    own_time = engine_meters_time(urr)
    threshold = bool(triggers & ReportingTriggers.of("TIMTH").flags) and own_time
    out += [
        ("validity", _value(urr, T.QUOTA_VALIDITY_TIME)),
        ("own_time", own_time),
        ("time_threshold", _value(urr, T.TIME_THRESHOLD) if threshold else 0),
        ("time_quota", _value(urr, T.TIME_QUOTA) if own_time else 0),
        ("monitoring_ntp", next_monitoring_time(urr)),
    ]
    return tuple(out), flags.has("ISTM")


def _value(group: Grouped, ie_type: int) -> int:
    ie = group.get(ie_type)
    return int(ie.value) if ie is not None else 0  # type: ignore[attr-defined]


def usage_report(
    container: int,
    urr_id: int,
    book: UrrBook,
    counts: Counts,
    triggers: tuple[str, ...],
    now_ntp: float,
    times: PacketTimes | None = None,
) -> Grouped:
    """A Usage Report group (``container``: the Modification/Deletion Response or Report
    Request variant) for ``counts`` and the first/last packet ``times`` of the period; takes
    the URR's UR-SEQN, and starts a new period unless the report carries no measurement
    (TS 29.244 5.2.2.3.1, Table 7.5.8.3-1). Volume Measurement with Measurement Method
    VOLUM (packet counts with MNOP), Duration Measurement with DURAT: the seconds metered
    in the period (`UrrBook.saw`)."""
    start = book.period_start_ntp or now_ntp
    ies: list[IE] = [URRID(urr_id), URSEQN(book.seqn), UsageReportTrigger.of(*triggers)]
    if not set(triggers) <= UNTIMED_TRIGGERS:
        ies += [StartTime(int(start)), EndTime(int(now_ntp))]
    book.saw(times, now_ntp)
    if measures(triggers):
        v = counts.values
        if book.volume:
            packets = (v[3], v[4], v[5]) if book.packets else (None, None, None)
            ies.append(VolumeMeasurement(v[0], v[1], v[2], *packets))
        if book.duration:
            ies.append(DurationMeasurement(int(book.metered(now_ntp) + _ROUNDING)))
        if book.own_time:  # a new period: the quota keeps what this one metered
            book.time_quota_used += book.metered(now_ntp)
            book.time_threshold_done = False
        book.period_start_ntp, book.metered_s = now_ntp, 0.0
        if book.held_times is not None:  # (of counts in ``counts``: reported now)
            book.hold_times(times)
            times, book.held_times = book.held_times, None
    if times is not None:
        ies += [TimeOfFirstPacket(int(times[0])), TimeOfLastPacket(int(times[1]))]
    book.seqn = (book.seqn + 1) & 0xFFFFFFFF
    return Grouped(container, ies)


def usage_reports(
    container: int,
    urr_id: int,
    book: UrrBook,
    counts: Counts,
    triggers: tuple[str, ...],
    now_ntp: float,
    times: PacketTimes | None = None,
) -> list[Grouped]:
    """The Usage Reports of one report of the URR (`usage_report`): with the usage before
    its Monitoring Time kept apart (`UrrBook.split`), when the report carries a
    measurement, two (TS 29.244 5.2.2.3.1): first the one of the usage before it (Usage
    Information BEF: its counts, its period ending at the Monitoring Time), then the one of
    the usage after it (AFT: ``counts``, from the Monitoring Time on), each with its own
    UR-SEQN; else the one."""
    if not book.before_end or not measures(triggers):
        return [usage_report(container, urr_id, book, counts, triggers, now_ntp, times)]
    ies: list[IE] = [URRID(urr_id), URSEQN(book.seqn), UsageReportTrigger.of(*triggers)]
    if not set(triggers) <= UNTIMED_TRIGGERS:
        ies += [StartTime(int(book.before_start)), EndTime(int(book.before_end))]
    v = book.before.values
    if book.volume:
        packets = (v[3], v[4], v[5]) if book.packets else (None, None, None)
        ies.append(VolumeMeasurement(v[0], v[1], v[2], *packets))
    if book.duration:
        ies.append(DurationMeasurement(int(book.before_metered + _ROUNDING)))
    ies.append(UsageInformation.of("BEF"))
    book.seqn = (book.seqn + 1) & 0xFFFFFFFF
    book.before, book.before_start, book.before_end = ZERO, NO_TIME, NO_TIME
    book.before_metered = 0.0
    after = usage_report(container, urr_id, book, counts, triggers, now_ntp, times)
    after.ies.append(UsageInformation.of("AFT"))
    return [Grouped(container, ies), after]


def report_times(group: Grouped) -> PacketTimes | None:
    """The Time of First Packet and Time of Last Packet of a Usage Report, or None."""
    first, last = group.get(T.TIME_OF_FIRST_PACKET), group.get(T.TIME_OF_LAST_PACKET)
    if isinstance(first, TimeOfFirstPacket) and isinstance(last, TimeOfLastPacket):
        return float(first.value), float(last.value)
    return None


def is_before(group: Grouped) -> bool:
    """The Usage Report is of the usage before a Monitoring Time (Usage Information BEF)."""
    info = group.get(T.USAGE_INFORMATION)
    return isinstance(info, UsageInformation) and info.has("BEF")


def counts_back(book: UrrBook, group: Grouped) -> Counts:
    """The counts of a Usage Report no CP took go back into ``book``: those of the usage
    before a Monitoring Time (BEF) into what it keeps of that usage (its period back from
    the report, when it keeps none), for its next report to carry apart again; the others
    into its ``baseline``. The counts."""
    counts = report_counts(group)
    if not is_before(group):
        book.baseline = book.baseline + counts
        book.hold_times(report_times(group))
        return counts
    book.before = book.before + counts
    if not book.before_end:
        start, end = group.get(T.START_TIME), group.get(T.END_TIME)
        book.before_start = float(start.value) if isinstance(start, StartTime) else NO_TIME
        book.before_end = float(end.value) if isinstance(end, EndTime) else book.period_start_ntp
    duration = group.get(T.DURATION_MEASUREMENT)
    if isinstance(duration, DurationMeasurement):
        book.before_metered += duration.value
    return ZERO


# Subsequent IE -> the IE it replaces once the Monitoring Time is reached (`subsequent_rule`).
_SUBSEQUENT: dict[int, int] = {
    T.SUBSEQUENT_VOLUME_THRESHOLD: T.VOLUME_THRESHOLD,
    T.SUBSEQUENT_VOLUME_QUOTA: T.VOLUME_QUOTA,
    T.SUBSEQUENT_TIME_THRESHOLD: T.TIME_THRESHOLD,
    T.SUBSEQUENT_TIME_QUOTA: T.TIME_QUOTA,
    T.SUBSEQUENT_EVENT_THRESHOLD: T.EVENT_THRESHOLD,
    T.SUBSEQUENT_EVENT_QUOTA: T.EVENT_QUOTA,
}
# The same in an Additional Monitoring Time, whose table (7.5.2.4-2) also names the event
# limits after it by the Event Threshold and Event Quota IE types.
_ADDITIONAL_SUBSEQUENT: dict[int, int] = {
    **_SUBSEQUENT,
    T.EVENT_THRESHOLD: T.EVENT_THRESHOLD,
    T.EVENT_QUOTA: T.EVENT_QUOTA,
}


def _monitoring_times(rule: Grouped) -> list[tuple[float, int]]:
    """The URR's monitoring times not reached yet, earliest first: (NTP seconds, where) of
    its Monitoring Time (where -1) and of each Additional Monitoring Time (where: its index
    among the rule's IEs); one of time 0 (none) is left out."""
    out: list[tuple[float, int]] = []
    for i, ie in enumerate(rule.ies):
        if ie.type == T.MONITORING_TIME:
            at = float(ie.value)  # type: ignore[attr-defined]
            where = -1
        elif ie.type == T.ADDITIONAL_MONITORING_TIME and isinstance(ie, Grouped):
            at = float(_value(ie, T.MONITORING_TIME))
            where = i
        else:
            continue
        if at:
            out.append((at, where))
    out.sort()
    return out


def next_monitoring_time(rule: Grouped) -> float:
    """The URR's next monitoring time (TS 29.244 5.2.2.3.1): the earliest of its Monitoring
    Time and its Additional Monitoring Times (NTP seconds; NO_TIME: none)."""
    times = _monitoring_times(rule)
    return times[0][0] if times else NO_TIME


def subsequent_rule(rule: Grouped) -> tuple[Grouped, frozenset[int]]:
    """The URR's rule once its next monitoring time is reached (TS 29.244 7.5.2.4: the
    Subsequent thresholds and quotas are those of the period after it), the earliest of
    its Monitoring Time and its Additional Monitoring Times (`next_monitoring_time`): each
    Subsequent Volume/Time/Event Threshold or Quota of that one takes the place of the
    Threshold or Quota of its kind (the same encoding), and that monitoring time is gone
    from the rule (the Monitoring Time with the rule's Subsequent IEs, or the Additional
    Monitoring Time group); a limit without a Subsequent one stays. The monitoring times
    after it stay in the rule as they came (an Update URR's Additional Monitoring Times
    replace them: `rules.merge_update`), the next of them reached in turn. With the types
    of the limits replaced."""
    times = _monitoring_times(rule)
    where = times[0][1] if times else -1
    if where < 0:  # the Monitoring Time (or none: the rule's Subsequent IEs still apply)
        given = [ie for ie in rule.ies if ie.type in _SUBSEQUENT]
        mapping = _SUBSEQUENT
    else:
        amt = rule.ies[where]
        assert isinstance(amt, Grouped)
        given = [ie for ie in amt.ies if ie.type in _ADDITIONAL_SUBSEQUENT]
        mapping = _ADDITIONAL_SUBSEQUENT
    replaced = {mapping[ie.type]: ie for ie in given}
    ies: list[IE] = []
    for i, ie in enumerate(rule.ies):
        if where < 0 and (ie.type == T.MONITORING_TIME or ie.type in _SUBSEQUENT):
            continue
        if i == where or ie.type in replaced:
            continue
        ies.append(ie)
    for target, ie in replaced.items():
        data = ie.encode()
        decoder = DECODERS.get(target)
        ies.append(decoder(data) if decoder is not None else RawIE(target, data))
    return Grouped(rule.type, ies), frozenset(replaced)


def report_counts(group: Grouped) -> Counts:
    """The counts a Usage Report group carries (to put back when it was not delivered)."""
    vm = group.get(T.VOLUME_MEASUREMENT)
    if not isinstance(vm, VolumeMeasurement):
        return ZERO
    return Counts(
        (
            vm.total or 0,
            vm.ul or 0,
            vm.dl or 0,
            vm.total_packets or 0,
            vm.ul_packets or 0,
            vm.dl_packets or 0,
        )
    )


# JSON text of values, as the json module's encoder (separators "," and ":") writes them:
# records built from these texts are what json.dumps made of their dicts.
_JSON = json.JSONEncoder(separators=(",", ":"))
INFINITY = _INF = float("inf")
_INFINITIES = (_INF, -_INF)


def json_value(value: object) -> str:
    """The JSON text of one value."""
    t = type(value)
    if t is float:
        if value != value or value in _INFINITIES:  # (NaN, Infinity: as json writes them)
            return _JSON.encode(value)
        return float.__repr__(value)
    if t is int:
        return int.__repr__(value)
    if t is str:
        return encode_basestring_ascii(value)  # type: ignore[arg-type]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _JSON.encode(value)


class OneBook:
    """A session's URR books when it has one URR (the usual session): its ID and book, read
    as a dict of that one entry is (``[]``, ``get``, ``in``, ``len``, iteration, ``keys``,
    ``values``, ``items``). A dict of one entry costs 224 bytes (64 the dict, 160 its
    table: of ~1,480 per session at 1,000,000 sessions), this 48. Not changed in place: a
    change of a session's books makes a dict of them (`kept_books` keeps it again)."""

    __slots__ = ("book", "urr_id")

    def __init__(self, urr_id: int, book: UrrBook) -> None:
        self.urr_id = urr_id
        self.book = book

    def __getitem__(self, urr_id: int) -> UrrBook:
        if urr_id == self.urr_id:
            return self.book
        raise KeyError(urr_id)

    @overload
    def get(self, urr_id: int, /) -> UrrBook | None: ...
    @overload
    def get(self, urr_id: int, default: _T, /) -> UrrBook | _T: ...
    def get(self, urr_id: int, default: object = None) -> object:
        return self.book if urr_id == self.urr_id else default

    def __contains__(self, urr_id: object) -> bool:
        return urr_id == self.urr_id

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[int]:
        return iter((self.urr_id,))

    def keys(self) -> tuple[int]:
        return (self.urr_id,)

    def values(self) -> tuple[UrrBook]:
        return (self.book,)

    def items(self) -> tuple[tuple[int, UrrBook]]:
        return ((self.urr_id, self.book),)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OneBook):
            return other.urr_id == self.urr_id and other.book == self.book
        return isinstance(other, dict) and other == {self.urr_id: self.book}

    __hash__ = None  # type: ignore[assignment]  # (as a dict's)

    def __repr__(self) -> str:
        return f"OneBook({self.urr_id!r}, {self.book!r})"


# A session's URR books: a dict, or the one book with its ID (`OneBook`).
Books = dict[int, UrrBook] | OneBook


def kept_books(books: Books) -> Books:
    """``books`` as a session keeps them: one book as a `OneBook`."""
    if len(books) == 1 and type(books) is dict:
        ((urr_id, book),) = books.items()
        return OneBook(urr_id, book)
    return books


def final_counts(
    book: UrrBook, usage: Usage | None, dp_now_ns: int, now_ntp: float
) -> tuple[Counts, PacketTimes | None]:
    """A URR's counts when its session goes (its baseline and ``usage``, the datapath's last
    reading of it, None when it had none) and the times of the first and last packets
    ``usage`` counted (`packet_times`)."""
    if usage is None or book.inactive:  # (paused: its counts are not usage)
        return book.baseline, None
    return book.baseline + Counts.of(usage), packet_times(usage, dp_now_ns, now_ntp)


def json_ints(values: Iterable[object]) -> str:
    """The JSON text of a list of integers (of any values: then as the encoder writes it)."""
    if type(values) is not tuple:
        values = tuple(values)
    if len(values) == 1 and type(values[0]) is int:  # (a session's one TEID)
        return f"[{int.__repr__(values[0])}]"
    for v in values:  # (a loop: all() over a generator cost twice as much)
        if type(v) is not int:
            return _JSON.encode(list(values))
    return "[" + ",".join(map(int.__repr__, values)) + "]"


_ZERO_TEXT = json_ints(ZERO.values)  # (most books' baseline and consumed: text made once)
_UNTIMED_TEXT = (
    f'"metering":{json_value(NO_TIME)},"validity":{json_value(NO_TIME)},'
    f'"expired":{json_value(False)},"inactive":{json_value(False)}'
)
# The text of a book as established (`UrrBook.json_text`) but for its period start's.
_NEW_BOOK_HEAD = f'{{"seqn":0,"baseline":{_ZERO_TEXT},"consumed":{_ZERO_TEXT},"start":'
_UNTIMED_TAIL = f",{_UNTIMED_TEXT}}}"
_FSEID_TL = struct.Struct("!HH")
U64_MAX = (1 << 64) - 1
# (IPv4, IPv6 address) of an F-SEID -> the hex text of its IE before and after the SEID:
# the CP functions' few addresses, each made once.
_FSEID_HEX: dict[tuple[str | None, str | None], tuple[str, str]] = {}
FSEID_HEX_ENTRIES = 256  # (emptied when full: a few CP functions use a few addresses)


def fseid_hex(fseid: FSEID) -> str:
    """The hex text of the F-SEID IE (type, length, value) as `encode_ies` writes it: made of
    its SEID's and its addresses' (made once per pair of addresses)."""
    seid = fseid.seid
    if type(fseid) is FSEID and type(seid) is int and 0 <= seid <= U64_MAX:
        key = (fseid.ipv4, fseid.ipv6)
        parts = _FSEID_HEX.get(key)
        if parts is None:
            text = _fseid_ie_hex(FSEID(0, *key))
            if len(_FSEID_HEX) >= FSEID_HEX_ENTRIES:
                _FSEID_HEX.clear()
            parts = _FSEID_HEX[key] = (text[:10], text[26:])  # (type, length, flags | addresses)
        head, tail = parts
        return f"{head}{seid.to_bytes(8, 'big').hex()}{tail}"  # (no format spec to parse)
    return _fseid_ie_hex(fseid)


# (CP Node ID, F-SEID IPv4, IPv6 address) -> the texts of a session record (`Session.record`)
# before and after the F-SEID's SEID: from the Node ID's up to the F-SEID IE's type, length
# and flags (10 hex digits), from its addresses to the rules' opening quote.
RECORD_PEERS: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}


def record_peer_texts(node_id: str, ipv4: str | None, ipv6: str | None) -> tuple[str, str]:
    """The texts of a session record around the SEID of its CP's F-SEID (made once per
    CP Node ID and pair of addresses)."""
    key = (node_id, ipv4, ipv6)
    texts = RECORD_PEERS.get(key)
    if texts is None:
        fseid = _fseid_ie_hex(FSEID(0, ipv4, ipv6))
        texts = (
            f',"cp_node_id":{encode_basestring_ascii(node_id)},"cp_fseid":"{fseid[:10]}',
            f'{fseid[26:]}","rz":"',
        )
        if len(RECORD_PEERS) >= FSEID_HEX_ENTRIES:
            RECORD_PEERS.clear()
        RECORD_PEERS[key] = texts
    return texts


def _fseid_ie_hex(fseid: FSEID) -> str:
    value = fseid.encode()  # (what `encode_ies` writes: an F-SEID is no group)
    return (_FSEID_TL.pack(IEType.F_SEID, len(value)) + value).hex()

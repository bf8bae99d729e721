"""URR bookkeeping and Usage Report IEs (TS 29.244 5.2.2, 7.5.8.3).

Counters live in the datapath; a report reads them with reset, so each count goes into
exactly one report. What was read but not delivered (a Session Report Request left
unanswered, a rolled-back change) and what a checkpoint saved before a restart is kept as
the URR's ``baseline`` and added to its next report. UR-SEQN counts the URR's reports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..datapath.interface import Usage
from ..pfcp import IE, Grouped, IEType
from ..pfcp.ies_flags import (
    MeasurementInformation,
    MeasurementMethod,
    ReportingTriggers,
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

T = IEType
# TS 29.244 5.2.2.3.1: a report triggered only by these carries no measurement (and the
# counts go on into the next report).
UNMEASURED_TRIGGERS = frozenset({"START", "DROTH"})
# Tables 7.5.5.2-1, 7.5.7.2-1, 7.5.8.3-1: Start Time and End Time are present except when
# the trigger is Start of Traffic or Stop of Traffic.
UNTIMED_TRIGGERS = frozenset({"START", "STOPT"})
PacketTimes = tuple[float, float]  # (first, last) packet, NTP seconds


def measures(triggers: tuple[str, ...]) -> bool:
    """A report for ``triggers`` carries (and resets) the URR's measurement."""
    return not set(triggers) <= UNMEASURED_TRIGGERS


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
    set (the datapath compares its quota with its own counts only, so it is given the
    quota minus this). ``dp_seen``: the datapath's counts at the last checkpoint, not yet
    read with reset. The journal holds baseline and consumed with ``dp_seen`` added (a
    datapath that loses its counters on a restart, the local one, lost those) and
    ``dp_seen`` apart ("seen"): `kept_by_datapath` takes them out again for a session whose
    counters the datapath kept (VPP)."""

    seqn: int = 0  # UR-SEQN of the next report
    baseline: Counts = ZERO
    consumed: Counts = ZERO
    dp_seen: Counts = ZERO
    period_start_ntp: float = 0.0  # start of the current measurement period
    next_periodic: float | None = None  # node clock
    active: bool = False  # traffic seen since the last activity check (START/STOPT/QUHTI)
    last_packets: int = 0  # packets counted at the last activity check
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
    # Information ISTM (TS 29.244 5.2.2.2.1): NTP time it started, 0 = not yet (journaled).
    metering_ntp: float = 0.0
    # Dropped DL Traffic Threshold (DROTH): (packets, octets), None = not set; and the
    # datapath's dropped DL counts when it was last reached (they reset with the counts).
    dropped_threshold: tuple[int | None, int | None] = (None, None)
    dropped_base: tuple[int, int] = (0, 0)
    # Quota Validity Time (VTIME, 5.2.2.2.1): seconds, from the rule; when the granted quota
    # stops being valid (NTP, 0 = never) and whether it did (then the URR's traffic is
    # dropped until the CP grants a new quota). Both journaled.
    validity: int = 0
    validity_ntp: float = 0.0
    quota_expired: bool = False
    # Measurement Information INAM (5.2.2.3.1): the rule asks for the measurement to pause;
    # ``inactive``: it is paused (the counts until then are kept in ``baseline``; what the
    # datapath counts meanwhile is discarded). ``inactive`` is journaled.
    inam: bool = False
    inactive: bool = False

    def configure(self, urr: Grouped, now_ntp: float = 0.0) -> None:
        """Take the reporting parameters of the URR's rule (a Create URR group) received at
        ``now_ntp`` (0: restored, not received)."""
        trig = urr.get(T.REPORTING_TRIGGERS)
        self.triggers = trig.flags if isinstance(trig, ReportingTriggers) else 0
        method = urr.get(T.MEASUREMENT_METHOD)
        if isinstance(method, MeasurementMethod):
            self.volume, self.duration = method.has("VOLUM"), method.has("DURAT")
        info = urr.get(T.MEASUREMENT_INFORMATION)
        flags = info if isinstance(info, MeasurementInformation) else MeasurementInformation()
        self.packets = flags.has("MNOP")
        self.inam = flags.has("INAM")
        if flags.has("ISTM") and not self.metering_ntp and now_ntp:
            self.metering_ntp = now_ntp
        self.period = _value(urr, T.MEASUREMENT_PERIOD)
        self.holding_time = _value(urr, T.QUOTA_HOLDING_TIME)
        self.inactivity = _value(urr, T.INACTIVITY_DETECTION_TIME)
        self.quota = urr.get(T.VOLUME_QUOTA) is not None
        self.linked = tuple(int(ie.value) for ie in urr.get_all(T.LINKED_URR_ID))  # type: ignore[attr-defined]
        dropped = urr.get(T.DROPPED_DL_TRAFFIC_THRESHOLD)
        self.dropped_threshold = (
            (dropped.packets, dropped.octets)
            if isinstance(dropped, DroppedDLTrafficThreshold)
            else (None, None)
        )
        self.validity = _value(urr, T.QUOTA_VALIDITY_TIME)

    def reports(self, trigger: str) -> bool:
        return bool(self.triggers & ReportingTriggers.of(trigger).flags)

    def grant(self, now_ntp: float) -> None:
        """A quota was granted (the URR created, or updated with a quota or a validity
        time): its Quota Validity Time, if any, counts from now."""
        self.quota_expired = False
        self.validity_ntp = now_ntp + self.validity if self.validity else 0.0

    def validity_over(self, now_ntp: float) -> bool:
        """The granted quota's validity time just ended (once per grant)."""
        if self.quota_expired or not self.validity_ntp or now_ntp < self.validity_ntp:
            return False
        self.quota_expired = True
        return True

    def dropped_threshold_reached(self, usage: Usage) -> bool:
        """The DL traffic dropped since the threshold was last reached (or the counts were
        last reset) reaches the Dropped DL Traffic Threshold; re-armed when it does."""
        packets, octets = self.dropped_threshold
        dropped = (usage.dropped_dl_packets, usage.dropped_dl_bytes)
        if dropped < self.dropped_base:  # the datapath's counts were reset meanwhile
            self.dropped_base = (0, 0)
        base_packets, base_octets = self.dropped_base
        if (packets and dropped[0] - base_packets >= packets) or (
            octets and dropped[1] - base_octets >= octets
        ):
            self.dropped_base = dropped
            return True
        return False

    def copy(self) -> UrrBook:
        """An independent copy (its counts are copied too)."""
        return dataclasses.replace(self)

    def taken(self, counts: Counts) -> None:
        """``counts`` were read from the datapath with reset."""
        self.consumed = self.consumed + counts
        self.dp_seen = ZERO
        self.dropped_base = (0, 0)  # the datapath's dropped counts were reset too

    def kept_by_datapath(self) -> None:
        """Restored for a session whose datapath counters went on (VPP kept it while pfcpd
        was away): what they held at the checkpoint is in them still, not baseline."""
        self.baseline = self.baseline.minus(self.dp_seen)
        self.consumed = self.consumed.minus(self.dp_seen)

    def to_json(self) -> dict[str, object]:
        baseline, consumed = self.baseline + self.dp_seen, self.consumed + self.dp_seen
        return {
            "seqn": self.seqn,
            "baseline": list(baseline.values),
            "consumed": list(consumed.values),
            "seen": list(self.dp_seen.values),
            "start": self.period_start_ntp,
            "metering": self.metering_ntp,
            "validity": self.validity_ntp,
            "expired": self.quota_expired,
            "inactive": self.inactive,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> UrrBook:
        def counts(name: str) -> Counts:
            values = d.get(name, [0] * 6)
            assert isinstance(values, list) and len(values) == 6
            return Counts(tuple(int(v) for v in values))

        seqn, start = d.get("seqn", 0), d.get("start", 0.0)
        metering, validity = d.get("metering", 0.0), d.get("validity", 0.0)
        assert isinstance(seqn, int) and isinstance(start, int | float)
        assert isinstance(metering, int | float) and isinstance(validity, int | float)
        return cls(
            seqn=seqn,
            baseline=counts("baseline"),
            consumed=counts("consumed"),
            dp_seen=counts("seen"),
            period_start_ntp=start,
            metering_ntp=metering,
            validity_ntp=validity,
            quota_expired=bool(d.get("expired", False)),
            inactive=bool(d.get("inactive", False)),
        )


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
    (TS 29.244 5.2.2.3.1, Table 7.5.8.3-1)."""
    start = book.period_start_ntp or now_ntp
    ies: list[IE] = [URRID(urr_id), URSEQN(book.seqn), UsageReportTrigger.of(*triggers)]
    if not set(triggers) <= UNTIMED_TRIGGERS:
        ies += [StartTime(int(start)), EndTime(int(now_ntp))]
    if times is not None and not book.metering_ntp:
        book.metering_ntp = times[0]  # time metering starts with the first packet
    if measures(triggers):
        v = counts.values
        if book.volume:
            packets = (v[3], v[4], v[5]) if book.packets else (None, None, None)
            ies.append(VolumeMeasurement(v[0], v[1], v[2], *packets))
        if book.duration:
            metered_from = max(start, book.metering_ntp) if book.metering_ntp else now_ntp
            ies.append(DurationMeasurement(max(0, int(now_ntp - metered_from))))
        book.period_start_ntp = now_ntp
    if times is not None:
        ies += [TimeOfFirstPacket(int(times[0])), TimeOfLastPacket(int(times[1]))]
    book.seqn = (book.seqn + 1) & 0xFFFFFFFF
    return Grouped(container, ies)


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

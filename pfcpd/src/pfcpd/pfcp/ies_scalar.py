"""IEs whose value is one unsigned integer: rule IDs, counters, times and timers."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from .ie import IE, register
from .ie_types import IEType

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


@dataclass(slots=True, frozen=True)
class UInt8IE(IE):
    value: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(data[0])

    def encode(self) -> bytes:
        return _U8.pack(self.value)


@dataclass(slots=True, frozen=True)
class UInt16IE(IE):
    value: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(_U16.unpack_from(data)[0])

    def encode(self) -> bytes:
        return _U16.pack(self.value)


@dataclass(slots=True, frozen=True)
class UInt32IE(IE):
    value: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(_U32.unpack_from(data)[0])

    def encode(self) -> bytes:
        return _U32.pack(self.value)


@dataclass(slots=True, frozen=True)
class MaskedUInt8IE(IE):
    """One octet of which only the low ``BITS`` bits are the value; the rest is spare."""

    value: int
    BITS: ClassVar[int] = 8

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(data[0] & ((1 << cls.BITS) - 1))

    def encode(self) -> bytes:
        if not 0 <= self.value < (1 << self.BITS):
            raise ValueError(f"{self.name} value {self.value} does not fit {self.BITS} bits")
        return _U8.pack(self.value)


# Timer coding of clause 8.2.25 (Timer), also used by DL Buffering Duration and
# Graceful Release Period: bits 8-6 the unit, bits 5-1 the value. Unit 7 is infinite;
# units without a meaning count in minutes.
_TIMER_UNIT_SECONDS = {0: 2, 1: 60, 2: 600, 3: 3600, 4: 36000}
TIMER_INFINITE_UNIT = 7


@dataclass(slots=True, frozen=True)
class TimerIE(IE):
    unit: int
    value: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        b = data[0]
        return cls(b >> 5, b & 0x1F)

    def encode(self) -> bytes:
        if not (0 <= self.unit <= 7 and 0 <= self.value <= 31):
            raise ValueError(f"{self.name} unit {self.unit} / value {self.value} out of range")
        return _U8.pack(self.unit << 5 | self.value)

    @property
    def seconds(self) -> int | None:
        """Duration in seconds; None means infinite."""
        if self.unit == TIMER_INFINITE_UNIT:
            return None
        return self.value * _TIMER_UNIT_SECONDS.get(self.unit, 60)

    @classmethod
    def from_seconds(cls, seconds: int, round_up: bool = False) -> Self:
        """The timer for ``seconds``: exactly, or with ``round_up`` the shortest coding that
        lasts at least that long (up to 31 x 10 hours; longer is infinite)."""
        for unit, scale in ((0, 2), (1, 60), (2, 600), (3, 3600), (4, 36000)):
            if seconds % scale == 0 and seconds // scale <= 31:
                return cls(unit, seconds // scale)
        if round_up:
            for unit, scale in ((0, 2), (1, 60), (2, 600), (3, 3600), (4, 36000)):
                value = -(-seconds // scale)
                if value <= 31:
                    return cls(unit, value)
            return cls(TIMER_INFINITE_UNIT, 0)
        raise ValueError(f"{seconds} s cannot be coded as a PFCP timer")


@register
class Cause(UInt8IE):
    TYPE = IEType.CAUSE


@register
class SourceInterface(MaskedUInt8IE):
    TYPE = IEType.SOURCE_INTERFACE
    BITS = 4


@register
class DestinationInterface(MaskedUInt8IE):
    TYPE = IEType.DESTINATION_INTERFACE
    BITS = 4


@register
class QFI(MaskedUInt8IE):
    TYPE = IEType.QFI
    BITS = 6


@register
class PagingPolicyIndicator(MaskedUInt8IE):
    TYPE = IEType.PAGING_POLICY_INDICATOR
    BITS = 3


@register
class PDNType(MaskedUInt8IE):
    TYPE = IEType.PDN_TYPE
    BITS = 3


@register
class QERCorrelationID(UInt32IE):
    TYPE = IEType.QER_CORRELATION_ID


@register
class Precedence(UInt32IE):
    TYPE = IEType.PRECEDENCE


@register
class TimeThreshold(UInt32IE):
    TYPE = IEType.TIME_THRESHOLD


@register
class MonitoringTime(UInt32IE):
    TYPE = IEType.MONITORING_TIME


@register
class SubsequentTimeThreshold(UInt32IE):
    TYPE = IEType.SUBSEQUENT_TIME_THRESHOLD


@register
class InactivityDetectionTime(UInt32IE):
    TYPE = IEType.INACTIVITY_DETECTION_TIME


@register
class OffendingIE(UInt16IE):
    TYPE = IEType.OFFENDING_IE


@register
class DownlinkDataNotificationDelay(UInt8IE):
    """In multiples of 50 ms."""

    TYPE = IEType.DOWNLINK_DATA_NOTIFICATION_DELAY


@register
class DLBufferingDuration(TimerIE):
    TYPE = IEType.DL_BUFFERING_DURATION


@register
@dataclass(slots=True, frozen=True)
class DLBufferingSuggestedPacketCount(IE):
    """One or two octets (clause 8.2.30); the wire width is kept."""

    TYPE = IEType.DL_BUFFERING_SUGGESTED_PACKET_COUNT
    value: int
    size: int = 1

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) >= 2:
            return cls(_U16.unpack_from(data)[0], 2)
        return cls(data[0], 1)

    def encode(self) -> bytes:
        return self.value.to_bytes(max(self.size, 1 if self.value < 256 else 2), "big")


@register
class SequenceNumber(UInt32IE):
    TYPE = IEType.SEQUENCE_NUMBER


@register
class Metric(UInt8IE):
    TYPE = IEType.METRIC


@register
class Timer(TimerIE):
    TYPE = IEType.TIMER


@register
class PDRID(UInt16IE):
    TYPE = IEType.PDR_ID


@register
class MeasurementPeriod(UInt32IE):
    TYPE = IEType.MEASUREMENT_PERIOD


@register
class DurationMeasurement(UInt32IE):
    TYPE = IEType.DURATION_MEASUREMENT
    CACHEABLE = False


@register
class TimeOfFirstPacket(UInt32IE):
    TYPE = IEType.TIME_OF_FIRST_PACKET
    CACHEABLE = False


@register
class TimeOfLastPacket(UInt32IE):
    TYPE = IEType.TIME_OF_LAST_PACKET
    CACHEABLE = False


@register
class QuotaHoldingTime(UInt32IE):
    TYPE = IEType.QUOTA_HOLDING_TIME


@register
class TimeQuota(UInt32IE):
    TYPE = IEType.TIME_QUOTA


@register
class StartTime(UInt32IE):
    TYPE = IEType.START_TIME
    CACHEABLE = False


@register
class EndTime(UInt32IE):
    TYPE = IEType.END_TIME
    CACHEABLE = False


@register
class URRID(UInt32IE):
    TYPE = IEType.URR_ID


@register
class LinkedURRID(UInt32IE):
    TYPE = IEType.LINKED_URR_ID


@register
class BARID(UInt8IE):
    TYPE = IEType.BAR_ID


@register
class RecoveryTimeStamp(UInt32IE):
    """Seconds since 1900-01-01 UTC (NTP era 0), clause 8.2.65."""

    TYPE = IEType.RECOVERY_TIME_STAMP


@register
class URSEQN(UInt32IE):
    TYPE = IEType.UR_SEQN
    CACHEABLE = False


@register
class FARID(UInt32IE):
    TYPE = IEType.FAR_ID


@register
class QERID(UInt32IE):
    TYPE = IEType.QER_ID


@register
class GracefulReleasePeriod(TimerIE):
    TYPE = IEType.GRACEFUL_RELEASE_PERIOD


@register
class UserPlaneInactivityTimer(UInt32IE):
    TYPE = IEType.USER_PLANE_INACTIVITY_TIMER


@register
class AggregatedURRID(UInt32IE):
    TYPE = IEType.AGGREGATED_URR_ID


@register
class SubsequentTimeQuota(UInt32IE):
    TYPE = IEType.SUBSEQUENT_TIME_QUOTA


@register
class QueryURRReference(UInt32IE):
    TYPE = IEType.QUERY_URR_REFERENCE


@register
class TrafficEndpointID(UInt8IE):
    TYPE = IEType.TRAFFIC_ENDPOINT_ID


@register
class SuggestedBufferingPacketsCount(UInt8IE):
    TYPE = IEType.SUGGESTED_BUFFERING_PACKETS_COUNT


@register
class EventQuota(UInt32IE):
    TYPE = IEType.EVENT_QUOTA


@register
class EventThreshold(UInt32IE):
    TYPE = IEType.EVENT_THRESHOLD


@register
class FramedRouting(UInt32IE):
    TYPE = IEType.FRAMED_ROUTING


@register
class TimeStamp(UInt32IE):
    TYPE = IEType.TIME_STAMP
    CACHEABLE = False


@register
class AveragingWindow(UInt32IE):
    TYPE = IEType.AVERAGING_WINDOW


@register
class QuotaValidityTime(UInt32IE):
    TYPE = IEType.QUOTA_VALIDITY_TIME


@register
class NumberOfReports(UInt16IE):
    TYPE = IEType.NUMBER_OF_REPORTS

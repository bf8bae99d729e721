"""IEs made of flag bits: triggers, actions, features, request/response flags.

Flags are kept as one integer: bit ``8*k + i`` is bit ``i+1`` of octet ``5+k`` of the IE
(so bit 0 is the first flag the specification lists). ``size`` keeps the number of octets
that came on the wire, so extensions (an Apply Action of two octets, Reporting Triggers of
three) re-encode exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from .ie import IE, register
from .ie_types import IEType

# FlagsIE.of's instances: (class, names, size) -> the IE (bounded: emptied when full).
_MADE: dict[tuple[type, tuple[str, ...], int], FlagsIE] = {}
_MADE_LIMIT = 1024
_BITS: dict[type, dict[str, int]] = {}  # FlagsIE.has's: class -> flag name -> bit


@dataclass(slots=True, frozen=True)
class FlagsIE(IE):
    flags: int = 0
    # Octets on the wire (0: the fewest that hold the flags). Not part of equality.
    size: int = field(default=0, compare=False)
    NAMES: ClassVar[tuple[str, ...]] = ()
    MIN_SIZE: ClassVar[int] = 1

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < cls.MIN_SIZE:
            raise IndexError(f"needs at least {cls.MIN_SIZE} octets")
        return cls(int.from_bytes(data, "little"), len(data))

    def encode(self) -> bytes:
        need = max(self.MIN_SIZE, (self.flags.bit_length() + 7) // 8)
        return self.flags.to_bytes(max(self.size, need), "little")

    @classmethod
    def of(cls, *names: str, size: int = 0) -> Self:
        """Build from flag names, e.g. ``ApplyAction.of("FORW")``. The value is immutable:
        the same names (and size) give the same instance, made once (the session engine
        builds its triggers and actions this way for every report and rule)."""
        key = (cls, names, size)
        ie = _MADE.get(key)
        if ie is None:
            flags = 0
            for name in names:
                flags |= 1 << cls.NAMES.index(name)
            ie = cls(flags, size)
            if len(_MADE) >= _MADE_LIMIT:
                _MADE.clear()
            _MADE[key] = ie
        return ie  # type: ignore[return-value]

    def has(self, name: str) -> bool:
        bits = _BITS.get(type(self))
        if bits is None:  # name -> bit, the first of a repeated name (as NAMES.index)
            bits = _BITS[type(self)] = {}
            for i, known in enumerate(self.NAMES):
                bits.setdefault(known, i)
        bit = bits.get(name)
        if bit is None:
            bit = self.NAMES.index(name)  # (raises ValueError, as for a name it lacks)
        return bool(self.flags >> bit & 1)

    def names(self) -> list[str]:
        """Names of the flags that are set (``bit<N>`` for bits without a name)."""
        out = []
        flags, bit = self.flags, 0
        while flags:
            if flags & 1:
                out.append(
                    self.NAMES[bit] if bit < len(self.NAMES) and self.NAMES[bit] else f"bit{bit}"
                )
            flags >>= 1
            bit += 1
        return out


@register
class ReportingTriggers(FlagsIE):
    TYPE = IEType.REPORTING_TRIGGERS
    MIN_SIZE = 2
    NAMES = (
        "PERIO", "VOLTH", "TIMTH", "QUHTI", "START", "STOPT", "DROTH", "LIUSA",
        "VOLQU", "TIMQU", "ENVCL", "MACAR", "EVETH", "EVEQU", "IPMJL", "QUVTI",
        "REEMR", "UPINT",
    )  # fmt: skip


@register
class ReportType(FlagsIE):
    TYPE = IEType.REPORT_TYPE
    NAMES = ("DLDR", "USAR", "ERIR", "UPIR", "TMIR", "SESR", "UISR")


@register
class UPFunctionFeatures(FlagsIE):
    TYPE = IEType.UP_FUNCTION_FEATURES
    MIN_SIZE = 2
    NAMES = (
        "BUCP", "DDND", "DLBD", "TRST", "FTUP", "PFDM", "HEEU", "TREU",
        "EMPU", "PDIU", "UDBC", "QUOAC", "TRACE", "FRRT", "PFDE", "EPFAR",
        "DPDRA", "ADPDP", "UEIP", "SSET", "MNOP", "MTE", "BUNDL", "GCOM",
        "MPAS", "RTTL", "VTIME", "NORP", "IPTV", "IP6PL", "TSCU", "MPTCP",
        "ATSSS-LL", "QFQM", "GPQM", "MT-EDT", "CIOT", "ETHAR", "DDDS", "RDS",
        "RTTWP", "QUASF", "NSPOC", "L2TP", "UPBER", "RESPS", "IPREP", "DNSTS",
        "DRQOS", "MBSN4", "PSUPRM", "EPPPI", "RATP", "UPIDP",
    )  # fmt: skip


@register
class ApplyAction(FlagsIE):
    TYPE = IEType.APPLY_ACTION
    NAMES = (
        "DROP", "FORW", "BUFF", "NOCP", "DUPL", "IPMA", "IPMD", "DFRT",
        "EDRT", "BDPN", "DDPN", "FSSM", "MBSU",
    )  # fmt: skip


@register
class PFCPSMReqFlags(FlagsIE):
    TYPE = IEType.PFCPSMREQ_FLAGS
    NAMES = ("DROBU", "SNDEM", "QAURR", "SUMPC", "RUMUC", "DETEID", "HRSBOM")


@register
class PFCPSRRspFlags(FlagsIE):
    TYPE = IEType.PFCPSRRSP_FLAGS
    NAMES = ("DROBU",)


@register
class MeasurementMethod(FlagsIE):
    TYPE = IEType.MEASUREMENT_METHOD
    NAMES = ("DURAT", "VOLUM", "EVENT")


@register
class MeasurementInformation(FlagsIE):
    """Clause 8.2.68."""

    TYPE = IEType.MEASUREMENT_INFORMATION
    NAMES = ("MBQE", "INAM", "RADI", "ISTM", "MNOP", "SSPOC", "ASPOC", "CIAM")


@register
class UsageReportTrigger(FlagsIE):
    TYPE = IEType.USAGE_REPORT_TRIGGER
    MIN_SIZE = 2
    NAMES = (
        "PERIO", "VOLTH", "TIMTH", "QUHTI", "START", "STOPT", "DROTH", "IMMER",
        "VOLQU", "TIMQU", "LIUSA", "TERMR", "MONIT", "ENVCL", "MACAR", "EVETH",
        "EVEQU", "TEBUR", "IPMJL", "QUVTI", "EMRRE", "UPINT",
    )  # fmt: skip


@register
class UsageInformation(FlagsIE):
    """Usage Information (8.2.90): the Usage Report is of the usage before (BEF) or after
    (AFT) the URR's Monitoring Time, or after/before QoS enforcement (UAE, UBE)."""

    TYPE = IEType.USAGE_INFORMATION
    NAMES = ("BEF", "AFT", "UAE", "UBE")


@register
class CPFunctionFeatures(FlagsIE):
    TYPE = IEType.CP_FUNCTION_FEATURES
    NAMES = (
        "LOAD", "OVRL", "EPFAR", "SSET", "BUNDL", "MPAS", "ARDR", "UIAUR",
        "PSUCC", "RPGUR",
    )  # fmt: skip


@register
class NodeReportType(FlagsIE):
    TYPE = IEType.NODE_REPORT_TYPE
    NAMES = ("UPFR", "UPRR", "CKDR", "GPQR", "PURU", "VSR")


@register
class OCIFlags(FlagsIE):
    TYPE = IEType.OCI_FLAGS
    NAMES = ("AOCI",)


@register
class PFCPAssociationReleaseRequestFlags(FlagsIE):
    TYPE = IEType.PFCP_ASSOCIATION_RELEASE_REQUEST
    NAMES = ("SARR", "URSS")


@register
class RQI(FlagsIE):
    TYPE = IEType.RQI
    NAMES = ("RQI",)


@register
class EthernetPDUSessionInformation(FlagsIE):
    TYPE = IEType.ETHERNET_PDU_SESSION_INFORMATION
    NAMES = ("ETHI",)


@register
class PFCPSRReqFlags(FlagsIE):
    TYPE = IEType.PFCPSRREQ_FLAGS
    NAMES = ("PSDBU",)


@register
class PFCPAUReqFlags(FlagsIE):
    TYPE = IEType.PFCPAUREQ_FLAGS
    NAMES = ("PARPS",)


@register
class PFCPASRspFlags(FlagsIE):
    TYPE = IEType.PFCPASRSP_FLAGS
    NAMES = ("PSREI", "UUPSI")


@register
class PFCPSDRspFlags(FlagsIE):
    """PFCPSDRsp-Flags (TS 29.244 Rel-17, Table 7.5.7.1-1): PURU, Pending Usage Reports
    Unacknowledged, the UP function has Session Report Requests of the session the CP has
    not answered yet."""

    TYPE = IEType.PFCPSDRSP_FLAGS
    NAMES = ("PURU",)


@register
class PFCPSEReqFlags(FlagsIE):
    TYPE = IEType.PFCPSEREQ_FLAGS
    NAMES = ("RESTI", "SUMPC")


@register
class PFCPASReqFlags(FlagsIE):
    TYPE = IEType.PFCPASREQ_FLAGS
    NAMES = ("UUPSI",)


@register
class CreateBridgeInfoForTSC(FlagsIE):
    TYPE = IEType.CREATE_BRIDGE_INFO_FOR_TSC
    NAMES = ("BII",)


@register
class DataStatus(FlagsIE):
    TYPE = IEType.DATA_STATUS
    NAMES = ("DROP", "BUFF")

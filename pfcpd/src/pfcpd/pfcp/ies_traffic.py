"""IEs that describe traffic and how to treat it: SDF Filter, gates and bit rates, volumes,
marking, outer header removal, redirect, PFD contents, failed rule, usage report counts."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from .ie import IE, register
from .ie_types import IEType

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


@register
@dataclass(slots=True, frozen=True)
class SDFFilter(IE):
    """SDF Filter (clause 8.2.5): flow description (IPFilterRule text), ToS/traffic class
    with mask, IPsec SPI, IPv6 flow label, SDF filter id (FD/TTC/SPI/FL/BID)."""

    TYPE = IEType.SDF_FILTER
    flow_description: str | None = None
    tos_traffic_class: int | None = None  # value << 8 | mask
    spi: int | None = None
    flow_label: int | None = None
    filter_id: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        off = 2
        fd = ttc = spi = fl = fid = None
        if flags & 0x01:
            (ln,) = _U16.unpack_from(data, off)
            raw = data[off + 2 : off + 2 + ln]
            if len(raw) != ln:
                raise IndexError("flow description truncated")
            fd = raw.decode("utf-8", "surrogateescape")
            off += 2 + ln
        if flags & 0x02:
            (ttc,) = _U16.unpack_from(data, off)
            off += 2
        if flags & 0x04:
            (spi,) = _U32.unpack_from(data, off)
            off += 4
        if flags & 0x08:
            if len(data) < off + 3:
                raise IndexError("flow label truncated")
            fl = int.from_bytes(data[off : off + 3], "big") & 0xFFFFF
            off += 3
        if flags & 0x10:
            (fid,) = _U32.unpack_from(data, off)
        elif len(data) < 2:
            raise IndexError("SDF Filter shorter than its flags")
        return cls(fd, ttc, spi, fl, fid)

    def encode(self) -> bytes:
        flags = (
            (0x01 if self.flow_description is not None else 0)
            | (0x02 if self.tos_traffic_class is not None else 0)
            | (0x04 if self.spi is not None else 0)
            | (0x08 if self.flow_label is not None else 0)
            | (0x10 if self.filter_id is not None else 0)
        )
        out = bytes((flags, 0))
        if self.flow_description is not None:
            raw = self.flow_description.encode("utf-8", "surrogateescape")
            out += _U16.pack(len(raw)) + raw
        if self.tos_traffic_class is not None:
            out += _U16.pack(self.tos_traffic_class)
        if self.spi is not None:
            out += _U32.pack(self.spi)
        if self.flow_label is not None:
            out += self.flow_label.to_bytes(3, "big")
        if self.filter_id is not None:
            out += _U32.pack(self.filter_id)
        return out


GATE_OPEN = 0
GATE_CLOSED = 1


@register
@dataclass(slots=True, frozen=True)
class GateStatus(IE):
    TYPE = IEType.GATE_STATUS
    ul: int = GATE_OPEN
    dl: int = GATE_OPEN

    @classmethod
    def decode(cls, data: bytes) -> Self:
        b = data[0]
        return cls((b >> 2) & 0x03, b & 0x03)

    def encode(self) -> bytes:
        if not (0 <= self.ul <= 3 and 0 <= self.dl <= 3):
            raise ValueError("gate value out of range")
        return bytes((self.ul << 2 | self.dl,))


@dataclass(slots=True, frozen=True)
class BitRateIE(IE):
    """UL and DL bit rates in kbit/s, five octets each (MBR clause 8.2.8, GBR 8.2.9)."""

    ul: int
    dl: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 10:
            raise IndexError("bit rate needs 10 octets")
        return cls(int.from_bytes(data[0:5], "big"), int.from_bytes(data[5:10], "big"))

    def encode(self) -> bytes:
        return self.ul.to_bytes(5, "big") + self.dl.to_bytes(5, "big")


@register
class MBR(BitRateIE):
    TYPE = IEType.MBR


@register
class GBR(BitRateIE):
    TYPE = IEType.GBR


@register
@dataclass(slots=True, frozen=True)
class TransportLevelMarking(IE):
    """ToS/Traffic Class (high octet) and its mask (low octet), clause 8.2.12."""

    TYPE = IEType.TRANSPORT_LEVEL_MARKING
    tos_traffic_class: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(_U16.unpack_from(data)[0])

    def encode(self) -> bytes:
        return _U16.pack(self.tos_traffic_class)


def _decode_u64s(data: bytes, count: int) -> list[int | None]:
    """Octet 5 flags which of ``count`` 8-octet values follow, in flag order."""
    flags = data[0]
    off = 1
    vals: list[int | None] = [None] * count
    for i in range(count):
        if flags >> i & 1:
            (vals[i],) = _U64.unpack_from(data, off)
            off += 8
    return vals


def _encode_u64s(values: tuple[int | None, ...]) -> bytes:
    flags = 0
    out = b""
    for i, v in enumerate(values):
        if v is not None:
            flags |= 1 << i
            out += _U64.pack(v)
    return bytes((flags,)) + out


@dataclass(slots=True, frozen=True)
class VolumeIE(IE):
    """Total/UL/DL volumes in octets (TOVOL/ULVOL/DLVOL), clause 8.2.13 and kin."""

    total: int | None = None
    ul: int | None = None
    dl: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(*_decode_u64s(data, 3))

    def encode(self) -> bytes:
        return _encode_u64s((self.total, self.ul, self.dl))


@register
class VolumeThreshold(VolumeIE):
    TYPE = IEType.VOLUME_THRESHOLD


@register
class SubsequentVolumeThreshold(VolumeIE):
    TYPE = IEType.SUBSEQUENT_VOLUME_THRESHOLD


@register
class VolumeQuota(VolumeIE):
    TYPE = IEType.VOLUME_QUOTA


@register
class SubsequentVolumeQuota(VolumeIE):
    TYPE = IEType.SUBSEQUENT_VOLUME_QUOTA


@register
@dataclass(slots=True)  # per-session, never cached: mutable, built faster
class VolumeMeasurement(IE):
    """Volumes (octets) and packet counts, total/UL/DL, clause 8.2.44."""

    TYPE = IEType.VOLUME_MEASUREMENT
    CACHEABLE = False
    total: int | None = None
    ul: int | None = None
    dl: int | None = None
    total_packets: int | None = None
    ul_packets: int | None = None
    dl_packets: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(*_decode_u64s(data, 6))

    def encode(self) -> bytes:
        return _encode_u64s(
            (self.total, self.ul, self.dl, self.total_packets, self.ul_packets, self.dl_packets)
        )


@register
@dataclass(slots=True, frozen=True)
class DroppedDLTrafficThreshold(IE):
    """Clause 8.2.49: DL packets (DLPA) and/or DL octets (DLBY)."""

    TYPE = IEType.DROPPED_DL_TRAFFIC_THRESHOLD
    packets: int | None = None
    octets: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        off = 1
        packets = octets = None
        if flags & 0x01:
            (packets,) = _U64.unpack_from(data, off)
            off += 8
        if flags & 0x02:
            (octets,) = _U64.unpack_from(data, off)
        return cls(packets, octets)

    def encode(self) -> bytes:
        flags = (0x01 if self.packets is not None else 0) | (0x02 if self.octets is not None else 0)
        out = bytes((flags,))
        if self.packets is not None:
            out += _U64.pack(self.packets)
        if self.octets is not None:
            out += _U64.pack(self.octets)
        return out


@register
@dataclass(slots=True, frozen=True)
class OuterHeaderRemoval(IE):
    """Clause 8.2.64: description (0 = GTP-U/UDP/IPv4, 1 = .../IPv6, 6 = GTP-U/UDP/IP, ...)
    and, optionally, GTP-U extension header deletion flags (bit 1: PDU session container)."""

    TYPE = IEType.OUTER_HEADER_REMOVAL
    description: int
    gtpu_extension_header_deletion: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(data[0], data[1] if len(data) > 1 else None)

    def encode(self) -> bytes:
        if self.gtpu_extension_header_deletion is None:
            return bytes((self.description,))
        return bytes((self.description, self.gtpu_extension_header_deletion))


@register
@dataclass(slots=True, frozen=True)
class DownlinkDataServiceInformation(IE):
    """Clause 8.2.27: optional Paging Policy Indication value and QFI (PPI/QFII)."""

    TYPE = IEType.DOWNLINK_DATA_SERVICE_INFORMATION
    ppi: int | None = None
    qfi: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        off = 1
        ppi = qfi = None
        if flags & 0x01:
            ppi = data[off] & 0x3F
            off += 1
        if flags & 0x02:
            qfi = data[off] & 0x3F
        return cls(ppi, qfi)

    def encode(self) -> bytes:
        flags = (0x01 if self.ppi is not None else 0) | (0x02 if self.qfi is not None else 0)
        out = bytes((flags,))
        if self.ppi is not None:
            out += bytes((self.ppi,))
        if self.qfi is not None:
            out += bytes((self.qfi,))
        return out


RULE_ID_PDR = 0
RULE_ID_FAR = 1
RULE_ID_QER = 2
RULE_ID_URR = 3
RULE_ID_BAR = 4
RULE_ID_MAR = 5
RULE_ID_SRR = 6
_RULE_ID_SIZE = {0: 2, 1: 4, 2: 4, 3: 4, 4: 1, 5: 2, 6: 1}


@register
@dataclass(slots=True, frozen=True)
class FailedRuleID(IE):
    """Clause 8.2.80: the type of rule (PDR/FAR/QER/URR/BAR/MAR/SRR) and its ID."""

    TYPE = IEType.FAILED_RULE_ID
    rule_type: int
    rule_id: int

    @classmethod
    def decode(cls, data: bytes) -> Self:
        rule_type = data[0] & 0x1F
        size = _RULE_ID_SIZE.get(rule_type)
        if size is None:
            raise ValueError(f"unknown rule ID type {rule_type}")
        raw = data[1 : 1 + size]
        if len(raw) != size:
            raise IndexError("rule ID truncated")
        return cls(rule_type, int.from_bytes(raw, "big"))

    def encode(self) -> bytes:
        size = _RULE_ID_SIZE[self.rule_type]
        return bytes((self.rule_type,)) + self.rule_id.to_bytes(size, "big")


@register
@dataclass(slots=True, frozen=True)
class AdditionalUsageReportsInformation(IE):
    """Clause 8.2.91: AURI flag, or the number of additional usage reports (15 bits)."""

    TYPE = IEType.ADDITIONAL_USAGE_REPORTS_INFORMATION
    auri: bool = False
    count: int = 0

    @classmethod
    def decode(cls, data: bytes) -> Self:
        (v,) = _U16.unpack_from(data)
        return cls(bool(v & 0x8000), v & 0x7FFF)

    def encode(self) -> bytes:
        return _U16.pack((0x8000 if self.auri else 0) | (self.count & 0x7FFF))


REDIRECT_IPV4 = 0
REDIRECT_IPV6 = 1
REDIRECT_URL = 2
REDIRECT_SIP_URI = 3
REDIRECT_IPV4_AND_IPV6 = 4


@register
@dataclass(slots=True, frozen=True)
class RedirectInformation(IE):
    """Clause 8.2.20: address type, server address, and (type 4) the other address."""

    TYPE = IEType.REDIRECT_INFORMATION
    address_type: int
    server_address: str
    other_server_address: str | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        atype = data[0] & 0x0F
        (ln,) = _U16.unpack_from(data, 1)
        raw = data[3 : 3 + ln]
        if len(raw) != ln:
            raise IndexError("redirect server address truncated")
        other = None
        off = 3 + ln
        if len(data) >= off + 2:
            (ln2,) = _U16.unpack_from(data, off)
            raw2 = data[off + 2 : off + 2 + ln2]
            if len(raw2) != ln2:
                raise IndexError("other redirect server address truncated")
            if ln2:
                other = raw2.decode("utf-8", "surrogateescape")
        return cls(atype, raw.decode("utf-8", "surrogateescape"), other)

    def encode(self) -> bytes:
        raw = self.server_address.encode("utf-8", "surrogateescape")
        out = bytes((self.address_type,)) + _U16.pack(len(raw)) + raw
        if self.other_server_address is not None:
            raw2 = self.other_server_address.encode("utf-8", "surrogateescape")
            out += _U16.pack(len(raw2)) + raw2
        return out


_PFD_FIELDS = ("fd", "url", "dn", "cp", "dnp", "afd", "aurl", "adnp")


@register
@dataclass(slots=True, frozen=True)
class PFDContents(IE):
    """Clause 8.2.39: each present field is a two-octet length and its octets, in the order
    FD, URL, DN, CP, DNP, AFD, AURL, ADNP."""

    TYPE = IEType.PFD_CONTENTS
    fd: bytes | None = None
    url: bytes | None = None
    dn: bytes | None = None
    cp: bytes | None = None
    dnp: bytes | None = None
    afd: bytes | None = None
    aurl: bytes | None = None
    adnp: bytes | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        off = 2
        vals: list[bytes | None] = [None] * 8
        for i in range(8):
            if flags >> i & 1:
                (ln,) = _U16.unpack_from(data, off)
                raw = data[off + 2 : off + 2 + ln]
                if len(raw) != ln:
                    raise IndexError(f"PFD field {_PFD_FIELDS[i]} truncated")
                vals[i] = raw
                off += 2 + ln
        if len(data) < 2:
            raise IndexError("PFD contents shorter than its flags")
        return cls(*vals)

    def encode(self) -> bytes:
        flags = 0
        out = b""
        for i, name in enumerate(_PFD_FIELDS):
            v = getattr(self, name)
            if v is not None:
                flags |= 1 << i
                out += _U16.pack(len(v)) + v
        return bytes((flags, 0)) + out

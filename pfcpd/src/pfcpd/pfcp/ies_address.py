"""IEs that carry IP addresses and tunnel/session identifiers: Node ID, F-SEID, F-TEID,
UE IP Address, Outer Header Creation, Remote GTP-U Peer, User Plane IP Resource Information.

Addresses are kept as text (``"192.0.2.1"``, ``"2001:db8::1"``).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Self

from .ie import IE, register
from .ie_types import IEType
from .ies_text import decode_dns_name, encode_dns_name

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6
_ntop = socket.inet_ntop


# IPv4 address octets -> text, for the addresses decoded again and again (the CP's F-SEID
# and Node ID, gNB addresses): glibc's inet_ntop formats with sprintf, some ten times the
# cost of a dictionary lookup. Bounded: emptied when full.
_V4_TEXT: dict[bytes, str] = {}
_V4_TEXT_MAX = 4096


def _v4(data: bytes, off: int) -> str:
    if len(data) < off + 4:
        raise IndexError("IPv4 address truncated")
    octets = data[off : off + 4]
    text = _V4_TEXT.get(octets)
    if text is None:
        if len(_V4_TEXT) >= _V4_TEXT_MAX:
            _V4_TEXT.clear()
        text = _V4_TEXT[octets] = _ntop(_AF4, octets)
    return text


def _v6(data: bytes, off: int) -> str:
    if len(data) < off + 16:
        raise IndexError("IPv6 address truncated")
    return _ntop(_AF6, data[off : off + 16])


def pack_v4(addr: str) -> bytes:
    try:
        return socket.inet_pton(_AF4, addr)
    except OSError as exc:
        raise ValueError(f"not an IPv4 address: {addr!r}") from exc


# IPv4 address text -> octets, for the addresses encoded again and again (our N3 and PFCP
# addresses in every answer, a UE's address in its PDRs and in the answer): a dictionary
# lookup costs a quarter of pack_v4. The encoders look here first (``_V4_OCTETS.get(text)
# or _v4_octets(text)``). Bounded: emptied when full.
_V4_OCTETS: dict[str, bytes] = {}


def _v4_octets(addr: str) -> bytes:
    """pack_v4(addr), kept in _V4_OCTETS."""
    octets = pack_v4(addr)
    if len(_V4_OCTETS) >= _V4_TEXT_MAX:
        _V4_OCTETS.clear()
    _V4_OCTETS[addr] = octets
    return octets


def remember_v4_octets(addr: str, octets: bytes) -> None:
    """``octets`` are pack_v4(addr) (made with it: an allocated UE address), kept in
    _V4_OCTETS for the encoders."""
    if len(_V4_OCTETS) >= _V4_TEXT_MAX:
        _V4_OCTETS.clear()
    _V4_OCTETS[addr] = octets


_OCTET = tuple(bytes((i,)) for i in range(256))  # (bytes((i,)) without building it)


def pack_v6(addr: str) -> bytes:
    try:
        return socket.inet_pton(_AF6, addr)
    except OSError as exc:
        raise ValueError(f"not an IPv6 address: {addr!r}") from exc


def _decode_v4v6_flags(
    data: bytes, off: int, flags: int, v4bit: int, v6bit: int
) -> tuple[str | None, str | None, int]:
    """The IPv4 then IPv6 address present per ``flags``; returns them and the next offset."""
    ipv4 = ipv6 = None
    if flags & v4bit:
        ipv4 = _v4(data, off)
        off += 4
    if flags & v6bit:
        ipv6 = _v6(data, off)
        off += 16
    return ipv4, ipv6, off


def _encode_v4v6(ipv4: str | None, ipv6: str | None) -> bytes:
    out = b""
    if ipv4 is not None:
        out += pack_v4(ipv4)
    if ipv6 is not None:
        out += pack_v6(ipv6)
    return out


NODE_ID_IPV4 = 0
NODE_ID_IPV6 = 1
NODE_ID_FQDN = 2


@register
@dataclass(slots=True, frozen=True)
class NodeID(IE):
    """Node ID (clause 8.2.38): ``kind`` is 0 IPv4, 1 IPv6, 2 FQDN."""

    TYPE = IEType.NODE_ID
    kind: int
    value: str
    dns_labels: bool = True  # FQDN only: DNS labels (the spec) or plain text (seen in the wild)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        kind = data[0] & 0x0F
        if kind == NODE_ID_IPV4:
            return cls(kind, _v4(data, 1))
        if kind == NODE_ID_IPV6:
            return cls(kind, _v6(data, 1))
        if kind == NODE_ID_FQDN:
            if len(data) < 2:
                raise IndexError("empty FQDN")
            name, labels = decode_dns_name(data[1:])
            return cls(kind, name, labels)
        raise ValueError(f"unknown Node ID type {kind}")

    def encode(self) -> bytes:
        if self.kind == NODE_ID_IPV4:
            return b"\x00" + pack_v4(self.value)
        if self.kind == NODE_ID_IPV6:
            return b"\x01" + pack_v6(self.value)
        if self.kind == NODE_ID_FQDN:
            return b"\x02" + encode_dns_name(self.value, self.dns_labels)
        raise ValueError(f"unknown Node ID type {self.kind}")

    @classmethod
    def from_text(cls, text: str) -> Self:
        """An IPv4/IPv6 literal becomes an address Node ID, anything else an FQDN."""
        for kind, family in ((NODE_ID_IPV4, _AF4), (NODE_ID_IPV6, _AF6)):
            try:
                socket.inet_pton(family, text)
            except OSError:
                continue
            return cls(kind, text)
        return cls(NODE_ID_FQDN, text)


@register
@dataclass(slots=True)  # per-session, never cached: mutable, built faster
class FSEID(IE):
    """F-SEID (clause 8.2.37): SEID plus the IPv4 and/or IPv6 address of the CP/UP function."""

    TYPE = IEType.F_SEID
    CACHEABLE = False
    seid: int
    ipv4: str | None = None
    ipv6: str | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        (seid,) = _U64.unpack_from(data, 1)
        if flags & 0x03 == 0x02:  # (the usual: IPv4 only)
            return cls(seid, _v4(data, 9))
        ipv4, ipv6, _ = _decode_v4v6_flags(data, 9, flags, 0x02, 0x01)
        if ipv4 is None and ipv6 is None:
            raise ValueError("F-SEID without an address")
        return cls(seid, ipv4, ipv6)

    def encode(self) -> bytes:
        ipv4, ipv6 = self.ipv4, self.ipv6
        if ipv6 is None and ipv4 is not None:  # (the usual: IPv4 only)
            return b"\x02" + _U64.pack(self.seid) + (_V4_OCTETS.get(ipv4) or _v4_octets(ipv4))
        flags = (0x02 if ipv4 is not None else 0) | (0x01 if ipv6 is not None else 0)
        return bytes((flags,)) + _U64.pack(self.seid) + _encode_v4v6(ipv4, ipv6)


@register
@dataclass(slots=True)  # per-session, never cached: mutable, built faster
class FTEID(IE):
    """F-TEID (clause 8.2.3). With ``choose`` (CH) the UP function allocates TEID and address:
    ``v4``/``v6`` then say which families to allocate, and ``choose_id`` (CHID) groups PDRs
    that share one allocation."""

    TYPE = IEType.F_TEID
    CACHEABLE = False
    teid: int | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    choose: bool = False
    choose_v4: bool = False
    choose_v6: bool = False
    choose_id: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        if flags & 0x04:  # CH
            choose_id = None
            if flags & 0x08:
                choose_id = data[1]
            # (positional: keywords cost a third more)
            return cls(None, None, None, True, bool(flags & 0x01), bool(flags & 0x02), choose_id)
        if flags & 0x08:
            raise ValueError("CHID set without CH")
        (teid,) = _U32.unpack_from(data, 1)
        if flags & 0x03 == 0x01:  # (the usual: IPv4 only)
            return cls(teid, _v4(data, 5))
        ipv4, ipv6, _ = _decode_v4v6_flags(data, 5, flags, 0x01, 0x02)
        if ipv4 is None and ipv6 is None:
            raise ValueError("F-TEID without an address")
        return cls(teid, ipv4, ipv6)

    def encode(self) -> bytes:
        if self.choose:
            flags = 0x04 | (0x01 if self.choose_v4 else 0) | (0x02 if self.choose_v6 else 0)
            if self.choose_id is not None:
                return bytes((flags | 0x08, self.choose_id))
            return bytes((flags,))
        if self.teid is None:
            raise ValueError("F-TEID without TEID and without CH")
        ipv4, ipv6 = self.ipv4, self.ipv6
        if ipv6 is None and ipv4 is not None:  # (the usual: IPv4 only)
            return b"\x01" + _U32.pack(self.teid) + (_V4_OCTETS.get(ipv4) or _v4_octets(ipv4))
        flags = (0x01 if ipv4 is not None else 0) | (0x02 if ipv6 is not None else 0)
        return bytes((flags,)) + _U32.pack(self.teid) + _encode_v4v6(ipv4, ipv6)


@register
@dataclass(slots=True)  # per-session, never cached: mutable, built faster
class UEIPAddress(IE):
    """UE IP Address (clause 8.2.62). ``source`` is the S/D flag: the address is the source
    address of packets (UL) when True, the destination (DL) when False. ``choose_v4`` /
    ``choose_v6`` ask the UP function to allocate (CHV4/CHV6)."""

    TYPE = IEType.UE_IP_ADDRESS
    CACHEABLE = False
    ipv4: str | None = None
    ipv6: str | None = None
    source: bool = False
    ipv6_prefix_delegation_bits: int | None = None  # IPv6D
    ipv6_prefix_length: int | None = None  # IP6PL
    choose_v4: bool = False
    choose_v6: bool = False

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        if not flags & 0x4B:  # no address, no IPv6 prefix fields (CHV4/CHV6: to allocate)
            return cls(
                None, None, bool(flags & 0x04), None, None, bool(flags & 0x10), bool(flags & 0x20)
            )
        if flags & 0x4B == 0x02:  # an IPv4 address only
            return cls(
                _v4(data, 1),
                None,
                bool(flags & 0x04),
                None,
                None,
                bool(flags & 0x10),
                bool(flags & 0x20),
            )
        ipv4, ipv6, off = _decode_v4v6_flags(data, 1, flags, 0x02, 0x01)
        pd_bits = prefix_len = None
        if flags & 0x08:
            pd_bits = data[off]
            off += 1
        if flags & 0x40:
            prefix_len = data[off]
        return cls(
            ipv4,
            ipv6,
            bool(flags & 0x04),
            pd_bits,
            prefix_len,
            bool(flags & 0x10),
            bool(flags & 0x20),
        )

    def encode(self) -> bytes:
        ipv4 = self.ipv4
        if (
            ipv4 is not None
            and self.ipv6 is None
            and self.ipv6_prefix_delegation_bits is None
            and self.ipv6_prefix_length is None
            and not self.choose_v6
        ):  # (the usual: an IPv4 address)
            flags = 0x02 | (0x04 if self.source else 0) | (0x10 if self.choose_v4 else 0)
            return _OCTET[flags] + (_V4_OCTETS.get(ipv4) or _v4_octets(ipv4))
        flags = (
            (0x01 if self.ipv6 is not None else 0)
            | (0x02 if self.ipv4 is not None else 0)
            | (0x04 if self.source else 0)
            | (0x08 if self.ipv6_prefix_delegation_bits is not None else 0)
            | (0x10 if self.choose_v4 else 0)
            | (0x20 if self.choose_v6 else 0)
            | (0x40 if self.ipv6_prefix_length is not None else 0)
        )
        out = bytes((flags,)) + _encode_v4v6(self.ipv4, self.ipv6)
        if self.ipv6_prefix_delegation_bits is not None:
            out += bytes((self.ipv6_prefix_delegation_bits,))
        if self.ipv6_prefix_length is not None:
            out += bytes((self.ipv6_prefix_length,))
        return out


# Outer Header Creation description bits (clause 8.2.56), as an integer over octets 5-6
# with octet 5 in the high byte: these are the values the specification names.
OHC_GTPU_UDP_IPV4 = 0x0100
OHC_GTPU_UDP_IPV6 = 0x0200
OHC_UDP_IPV4 = 0x0400
OHC_UDP_IPV6 = 0x0800
OHC_IPV4 = 0x1000
OHC_IPV6 = 0x2000
OHC_C_TAG = 0x4000
OHC_S_TAG = 0x8000
OHC_N19 = 0x0001
OHC_N6 = 0x0002


@register
@dataclass(slots=True)  # per-session, never cached: mutable, built faster
class OuterHeaderCreation(IE):
    TYPE = IEType.OUTER_HEADER_CREATION
    CACHEABLE = False
    description: int
    teid: int | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    port: int | None = None
    c_tag: bytes | None = None
    s_tag: bytes | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        (desc,) = _U16.unpack_from(data)
        if desc == OHC_GTPU_UDP_IPV4:  # (the usual: towards a gNB)
            (teid,) = _U32.unpack_from(data, 2)
            return cls(desc, teid, _v4(data, 6))
        off = 2
        teid = ipv4 = ipv6 = port = c_tag = s_tag = None
        if desc & (OHC_GTPU_UDP_IPV4 | OHC_GTPU_UDP_IPV6):
            (teid,) = _U32.unpack_from(data, off)
            off += 4
        if desc & (OHC_GTPU_UDP_IPV4 | OHC_UDP_IPV4 | OHC_IPV4):
            ipv4 = _v4(data, off)
            off += 4
        if desc & (OHC_GTPU_UDP_IPV6 | OHC_UDP_IPV6 | OHC_IPV6):
            ipv6 = _v6(data, off)
            off += 16
        if desc & (OHC_UDP_IPV4 | OHC_UDP_IPV6):
            (port,) = _U16.unpack_from(data, off)
            off += 2
        if desc & OHC_C_TAG:
            c_tag = data[off : off + 3]
            off += 3
            if len(c_tag) != 3:
                raise IndexError("C-TAG truncated")
        if desc & OHC_S_TAG:
            s_tag = data[off : off + 3]
            if len(s_tag) != 3:
                raise IndexError("S-TAG truncated")
        return cls(desc, teid, ipv4, ipv6, port, c_tag, s_tag)

    def encode(self) -> bytes:
        desc = self.description
        out = _U16.pack(desc)
        if desc & (OHC_GTPU_UDP_IPV4 | OHC_GTPU_UDP_IPV6):
            if self.teid is None:
                raise ValueError("GTP-U outer header without TEID")
            out += _U32.pack(self.teid)
        if desc & (OHC_GTPU_UDP_IPV4 | OHC_UDP_IPV4 | OHC_IPV4):
            out += pack_v4(self.ipv4 or "")
        if desc & (OHC_GTPU_UDP_IPV6 | OHC_UDP_IPV6 | OHC_IPV6):
            out += pack_v6(self.ipv6 or "")
        if desc & (OHC_UDP_IPV4 | OHC_UDP_IPV6):
            out += _U16.pack(self.port or 0)
        if desc & OHC_C_TAG:
            out += self.c_tag or b"\x00\x00\x00"
        if desc & OHC_S_TAG:
            out += self.s_tag or b"\x00\x00\x00"
        return out


@register
@dataclass(slots=True, frozen=True)
class RemoteGTPUPeer(IE):
    """Remote GTP-U Peer (clause 8.2.70), with optional destination interface and network
    instance (DI/NI)."""

    TYPE = IEType.REMOTE_GTP_U_PEER
    ipv4: str | None = None
    ipv6: str | None = None
    destination_interface: int | None = None
    network_instance: bytes | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        ipv4, ipv6, off = _decode_v4v6_flags(data, 1, flags, 0x02, 0x01)
        di = ni = None
        if flags & 0x04:
            (ln,) = _U16.unpack_from(data, off)
            di = data[off + 2] & 0x0F
            off += 2 + ln
        if flags & 0x08:
            (ln,) = _U16.unpack_from(data, off)
            ni = data[off + 2 : off + 2 + ln]
            if len(ni) != ln:
                raise IndexError("network instance truncated")
        return cls(ipv4, ipv6, di, ni)

    def encode(self) -> bytes:
        flags = (
            (0x01 if self.ipv6 is not None else 0)
            | (0x02 if self.ipv4 is not None else 0)
            | (0x04 if self.destination_interface is not None else 0)
            | (0x08 if self.network_instance is not None else 0)
        )
        out = bytes((flags,)) + _encode_v4v6(self.ipv4, self.ipv6)
        if self.destination_interface is not None:
            out += b"\x00\x01" + bytes((self.destination_interface,))
        if self.network_instance is not None:
            out += _U16.pack(len(self.network_instance)) + self.network_instance
        return out


@register
@dataclass(slots=True, frozen=True)
class UserPlaneIPResourceInformation(IE):
    """User Plane IP Resource Information (clause 8.2.82, removed in Rel-16.3 but still sent
    by older peers)."""

    TYPE = IEType.USER_PLANE_IP_RESOURCE_INFORMATION
    ipv4: str | None = None
    ipv6: str | None = None
    teid_range_bits: int = 0
    teid_range: int | None = None
    network_instance: bytes | None = None
    source_interface: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        teidri = (flags >> 2) & 0x07
        off = 1
        teid_range = None
        if teidri:
            teid_range = data[off]
            off += 1
        ipv4, ipv6, off = _decode_v4v6_flags(data, off, flags, 0x01, 0x02)
        end = len(data)
        si = None
        if flags & 0x40:  # ASSOSI: last octet
            end -= 1
            if end < off:
                raise IndexError("source interface truncated")
            si = data[end] & 0x0F
        ni = data[off:end] if flags & 0x20 else None
        return cls(ipv4, ipv6, teidri, teid_range, ni, si)

    def encode(self) -> bytes:
        flags = (
            (0x01 if self.ipv4 is not None else 0)
            | (0x02 if self.ipv6 is not None else 0)
            | (self.teid_range_bits & 0x07) << 2
            | (0x20 if self.network_instance is not None else 0)
            | (0x40 if self.source_interface is not None else 0)
        )
        out = bytes((flags,))
        if self.teid_range_bits:
            out += bytes((self.teid_range or 0,))
        out += _encode_v4v6(self.ipv4, self.ipv6)
        if self.network_instance is not None:
            out += self.network_instance
        if self.source_interface is not None:
            out += bytes((self.source_interface,))
        return out


@register
@dataclass(slots=True, frozen=True)
class AlternativeSMFIPAddress(IE):
    TYPE = IEType.ALTERNATIVE_SMF_IP_ADDRESS
    ipv4: str | None = None
    ipv6: str | None = None
    preferred: bool = False  # PPE

    @classmethod
    def decode(cls, data: bytes) -> Self:
        flags = data[0]
        ipv4, ipv6, _ = _decode_v4v6_flags(data, 1, flags, 0x02, 0x01)
        return cls(ipv4, ipv6, bool(flags & 0x04))

    def encode(self) -> bytes:
        flags = (
            (0x01 if self.ipv6 is not None else 0)
            | (0x02 if self.ipv4 is not None else 0)
            | (0x04 if self.preferred else 0)
        )
        return bytes((flags,)) + _encode_v4v6(self.ipv4, self.ipv6)


@dataclass(slots=True, frozen=True)
class _AddressPair(IE):
    """An IPv4 and/or IPv6 address after a flags octet (bit 1 V6, bit 2 V4)."""

    ipv4: str | None = None
    ipv6: str | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        ipv4, ipv6, _ = _decode_v4v6_flags(data, 1, data[0], 0x02, 0x01)
        return cls(ipv4, ipv6)

    def encode(self) -> bytes:
        flags = (0x01 if self.ipv6 is not None else 0) | (0x02 if self.ipv4 is not None else 0)
        return bytes((flags,)) + _encode_v4v6(self.ipv4, self.ipv6)


@register
@dataclass(slots=True, frozen=True)
class CPPFCPEntityIPAddress(_AddressPair):
    TYPE = IEType.CP_PFCP_ENTITY_IP_ADDRESS


@register
@dataclass(slots=True, frozen=True)
class CPIPAddress(_AddressPair):
    """Clause 8.2.199: the IP address in the CP F-SEID of the sessions a Session Set
    Modification moves."""

    TYPE = IEType.CP_IP_ADDRESS


FQ_CSID_IPV4, FQ_CSID_IPV6, FQ_CSID_MCC_MNC = 0, 1, 2
# Table 8.2.43-2
FQ_CSID_NODE_TYPES = ("MME", "SGW-C", "PGW-C/SMF", "ePDG", "TWAN", "PGW-U/SGW-U/UPF")


@register
@dataclass(slots=True, frozen=True)
class FQCSID(IE):
    """Clause 8.2.43. ``node_address``: IPv4/IPv6 text (Node-ID types 0, 1) or the 32-bit
    value as decimal text (type 2); None for the null-length IE (remove every FQ-CSID).
    ``node_type``: the Node Type octet (Rel-16 on), None when absent."""

    TYPE = IEType.FQ_CSID
    node_id_type: int = FQ_CSID_IPV4
    node_address: str | None = None
    csids: tuple[int, ...] = ()
    node_type: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if not data:
            return cls()
        kind, count = data[0] >> 4, data[0] & 0x0F
        if kind == FQ_CSID_IPV4:
            address, off = _v4(data, 1), 5
        elif kind == FQ_CSID_IPV6:
            address, off = _v6(data, 1), 17
        elif kind == FQ_CSID_MCC_MNC:
            address, off = str(_U32.unpack_from(data, 1)[0]), 5
        else:
            raise ValueError(f"FQ-CSID Node-ID type {kind} is reserved")
        if len(data) < off + 2 * count:
            raise IndexError("CSIDs truncated")
        csids = struct.unpack_from(f"!{count}H", data, off)
        off += 2 * count
        node_type = data[off] & 0x0F if len(data) > off else None
        return cls(kind, address, csids, node_type)

    def encode(self) -> bytes:
        if self.node_address is None:
            return b""
        if self.node_id_type == FQ_CSID_IPV4:
            address = pack_v4(self.node_address)
        elif self.node_id_type == FQ_CSID_IPV6:
            address = pack_v6(self.node_address)
        else:
            address = _U32.pack(int(self.node_address))
        if len(self.csids) > 15:
            raise ValueError("an FQ-CSID holds at most 15 CSIDs")
        out = bytes(((self.node_id_type << 4) | len(self.csids),)) + address
        out += struct.pack(f"!{len(self.csids)}H", *self.csids)
        if self.node_type is not None:
            out += bytes((self.node_type & 0x0F,))
        return out

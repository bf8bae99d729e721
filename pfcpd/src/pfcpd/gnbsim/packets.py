"""The IP packets a simulated UE sends and reads: UDP datagrams and ICMP echo, over IPv4
or IPv6 (the family of the addresses given; ICMPv6 echo for IPv6).

Built by hand (no packet library at run time); the checksums are RFC 1071's, over the
pseudo header of RFC 768 (IPv4) or RFC 8200 section 8.1 (IPv6) for UDP and ICMPv6.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

PROTO_ICMP, PROTO_UDP, PROTO_ICMPV6 = 1, 17, 58
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
IPV4_HEADER = 20
IPV6_HEADER = 40
UDP_HEADER = 8
ICMP_HEADER = 8  # ICMP and ICMPv6 echo: type, code, checksum, identifier, sequence number
# IPv6 extension headers parse() walks (RFC 8200 4.1): hop-by-hop options, routing,
# destination options; a fragment header ends the walk (the upper layer may be elsewhere).
IPV6_EXTENSIONS = (0, 43, 60)
IPV6_FRAGMENT = 44


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def version_of(src: str, dst: str) -> int:
    """4 or 6: the IP version of a packet from ``src`` to ``dst`` (ValueError when mixed)."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version != b.version:
        raise ValueError(f"{src} and {dst} are not of one IP version")
    return a.version


def header_octets(address: str) -> int:
    """The IP header's length (no options, no extension headers) of ``address``'s family."""
    return IPV6_HEADER if ipaddress.ip_address(address).version == 6 else IPV4_HEADER


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        IPV4_HEADER + len(payload),
        ident & 0xFFFF,
        0x4000,  # DF
        ttl,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def ipv6(
    src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64, flow_label: int = 0
) -> bytes:
    header = struct.pack(
        "!IHBB16s16s",
        (6 << 28) | (flow_label & 0xFFFFF),
        len(payload),
        next_header,
        hop_limit,
        ipaddress.IPv6Address(src).packed,
        ipaddress.IPv6Address(dst).packed,
    )
    return header + payload


def pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    """The pseudo header a UDP (or ICMPv6) checksum covers: RFC 768 for IPv4, RFC 8200 8.1
    for IPv6 (upper-layer length on 32 bits, next header)."""
    if version_of(src, dst) == 6:
        return struct.pack(
            "!16s16sI3xB",
            ipaddress.IPv6Address(src).packed,
            ipaddress.IPv6Address(dst).packed,
            length,
            proto,
        )
    return struct.pack(
        "!4s4sBBH",
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
        0,
        proto,
        length,
    )


def _ip(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    if version_of(src, dst) == 6:
        return ipv6(src, dst, proto, payload)
    return ipv4(src, dst, proto, payload, ident)


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes, ident: int = 0) -> bytes:
    """An IPv4/UDP or IPv6/UDP packet; the UDP checksum is computed over the pseudo header
    (0 is sent as 0xFFFF, RFC 768; for IPv6 a checksum is mandatory). ``ident`` is the IPv4
    identification (IPv6 has none; its flow label is 0)."""
    length = UDP_HEADER + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(pseudo_header(src, dst, PROTO_UDP, length) + header + payload) or 0xFFFF
    return _ip(src, dst, PROTO_UDP, header[:6] + struct.pack("!H", csum) + payload, ident)


def icmp_echo(
    src: str, dst: str, ident: int, seq: int, payload: bytes, reply: bool = False
) -> bytes:
    """An ICMP echo request (IPv4, identification = ``seq``) or an ICMPv6 echo request
    (RFC 4443 4.1; its checksum covers the IPv6 pseudo header); with ``reply`` the echo
    reply."""
    if version_of(src, dst) == 6:
        kind = ICMPV6_ECHO_REPLY if reply else ICMPV6_ECHO_REQUEST
        body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
        csum = checksum(pseudo_header(src, dst, PROTO_ICMPV6, len(body)) + body)
        return ipv6(src, dst, PROTO_ICMPV6, body[:2] + struct.pack("!H", csum) + body[4:])
    kind = ICMP_ECHO_REPLY if reply else ICMP_ECHO_REQUEST
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(src, dst, PROTO_ICMP, body, ident=seq)


@dataclass(frozen=True)
class Parsed:
    """What the simulator reads of a downlink IPv4 or IPv6 packet."""

    src: str
    dst: str
    proto: int  # IPv4 protocol, or the IPv6 header chain's upper-layer next header
    length: int  # the IP packet's total length (IPv6: 40 + payload length)
    sport: int = 0
    dport: int = 0
    icmp_type: int = -1
    icmp_id: int = 0
    icmp_seq: int = 0
    payload: bytes = b""  # UDP payload, or the ICMP echo's data

    @property
    def echo_request(self) -> bool:
        """An ICMP echo request (IPv4) or an ICMPv6 echo request."""
        return (self.proto, self.icmp_type) in (
            (PROTO_ICMP, ICMP_ECHO_REQUEST),
            (PROTO_ICMPV6, ICMPV6_ECHO_REQUEST),
        )

    @property
    def echo_reply(self) -> bool:
        """An ICMP echo reply (IPv4) or an ICMPv6 echo reply."""
        return (self.proto, self.icmp_type) in (
            (PROTO_ICMP, ICMP_ECHO_REPLY),
            (PROTO_ICMPV6, ICMPV6_ECHO_REPLY),
        )


def parse(packet: bytes) -> Parsed | None:
    """An IPv4 or IPv6 packet's addresses and UDP/ICMP/ICMPv6 fields; None when it is no
    IP packet or is truncated."""
    if not packet:
        return None
    if packet[0] >> 4 == 6:
        return _parse_v6(packet)
    if len(packet) < IPV4_HEADER or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0xF) * 4
    total, proto = struct.unpack_from("!H", packet, 2)[0], packet[9]
    src = str(ipaddress.IPv4Address(packet[12:16]))
    dst = str(ipaddress.IPv4Address(packet[16:20]))
    return _upper(src, dst, proto, total, packet[ihl:total], PROTO_ICMP)


def _parse_v6(packet: bytes) -> Parsed | None:
    if len(packet) < IPV6_HEADER:
        return None
    payload_length, next_header = struct.unpack_from("!HB", packet, 4)
    total = IPV6_HEADER + payload_length
    if total > len(packet):
        return None
    src = str(ipaddress.IPv6Address(packet[8:24]))
    dst = str(ipaddress.IPv6Address(packet[24:40]))
    offset = IPV6_HEADER
    while next_header in IPV6_EXTENSIONS:
        if offset + 2 > total:
            return None
        next_header, ext_length = packet[offset], (packet[offset + 1] + 1) * 8
        offset += ext_length
    if offset > total:
        return None
    if next_header == IPV6_FRAGMENT:
        return Parsed(src, dst, next_header, total)
    return _upper(src, dst, next_header, total, packet[offset:total], PROTO_ICMPV6)


def _upper(src: str, dst: str, proto: int, total: int, body: bytes, icmp: int) -> Parsed:
    if proto == PROTO_UDP and len(body) >= UDP_HEADER:
        sport, dport = struct.unpack_from("!HH", body)
        return Parsed(src, dst, proto, total, sport, dport, payload=body[UDP_HEADER:])
    if proto == icmp and len(body) >= ICMP_HEADER:
        kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", body)
        return Parsed(
            src, dst, proto, total, icmp_type=kind, icmp_id=ident, icmp_seq=seq,
            payload=body[ICMP_HEADER:],
        )  # fmt: skip
    return Parsed(src, dst, proto, total)

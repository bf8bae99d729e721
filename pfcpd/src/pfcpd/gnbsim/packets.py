"""The IPv4 packets a simulated UE sends and reads: UDP datagrams and ICMP echo.

Built by hand (no packet library at run time); the checksums are RFC 1071's.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

PROTO_ICMP, PROTO_UDP = 1, 17
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
IPV4_HEADER = 20
UDP_HEADER = 8
ICMP_HEADER = 8


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


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


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes, ident: int = 0) -> bytes:
    """An IPv4/UDP packet; the UDP checksum is computed (pseudo header included)."""
    length = UDP_HEADER + len(payload)
    pseudo = struct.pack(
        "!4s4sBBH",
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
        0,
        PROTO_UDP,
        length,
    )
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(pseudo + header + payload) or 0xFFFF
    return ipv4(src, dst, PROTO_UDP, header[:6] + struct.pack("!H", csum) + payload, ident)


def icmp_echo(src: str, dst: str, ident: int, seq: int, payload: bytes) -> bytes:
    body = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq) + payload
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(src, dst, PROTO_ICMP, body, ident=seq)


@dataclass(frozen=True)
class Parsed:
    """What the simulator reads of a downlink IPv4 packet."""

    src: str
    dst: str
    proto: int
    length: int  # the IP packet's total length
    sport: int = 0
    dport: int = 0
    icmp_type: int = -1
    icmp_id: int = 0
    icmp_seq: int = 0
    payload: bytes = b""  # UDP payload, or the ICMP echo's data


def parse(packet: bytes) -> Parsed | None:
    """An IPv4 packet's addresses and UDP/ICMP fields; None for anything else."""
    if len(packet) < IPV4_HEADER or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0xF) * 4
    total, proto = struct.unpack_from("!H", packet, 2)[0], packet[9]
    src = str(ipaddress.IPv4Address(packet[12:16]))
    dst = str(ipaddress.IPv4Address(packet[16:20]))
    body = packet[ihl:total]
    if proto == PROTO_UDP and len(body) >= UDP_HEADER:
        sport, dport = struct.unpack_from("!HH", body)
        return Parsed(src, dst, proto, total, sport, dport, payload=body[UDP_HEADER:])
    if proto == PROTO_ICMP and len(body) >= ICMP_HEADER:
        kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", body)
        return Parsed(
            src, dst, proto, total, icmp_type=kind, icmp_id=ident, icmp_seq=seq,
            payload=body[ICMP_HEADER:],
        )  # fmt: skip
    return Parsed(src, dst, proto, total)

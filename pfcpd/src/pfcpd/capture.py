"""Read UDP payloads out of capture files: pcap, pcapng, or text with one hex datagram per line.

Enough of each format for operators' captures: Ethernet (with VLAN tags), Linux cooked
(SLL, SLL2), raw IP and BSD loopback link types; IPv4 (unfragmented) and IPv6 (extension
headers skipped) carrying UDP. Anything else is skipped.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",  # nanosecond resolution
    b"\xa1\xb2\x3c\x4d": ">",
}
_PCAPNG_SHB = 0x0A0D0D0A

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL2 = 276


class CaptureError(Exception):
    """The file is not a capture this reader understands."""


@dataclass(slots=True)
class Datagram:
    frame: int  # 1-based frame number in the file (line number for hex files)
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def read_datagrams(path: str, port: int | None = 8805) -> Iterator[Datagram]:
    """UDP datagrams from/to ``port`` (all UDP when None), in file order."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] in _PCAP_MAGICS:
        frames = _pcap_frames(data)
    elif len(data) >= 4 and struct.unpack_from("<I", data)[0] == _PCAPNG_SHB:
        frames = _pcapng_frames(data)
    else:
        yield from _hex_lines(data)
        return
    for number, linktype, frame in frames:
        dgram = _udp_from_frame(linktype, frame, number)
        if dgram is not None and (port is None or port in (dgram.sport, dgram.dport)):
            yield dgram


def _hex_lines(data: bytes) -> Iterator[Datagram]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CaptureError("neither pcap, pcapng nor a text file of hex lines") from exc
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip().replace(" ", "").replace(":", "")
        if not line:
            continue
        try:
            payload = bytes.fromhex(line)
        except ValueError as exc:
            raise CaptureError(f"line {number}: not hex") from exc
        yield Datagram(number, "", "", 0, 0, payload)


def _pcap_frames(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    endian = _PCAP_MAGICS[data[:4]]
    if len(data) < 24:
        raise CaptureError("truncated pcap header")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    off, number = 24, 0
    while off + 16 <= len(data):
        _, _, caplen, _ = rec.unpack_from(data, off)
        off += 16
        number += 1
        yield number, linktype, data[off : off + caplen]
        off += caplen


def _pcapng_frames(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    endian = "<"
    links: list[int] = []
    off, number = 0, 0
    while off + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, off)[0]
        if btype == _PCAPNG_SHB:
            endian = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack_from(endian + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            raise CaptureError(f"corrupt pcapng block at offset {off}")
        body = data[off + 8 : off + blen - 4]
        if btype == 1:  # interface description
            links.append(struct.unpack_from(endian + "H", body)[0])
        elif btype == 6:  # enhanced packet
            iface, _, _, caplen, _ = struct.unpack_from(endian + "IIIII", body)
            number += 1
            if iface < len(links):
                yield number, links[iface], body[20 : 20 + caplen]
        elif btype == 2:  # obsolete packet block
            iface, _, _, _, caplen, _ = struct.unpack_from(endian + "HHIIII", body)
            number += 1
            if iface < len(links):
                yield number, links[iface], body[20 : 20 + caplen]
        elif btype == 3 and links:  # simple packet
            number += 1
            yield number, links[0], body[4:]
        off += blen


def _udp_from_frame(linktype: int, frame: bytes, number: int) -> Datagram | None:
    ip: bytes | None
    if linktype == LINK_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype, off = struct.unpack_from("!H", frame, 12)[0], 14
        while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 4:
            ethertype = struct.unpack_from("!H", frame, off + 2)[0]
            off += 4
        ip = frame[off:] if ethertype in (0x0800, 0x86DD) else None
    elif linktype == LINK_SLL:
        ip = frame[16:]
    elif linktype == LINK_SLL2:
        ip = frame[20:]
    elif linktype == LINK_NULL:
        ip = frame[4:]
    elif linktype in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        ip = frame
    else:
        return None
    if not ip:
        return None
    return _udp_from_ip(ip, number)


def _udp_from_ip(ip: bytes, number: int) -> Datagram | None:
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        frag = struct.unpack_from("!H", ip, 6)[0]
        if ip[9] != 17 or frag & 0x3FFF:  # not UDP, or a fragment
            return None
        src, dst = (
            socket.inet_ntop(socket.AF_INET, ip[12:16]),
            socket.inet_ntop(socket.AF_INET, ip[16:20]),
        )
        udp = ip[ihl : max(total, ihl)]
    elif version == 6 and len(ip) >= 40:
        nxt, off = ip[6], 40
        while nxt in (0, 43, 60) and len(ip) >= off + 8:  # hop-by-hop, routing, destination
            nxt, off = ip[off], off + (ip[off + 1] + 1) * 8
        if nxt != 17:
            return None
        src, dst = (
            socket.inet_ntop(socket.AF_INET6, ip[8:24]),
            socket.inet_ntop(socket.AF_INET6, ip[24:40]),
        )
        udp = ip[off:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp)
    return Datagram(number, src, dst, sport, dport, udp[8 : max(length, 8)])

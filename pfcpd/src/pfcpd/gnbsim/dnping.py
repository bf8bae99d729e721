"""`ping`: ICMP or ICMPv6 echo from the data network's side to a UE (the downlink-first
direction; the gNB simulator's UEs answer echo requests). A raw socket (needs CAP_NET_RAW):
for IPv6 the kernel fills in the ICMPv6 checksum (RFC 3542 3.1), for IPv4 we do.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from . import packets


@dataclass
class PingResult:
    sent: int = 0
    rtts_ms: list[float] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.rtts_ms)


def ping(
    dst: str, count: int, data: int = 56, interval: float = 0.05, timeout: float = 2.0
) -> PingResult:
    """``count`` echo requests of ``data`` octets to ``dst``; the replies' round trips. The
    replies are told apart by our identifier and their sequence numbers."""
    v6 = ":" in dst
    if v6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        kind, answer = packets.ICMPV6_ECHO_REQUEST, packets.ICMPV6_ECHO_REPLY
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        kind, answer = packets.ICMP_ECHO_REQUEST, packets.ICMP_ECHO_REPLY
    ident = os.getpid() & 0xFFFF
    result = PingResult()
    sent_at: dict[int, float] = {}
    try:
        deadline = time.monotonic() + count * interval + timeout
        next_send = time.monotonic()
        while time.monotonic() < deadline and result.received < count:
            now = time.monotonic()
            if result.sent < count and now >= next_send:
                body = struct.pack("!BBHHH", kind, 0, 0, ident, result.sent) + bytes(data)
                if not v6:
                    body = body[:2] + struct.pack("!H", packets.checksum(body)) + body[4:]
                sent_at[result.sent] = time.monotonic()
                sock.sendto(body, (dst, 0))
                result.sent += 1
                next_send = now + interval
            wait = max(0.0, min(deadline, next_send) - time.monotonic())
            if not select.select([sock], [], [], wait)[0]:
                continue
            message = sock.recv(65535)
            if not v6:  # IPv4 raw sockets read the IP header too
                message = message[(message[0] & 0xF) * 4 :]
            if len(message) < packets.ICMP_HEADER:
                continue
            got_kind, _code, _sum, got_ident, seq = struct.unpack_from("!BBHHH", message)
            if got_kind == answer and got_ident == ident and seq in sent_at:
                result.rtts_ms.append((time.monotonic() - sent_at.pop(seq)) * 1000)
    finally:
        sock.close()
    return result

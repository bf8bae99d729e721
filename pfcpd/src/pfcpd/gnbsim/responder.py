"""`UdpEchoResponder`: the data network's end of the UE's UDP streams, on an IPv4 or IPv6
address. Every datagram is counted (octets as the IP packet's length, per source address)
and, unless told not to, sent back to where it came from: the downlink half of the gNB
simulator's measurement.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

from .packets import UDP_HEADER, header_octets
from .receiver import Receiver


class UdpEchoResponder:
    def __init__(self, address: str, port: int, echo: bool = True) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.headers = header_octets(address) + UDP_HEADER  # IP and UDP headers of a datagram
        self.echo = echo
        self.packets = 0
        self.octets = 0
        self.by_source: Counter[str] = Counter()
        self.first = self.last = 0.0
        self._receiver = Receiver(self.sock, self._datagram, "dn-echo")

    def _datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        now = time.monotonic()
        if not self.packets:
            self.first = now
        self.packets += 1
        self.octets += len(data) + self.headers
        self.by_source[peer[0]] += 1
        self.last = now
        if self.echo:
            self.sock.sendto(data, peer)

    def reset(self) -> None:
        self.packets = self.octets = 0
        self.by_source.clear()

    def bits_per_second(self) -> float:
        span = self.last - self.first
        return self.octets * 8 / span if span > 0 else 0.0

    def close(self) -> None:
        self._receiver.stop()
        self.sock.close()

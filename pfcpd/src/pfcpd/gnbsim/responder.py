"""`UdpEchoResponder`: the data network's end of the UE's UDP streams. Every datagram is
counted (octets as the IP packet's length, per source address) and, unless told not to,
sent back to where it came from: the downlink half of the gNB simulator's measurement.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from .packets import IPV4_HEADER, UDP_HEADER


class UdpEchoResponder:
    def __init__(self, address: str, port: int, echo: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.1)
        self.echo = echo
        self.packets = 0
        self.octets = 0
        self.by_source: Counter[str] = Counter()
        self.first = self.last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dn-echo", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            if not self.packets:
                self.first = now
            self.packets += 1
            self.octets += len(data) + IPV4_HEADER + UDP_HEADER
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
        self._stop.set()
        self._thread.join()
        self.sock.close()

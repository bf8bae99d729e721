"""Packet I/O of the local datapath: N3 on a kernel UDP socket, N6 on a TUN device.

- N3/N9: a UDP socket bound to the configured N3 address, port 2152. The kernel does ARP,
  routing and reassembly of outer fragments; the engine sees GTP-U messages
  (`LocalDatapath.process_ul_gtpu`). Echo responses and error indications go back to the
  sender; downlink encapsulations are sent to the FAR's peer (outer DSCP via IP_TOS), as
  are the G-PDUs the core re-encapsulates: N9 uplink forwarding, and the downlink that
  arrives on the F-TEID of a Core or CP-function PDR (N9 from a remote PSA, the data the
  SMF buffered sent back), which goes to the gNB. Echo Responses are handed to
  `LocalDatapath.echo_response` (events), not to the core; the Echo Requests of
  `LocalDatapath.send_echo` leave from this socket.
- FAR DUPL copies: GTP-U and UDP ones through the N3 socket to their peer and port; IP-in-IP
  and plain ones written to the first TUN, for the kernel to route.
- N6: one TUN device (no packet information header) per network instance; TUN i serves
  network instance index i. Decapsulated uplink packets are written to the TUN of their
  FAR's network instance, the kernel routes them to the data network; packets the kernel
  routes to a UE pool through a TUN are read as downlink of that network instance.
One thread runs `PacketLoop.run`; `stop()` ends it. Events stay queued in the engine for
`LocalDatapath.poll_events`. For labs, CI and SMF integration work,
not line rate.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import selectors
import socket
import struct
import threading
from collections.abc import Sequence

from pfcpd.datapath.interface import DuplicateEncap, IPAddress
from pfcpd.datapath.local.engine import (
    GTPU_ECHO_RESPONSE,
    Duplicate,
    LocalDatapath,
    PacketResult,
    Verdict,
)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
GTPU_PORT = 2152


def open_tun(name: str) -> int:
    """Create (or attach to) TUN device `name`; returns its file descriptor. Needs
    CAP_NET_ADMIN; the caller brings it up and routes the UE pool to it."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def _outer_split(packet: bytes) -> tuple[str, int, int, int, bytes]:
    """(destination, family, tos, UDP destination port, UDP payload) of an IPv4/IPv6 + UDP
    packet we built."""
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 0xF) * 4
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        port = int.from_bytes(packet[ihl + 2 : ihl + 4], "big")
        return dst, socket.AF_INET, packet[1], port, packet[ihl + 8 :]
    tos = ((packet[0] & 0xF) << 4) | (packet[1] >> 4)
    port = int.from_bytes(packet[42:44], "big")
    return str(ipaddress.IPv6Address(packet[24:40])), socket.AF_INET6, tos, port, packet[48:]


class PacketLoop:
    def __init__(
        self,
        datapath: LocalDatapath,
        n3_address: IPAddress,
        n6_tuns: Sequence[str],
    ) -> None:
        """n6_tuns[i]: the TUN device of network instance index i (none: N3 only)."""
        self.datapath = datapath
        self.n3_address = n3_address
        family = socket.AF_INET if n3_address.version == 4 else socket.AF_INET6
        self.n3 = socket.socket(family, socket.SOCK_DGRAM)
        self.n3.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.n3.bind((str(n3_address), GTPU_PORT))
        self.n3.setblocking(False)
        self.tuns: list[int] = []
        try:
            for name in n6_tuns:
                self.tuns.append(open_tun(name))
        except OSError:
            self.close()
            raise
        self._tos = 0
        self._stop = threading.Event()
        self.errors = 0
        self.duplicates_sent = 0

    def stop(self) -> None:
        self._stop.set()

    def counters(self) -> dict[str, int]:
        """The loop's counts, read-only (``pfcpd.daemon.packet_loop_metrics`` exports them)."""
        return {"errors": self.errors, "duplicates_sent": self.duplicates_sent}

    def close(self) -> None:
        self.n3.close()
        for fd in self.tuns:
            os.close(fd)
        self.tuns = []

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.n3, selectors.EVENT_READ, -1)
        for ni, fd in enumerate(self.tuns):
            sel.register(fd, selectors.EVENT_READ, ni)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if key.data < 0:
                        self._drain_n3()
                    else:
                        self._drain_n6(key.data)
                self._send_pending()
        finally:
            sel.close()

    def _send_pending(self) -> None:
        """What a rule change queued (End Markers, flushed buffers): sent before any packet
        processed after that change, so an End Marker precedes the new path's traffic."""
        for res in self.datapath.take_pending():
            self._send(res)
        for peer, message in self.datapath.take_echoes():  # (path management's)
            self._sendto_n3(message, str(peer), GTPU_PORT, 0)

    def _drain_n3(self) -> None:
        for _ in range(64):
            try:
                data, peer = self.n3.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:  # e.g. a queued ICMP error: count it, keep serving
                self.errors += 1
                return
            if (
                len(data) > 1
                and data[1] == GTPU_ECHO_RESPONSE
                and self.datapath.echo_response(ipaddress.ip_address(peer[0]), data)
            ):
                continue  # (path management's: an event for the session engine)
            res = self.datapath.process_ul_gtpu(self.n3_address, data)
            self._send_pending()
            if res.verdict == Verdict.FORWARD:
                self._send(res)
            elif res.output:  # echo response / error indication to the sender
                self._sendto_n3(res.output, peer[0], peer[1], 0)

    def _drain_n6(self, network_instance: int) -> None:
        for _ in range(64):
            try:
                packet = os.read(self.tuns[network_instance], 65535)
            except BlockingIOError:
                return
            except OSError:
                self.errors += 1
                return
            res = self.datapath.process_dl(packet, network_instance)
            self._send_pending()
            if res.verdict == Verdict.FORWARD:
                self._send(res)

    def _send(self, res: PacketResult) -> None:
        if res.output:
            if not res.encapsulated:  # decapsulated: to the data network
                self._write_tun(res.output, res.network_instance)
            else:
                dst, _family, tos, _port, payload = _outer_split(res.output)
                self._sendto_n3(payload, dst, GTPU_PORT, tos)
        for dup in res.duplicates:
            self._send_duplicate(dup)

    def _send_duplicate(self, dup: Duplicate) -> None:
        """GTP-U and UDP copies leave through the N3 socket (source port 2152, our N3
        address); IP-in-IP and plain copies are handed to the kernel through the TUN, which
        routes them by their (outer) destination."""
        if dup.encap in (DuplicateEncap.GTPU, DuplicateEncap.UDP):
            dst, family, tos, port, payload = _outer_split(dup.output)
            if family != self.n3.family:
                self.errors += 1  # the N3 socket is of the other family
                return
            sent = self._sendto_n3(payload, dst, port, tos)
        else:
            sent = self._write_tun(dup.output, 0)
        self.duplicates_sent += sent

    def _write_tun(self, packet: bytes, network_instance: int) -> bool:
        if network_instance >= len(self.tuns):
            self.errors += 1  # a FAR's network instance without a TUN here
            return False
        try:
            os.write(self.tuns[network_instance], packet)
        except OSError:
            self.errors += 1
            return False
        return True

    def _sendto_n3(self, payload: bytes, dst: str, port: int, tos: int) -> bool:
        if tos != self._tos:
            if self.n3_address.version == 4:
                self.n3.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
            else:
                self.n3.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
            self._tos = tos
        try:
            self.n3.sendto(payload, (dst, port))
        except OSError:
            self.errors += 1
            return False
        return True

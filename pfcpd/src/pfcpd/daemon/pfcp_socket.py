"""PFCP listen sockets on the event loop: several per address, peers spread over them by
source address, each read in batches, with a sized receive buffer and the kernel's count of
the datagrams it dropped because that buffer was full.

With one socket read by asyncio (one datagram per loop iteration, the node serviced after
each), a flood from one peer filled the socket buffer and the datagrams of every other peer
died there unseen. Here a listen address has SOCKETS sockets in one SO_REUSEPORT group, the
kernel steering each datagram by its source address: a flooding peer fills its own socket's
buffer, and the loop reads every ready socket in turn, up to RECV_BATCH datagrams each
before the node is serviced. SO_MEMINFO reports what the kernel dropped; the caller counts
it (reason ``socket_buffer``). (A SO_REUSEPORT group admits only sockets of the same user:
another process of pfcpd's user could join it; no other can.)

The datagrams are read by `_udp.receive` (recvmmsg: what waits, in one call, each source
named once for the last few peers) and sent by `_udp.send` (sendmmsg, the server's answers
of a batch in one call): through the daemon's whole path (callgrind, paced_ei, 1,000
establishments) 265.8-267.3 k -> 254.1 k instructions a request in batches of 3, 214.5 k ->
205.2 k in batches of 64, against a recvfrom and a sendto per datagram (their argument
parsing, the source made text by inet_ntop and parsed again for an IPv6 socket, the
exception of the read that found nothing).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

from ..address import Address
from ..address import normalize as normalize  # (the source's name; server.py's too)
from ._udp import receive
from ._udp import send as _udp_send
from .gc_tuning import end_pause

log = logging.getLogger("pfcpd.node")

RECV_BATCH = 64  # datagrams read per wake-up before the node is serviced
SOCKETS = 4  # sockets per listen address (one SO_REUSEPORT group), peers spread over them
RECEIVE_BUFFER = 2 * 1024 * 1024  # bytes asked of the kernel per socket
# Python's socket module does not name these on every build: their Linux values. SO_MEMINFO
# (Linux 4.12) reads a socket's counters, SK_MEMINFO_DROPS (index 8) the datagrams the kernel
# dropped for it (a full receive buffer, in practice).
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)
_SK_MEMINFO_DROPS = 8


def open_sockets(host: str, port: int, family: int, count: int = SOCKETS) -> list[socket.socket]:
    """``count`` non-blocking UDP sockets bound to (host, port) in one SO_REUSEPORT group
    (with port 0, the port the first one got), the kernel steering each datagram by its
    source address (see steer_by_source); each with its receive buffer enlarged and its
    kernel drops reported. An IPv6 wildcard also takes IPv4, as asyncio's socket did."""
    if port:
        # SO_REUSEPORT would let this group share the port with another process of the same
        # user (a second pfcpd, splitting the peers between them): the port must be free.
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, port))
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.setblocking(False)
            try:  # (needs CAP_NET_ADMIN; capped by net.core.rmem_max otherwise)
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
        steer_by_source(socks[0], count)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


# Classic BPF, as SO_ATTACH_REUSEPORT_CBPF runs it: the socket of the group that gets a
# datagram is the low 32 bits of its source address modulo the group's size.
_BPF_LD_B_ABS, _BPF_LD_W_ABS = 0x30, 0x20
_BPF_RSH_K, _BPF_MOD_K, _BPF_JEQ_K, _BPF_JA, _BPF_RET_A = 0x74, 0x94, 0x15, 0x05, 0x16
_SKF_NET_OFF = -0x100000 & 0xFFFFFFFF  # offsets from the network header
SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)


def steer_by_source(sock: socket.socket, count: int) -> None:
    """Make the kernel pick the group's socket by source address: a flood from one peer then
    fills one socket's buffer, and peers whose address differs modulo ``count`` keep theirs
    (the loop reads every ready socket in turn). Without it (attach refused) the kernel's
    hash of the source address and port decides: the same for one peer's flood, by chance
    for the others."""
    program = [
        (_BPF_LD_B_ABS, 0, 0, _SKF_NET_OFF),  # A = first octet of the IP header
        (_BPF_RSH_K, 0, 0, 4),  # A = IP version
        (_BPF_JEQ_K, 2, 0, 6),  # IPv6: to the IPv6 source
        (_BPF_LD_W_ABS, 0, 0, _SKF_NET_OFF + 12),  # A = IPv4 source address
        (_BPF_JA, 0, 0, 1),
        (_BPF_LD_W_ABS, 0, 0, _SKF_NET_OFF + 20),  # A = last 32 bits of the IPv6 source
        (_BPF_MOD_K, 0, 0, count),
        (_BPF_RET_A, 0, 0, 0),
    ]
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(buf))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError as exc:
        log.warning("PFCP sockets steered by the kernel's hash, not by source: %s", exc)


class PfcpSocket:
    """One listen socket. ``on_datagram(data, addr, now, local)`` is called for each
    datagram read (``now``: ``clock()`` as it is handed over; ``local``: this socket's listen
    address, as given), ``on_batch(read)`` once after each batch, with how many were read;
    the whole batch, ``on_batch`` included, runs with the garbage collector paused (as a
    `gc_tuning.BatchPause` pauses it; `gc_tuning.end_pause` is told how many were read).
    What the kernel dropped is read when asked (`new_kernel_drops`: the server counts it
    before the metrics are rendered), not after every batch: a syscall per batch, which at a
    paced rate is one per request."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_datagram: Callable[[bytes, Address, float, str | None], None],
        on_batch: Callable[[int], None],
        local: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.sockname: tuple[Any, ...] = sock.getsockname()
        # (socket.family makes an enum member at each call: about 1 us per datagram sent)
        self.ipv6 = sock.family == socket.AF_INET6
        self.receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._on_datagram = on_datagram
        self._on_batch = on_batch
        self._local = local
        self._clock = clock or loop.time
        self._drops_seen = 0  # the kernel's count of drops, as last read
        self.closed = False  # (by `close`: nothing is read or sent any more)
        self.fd = sock.fileno()  # (read and written by `_udp`, in batches)
        loop.add_reader(self.fd, self._read)

    def send(self, datagrams: list[tuple[bytes, Address]]) -> int:
        """Send ``datagrams`` (data, (host, port)) in order, without blocking, in one
        `_udp.send` (sendmmsg); returns how many could not be sent (each logged at debug; all
        of them on a closed socket). An IPv4 host to an IPv6 socket goes IPv4-mapped."""
        if self.closed:
            return len(datagrams)
        failures = _udp_send(self.fd, datagrams, self.ipv6)
        for i, error in failures:  # (a full send buffer, EAGAIN, included: UDP may lose it)
            log.debug(
                "cannot send to %s: %s", datagrams[i][1][0], OSError(error, os.strerror(error))
            )
        return len(failures)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.fd)
            self.sock.close()

    def new_kernel_drops(self) -> int:
        """Datagrams the kernel dropped for this socket since the last call."""
        if self.closed:
            return 0
        info = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * (_SK_MEMINFO_DROPS + 1))
        drops = int.from_bytes(info[4 * _SK_MEMINFO_DROPS : 4 * _SK_MEMINFO_DROPS + 4], "little")
        new = (drops - self._drops_seen) & 0xFFFFFFFF
        self._drops_seen = drops
        return new

    def _read(self) -> None:
        on_datagram, clock, local = self._on_datagram, self._clock, self._local
        read = 0
        # (a gc_tuning.BatchPause without its three method calls: they come once a wake, which
        # at a paced rate is every few requests)
        resume = gc.isenabled()
        gc.disable()
        try:
            # What waits, in one recvmmsg; then what came while it was handled, until a read
            # finds nothing (no exception: an empty list) or RECV_BATCH were read.
            while not self.closed:
                try:
                    batch = receive(self.fd, RECV_BATCH - read)
                except OSError as exc:
                    log.debug("socket error on %s: %s", self.sockname, exc)
                    break
                if not batch:
                    break
                read += len(batch)
                for data, addr in batch:
                    on_datagram(data, addr, clock(), local)
                if read == RECV_BATCH:
                    break
            self._on_batch(read)
        finally:
            end_pause(resume, read)

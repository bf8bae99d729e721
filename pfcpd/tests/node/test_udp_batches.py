"""`_udp`: PFCP datagrams read (recvmmsg) and sent (sendmmsg) in batches. A source is named as
`address.normalize` names what recvfrom gives (IPv4-mapped as IPv4, IPv6 compressed, no
scope), however many sources there are (past the cache of the last few); a send keeps the
order and fails only the datagrams that cannot be sent, which the server counts."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from node_harness import server_config

from pfcpd.address import normalize
from pfcpd.daemon import _udp
from pfcpd.daemon.server import PfcpServer
from pfcpd.daemon.state_store import NodeState
from pfcpd.node.events import Transmit
from pfcpd.node.node_metrics import NodeMetrics


@contextmanager
def udp(family: int, host: str) -> Iterator[socket.socket]:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, 0))
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


def _has_ipv6() -> bool:
    try:
        with udp(socket.AF_INET6, "::1"):
            return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")


def _received(sock: socket.socket, expected: int) -> list[tuple[bytes, tuple[str, int]]]:
    """What `_udp.receive` reads of ``expected`` datagrams sent to ``sock``."""
    got: list[tuple[bytes, tuple[str, int]]] = []
    deadline = time.monotonic() + 5
    while len(got) < expected and time.monotonic() < deadline:
        got += _udp.receive(sock.fileno(), 64)
        if len(got) < expected:
            time.sleep(0.01)
    return got


def test_an_ipv4_socket_reads_the_waiting_datagrams_in_order_with_their_sources() -> None:
    with udp(socket.AF_INET, "127.0.0.1") as server:
        assert _udp.receive(server.fileno(), 64) == []  # (nothing waits: no exception)
        with udp(socket.AF_INET, "127.0.0.1") as a, udp(socket.AF_INET, "127.0.0.2") as b:
            for i in range(5):
                (a if i % 2 else b).sendto(bytes([i]) * (i + 1), server.getsockname())
            time.sleep(0.05)
            got = _udp.receive(server.fileno(), 3)  # (at most 3)
            got += _udp.receive(server.fileno(), 64)
            assert got == [
                (bytes([i]) * (i + 1), (a if i % 2 else b).getsockname()) for i in range(5)
            ]
        assert _udp.receive(server.fileno(), 64) == []


@needs_ipv6
def test_an_ipv6_socket_names_its_sources_as_normalize_does() -> None:
    with (
        udp(socket.AF_INET6, "::") as server,
        udp(socket.AF_INET6, "::1") as six,
        udp(socket.AF_INET, "127.0.0.3") as four,
    ):
        port = server.getsockname()[1]
        six.sendto(b"6", ("::1", port))
        four.sendto(b"4", ("127.0.0.1", port))
        got = _received(server, 2)
        assert got == [
            (b"6", ("::1", six.getsockname()[1])),
            (b"4", ("127.0.0.3", four.getsockname()[1])),  # (IPv4-mapped: as IPv4)
        ]
        # (what the path before took: recvfrom's 4-tuple, normalized)
        four.sendto(b"4", ("127.0.0.1", port))
        time.sleep(0.05)
        _, source = server.recvfrom(100)
        assert len(source) == 4 and normalize(source) == got[1][1]


def test_every_source_address_is_named_as_normalize_names_it() -> None:
    """Every form of IPv6 address (runs of zeros of every length and place, IPv4-mapped and
    -compatible) and of IPv4, as `normalize` names what recvfrom gives."""
    rng = random.Random(7)
    special = [bytes(16), bytes(15) + b"\1", bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])]
    special += [bytes(12) + bytes([1, 2, 3, 4]), b"\xfe\x80" + bytes(13) + b"\1"]
    for i in range(20_000):
        packed = (
            special[i]
            if i < len(special)
            else bytes(rng.choice((0, 0, 0, 1, 0xFF, rng.randrange(256))) for _ in range(16))
        )
        port = rng.randrange(65536)
        text = str(ipaddress.IPv6Address(packed))
        assert _udp.source(packed, port) == normalize((text, port, 0, 0)), text
        four = packed[:4]
        assert _udp.source(four, port) == (str(ipaddress.IPv4Address(four)), port)


def test_many_sources_each_named_right_past_the_cache() -> None:
    with udp(socket.AF_INET, "127.0.0.1") as server:
        peers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
        try:
            for peer in peers:
                peer.bind(("127.0.0.1", 0))
            for _ in range(2):  # (the second round: sources evicted from the cache)
                for i, peer in enumerate(peers):
                    peer.sendto(bytes([i]), server.getsockname())
                got = _received(server, len(peers))
                assert got == [(bytes([i]), p.getsockname()) for i, p in enumerate(peers)]
        finally:
            for peer in peers:
                peer.close()


def test_a_closed_socket_raises_oserror_as_recvfrom_does() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = sock.detach()
    socket.close(fd)
    with pytest.raises(OSError) as raised:
        _udp.receive(fd, 64)
    assert raised.value.errno == errno.EBADF
    assert _udp.send(fd, [(b"x", ("127.0.0.1", 9))], False) == [(0, errno.EBADF)]
    with pytest.raises(ValueError):
        _udp.receive(0, 0)


def test_a_send_keeps_the_order_and_fails_only_what_cannot_be_sent() -> None:
    with udp(socket.AF_INET, "127.0.0.1") as server, udp(socket.AF_INET, "127.0.0.1") as peer:
        dest = peer.getsockname()
        batch = [(bytes([i]), dest) for i in range(10)]
        batch[2] = (b"x" * 70_000, dest)  # (EMSGSIZE: sendmmsg stops there, the rest go on)
        batch[4] = (b"zero", ("127.0.0.1", 0))  # (EINVAL from the kernel)
        batch[5] = (b"name", ("localhost", dest[1]))  # (not an address)
        batch[6] = (b"six", ("::1", dest[1]))  # (IPv6 to an IPv4 socket)
        batch[7] = (b"port", ("127.0.0.1", 70_000))
        failed = _udp.send(server.fileno(), batch, False)
        assert failed == [
            (2, errno.EMSGSIZE),
            (4, errno.EINVAL),
            (5, errno.EINVAL),
            (6, errno.EAFNOSUPPORT),
            (7, errno.EINVAL),
        ]
        sent = [0, 1, 3, 8, 9]
        got = _received(peer, len(sent))
        assert got == [(bytes([i]), server.getsockname()) for i in sent]
        assert _udp.send(server.fileno(), [], False) == []
        many = [(i.to_bytes(2, "big"), dest) for i in range(200)]  # (more than on the stack)
        assert _udp.send(server.fileno(), many, False) == []
        assert [d for d, _ in _received(peer, 200)] == [d for d, _ in many]


@needs_ipv6
def test_an_ipv6_socket_sends_to_ipv4_addresses_mapped() -> None:
    with (
        udp(socket.AF_INET6, "::") as server,
        udp(socket.AF_INET6, "::1") as six,
        udp(socket.AF_INET, "127.0.0.1") as four,
    ):
        batch = [
            (b"a", ("127.0.0.1", four.getsockname()[1])),
            (b"b", ("::1", six.getsockname()[1])),
            (b"c", ("::ffff:127.0.0.1", four.getsockname()[1])),
        ]
        assert _udp.send(server.fileno(), batch, True) == []
        assert [d for d, _ in _received(four, 2)] == [b"a", b"c"]
        assert [d for d, _ in _received(six, 1)] == [b"b"]


def test_the_server_sends_a_batch_in_order_and_counts_each_failure(tmp_path: Path) -> None:
    metrics = NodeMetrics()

    async def main() -> list[bytes]:
        server = PfcpServer(
            server_config(tmp_path / "state", heartbeat_interval=60),
            NodeState("127.0.0.1", 3_950_000_000),
            metrics,
        )
        await server.start()
        try:
            with udp(socket.AF_INET, "127.0.0.1") as peer:
                dest = peer.getsockname()
                sent = [b"1", b"x" * 70_000, b"2", b"3"]
                server._send_all([Transmit(d, dest, None) for d in sent])
                server._send_all([Transmit(b"4", ("127.0.0.1", 0), None)])
                return [d for d, _ in _received(peer, 3)]
        finally:
            server.close()

    assert asyncio.run(main()) == [b"1", b"2", b"3"]
    assert metrics.dropped.get("send_failed") == 2.0

"""PfcpSocket reads what waits, in batches: every datagram queued when it is woken (up to
RECV_BATCH) in one batch, in order, each with the time it was read and the listen address;
a batch ends with the read that finds nothing (an empty list, no exception) or at
RECV_BATCH."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from typing import Any

import pytest

from pfcpd.daemon import pfcp_socket
from pfcpd.daemon.pfcp_socket import RECV_BATCH, PfcpSocket, open_sockets


class _Counted:
    """`_udp.receive`, its calls counted."""

    def __init__(self) -> None:
        self.reads = 0
        self.receive = pfcp_socket.receive

    def __call__(self, fd: int, count: int) -> Any:
        self.reads += 1
        return self.receive(fd, count)


def test_batches_read_what_waits_until_a_read_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted = _Counted()
    monkeypatch.setattr(pfcp_socket, "receive", counted)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        (sock,) = open_sockets("127.0.0.1", 0, socket.AF_INET, count=1)
        got: list[tuple[bytes, Any, float, str | None]] = []
        batches: list[int] = []
        ticks = iter(range(1000))
        ps = PfcpSocket(
            loop,
            sock,
            lambda *args: got.append(args),
            batches.append,
            "127.0.0.1:0",
            lambda: float(next(ticks)),
        )
        loop.remove_reader(sock.fileno())  # (read here, not by the loop)
        target = sock.getsockname()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            me = peer.getsockname()

            def send(*payloads: bytes) -> None:
                for p in payloads:
                    peer.sendto(p, target)
                time.sleep(0.05)

            send(b"a")
            ps._read()  # one datagram: read, then a read that finds nothing
            assert (batches, counted.reads) == ([1], 2)
            send(b"b", b"c", b"d")
            ps._read()  # three: one read, then one that finds nothing
            assert (batches, counted.reads) == ([1, 3], 2 + 2)
            ps._read()  # woken for nothing: one read that finds nothing
            assert (batches, counted.reads) == ([1, 3, 0], 2 + 2 + 1)
            send(*(bytes([i]) for i in range(RECV_BATCH + 2)))
            ps._read()  # (RECV_BATCH in one read: the batch ends there)
            assert (batches[3:], counted.reads) == ([RECV_BATCH], 2 + 2 + 1 + 1)
            ps._read()
            assert batches[3:] == [RECV_BATCH, 2]
        assert [g[0] for g in got[:4]] == [b"a", b"b", b"c", b"d"]
        assert all(g[1] == me and g[3] == "127.0.0.1:0" for g in got)
        assert [g[2] for g in got] == [float(i) for i in range(len(got))]  # (clock per read)
        ps.close()
        assert ps.send([(b"x", me)]) == 1

    asyncio.run(main())


def test_a_batch_runs_with_the_collector_paused_and_then_resumes_it() -> None:
    """A batch's requests live until its commit (in ``on_batch``): no automatic collection
    walks them in between, however many objects the batch makes; after the batch the
    collector is on again (and stays off where it was off)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        (sock,) = open_sockets("127.0.0.1", 0, socket.AF_INET, count=1)
        kept: list[object] = []
        seen: list[bool] = []
        collections: list[int] = []

        def on_datagram(*args: Any) -> None:
            seen.append(gc.isenabled())
            # (more tracked objects than the young generation's threshold)
            kept.extend([i] for i in range(3 * gc.get_threshold()[0]))

        def on_batch(read: int) -> None:
            seen.append(gc.isenabled())

        def count(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collections.append(info["generation"])

        ps = PfcpSocket(loop, sock, on_datagram, on_batch, "127.0.0.1:0")
        loop.remove_reader(sock.fileno())  # (read here, not by the loop)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            for enabled in (True, False):
                (gc.enable if enabled else gc.disable)()
                for _ in range(3):
                    peer.sendto(b"x", sock.getsockname())
                time.sleep(0.05)
                seen.clear()
                gc.callbacks.append(count)
                try:
                    ps._read()
                finally:
                    gc.callbacks.remove(count)
                assert seen == [False] * 4  # three datagrams and the batch's end
                assert collections == []
                assert gc.isenabled() is enabled
        gc.enable()
        ps.close()

    was_enabled = gc.isenabled()
    try:
        asyncio.run(main())
    finally:
        (gc.enable if was_enabled else gc.disable)()

"""The load generator's pacing and timing (pfcpd.smfsim.loadgen): behind its schedule with
the window full, it waits for an answer instead of spinning (a wait of 0 took a core from
the UPF under test on a 2-core machine, and so distorted the latency it measures); answers
that arrive together are each timed when read, before any is decoded."""

from __future__ import annotations

import selectors
import socket
from typing import Any

import pytest

from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
from pfcpd.smfsim import loadgen
from pfcpd.smfsim.loadgen import LoadGenerator


def test_a_full_window_waits_for_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    upf.setblocking(False)
    timeouts: list[float | None] = []
    real = selectors.DefaultSelector

    class AnsweringSelector(real):  # type: ignore[misc,valid-type]
        """Records each wait, then has the UPF answer what it got so far."""

        def select(self, timeout: float | None = None) -> Any:
            timeouts.append(timeout)
            while True:
                try:
                    data, addr = upf.recvfrom(65535)
                except BlockingIOError:
                    break
                request = decode(data)
                answer = Message(
                    MessageType.HEARTBEAT_RESPONSE, request.seq, [RecoveryTimeStamp(1)]
                )
                upf.sendto(encode(answer), addr)
            return super().select(0.5)

    monkeypatch.setattr(loadgen.selectors, "DefaultSelector", AnsweringSelector)
    gen = LoadGenerator(upf.getsockname(), window=2, t1=10.0)
    try:
        requests = [
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]) for _ in range(8)
        ]
        # Far behind schedule at once: every send is due, the window is what holds them.
        result = gen.run_phase("paced", requests, rate=1e9)
    finally:
        gen.close()
        upf.close()
    assert result.requests == 8 and not result.rejected and result.retransmissions == 0
    assert timeouts and all(t is not None and t > 0 for t in timeouts)


def test_an_answer_is_timed_before_those_with_it_are_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight answers arrive together; decoding each takes the load generator a second (a
    clock of its own). Each answer's latency is what the UPF took (0 here), not the
    decoding of those read before it (before: 0, 1, ... 7 s)."""
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    clock = [0.0]

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return clock[0]

    def slow_decode(data: bytes) -> Message:
        clock[0] += 1.0
        return decode(data)

    real = selectors.DefaultSelector

    class AllAtOnce(real):  # type: ignore[misc,valid-type]
        """Has the UPF answer every request at once, once all eight are in."""

        def select(self, timeout: float | None = None) -> Any:
            got = []
            while len(got) < 8:
                data, addr = upf.recvfrom(65535)
                got.append((decode(data).seq, addr))
            for seq, addr in got:
                answer = Message(MessageType.HEARTBEAT_RESPONSE, seq, [RecoveryTimeStamp(1)])
                upf.sendto(encode(answer), addr)
            return super().select(0.5)

    monkeypatch.setattr(loadgen, "time", Clock)
    monkeypatch.setattr(loadgen, "decode", slow_decode)
    monkeypatch.setattr(loadgen.selectors, "DefaultSelector", AllAtOnce)
    gen = LoadGenerator(upf.getsockname(), window=8, t1=100.0)
    try:
        requests = [
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]) for _ in range(8)
        ]
        result = gen.run_phase("burst", requests)
    finally:
        gen.close()
        upf.close()
    assert result.requests == 8 and result.retransmissions == 0
    assert result.max_ms == 0.0

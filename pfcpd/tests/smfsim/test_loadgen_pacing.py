"""The load generator's pacing (pfcpd.smfsim.loadgen): behind its schedule with the window
full, it waits for an answer instead of spinning (a wait of 0 took a core from the UPF
under test on a 2-core machine, and so distorted the latency it measures)."""

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

"""The load generator's pacing and timing (pfcpd.smfsim.loadgen): behind its schedule with
the window full, it waits for an answer instead of spinning (a wait of 0 took a core from
the UPF under test on a 2-core machine, and so distorted the latency it measures); answers
that arrive together are each timed when read, before any is decoded; its waits keep their
microseconds (a paced phase's sends are 100 us apart at 10,000/s); a paced phase reports how
late its sends left and the latency from each scheduled send."""

from __future__ import annotations

import select
import socket

import pytest

from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
from pfcpd.smfsim import loadgen
from pfcpd.smfsim.loadgen import LoadGenerator


def test_a_full_window_waits_for_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    upf.setblocking(False)
    timeouts: list[float] = []
    real = loadgen.wait_readable

    def answering_wait(sock: socket.socket, timeout: float) -> None:
        """Records each wait, then has the UPF answer what it got so far."""
        timeouts.append(timeout)
        answer_all(upf)
        real(sock, 0.5)

    monkeypatch.setattr(loadgen, "wait_readable", answering_wait)
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
    assert timeouts and all(t > 0 for t in timeouts)


def answer_all(upf: socket.socket) -> None:
    """The UPF answers every Heartbeat Request it holds (its socket non-blocking)."""
    while True:
        try:
            data, addr = upf.recvfrom(65535)
        except BlockingIOError:
            return
        request = decode(data)
        answer = Message(MessageType.HEARTBEAT_RESPONSE, request.seq, [RecoveryTimeStamp(1)])
        upf.sendto(encode(answer), addr)


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

    real = loadgen.wait_readable

    def all_at_once(sock: socket.socket, timeout: float) -> None:
        """Has the UPF answer every request at once, once all eight are in."""
        got: list[tuple[int, tuple[str, int]]] = []
        while len(got) < 8:
            data, addr = upf.recvfrom(65535)
            got.append((decode(data).seq, addr))
        for seq, addr in got:
            answer = Message(MessageType.HEARTBEAT_RESPONSE, seq, [RecoveryTimeStamp(1)])
            upf.sendto(encode(answer), addr)
        real(sock, 0.5)

    monkeypatch.setattr(loadgen, "time", Clock)
    monkeypatch.setattr(loadgen, "decode", slow_decode)
    monkeypatch.setattr(loadgen, "wait_readable", all_at_once)
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
    assert result.late_p99_ms is None and result.scheduled_p99_ms is None  # (not paced)


def test_a_stalled_upf_shows_in_the_latency_from_the_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every request is due at once (rate 1e9) and the window holds one; the UPF answers each
    a second after it was sent (a clock of the generator's own, moved by each wait). From the
    actual send every latency is 1 s; request k waited k seconds behind the full window
    first, so its send was k s late and its latency from the schedule k + 1 s."""
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    upf.setblocking(False)
    clock = [0.0]

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return clock[0]

    real = loadgen.wait_readable

    def a_second_later(sock: socket.socket, timeout: float) -> None:
        clock[0] += 1.0
        answer_all(upf)
        real(sock, 0.5)

    monkeypatch.setattr(loadgen, "time", Clock)
    monkeypatch.setattr(loadgen, "wait_readable", a_second_later)
    gen = LoadGenerator(upf.getsockname(), window=1, t1=100.0)
    try:
        requests = [
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]) for _ in range(8)
        ]
        result = gen.run_phase("paced", requests, rate=1e9)
    finally:
        gen.close()
        upf.close()
    assert result.requests == 8 and result.retransmissions == 0
    assert result.p50_ms == result.p99_ms == result.max_ms == 1000.0
    assert result.late_p99_ms == pytest.approx(7000.0)
    assert result.scheduled_p99_ms == pytest.approx(8000.0)
    assert "sends late p99 7000.00 ms" in result.line()


def test_a_wait_keeps_its_microseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.3 ms reaches select(2) as 0.3 ms (epoll would wait 1 ms); a socket numbered past
    FD_SETSIZE waits in poll(2), its timeout rounded up to whole milliseconds."""
    selects: list[float] = []
    polls: list[int] = []

    def fake_select(
        r: object, w: object, x: object, timeout: float
    ) -> tuple[list[int], list[int], list[int]]:
        selects.append(timeout)
        return [], [], []

    class FakePoll:
        def register(self, fd: int, events: int) -> None:
            pass

        def poll(self, timeout: int) -> list[tuple[int, int]]:
            polls.append(timeout)
            return []

    monkeypatch.setattr(select, "select", fake_select)
    monkeypatch.setattr(select, "poll", FakePoll)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        loadgen.wait_readable(sock, 0.0003)
        monkeypatch.setattr(loadgen, "FD_SETSIZE", 0)
        loadgen.wait_readable(sock, 0.0003)
    assert selects == [0.0003]
    assert polls == [1]


class FakeClock:
    """The load generator's clock (its module's ``time``), moved by the tests."""

    now = 0.0

    @classmethod
    def perf_counter(cls) -> float:
        return cls.now


def test_a_paced_phase_waits_fractions_of_a_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 10,000/s the wait for the next send is 100 us (less what the loop took): it reaches
    wait_readable as that, and the sends leave on schedule (epoll's wait, a whole
    millisecond, sent ten at once)."""
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    upf.setblocking(False)
    timeouts: list[float] = []
    monkeypatch.setattr(FakeClock, "now", 0.0)

    def waits_exactly(sock: socket.socket, timeout: float) -> None:
        timeouts.append(timeout)
        FakeClock.now += timeout
        answer_all(upf)
        select.select((sock,), (), (), 0.5)

    monkeypatch.setattr(loadgen, "time", FakeClock)
    monkeypatch.setattr(loadgen, "wait_readable", waits_exactly)
    gen = LoadGenerator(upf.getsockname(), window=64, t1=100.0)
    try:
        requests = [
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]) for _ in range(8)
        ]
        result = gen.run_phase("paced", requests, rate=10000.0)
    finally:
        gen.close()
        upf.close()
    assert result.requests == 8 and result.retransmissions == 0
    # (seven waits for the next send; then, all sent, one for the last answers)
    assert timeouts[:7] == [pytest.approx(0.0001)] * 7
    assert result.late_p99_ms == pytest.approx(0.0, abs=1e-9)


def test_a_retransmitted_request_is_timed_from_its_first_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The UPF drops the first copy of each request and answers the second; each wait moves
    the clock 0.6 s, T1 is 1 s. Each request is sent again once (after 1.2 s: the check of
    the requests in flight, every few milliseconds, still finds it), answered 1.8 s after
    its first send; with a window of one, request k is sent k * 1.8 s late."""
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind(("127.0.0.1", 0))
    upf.setblocking(False)
    seen: set[int] = set()
    monkeypatch.setattr(FakeClock, "now", 0.0)

    def second_copy_answered(sock: socket.socket, timeout: float) -> None:
        FakeClock.now += 0.6
        while True:
            try:
                data, addr = upf.recvfrom(65535)
            except BlockingIOError:
                break
            seq = decode(data).seq
            if seq not in seen:
                seen.add(seq)
                continue
            answer = Message(MessageType.HEARTBEAT_RESPONSE, seq, [RecoveryTimeStamp(1)])
            upf.sendto(encode(answer), addr)
        select.select((sock,), (), (), 0.05)

    monkeypatch.setattr(loadgen, "time", FakeClock)
    monkeypatch.setattr(loadgen, "wait_readable", second_copy_answered)
    gen = LoadGenerator(upf.getsockname(), window=1, t1=1.0)
    try:
        requests = [
            Message(MessageType.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]) for _ in range(8)
        ]
        result = gen.run_phase("paced", requests, rate=1e9)
    finally:
        gen.close()
        upf.close()
    assert result.requests == 8 and result.retransmissions == 8
    assert result.p50_ms == pytest.approx(1800.0) and result.max_ms == pytest.approx(1800.0)
    assert result.late_p99_ms == pytest.approx(7 * 1800.0, rel=1e-6)
    assert result.scheduled_p99_ms == pytest.approx(8 * 1800.0, rel=1e-6)

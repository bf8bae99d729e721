"""The load generator's pacing and timing (pfcpd.smfsim.loadgen): behind its schedule with
the window full, it waits for an answer instead of spinning (a wait of 0 took a core from
the UPF under test on a 2-core machine, and so distorted the latency it measures); answers
that arrive together are each timed when read, before any is decoded; its waits keep their
microseconds (a paced phase's sends are 100 us apart at 10,000/s); a paced phase reports how
late its sends left and the latency from each scheduled send.

Each test has a fake UPF (a UDP socket the test answers from) and replaces the generator's
wait (`loadgen.wait_readable`) by one that moves the generator's clock and has the UPF
answer; a real wait follows, for the answers to arrive (up to 2 s when the UPF answered,
20 ms when it did not). A generator that stops making progress fails the test after
MAX_WAITS waits instead of hanging it."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator

import pytest

from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
from pfcpd.smfsim import loadgen
from pfcpd.smfsim.loadgen import LoadGenerator, PhaseResult

# A fake wait: moves the clock, has the UPF answer; True when it sent an answer.
Wait = Callable[[socket.socket, float], bool]
MAX_WAITS = 500  # a phase of eight requests needs a few dozen


class FakeClock:
    """The load generator's clock (its module's ``time``), moved by the tests."""

    now = 0.0
    cpu = 0.0  # the process's CPU seconds

    @classmethod
    def perf_counter(cls) -> float:
        return cls.now

    @classmethod
    def process_time(cls) -> float:
        return cls.cpu


@pytest.fixture
def upf(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """The fake UPF's socket (non-blocking), and the generator on the fake clock at 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    monkeypatch.setattr(FakeClock, "now", 0.0)
    monkeypatch.setattr(FakeClock, "cpu", 0.0)
    monkeypatch.setattr(loadgen, "time", FakeClock)
    with sock:
        yield sock


def heartbeats(
    monkeypatch: pytest.MonkeyPatch,
    upf: socket.socket,
    wait: Wait,
    window: int,
    t1: float,
    rate: float | None,
) -> PhaseResult:
    """Eight Heartbeat Requests to ``upf`` through a generator whose waits are ``wait``
    followed by a real one."""

    count = 0

    def waits(sock: socket.socket, timeout: float) -> None:
        nonlocal count
        count += 1
        if count > MAX_WAITS:
            raise AssertionError(f"no progress after {MAX_WAITS} waits")
        answered = wait(sock, timeout)
        select.select((sock,), (), (), 2.0 if answered else 0.02)

    monkeypatch.setattr(loadgen, "wait_readable", waits)
    gen = LoadGenerator(upf.getsockname(), window=window, t1=t1)
    try:
        return gen.heartbeats(8, rate=rate)
    finally:
        gen.close()


def answer(upf: socket.socket, seq: int, addr: tuple[str, int]) -> None:
    upf.sendto(encode(Message(MessageType.HEARTBEAT_RESPONSE, seq, [RecoveryTimeStamp(1)])), addr)


def answer_all(upf: socket.socket, answers: Callable[[int], bool] = lambda seq: True) -> bool:
    """The UPF answers every Heartbeat Request it holds (those whose sequence number
    ``answers`` accepts; it drops the others); False when it answered none."""
    answered = False
    while True:
        try:
            data, addr = upf.recvfrom(65535)
        except BlockingIOError:
            return answered
        seq = decode(data).seq
        if answers(seq):
            answer(upf, seq, addr)
            answered = True


def lasting(upf: socket.socket, timeouts: list[float], seconds: float | None = None) -> Wait:
    """A wait that lasts ``seconds`` (None: its timeout exactly), noted in ``timeouts``,
    then has the UPF answer every request it holds."""

    def wait(sock: socket.socket, timeout: float) -> bool:
        timeouts.append(timeout)
        FakeClock.now += timeout if seconds is None else seconds
        return answer_all(upf)

    return wait


def test_a_full_window_waits_for_an_answer(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """Each wait lasts a second, so after the first every send is due at once (rate 1e9):
    the window of two fills and the generator waits for an answer, never a wait of 0 (a
    spin)."""
    timeouts: list[float] = []
    wait = lasting(upf, timeouts, seconds=1.0)
    result = heartbeats(monkeypatch, upf, wait, window=2, t1=10.0, rate=1e9)
    assert result.requests == 8 and not result.rejected and result.retransmissions == 0
    assert len(timeouts) > 1 and all(t > 0 for t in timeouts)
    assert 0.05 in timeouts  # (a full window's wait for an answer)


def test_an_answer_is_timed_before_those_with_it_are_decoded(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """Eight answers arrive together; decoding each takes the load generator a second. Each
    answer's latency is what the UPF took (0 here), not the decoding of those read before
    it (before: 0, 1, ... 7 s)."""

    def slow_decode(data: bytes) -> Message:
        FakeClock.now += 1.0
        return decode(data)

    def all_at_once(sock: socket.socket, timeout: float) -> bool:
        """Has the UPF answer every request at once, once all eight are in."""
        got: list[tuple[int, tuple[str, int]]] = []
        while len(got) < 8:
            select.select((upf,), (), (), 5.0)
            data, addr = upf.recvfrom(65535)
            got.append((decode(data).seq, addr))
        for seq, addr in got:
            answer(upf, seq, addr)
        return True

    monkeypatch.setattr(loadgen, "decode", slow_decode)
    result = heartbeats(monkeypatch, upf, all_at_once, window=8, t1=100.0, rate=None)
    assert result.requests == 8 and result.retransmissions == 0
    assert result.max_ms == 0.0
    assert result.late_p99_ms is None and result.scheduled_p99_ms is None  # (not paced)


def test_a_stalled_upf_shows_in_the_latency_from_the_schedule(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """Every request is due at once (rate 1e9) and the window holds one; the UPF answers each
    a second after it was sent. From the actual send every latency is 1 s; request k waited
    k seconds behind the full window first, so its send was k s late and its latency from
    the schedule k + 1 s."""

    timeouts: list[float] = []
    wait = lasting(upf, timeouts, seconds=1.0)
    result = heartbeats(monkeypatch, upf, wait, window=1, t1=100.0, rate=1e9)
    assert result.requests == 8 and result.retransmissions == 0
    assert all(t > 0 for t in timeouts)
    assert result.p50_ms == result.p99_ms == result.max_ms == 1000.0
    assert result.late_p99_ms == pytest.approx(7000.0)
    assert result.scheduled_p99_ms == pytest.approx(8000.0)
    assert "sends late p99 7000.00 ms" in result.line()


def test_a_paced_phase_waits_fractions_of_a_millisecond(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """At 10,000/s the wait for the next send is 100 us (less what the loop took): it reaches
    the wait as that, and the sends leave on schedule (epoll's wait, a whole millisecond,
    sent ten at once)."""
    timeouts: list[float] = []
    result = heartbeats(monkeypatch, upf, lasting(upf, timeouts), window=64, t1=100.0, rate=1e4)
    assert result.requests == 8 and result.retransmissions == 0
    # (seven waits for the next send; then, all sent, one for the last answers)
    assert timeouts[:7] == [pytest.approx(0.0001)] * 7
    assert result.late_p99_ms == pytest.approx(0.0, abs=1e-9)


def test_a_paced_phase_counts_the_waits_it_overslept(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """At 10,000/s the first wait for the next send asks 100 us and lasts 2.5 ms (the
    generator's CPU taken by another task): one stall, 2.4 ms past its timeout; the seven
    requests due meanwhile leave at once, and the waits for their answers are not stalls.
    Waits that last what they ask count none, nor does a burst phase."""
    timeouts: list[float] = []
    late = heartbeats(
        monkeypatch, upf, lasting(upf, timeouts, seconds=0.0025), window=64, t1=100.0, rate=1e4
    )
    assert late.requests == 8
    assert timeouts[0] == pytest.approx(0.0001)
    assert (late.stalls, late.longest_stall_ms) == (1, pytest.approx(2.4))
    assert "overslept by over 1 ms: 1, at most 2.40 ms" in late.line()
    monkeypatch.setattr(FakeClock, "now", 0.0)
    exact = heartbeats(monkeypatch, upf, lasting(upf, []), window=64, t1=100.0, rate=1e4)
    assert (exact.stalls, exact.longest_stall_ms) == (0, 0.0)
    monkeypatch.setattr(FakeClock, "now", 0.0)
    burst = heartbeats(
        monkeypatch, upf, lasting(upf, [], seconds=0.0025), window=64, t1=100.0, rate=None
    )
    assert burst.stalls == 0


def test_a_retransmitted_request_is_timed_from_its_first_send(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """The UPF drops the first copy of each request and answers the second; each wait moves
    the clock 0.6 s, T1 is 1 s. Each request is sent again once (after 1.2 s: the check of
    the requests in flight, every few milliseconds, still finds it), answered 1.8 s after
    its first send; with a window of one, request k is sent k * 1.8 s late."""
    seen: set[int] = set()

    def second_copy(seq: int) -> bool:
        first = seq not in seen
        seen.add(seq)
        return not first

    def second_copy_answered(sock: socket.socket, timeout: float) -> bool:
        FakeClock.now += 0.6
        return answer_all(upf, second_copy)

    result = heartbeats(monkeypatch, upf, second_copy_answered, window=1, t1=1.0, rate=1e9)
    assert result.requests == 8 and result.retransmissions == 8
    assert result.p50_ms == pytest.approx(1800.0) and result.max_ms == pytest.approx(1800.0)
    assert result.late_p99_ms == pytest.approx(7 * 1800.0, rel=1e-6)
    assert result.scheduled_p99_ms == pytest.approx(8 * 1800.0, rel=1e-6)


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


def test_a_phase_counts_the_cpu_the_generator_spent_in_it(
    monkeypatch: pytest.MonkeyPatch, upf: socket.socket
) -> None:
    """The generator's own CPU time from the phase's first send to its last answer (each
    wait here costs it 1 ms), not what it spent before (the requests' encoding: 5 s)."""
    waits: list[float] = []
    answering = lasting(upf, waits)

    def wait(sock: socket.socket, timeout: float) -> bool:
        FakeClock.cpu += 0.001
        return answering(sock, timeout)

    real_encode = loadgen.encode

    def costly_encode(msg: Message) -> bytes:
        FakeClock.cpu += 5.0 / 8
        return real_encode(msg)

    monkeypatch.setattr(loadgen, "encode", costly_encode)
    result = heartbeats(monkeypatch, upf, wait, window=64, t1=100.0, rate=1e4)
    assert result.requests == 8 and waits
    assert result.cpu_seconds == pytest.approx(0.001 * len(waits))

"""``pfcpd loadgen``: an SMF load generator against a UPF (pfcpd or any other).

One association, then N sessions (2 PDRs, 2 FARs, 1 QER, 1 URR, CH F-TEID, CHV4: the usual
PDU session of `rules.session_rules`) established, then each modified (Update FAR: a new gNB
tunnel), then each deleted, with up to ``window`` requests in flight. The requests of a
phase are encoded before its clock starts. For each phase: requests per second, latency
percentiles (send to answer, milliseconds) and the answers that were not "Request accepted".
A request unanswered for ``t1`` seconds is sent again (counted); the UPF's heartbeats are
answered throughout.

A paced phase (``rate``) sends request i at ``i / rate`` seconds from its start, or as soon
after as it can: it waits for that moment, or for an answer, in select(2), whose timeout
is in microseconds (epoll and poll take whole milliseconds: at 10,000/s a millisecond's
wait sent the requests in bursts of ten, 0.33-0.43 ms behind their schedule at the median;
with select ~80 us, the kernel's timer slack and the wake-up).
What it could not keep of the schedule is printed with the phase: how late the sends left
(p99), and the latency from each request's scheduled send (p99), which counts the time a
request waited in the generator behind a full window (a UPF that stalls holds the window
full, and the latency from the actual send leaves that wait out), and how often the generator
itself slept over 1 ms (OVERSLEEP) longer than its wait asked: on a machine whose CPUs are also
taken by others (on the development VM, the kernel's DAMON thread kdamond runs ~1 ms every
~0.5 s, sometimes 3.5-4 ms, without giving the CPU up) the generator then sends the requests it
owes in a burst, and the UPF answers that burst as a batch.
"""

from __future__ import annotations

import argparse
import json
import math
import select
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from ..config import parse_endpoint
from ..pfcp import Cause, IEType, Message, MessageType, decode, encode
from ..pfcp import ies_address as A
from ..pfcp import ies_scalar as S
from ..pfcp.message_types import RESPONSE_TO
from . import rules
from .client import SmfClient, SmfError, cause_of

T = IEType
M = MessageType
RETRANSMIT_CHECK = 0.01  # seconds between checks of the requests in flight for T1, at most
OVERSLEEP = 0.001  # seconds a wait may last past its timeout before it counts as a stall
FD_SETSIZE = 1024  # glibc's: select(2) takes descriptors below it (Python does not name it)


@dataclass
class PhaseResult:
    phase: str
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    rejected: dict[str, int] = field(default_factory=dict)  # cause -> count
    retransmissions: int = 0
    # A paced phase only: how late the sends left (p99), and the latency from each request's
    # scheduled send (p99; see the module's docstring). None otherwise.
    late_p99_ms: float | None = None
    scheduled_p99_ms: float | None = None
    # This process's CPU time (all its threads) from the phase's first send to its last
    # answer: the generator's own load on the machine, apart from the UPF's.
    cpu_seconds: float = 0.0
    # The generator's waits that lasted over OVERSLEEP past their timeout (a paced phase's
    # sends wait 100 us at 10,000/s; one of those lasting 4 ms sends 40 requests at once), and
    # the longest such overrun (milliseconds). Counted in a paced phase only.
    stalls: int = 0
    longest_stall_ms: float = 0.0

    def line(self) -> str:
        bad = sum(self.rejected.values())
        text = (
            f"{self.phase:<12} {self.requests:>8} in {self.seconds:7.2f} s: "
            f"{self.per_second:9.0f}/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"max {self.max_ms:7.2f} ms  rejected {bad}  retransmitted {self.retransmissions}"
        )
        if self.late_p99_ms is not None and self.scheduled_p99_ms is not None:
            text += (
                f"  (paced: sends late p99 {self.late_p99_ms:.2f} ms, "
                f"p99 from the scheduled send {self.scheduled_p99_ms:.2f} ms; "
                f"waits the generator overslept by over 1 ms: {self.stalls}, at most "
                f"{self.longest_stall_ms:.2f} ms)"
            )
        return text


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def wait_readable(sock: socket.socket, timeout: float) -> None:
    """Wait until ``sock`` has a datagram to read or ``timeout`` seconds passed, to the
    microsecond: select(2) (a timeval; the kernel's timer slack, 50 us, decides how late it
    wakes). A socket numbered past select's FD_SETSIZE waits in poll(2), in whole
    milliseconds (rounded up, never a busy wait)."""
    fd = sock.fileno()
    if fd < FD_SETSIZE:
        select.select((fd,), (), (), timeout)
        return
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.poll(math.ceil(timeout * 1000))


class LoadGenerator:
    def __init__(
        self,
        upf: tuple[str, int],
        local: tuple[str, int] = ("127.0.0.1", 0),
        node_id: str = "loadgen.smf",
        window: int = 64,
        t1: float = 3.0,
        gnb: str = "192.0.2.9",
    ) -> None:
        self.client = SmfClient(upf, local, node_id=node_id, t1=t1)
        self.window = window
        self.t1 = t1
        self.gnb = gnb
        self.up_seids: dict[int, int] = {}  # CP SEID -> UP SEID
        self.answers: dict[int, Message] = {}  # sequence number -> answer (current phase)

    def close(self) -> None:
        self.client.close()

    def associate(self) -> None:
        self.client.associate()

    def run_phase(
        self,
        phase: str,
        requests: Sequence[Message],
        on_answer: Callable[[Message, Message], None] | None = None,
        rate: float | None = None,
    ) -> PhaseResult:
        """Send ``requests`` with up to ``window`` in flight, and at most ``rate`` per second
        when given (paced); ``on_answer(request, answer)`` for each answer."""
        sock = self.client.sock
        start_seq = self.client.seq
        datagrams: list[bytes] = []
        for i, msg in enumerate(requests):
            msg.seq = (start_seq + i) % 0xFFFFFF + 1
            datagrams.append(encode(msg))
        self.client.seq = (start_seq + len(requests)) % 0xFFFFFF
        by_seq = {msg.seq: i for i, msg in enumerate(requests)}
        sent_at = [0.0] * len(requests)
        latencies: list[float] = []
        late: list[float] = []  # paced: each send's delay after its scheduled time
        scheduled: list[float] = []  # paced: latencies from the scheduled send
        rejected: dict[str, int] = {}
        retransmissions = 0
        stalls, longest_stall = 0, 0.0  # paced: waits that lasted past their timeout
        in_flight: dict[int, float] = {}  # index -> last send time
        next_index = 0
        done = 0
        sock.setblocking(False)
        upf = self.client.upf
        cpu_begin = time.process_time()
        begin = time.perf_counter()
        check_at = begin  # when the requests in flight are next checked for T1
        period = 1 / rate if rate is not None else 0.0

        def due(index: int) -> float:
            """When request ``index`` is to be sent (a paced phase's schedule)."""
            return begin + index * period

        try:
            while done < len(requests):
                while next_index < len(requests) and len(in_flight) < self.window:
                    now = time.perf_counter()
                    if rate is not None:
                        if now < due(next_index):
                            break
                        late.append(now - due(next_index))
                    sock.sendto(datagrams[next_index], upf)
                    sent_at[next_index] = in_flight[next_index] = now
                    next_index += 1
                wait = 0.05
                if rate is not None and next_index < len(requests) and len(in_flight) < self.window:
                    # (A full window waits for an answer: behind schedule, a wait of 0
                    # would spin and take a core from the UPF under test.)
                    now = time.perf_counter()
                    wait = max(0.0, min(wait, due(next_index) - now))
                    wait_readable(sock, wait)
                    overrun = time.perf_counter() - now - wait
                    if overrun > OVERSLEEP:
                        stalls += 1
                        longest_stall = max(longest_stall, overrun)
                else:
                    wait_readable(sock, wait)
                # Every answer waiting is read and timed before any is decoded: an answer's
                # latency does not include this process's work on those that came with it.
                received: list[tuple[float, bytes]] = []
                while True:
                    try:
                        data = sock.recv(65535)
                    except BlockingIOError:
                        break
                    received.append((time.perf_counter(), data))
                for now, data in received:
                    msg = decode(data)
                    if msg.msg_type in (M.HEARTBEAT_REQUEST, M.SESSION_REPORT_REQUEST):
                        self._serve(msg)
                        continue
                    index = by_seq.get(msg.seq)
                    if index is None or index not in in_flight:
                        continue  # late answer to a retransmission, or not ours
                    if msg.msg_type != RESPONSE_TO[requests[index].msg_type]:
                        continue
                    del in_flight[index]
                    done += 1
                    latencies.append(now - sent_at[index])
                    if rate is not None:
                        scheduled.append(now - due(index))
                    cause = cause_of(msg)  # -1: no Cause IE (Heartbeat Response)
                    if cause not in (Cause.REQUEST_ACCEPTED, -1):
                        rejected[str(cause)] = rejected.get(str(cause), 0) + 1
                    if on_answer is not None:
                        on_answer(requests[index], msg)
                now = time.perf_counter()
                if now < check_at:
                    continue
                # (Every few milliseconds, not at every wake: a paced phase wakes for each
                # send, and the walk of the window would cost more than the send.)
                check_at = now + min(self.t1 / 10, RETRANSMIT_CHECK)
                for index, when in list(in_flight.items()):
                    if now - when > self.t1:
                        sock.sendto(datagrams[index], upf)
                        in_flight[index] = now
                        retransmissions += 1
        finally:
            sock.setblocking(True)
        seconds = time.perf_counter() - begin
        cpu_seconds = time.process_time() - cpu_begin
        latencies.sort()
        late.sort()
        scheduled.sort()
        return PhaseResult(
            phase=phase,
            requests=len(requests),
            seconds=seconds,
            per_second=len(requests) / seconds if seconds else 0.0,
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            max_ms=(latencies[-1] if latencies else 0.0) * 1000,
            rejected=rejected,
            retransmissions=retransmissions,
            late_p99_ms=percentile(late, 0.99) * 1000 if rate is not None else None,
            scheduled_p99_ms=percentile(scheduled, 0.99) * 1000 if rate is not None else None,
            cpu_seconds=cpu_seconds,
            stalls=stalls,
            longest_stall_ms=longest_stall * 1000,
        )

    def _serve(self, msg: Message) -> None:
        """Heartbeats and Session Reports, answered as `SmfClient` does."""
        self.client.sock.setblocking(True)
        try:
            self.client._serve(msg)
        finally:
            self.client.sock.setblocking(False)

    def heartbeats(self, count: int, rate: float | None = None) -> PhaseResult:
        """The baseline: ``count`` Heartbeat Requests with the same window (and at most
        ``rate`` a second when given: a paced phase's floor)."""
        stamp = S.RecoveryTimeStamp(self.client.recovery_time_stamp)
        requests = [Message(M.HEARTBEAT_REQUEST, 0, [stamp]) for _ in range(count)]
        return self.run_phase("heartbeat", requests, rate=rate)

    def establish(
        self, count: int, first_cp_seid: int = 1, rate: float | None = None
    ) -> PhaseResult:
        requests = [
            rules.establishment_request(
                self.client.node_id,
                self.client.address[0],
                first_cp_seid + i,
                rules.session_rules(gnb=self.gnb, gnb_teid=first_cp_seid + i),
            )
            for i in range(count)
        ]

        def note(request: Message, answer: Message) -> None:
            fseid = answer.get(T.F_SEID)
            cp = request.get(T.F_SEID)
            if isinstance(fseid, A.FSEID) and isinstance(cp, A.FSEID):
                self.up_seids[cp.seid] = fseid.seid

        return self.run_phase("establish", requests, note, rate)

    def modify(self) -> PhaseResult:
        requests = [
            rules.modification_request(up, [rules.update_dl_far(2, cp + 0x1000000, self.gnb)])
            for cp, up in self.up_seids.items()
        ]
        return self.run_phase("modify", requests)

    def delete(self) -> PhaseResult:
        requests = [rules.deletion_request(up) for up in self.up_seids.values()]
        result = self.run_phase("delete", requests)
        self.up_seids.clear()
        return result


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="pfcpd loadgen")
    parser.description = (
        "SMF load generator: associate with a UPF, then establish, modify and delete N "
        "sessions (2 PDRs, 2 FARs, 1 QER, 1 URR, CH F-TEID, CHV4) with up to WINDOW requests "
        "in flight; prints requests/s and latency percentiles per phase."
    )
    parser.add_argument("upf", help="the UPF's PFCP endpoint, host[:port] (port 8805)")
    parser.add_argument("-n", "--sessions", type=int, default=1000, help="sessions (1000)")
    parser.add_argument(
        "-w", "--window", type=int, default=64, help="requests in flight at most (64)"
    )
    parser.add_argument(
        "--local", default="127.0.0.1:0", help="our PFCP address[:port] (127.0.0.1:0)"
    )
    parser.add_argument("--node-id", default="loadgen.smf", help="our Node ID (loadgen.smf)")
    parser.add_argument(
        "--gnb", default="192.0.2.9", help="gNB address in the downlink FARs (192.0.2.9)"
    )
    parser.add_argument(
        "--phases",
        default="establish,modify,delete",
        help="comma-separated, in order: heartbeat, establish, modify, delete",
    )
    parser.add_argument(
        "--rate", type=float, help="establishments per second at most (default: no limit)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def run_loadgen(args: argparse.Namespace) -> int:
    try:
        upf = parse_endpoint(args.upf)
        local = parse_endpoint(args.local, default_port=0)
    except ValueError as exc:
        print(f"pfcpd loadgen: {exc}", file=sys.stderr)
        return 2
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in ("heartbeat", "establish", "modify", "delete")]
    if unknown or args.sessions < 1 or args.window < 1:
        print(f"pfcpd loadgen: bad --phases, --sessions or --window: {unknown}", file=sys.stderr)
        return 2
    gen = LoadGenerator(
        (upf.host, upf.port), (local.host, local.port), args.node_id, args.window, gnb=args.gnb
    )
    results: list[PhaseResult] = []
    try:
        gen.associate()
        for phase in phases:
            if phase == "heartbeat":
                result = gen.heartbeats(args.sessions)
            elif phase == "establish":
                result = gen.establish(args.sessions, rate=args.rate)
            elif phase == "modify":
                result = gen.modify()
            else:
                result = gen.delete()
            results.append(result)
            if not args.json:
                print(result.line(), flush=True)
    except (OSError, SmfError) as exc:
        print(f"pfcpd loadgen: {exc}", file=sys.stderr)
        return 1
    finally:
        gen.close()
    if args.json:
        json.dump([asdict(r) for r in results], sys.stdout, indent=1)
        print()
    return 0 if all(not r.rejected for r in results) else 1

"""GTP-U path management (TS 29.281 7.2.1, 4.4 of TS 29.060 for T3/N3): the remote GTP-U
peers the sessions' FARs send to are probed with Echo Requests, and a peer that leaves them
unanswered is a user plane path failure, reported to the CPs in a PFCP Node Report Request
(TS 29.244 6.2.9, 7.4.5.1: Node Report Type UPFR, User Plane Path Failure Report).

Sans-IO: `PathMonitor` is told which peers are in use (`PathMonitor.use`), the Echo
Responses the datapath received (`PathMonitor.echo_response`) and the time
(`PathMonitor.run`), and answers with what to do: the Echo Requests to send, the paths that
failed and those that answer again. The session engine (`paths.Paths`) sends the requests
through its datapath and the Node Reports through the node.

Per peer in use (at least one session has a FAR with outer header creation towards it, TS
29.281 7.2.1: a path "in use"): an Echo Request at once, then one every ``interval``
seconds from the last new one (never more often, whatever the answers). An Echo Request
unanswered for ``t3_response`` seconds is sent again with the same sequence number, up to
``n3_requests`` attempts in all (TS 29.060 7.6: a request is retransmitted while fewer than
N3-REQUESTS attempts were made); the last one unanswered for ``t3_response``: the path has
failed, reported once. The probing goes on at ``interval``; the first answer after a failure
is its recovery. A peer no longer in use is forgotten (a failure of it is not reported again,
nor its recovery). An Echo Request the datapath could not send (`PathMonitor.unsent`) is not
an attempt.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ..datapath.interface import IPAddress

SEQ_MODULO = 1 << 16  # the GTP-U header's sequence number field


@dataclass(frozen=True, slots=True)
class PathSettings:
    """``interval``: seconds between new Echo Requests to a peer (TS 29.281 7.2.1: at least
    60 in a network; lower only for labs and tests); ``t3_response``: seconds an Echo Request
    waits for its answer (T3-RESPONSE); ``n3_requests``: attempts of one Echo Request
    (N3-REQUESTS), the first included; ``report_recovery``: a peer that answers again after
    a failure is reported (UPRR)."""

    interval: float = 60.0
    t3_response: float = 3.0
    n3_requests: int = 3
    report_recovery: bool = True

    def __post_init__(self) -> None:
        if not self.interval > 0 or not self.t3_response > 0 or self.n3_requests < 1:
            raise ValueError(f"path settings out of range: {self}")


@dataclass(slots=True)
class _Path:
    users: int = 0  # FAR peer entries of sessions naming the peer
    seq: int | None = None  # the Echo Request awaiting its answer, if any
    attempts: int = 0  # of that one
    round_at: float | None = None  # when the current round's first attempt went
    next_at: float = 0.0  # when the path needs `run` next (0.0: at the next run)
    failed: bool = False


@dataclass(slots=True)
class PathActions:
    """What `PathMonitor.run` and `PathMonitor.echo_response` ask for."""

    echoes: list[tuple[IPAddress, int]] = field(default_factory=list)  # (peer, sequence)
    failed: list[IPAddress] = field(default_factory=list)
    recovered: list[IPAddress] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.echoes or self.failed or self.recovered)


class PathMonitor:
    def __init__(self, settings: PathSettings, first_seq: int = 0) -> None:
        self.settings = settings
        self._paths: dict[IPAddress, _Path] = {}
        self._seq = first_seq % SEQ_MODULO
        # (due time, peer) of every path; stale entries (a path since rescheduled or gone)
        # are skipped when popped
        self._heap: list[tuple[float, int, IPAddress]] = []
        self._order = 0
        self.echoes_sent = 0
        self.unsent_echoes = 0  # asked for, but the datapath could not send them (`unsent`)
        self.failures = 0
        self.recoveries = 0

    # -- inputs --------------------------------------------------------------------------------

    def use(self, peer: IPAddress, delta: int) -> None:
        """``delta`` more (or fewer) FARs of sessions send to ``peer``. A path left with
        none is forgotten when it is next due, not at once: a session whose rules change
        takes its peers out and puts them back, and the path keeps its round and its
        failure across that."""
        path = self._paths.get(peer)
        if path is None:
            if delta <= 0:
                return
            path = self._paths[peer] = _Path()
            self._schedule(peer, path, 0.0)
        path.users += delta

    def echo_response(self, peer: IPAddress, seq: int, now: float) -> PathActions:
        """An Echo Response from ``peer``: the answer to its outstanding Echo Request when
        ``seq`` is that one's (else ignored: a late answer to an earlier round, or none of
        ours). The path's next Echo Request stays ``interval`` after this round's first."""
        actions = PathActions()
        path = self._paths.get(peer)
        if path is None or path.users <= 0 or path.seq is None or seq != path.seq:
            return actions
        path.seq = None
        path.attempts = 0
        start = path.round_at if path.round_at is not None else now
        self._schedule(peer, path, start + self.settings.interval)
        if path.failed:
            path.failed = False
            self.recoveries += 1
            if self.settings.report_recovery:
                actions.recovered.append(peer)
        return actions

    def unsent(self, peer: IPAddress, seq: int) -> None:
        """The Echo Request ``seq`` that `run` just asked for ``peer`` could not be sent
        (the datapath away, or refusing it): the attempt does not count. The path is tried
        again ``t3_response`` later (as a retransmission would be), so a datapath that is
        away for longer fails no path; a round none of whose attempts went out is dropped
        (the next one starts, and is timed, when it is tried again)."""
        path = self._paths.get(peer)
        if path is not None and path.seq == seq and path.attempts > 0:
            path.attempts -= 1
            self.echoes_sent -= 1
            self.unsent_echoes += 1
            if path.attempts == 0:
                path.seq = path.round_at = None

    def run(self, now: float) -> PathActions:
        """The Echo Requests due by ``now`` (new ones and retransmissions) and the paths
        whose last attempt went unanswered."""
        actions = PathActions()
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, peer = heapq.heappop(heap)
            path = self._paths.get(peer)
            if path is None or path.next_at != due:
                continue  # gone, or rescheduled since
            if path.users <= 0:  # no longer in use: forgotten
                del self._paths[peer]
                continue
            self._step(peer, path, now, actions)
        return actions

    def next_time(self) -> float | None:
        """When `run` has work next, or None (no peer in use)."""
        heap = self._heap
        while heap:
            due, _, peer = heap[0]
            path = self._paths.get(peer)
            if path is not None and path.next_at == due:
                return due
            heapq.heappop(heap)
        return None

    # -- what it knows -------------------------------------------------------------------------

    def peers(self) -> dict[IPAddress, bool]:
        """The peers in use, each with whether its path is failed."""
        return {peer: path.failed for peer, path in self._paths.items() if path.users > 0}

    def view(self) -> list[dict[str, object]]:
        """The paths in use, JSON-ready (``pfcpd show paths``): the peer, its state (up or
        failed), the sessions' FARs sending to it and the attempts of the Echo Request
        awaiting its answer (0: none awaited)."""
        in_use = sorted(
            ((peer, path) for peer, path in self._paths.items() if path.users > 0),
            key=lambda item: (item[0].version, item[0].packed),
        )
        return [
            {
                "peer": str(peer),
                "state": "failed" if path.failed else "up",
                "fars": path.users,
                "unanswered": path.attempts if path.seq is not None else 0,
            }
            for peer, path in in_use
        ]

    # -- inside --------------------------------------------------------------------------------

    def _step(self, peer: IPAddress, path: _Path, now: float, actions: PathActions) -> None:
        s = self.settings
        if path.seq is not None and path.attempts >= s.n3_requests:
            # N3-REQUESTS attempts, the last unanswered for T3-RESPONSE: the path failed.
            path.seq = None
            path.attempts = 0
            if not path.failed:
                path.failed = True
                self.failures += 1
                actions.failed.append(peer)
            start = path.round_at if path.round_at is not None else now
            nxt = start + s.interval
            if nxt > now:
                self._schedule(peer, path, nxt)
                return
        if path.seq is None:  # a new round
            path.seq = self._seq
            self._seq = (self._seq + 1) % SEQ_MODULO
            path.round_at = now
        path.attempts += 1
        self.echoes_sent += 1
        actions.echoes.append((peer, path.seq))
        self._schedule(peer, path, now + s.t3_response)

    def _schedule(self, peer: IPAddress, path: _Path, when: float) -> None:
        path.next_at = when
        self._order += 1
        heapq.heappush(self._heap, (when, self._order, peer))

"""The node's Prometheus metrics (names are part of the operator interface: see docs/pfcpd.md)."""

from __future__ import annotations

from collections.abc import Callable

from ..metrics import Counter, Gauge, Histogram, LabelledCounters, Registry
from ..pfcp.message_types import message_type_name

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A flush of the session journal to the disk: ~0.1-0.3 ms measured on the development VM's
# virtual disk; the lower buckets are for faster disks (not measured here).
FLUSH_BUCKETS = (5e-5, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
CHECKPOINT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
# Peers (source addresses) that get a ``peer`` label of their own; messages of any further
# peer are counted under peer="other". Allowed peers are few (pfcp.allowed_peers); this bounds
# the series when the allow-list is a wide prefix or ``any``.
PEER_LABELS = 64
OTHER_PEER = "other"


class _HandlingSeries(dict[int, list[float]]):
    """Request type -> the `Histogram.series_of` its label has in ``histogram``, looked up
    once per type (at most 256)."""

    def __init__(self, histogram: Histogram) -> None:
        super().__init__()
        self._histogram = histogram

    def __missing__(self, msg_type: int) -> list[float]:
        series = self[msg_type] = self._histogram.series_of((message_type_name(msg_type),))
        return series


def _totals(per_peer: Counter) -> Callable[[], dict[tuple[str, ...], float]]:
    """(type, cause) -> count summed over the peers of a (peer, type, cause) counter."""

    def read() -> dict[tuple[str, ...], float]:
        totals: dict[tuple[str, ...], float] = {}
        for (_, *key), count in per_peer.values.items():
            totals[tuple(key)] = totals.get(tuple(key), 0.0) + count
        return totals

    return read


HANDLED = 256  # (the offset of the handled requests in PeerTally.counts: one per type)


class PeerTally:
    """What the request path counts for one peer label, in plain lists and a dict, folded
    into the node's counters (`NodeMetrics.fold`) whenever they are read: a Counter keyed by
    a (peer, type, cause) tuple took a call, a key tuple and two hashed lookups per count,
    four counts per request (measured: 2.0 us of them per heartbeat, 0.3 us as tallies, on
    the 2-core VM). The labels are made at the fold, from the message type numbers."""

    __slots__ = ("counts", "peer", "sent")

    def __init__(self, peer: str) -> None:
        self.peer = peer  # its peer label
        # [t]: messages of type t received with no Cause IE; [HANDLED + t]: requests of type
        # t handled (pfcpd_requests_handled_total, which has no peer label)
        self.counts = [0] * (2 * HANDLED)
        self.sent: dict[tuple[str, str], int] = {}  # (type, cause) labels -> answers sent


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        # Counted per peer; the totals are their sums, made when the metrics are collected
        # (one increment per message).
        self.peer_received = add(
            Counter(
                "pfcpd_peer_messages_received_total",
                "PFCP messages received and decoded, by peer (source address; 'other' past "
                f"the first {PEER_LABELS}), message type and cause (none: no Cause IE)",
                ("peer", "type", "cause"),
            )
        )
        self.peer_sent = add(
            Counter(
                "pfcpd_peer_messages_sent_total",
                "PFCP messages sent, by peer (destination address; 'other' past the first "
                f"{PEER_LABELS}), type and cause (retransmissions and cached answers too)",
                ("peer", "type", "cause"),
            )
        )
        self.received = add(
            LabelledCounters(
                "pfcpd_messages_received_total",
                "PFCP messages received and decoded, by message type and cause (none: no Cause IE)",
                ("type", "cause"),
                _totals(self.peer_received),
            )
        )
        self.sent = add(
            LabelledCounters(
                "pfcpd_messages_sent_total",
                "PFCP messages sent, by type and cause (retransmissions and cached answers too)",
                ("type", "cause"),
                _totals(self.peer_sent),
            )
        )
        self._peers: dict[str, str] = {}  # address -> its peer label
        # address -> its peer label's tally (the addresses past PEER_LABELS: not kept, their
        # tally is `_other`'s); each tally once in `_tally_list`
        self.tallies: dict[str, PeerTally] = {}
        self._tally_list: list[PeerTally] = []
        self._other: PeerTally | None = None
        self.requests_handled = add(
            Counter(
                "pfcpd_requests_handled_total",
                "Requests processed (each takes effect once; duplicates are not counted here)",
                ("type",),
            )
        )
        self.duplicates = add(
            Counter(
                "pfcpd_duplicate_requests_total",
                "Retransmitted requests answered again from the response cache",
                ("type",),
            )
        )
        self.retransmissions = add(
            Counter(
                "pfcpd_retransmissions_total",
                "Requests of this node sent again after T1 without a response",
                ("type",),
            )
        )
        self.timeouts = add(
            Counter(
                "pfcpd_timeouts_total",
                "Requests of this node that got no response after N1 retransmissions",
                ("type",),
            )
        )
        self.transactions_completed = add(
            Counter(
                "pfcpd_transactions_completed_total",
                "Requests of this node that got their response",
                ("type",),
            )
        )
        self.datagrams_read = add(
            Counter(
                "pfcpd_datagrams_read_total",
                "Datagrams read from the PFCP sockets (each one is answered, handled, or "
                "counted in pfcpd_datagrams_dropped_total; those the kernel dropped for a full "
                "receive buffer are counted there as socket_buffer)",
            )
        )
        self.dropped = add(
            Counter(
                "pfcpd_datagrams_dropped_total",
                "Datagrams dropped without an answer, by reason",
                ("reason",),
            )
        )
        self.internal_errors = add(
            Counter(
                "pfcpd_internal_errors_total",
                "Bugs: unexpected exceptions while handling a datagram, by stage (decode, "
                "request, response, session_handler); each is logged with its traceback",
                ("stage",),
            )
        )
        self.state_write_failures = add(
            Counter(
                "pfcpd_state_write_failures_total",
                "Writes of the node state file that failed (the changes they carried were "
                "rolled back and answered with cause 77 System failure)",
            )
        )
        self.journal_flush_time = add(
            Histogram(
                "pfcpd_session_journal_flush_seconds",
                "Flushes of the session journal to the disk (fdatasync), by how long each "
                "took: answers about session changes wait for the flush after their commit",
                FLUSH_BUCKETS,
            )
        )
        self.journal_checkpoint_time = add(
            Histogram(
                "pfcpd_session_journal_checkpoint_seconds",
                "Checkpoints of the session journal (its WAL copied into the database, in the "
                "state-writing thread), by how long each took",
                CHECKPOINT_BUCKETS,
            )
        )
        self.ies_ignored = add(
            Counter(
                "pfcpd_ies_ignored_total",
                "IEs set aside while decoding: not expected where they were (unexpected) or "
                "optional with an incorrect value (incorrect)",
                ("kind",),
            )
        )
        self.rate_limited = add(
            Counter(
                "pfcpd_rate_limited_total",
                "Requests and undecodable datagrams dropped: their peer exceeded pfcp.rate_limit",
            )
        )
        self.peers_lost = add(
            Counter("pfcpd_peers_lost_total", "Peers declared lost after N1 missed heartbeats")
        )
        self.peer_restarts = add(
            Counter(
                "pfcpd_peer_restarts_total",
                "Peers seen with a new Recovery Time Stamp (they restarted)",
            )
        )
        self.associations_established = add(
            Counter(
                "pfcpd_associations_established_total",
                "Associations set up, by who initiated them",
                ("initiator",),
            )
        )
        self.associations_released = add(
            Counter(
                "pfcpd_associations_released_total",
                "Associations ended, by reason",
                ("reason",),
            )
        )
        self.request_latency = add(
            Histogram(
                "pfcpd_request_latency_seconds",
                "Time from first sending a request of this node to receiving its response",
                LATENCY_BUCKETS,
                ("type",),
            )
        )
        self.handling_time = add(
            Histogram(
                "pfcpd_request_handling_seconds",
                "Time to process a received request and produce its response",
                LATENCY_BUCKETS,
                ("type",),
            )
        )

        self.peer_received.settle = self.peer_sent.settle = self.fold
        self.requests_handled.settle = self.fold
        # request type -> the handling_time series of its label (`series_of`), for the node
        self.handling_series = _HandlingSeries(self.handling_time)

    def tally(self, address: str) -> PeerTally:
        """The tally of ``address``'s peer label, for one not in `tallies`."""
        peer = self._peers.get(address) or self._peer(address)
        if peer == OTHER_PEER:
            if self._other is None:
                self._other = PeerTally(OTHER_PEER)
                self._tally_list.append(self._other)
            return self._other
        tally = self.tallies[address] = PeerTally(peer)
        self._tally_list.append(tally)
        return tally

    def fold(self) -> None:
        """Move what the tallies counted into the counters (before they are read)."""
        received = self.peer_received.counts
        handled = self.requests_handled.counts
        sent = self.peer_sent.counts
        for tally in self._tally_list:
            peer, counts = tally.peer, tally.counts
            for t, n in enumerate(counts):
                if not n:
                    continue
                counts[t] = 0
                if t < HANDLED:
                    key: tuple[str, ...] = (peer, message_type_name(t), "none")
                    received[key] = received.get(key, 0.0) + n
                else:
                    key = (message_type_name(t - HANDLED),)
                    handled[key] = handled.get(key, 0.0) + n
            for (msg_type, cause), n in tally.sent.items():
                key = (peer, msg_type, cause)
                sent[key] = sent.get(key, 0.0) + n
            tally.sent.clear()

    def _peer(self, address: str) -> str:
        """A new peer's label: its address while there are labels left, else "other" (not
        remembered: the addresses past the limit take no memory)."""
        if len(self._peers) >= PEER_LABELS:
            return OTHER_PEER
        self._peers[address] = address
        return address

    def count_received(self, address: str, msg_type: str, cause: str) -> None:
        """A message received from ``address`` (its type and cause labels)."""
        # (Counter.inc inline: twice per request)
        key = (self._peers.get(address) or self._peer(address), msg_type, cause)
        counts = self.peer_received.counts
        counts[key] = counts.get(key, 0.0) + 1.0

    def count_sent(self, address: str, msg_type: str, cause: str) -> None:
        """A message sent to ``address`` (its type and cause labels)."""
        key = (self._peers.get(address) or self._peer(address), msg_type, cause)
        counts = self.peer_sent.counts
        counts[key] = counts.get(key, 0.0) + 1.0

    def count_sent_labelled(self, address: str, labels: tuple[str, str]) -> None:
        """`count_sent` with the (type, cause) labels in one tuple, as the node keeps them
        for its answers (a call with ``*labels`` made a bound method and an argument tuple
        each time: once per answer)."""
        key = (self._peers.get(address) or self._peer(address), labels[0], labels[1])
        counts = self.peer_sent.counts
        counts[key] = counts.get(key, 0.0) + 1.0

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.registry.add(Gauge(name, help_text, read))

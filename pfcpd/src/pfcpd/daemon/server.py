"""Drives the sans-IO :class:`PfcpNode` with asyncio: UDP endpoints, one timer, the state file.

After every input (datagram, timer) the server runs :meth:`PfcpServer._service`: it sends the
node's datagrams, logs its events and re-arms the timer. When associations changed, the state
file is written first, in a thread (the write ends with an fsync, which must not stall the
event loop): the datagrams wait until the state they follow from is on disk, and changes made
while a write is under way are written together by the next one (group commit). The session
journal (`session_journal`): first the node has the session engine commit the changes of
every request of the batch in one transaction (`PfcpNode.commit_sessions`); then the WAL is
flushed to the disk, so answers about sessions leave only once their change is on disk. The
flush (an ``fdatasync``, ~0.1 ms) runs right there on the event loop when no state write is
under way (no hand-off to the thread and back, which cost more than the flush), else it
rides along with that write in its thread. Checkpoints of the journal run in the thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import random
import socket
import time
from typing import Protocol

from ..address import Address
from ..config import Config, Endpoint
from ..metrics import Histogram
from ..node import Association, PfcpNode
from ..node import events as ev
from ..node.node_metrics import NodeMetrics
from ..node.session_handler import SessionHandler
from ..node.transactions import MAX_SEQ
from ..pfcp import Message, message_type_name
from .host_addresses import HostAddresses
from .logs import RateLimitedLog
from .pfcp_socket import PfcpSocket, normalize, open_sockets
from .sd_notify import notify
from .state_store import STATE_FILE, NodeState, save_state

log = logging.getLogger("pfcpd.node")

RESOLVE_TIMEOUT = 10.0  # seconds an associate_to name may take to resolve
CLOSE_TIMEOUT = 10.0  # seconds the last state write may take at shutdown
STATE_RETRY_INTERVAL = 1.0  # seconds between a failed state write and the next attempt


class SyncedJournal(Protocol):
    """What the server needs of the session journal: whether commits await a flush to the
    disk, the flush, and the checkpoint (run in the writing thread) when one is due."""

    unsynced: bool

    def sync(self) -> None: ...

    @property
    def checkpoint_due(self) -> bool: ...

    def checkpoint(self) -> None: ...


class PfcpServer:
    def __init__(
        self,
        config: Config,
        state: NodeState,
        metrics: NodeMetrics,
        session_handler: SessionHandler | None = None,
        journal: SyncedJournal | None = None,
        host_addresses: HostAddresses | None = None,
    ) -> None:
        """``host_addresses``: what the kernel says of the host's addresses, for the node
        (`PfcpNode.is_host_address`, `PfcpNode.source_address`; None: the node's defaults,
        which know none)."""
        self.config = config
        self.journal = journal
        self.state = state
        self.loop = asyncio.get_running_loop()
        now = self.loop.time()
        offset = self.unix_offset()
        restored = []
        for record in state.associations:
            try:
                restored.append(Association.from_record(record, offset, now))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("saved association %r ignored: %s", record, exc)
        self.node = PfcpNode(
            node_id=config.node_id,
            config=config.pfcp,
            recovery_time_stamp=state.recovery_time_stamp,
            metrics=metrics,
            associations=restored,
            lost_peers=state.lost_peers,
            # A fresh start each run: CPs may still cache answers to the last run's requests.
            first_seq=random.randint(1, MAX_SEQ),
            session_handler=session_handler,
            # (given at construction: a restored association whose record names no listen
            # endpoint is named one there, by the address the kernel sends to its CP from:
            # tests/node/test_server_source_address.py)
            is_host_address=host_addresses,
            source_address=None if host_addresses is None else host_addresses.source_address,
        )
        self.endpoints: dict[str, PfcpSocket] = {}  # listen address -> the socket answering
        # [IPv6 destination][listen address named by the node, or None] -> the socket a
        # datagram leaves from (`_route`; one per listen address and None, of each family)
        self._routes: tuple[dict[str | None, PfcpSocket], ...] = ({}, {})
        self._sockets: list[PfcpSocket] = []  # every socket of every listen address
        self._resolving: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._ratelimited_log = RateLimitedLog(log)
        # State writes: one thread, one write at a time; datagrams held until the write
        # they depend on is done (see _service).
        self.metrics = metrics
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "pfcpd-state")
        self._durable = [dataclasses.replace(a) for a in restored]  # as in the state file
        self._durable_lost = dict(state.lost_peers)  # (`PfcpNode.lost_peers`) likewise
        self._writing_lost = self._durable_lost  # ... as the write under way has them
        self._retry_at = 0.0  # after a failed write, the next one waits until then
        self._writing: concurrent.futures.Future[None] | None = None
        self._write_wanted = False  # state changed since the write under way began
        self._state_wanted = False  # ... and that change includes the node's state file
        self._held: list[ev.Transmit] = []  # waiting for the write under way
        self._held_next: list[ev.Transmit] = []  # waiting for the write after it
        self._checkpoint: concurrent.futures.Future[None] | None = None  # the journal's
        # Durations of the journal's flushes and checkpoints, timed in either thread and
        # observed in the metrics on the event loop (the thread that collects them).
        self._timed: collections.deque[tuple[Histogram, float]] = collections.deque()
        self._datagrams_read = metrics.datagrams_read.counts  # (`_batch_done`'s)

    def unix_offset(self) -> float:
        return time.time() - self.loop.time()

    async def start(self) -> None:
        for ep in self.config.pfcp.listen:
            await self._listen(ep)
        self.node.start(self.loop.time())
        self._service()

    async def _listen(self, ep: Endpoint) -> None:
        family = socket.AF_INET6 if ep.family == 6 else socket.AF_INET
        key = str(ep)

        # The node's clock is the loop's: time.monotonic itself when the loop's time() is
        # asyncio's (which returns it), without a Python frame per datagram around it.
        clock = self.loop.time
        if getattr(clock, "__func__", None) is asyncio.BaseEventLoop.time:
            clock = time.monotonic
        sockets = [
            PfcpSocket(self.loop, sock, self.node.datagram_received, self._batch_done, key, clock)
            for sock in open_sockets(ep.host, ep.port, family)
        ]
        self.endpoints[key] = sockets[0]  # (answers leave from the first)
        for routes in self._routes:
            routes.clear()
        self._sockets += sockets
        log.info(
            "PFCP listening on %s (%d sockets, receive buffer %d bytes each)",
            key,
            len(sockets),
            sockets[0].receive_buffer,
        )

    def _batch_done(self, read: int) -> None:
        counts = self._datagrams_read  # (Counter.inc, inline: no call with a keyword a wake)
        counts[()] = counts.get((), 0.0) + read
        self._service()

    def count_kernel_drops(self) -> None:
        """Count what the kernel dropped for want of receive buffer on every socket since
        the last call: before the metrics are rendered (the count is read there only, not
        after every batch, which cost a syscall each)."""
        drops = sum(sock.new_kernel_drops() for sock in self._sockets)
        if drops:
            self.node.metrics.dropped.inc("socket_buffer", amount=drops)

    def close(self) -> bool:
        """Stop: the state is written (by the writer thread, after any write under way:
        never two writers at once), the datagrams held for it are sent, then the endpoints
        close. False (logged as an error) when the state could not be written within
        CLOSE_TIMEOUT: the answers held for it then say System failure, or are not sent."""
        if self._timer is not None:
            self._timer.cancel()
        for task in self._resolving:
            task.cancel()
        self.node.commit_sessions()
        self._writing, self._write_wanted = None, False  # (a write under way ends unheeded)
        held, self._held, self._held_next = self._held + self._held_next, [], []
        durable = self._durable_copies()
        final, copies = self._submit_write(0.0)
        durable_now = False
        try:
            final.result(timeout=CLOSE_TIMEOUT)
            durable_now = True
        except concurrent.futures.TimeoutError:
            log.error(
                "STATE NOT SAVED: writing %s took more than %g s at shutdown; the file may "
                "be stale and %d answer(s) waiting for it are not sent",
                self.config.state_dir / STATE_FILE,
                CLOSE_TIMEOUT,
                len(held),
            )
            held = []
        except Exception as exc:  # (an OSError; anything else is a bug, logged as one)
            self._write_failed(exc)
            held = self.node.roll_back(durable, held, self._durable_lost)
        else:
            self._durable = copies
            self._durable_lost = self._writing_lost
        self._send_all(held)
        self._drain_events()
        self._writer.shutdown(wait=durable_now, cancel_futures=True)
        self._observe_timed()
        for sock in self._sockets:
            sock.close()
        return durable_now

    # -- inputs --------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        when = self._timer_at or 0.0
        self._timer_at = None
        self.node.handle_timer(max(self.loop.time(), when))
        self._service()

    async def _resolve(self, host: str, port: int) -> None:
        """Resolve an ``associate_to`` name in the loop's resolver thread (never blocking the
        loop); keep the addresses a listen endpoint can reach, in the resolver's order."""
        has_v6 = any(ep.family == 6 for ep in self.config.pfcp.listen)
        error = None
        addresses: list[str] = []
        try:
            infos = await asyncio.wait_for(
                self.loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), RESOLVE_TIMEOUT
            )
        except TimeoutError:
            infos, error = [], f"cannot resolve {host}: no answer within {RESOLVE_TIMEOUT:g} s"
        except (OSError, UnicodeError) as exc:
            infos, error = [], f"cannot resolve {host}: {exc}"
        for family, *_, sockaddr in infos:
            if family == socket.AF_INET6 and not has_v6:
                continue
            ip = normalize(sockaddr)[0]
            if ip not in addresses:
                addresses.append(ip)
        if not addresses and error is None:
            error = f"{host} has no address pfcpd's PFCP endpoints can reach"
        self.node.resolved(host, port, addresses, self.loop.time(), error)
        self._service()

    def release(self, node_id: str) -> bool:
        """UP-initiated release of the association with ``node_id`` (admin command)."""
        ok = self.node.request_release(node_id, self.loop.time())
        self._service()
        return ok

    def send_request(self, node_id: str, request: Message) -> int | None:
        """Send a request of the session engine (Session/Node Report) to an associated CP;
        the outcome reaches ``SessionHandler.response_received``."""
        seq = self.node.send_request(node_id, request, self.loop.time())
        self._service()
        return seq

    def flush(self) -> None:
        """Send what the node queued and re-arm its timer; for callers outside the node's own
        inputs (the session engine acting on a datapath event)."""
        self._service()

    def stop_originating(self) -> None:
        """Shutdown: no new requests; those in flight go on until answered or timed out."""
        self.node.stop()
        self._service()

    # -- outputs -------------------------------------------------------------------------------

    def _snapshot(self) -> NodeState:
        """The state to write now (a copy: the write runs in another thread)."""
        offset = self.unix_offset()
        self.state.associations = [a.to_record(offset) for a in self.node.associations()]
        self.state.lost_peers = self.node.lost_peers()
        return NodeState(
            self.state.node_id,
            self.state.recovery_time_stamp,
            list(self.state.associations),
            dict(self.state.lost_peers),
        )

    def _submit_write(
        self, delay: float, state: bool = True
    ) -> tuple[concurrent.futures.Future[None], list[Association]]:
        """Have the writer thread fsync the session journal and write the state as it is now
        (when ``state``), after ``delay`` seconds; with the associations that will be
        durable once it succeeds."""
        if not state:
            self._writing_lost = self._durable_lost
            return self._writer.submit(self._write, None, delay), self._durable_copies()
        copies = [dataclasses.replace(a) for a in self.node.associations()]
        self.node.state_dirty = False
        snapshot = self._snapshot()
        self._writing_lost = dict(snapshot.lost_peers)
        return self._writer.submit(self._write, snapshot, delay), copies

    def _write(self, state: NodeState | None, delay: float) -> None:
        if delay > 0:
            time.sleep(delay)  # (the writer thread: a retry after a failed write)
        if self.journal is not None:
            # The session journal first: session answers held for this write may leave even
            # when the state file below fails (only association changes roll back then).
            seconds = self._sync_journal(self.journal)
            self._timed.append((self.metrics.journal_flush_time, seconds))
            if self.journal.checkpoint_due:
                self._checkpoint_journal(self.journal)
        if state is not None:
            save_state(self.config.state_dir, state)

    def _sync_journal(self, journal: SyncedJournal) -> float:
        """(On the event loop, or in the writer thread during a write: never both at once.)
        Returns the seconds it took, for the metrics (observed on the event loop: at once
        there, through `_timed` from the writer thread)."""
        start = time.perf_counter()
        try:
            journal.sync()
        except OSError as exc:
            # The journal's durability is unknown: nothing waiting for it may be
            # confirmed. Stop now; the restart reads back what is on disk.
            log.critical("cannot flush the session journal to disk: %s; pfcpd stops", exc)
            logging.shutdown()
            os._exit(1)
        return time.perf_counter() - start

    def _checkpoint_journal(self, journal: SyncedJournal) -> None:
        """(In the writer thread.) A failed checkpoint loses nothing: the WAL keeps every
        change; the next one is tried after more commits."""
        start = time.perf_counter()
        try:
            journal.checkpoint()
        except OSError as exc:
            log.error("session journal checkpoint failed: %s", exc)
            return
        self._timed.append((self.metrics.journal_checkpoint_time, time.perf_counter() - start))

    def _observe_timed(self) -> None:
        """(On the event loop.) The flushes and checkpoints timed since the last call, into
        the metrics."""
        timed = self._timed
        while timed:
            histogram, seconds = timed.popleft()
            histogram.observe_key(seconds, ())

    def _sync_inline(self, journal: SyncedJournal) -> None:
        """Flush the journal on the event loop (no state write under way): the answers
        waiting for it leave at once. A checkpoint now due goes to the writer thread."""
        journal.unsynced = False
        self.metrics.journal_flush_time.observe_key(self._sync_journal(journal), ())
        if journal.checkpoint_due and (self._checkpoint is None or self._checkpoint.done()):
            self._checkpoint = self._writer.submit(self._checkpoint_journal, journal)

    def _start_write(self, state: bool = True) -> None:
        self._write_wanted = self._state_wanted = False
        if self.journal is not None:
            self.journal.unsynced = False  # commits from now on wait for the next write
        delay = max(0.0, self._retry_at - self.loop.time())
        future, copies = self._submit_write(delay, state)
        self._writing = future

        def done(_: object) -> None:  # (in the writer thread)
            # A loop already closed: close() took over (and logged what it found).
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._write_done, future, copies)

        future.add_done_callback(done)

    def _write_done(
        self, future: concurrent.futures.Future[None], copies: list[Association]
    ) -> None:
        if future is not self._writing:
            return  # close() took over
        self._writing = None
        self._observe_timed()
        error = future.exception()
        if error is not None:
            # Not durable: nothing it confirms is confirmed. The associations go back to the
            # last state written, and every answer waiting (for this write or the next one)
            # that confirmed a change says System failure instead.
            self._write_failed(error)
            held, self._held, self._held_next = self._held + self._held_next, [], []
            self._write_wanted = False
            if self.journal is not None and self.journal.unsynced:
                # Answers held for the next write confirm session changes committed after
                # this write's flush: flushed now, before any of them leaves.
                self._sync_inline(self.journal)
            self._send_all(self.node.roll_back(self._durable_copies(), held, self._durable_lost))
            self._service()
            return
        self._durable = copies
        self._durable_lost = self._writing_lost
        if self._retry_at:
            self._retry_at = 0.0
            log.warning("state saved again in %s", self.config.state_dir / STATE_FILE)
            notify("STATUS=state saved")
        self._send_all(self._held)
        self._held, self._held_next = self._held_next, []
        if self._write_wanted:
            self._start_write(self._state_wanted)
        else:
            self._send_all(self._held)
            self._held = []

    def _durable_copies(self) -> list[Association]:
        """Fresh copies of the associations as last written (the node may change what it
        is given: the next roll-back must still find them as written)."""
        return [dataclasses.replace(a) for a in self._durable]

    def _write_failed(self, error: BaseException) -> None:
        self.metrics.state_write_failures.inc()
        self._retry_at = self.loop.time() + STATE_RETRY_INTERVAL
        log.error(
            "STATE NOT SAVED: cannot write %s (%s); association changes since the last "
            "write are rolled back and answered with cause 77 System failure",
            self.config.state_dir / STATE_FILE,
            error,
            extra={"fields": {"event": "StateWriteFailed", "error": str(error)}},
            exc_info=None if isinstance(error, OSError) else error,  # a bug: its traceback
        )
        notify(f"STATUS=STATE NOT SAVED: {error}")  # (systemctl status shows it)

    def _service(self) -> None:
        if self._timed:
            self._observe_timed()
        node = self.node
        node.commit_sessions()  # the session changes of the batch: one journal transaction
        state_dirty = node.state_dirty
        journal = self.journal
        if journal is not None and journal.unsynced and not state_dirty and self._writing is None:
            self._sync_inline(journal)
        if state_dirty or (journal is not None and journal.unsynced):
            node.state_dirty = False
            if self._writing is None:
                self._held.extend(node.committed_datagrams())
                self._start_write(state_dirty)
            else:  # the write under way began before this change: the next one takes it
                self._write_wanted = True
                self._state_wanted |= state_dirty
        # (committed above: nothing was answered since)
        if self._write_wanted:
            self._held_next += node.committed_datagrams()
        elif self._writing is not None:
            self._held += node.committed_datagrams()
        else:
            self._send_all(node.committed_datagrams())
        # (the calls only for something there: this runs once a wake, which at a paced rate
        # is every few requests)
        if node.pending_resolutions:
            for host, port in node.resolutions_wanted():
                task = self.loop.create_task(self._resolve(host, port))
                self._resolving.add(task)
                task.add_done_callback(self._resolving.discard)
        if node.pending_events:
            self._drain_events()
        when = node.get_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = when
            if when is not None:
                self._timer = self.loop.call_at(when, self._on_timer)

    def _drain_events(self) -> None:
        while (event := self.node.next_event()) is not None:
            self._log_event(event)

    def _send_all(self, txs: list[ev.Transmit]) -> None:
        """Send the datagrams, in order, one `PfcpSocket.send` (sendmmsg) per socket; each
        that cannot be sent (a closed endpoint, a send the kernel refuses) is counted as
        dropped, send_failed (and logged at debug by the socket)."""
        if not txs:
            return
        # (the socket for the listen address and family, looked up once: the choice below
        # cost ~30 bytecodes per datagram sent)
        routes = self._routes
        batches: dict[PfcpSocket, list[tuple[bytes, Address]]] = {}
        endpoint: PfcpSocket | None = None
        last: tuple[bool, str | None] | None = None
        batch: list[tuple[bytes, Address]] = []
        for tx in txs:
            addr, local = tx.addr, tx.local  # (not unpacked: a tuple subclass's takes an iterator)
            key = (":" in addr[0], local)
            if key != last:
                ipv6 = key[0]
                endpoint = routes[ipv6].get(local)
                if endpoint is None:
                    endpoint = self._route(local, ipv6)
                    if endpoint is None:
                        log.warning("no PFCP endpoint to send to %s", addr[0])
                        last = None
                        continue
                    routes[ipv6][local] = endpoint
                last = key
                batch = batches.setdefault(endpoint, [])
            # (an IPv4 address to an IPv6 socket: sent to IPv4-mapped by `PfcpSocket.send`)
            batch.append((tx.data, addr))
        failed = 0
        for endpoint, batch in batches.items():
            failed += endpoint.send(batch)
        if failed:
            self.node.metrics.dropped.inc("send_failed", amount=failed)

    def _route(self, local: str | None, ipv6: bool) -> PfcpSocket | None:
        """The socket a datagram to an address of the family ``ipv6`` says leaves from: that
        of ``local`` (the listen address the node names), else the first of the family,
        else the first (e.g. an IPv4 peer and only a dual-stack [::] listener)."""
        endpoint = self.endpoints.get(local) if local is not None else None
        if endpoint is not None:
            return endpoint
        for key, candidate in self.endpoints.items():
            if key.startswith("[") == ipv6:
                return candidate
        return next(iter(self.endpoints.values()), None)

    def _log_event(self, event: ev.Event) -> None:
        limit_key = rate_limit_key(event)
        now = self.loop.time()
        if limit_key is not None and self._ratelimited_log.suppressed(limit_key, now):
            return
        level, msg = describe_event(event)
        fields: dict[str, object] = {"event": type(event).__name__}
        for key in getattr(event, "__slots__", ()):
            value = getattr(event, key)
            if key == "addr":
                fields["peer"] = value[0]
            elif not isinstance(value, BaseException):
                fields[key] = value
        error = event.error if isinstance(event, ev.InternalError) else None
        if limit_key is None:
            log.log(level, msg, extra={"fields": fields}, exc_info=error)
        else:
            self._ratelimited_log.log(limit_key, level, msg, now, exc_info=error, **fields)


def rate_limit_key(event: ev.Event) -> tuple[str, str] | None:
    """The key by which the log lines of an event are rate-limited, None for events logged
    every time. Events a peer can cause at will are limited per peer and kind, so that a
    flood cannot become a flood of log lines."""
    if isinstance(event, ev.DatagramDropped):
        return event.reason, event.addr[0]
    if isinstance(event, ev.RequestRejected):
        return "rejected", event.addr[0]
    if isinstance(event, ev.IEsIgnored):
        return "ies_ignored", event.addr[0]
    if isinstance(event, ev.InternalError):
        return "internal_error", event.addr[0]
    return None


def describe_event(event: ev.Event) -> tuple[int, str]:
    """How an event of the node is logged: level and message."""
    if isinstance(event, ev.DatagramDropped):
        loud = event.reason in ("not_allowed", "rate_limited", "internal_error")
        return (
            logging.WARNING if loud else logging.INFO,
            f"dropped datagram from {_where(event.addr)} ({event.reason}): {event.detail}",
        )
    if isinstance(event, ev.RequestRejected):
        return (
            logging.INFO,
            f"{message_type_name(event.msg_type)} from {event.addr[0]} rejected with cause "
            f"{event.cause}: {event.detail}",
        )
    if isinstance(event, ev.IEsIgnored):
        return (
            logging.WARNING,
            f"{message_type_name(event.msg_type)} seq {event.seq} from {event.addr[0]}: "
            f"IEs ignored: {'; '.join(event.ignored)}",
        )
    if isinstance(event, ev.InternalError):
        return (
            logging.ERROR,
            f"internal error ({event.stage}) on a datagram from {_where(event.addr)}: "
            f"{event.detail}",
        )
    if isinstance(event, ev.AssociationEstablished):
        replaced = ", replacing the previous one" if event.replaced else ""
        return (
            logging.INFO,
            f"association with {event.node_id} at {_where(event.addr)} established "
            f"(initiated by {event.initiator}{replaced})",
        )
    if isinstance(event, ev.AssociationReleased):
        return logging.INFO, f"association with {event.node_id} released ({event.reason})"
    if isinstance(event, ev.AssociationSetupFailed):
        return (
            logging.WARNING,
            f"association setup to {_where(event.addr)} failed: {event.reason}",
        )
    if isinstance(event, ev.PeerLost):
        return (
            logging.WARNING,
            f"peer {event.node_id} at {event.addr[0]} lost (heartbeats unanswered); "
            f"sessions released in {event.release_in:g} s unless it comes back",
        )
    if isinstance(event, ev.PeerRecovered):
        return (logging.INFO, f"peer {event.node_id} at {event.addr[0]} answers heartbeats again")
    if isinstance(event, ev.PeerRestarted):
        kept = "kept" if event.sessions_kept else "purged"
        return (
            logging.WARNING,
            f"peer {event.node_id} restarted (recovery time stamp {event.old_time_stamp} -> "
            f"{event.new_time_stamp}); sessions {kept}",
        )
    if isinstance(event, ev.ReleaseRequested):
        answer = {True: "accepted", False: "refused", None: "no answer"}[event.accepted]
        return (
            logging.INFO,
            f"release of the association with {event.node_id} requested: {answer}",
        )
    return logging.INFO, repr(event)


def _where(addr: Address) -> str:
    return f"{addr[0]}:{addr[1]}"

"""Drives the sans-IO :class:`PfcpNode` with asyncio: UDP endpoints, one timer, the state file.

After every input (datagram, timer) the server runs :meth:`PfcpServer._service`: it sends the
node's datagrams, logs its events and re-arms the timer. When associations changed, the state
file is written first, in a thread (the write ends with an fsync, which must not stall the
event loop): the datagrams wait until the state they follow from is on disk, and changes made
while a write is under way are written together by the next one (group commit). The session
journal (`session_journal`) rides along: after a session change its WAL is fsynced by the same
write, so answers about sessions also leave only once the change is on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import random
import socket
import time
from typing import Any, Protocol

from ..config import Config, Endpoint
from ..node import Association, PfcpNode
from ..node import events as ev
from ..node.node_metrics import NodeMetrics
from ..node.session_handler import SessionHandler
from ..node.transactions import MAX_SEQ
from ..pfcp import Message, message_type_name
from .logs import RateLimitedLog
from .state_store import NodeState, save_state

log = logging.getLogger("pfcpd.node")

Address = tuple[str, int]
RESOLVE_TIMEOUT = 10.0  # seconds an associate_to name may take to resolve


def _normalize(addr: tuple[Any, ...]) -> Address:
    """(host, port[, flow, scope]) -> (host, port); IPv4-mapped IPv6 becomes IPv4."""
    host = addr[0]
    if ":" in host:
        ip = ipaddress.IPv6Address(host.split("%", 1)[0])
        host = str(ip.ipv4_mapped) if ip.ipv4_mapped else ip.compressed
    return host, int(addr[1])


class SyncedJournal(Protocol):
    """What the server needs of the session journal: whether commits await an fsync, and
    the fsync (run in the writing thread)."""

    unsynced: bool

    def sync(self) -> None: ...


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, server: PfcpServer, key: str) -> None:
        self.server = server
        self.key = key
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.server.datagram_received(data, _normalize(addr), self.key)

    def error_received(self, exc: Exception) -> None:
        log.debug("socket error on %s: %s", self.key, exc)


class PfcpServer:
    def __init__(
        self,
        config: Config,
        state: NodeState,
        metrics: NodeMetrics,
        session_handler: SessionHandler | None = None,
        journal: SyncedJournal | None = None,
    ) -> None:
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
            # A fresh start each run: CPs may still cache answers to the last run's requests.
            first_seq=random.randint(1, MAX_SEQ),
            session_handler=session_handler,
        )
        self.endpoints: dict[str, _Endpoint] = {}
        self._resolving: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._ratelimited_log = RateLimitedLog(log)
        # State writes: one thread, one write at a time; datagrams held until the write
        # they depend on is done (see _service).
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "pfcpd-state")
        self._writing: concurrent.futures.Future[None] | None = None
        self._write_wanted = False  # state changed since the write under way began
        self._state_wanted = False  # ... and that change includes the node's state file
        self._held: list[ev.Transmit] = []  # waiting for the write under way
        self._held_next: list[ev.Transmit] = []  # waiting for the write after it

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
        _, protocol = await self.loop.create_datagram_endpoint(
            lambda: _Endpoint(self, key), local_addr=(ep.host, ep.port), family=family
        )
        self.endpoints[key] = protocol
        log.info("PFCP listening on %s", key)

    def close(self) -> None:
        """Stop: the state is written (after any write under way), the datagrams held for
        it are sent, then the endpoints close."""
        if self._timer is not None:
            self._timer.cancel()
        for task in self._resolving:
            task.cancel()
        writing, self._writing, self._write_wanted = self._writing, None, False
        if writing is not None:
            with contextlib.suppress(Exception):  # (it logs its own errors)
                writing.result(timeout=10)
        self.save()
        if self.journal is not None and self.journal.unsynced:
            self._write(None)
        for tx in self._held + self._held_next:
            self._send(tx)
        self._held, self._held_next = [], []
        self._writer.shutdown(wait=True)
        for endpoint in self.endpoints.values():
            if endpoint.transport is not None:
                endpoint.transport.close()

    # -- inputs --------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Address, local: str) -> None:
        self.node.datagram_received(data, addr, self.loop.time(), local)
        self._service()

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
            ip = _normalize(sockaddr)[0]
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
        return NodeState(
            self.state.node_id, self.state.recovery_time_stamp, list(self.state.associations)
        )

    def _write(self, state: NodeState | None) -> None:
        if state is not None:
            try:
                save_state(self.config.state_dir, state)
            except OSError as exc:
                log.error("cannot write state to %s: %s", self.config.state_dir, exc)
        if self.journal is not None:
            try:
                self.journal.sync()
            except OSError as exc:
                # The journal's durability is unknown: nothing waiting for it may be
                # confirmed. Stop now; the restart reads back what is on disk.
                log.critical("cannot fsync the session journal: %s; pfcpd stops", exc)
                logging.shutdown()
                os._exit(1)

    def save(self) -> None:
        """Write the state now, in the caller's thread (start-up and shutdown)."""
        self.node.state_dirty = False
        self._write(self._snapshot())

    def _start_write(self, state: bool = True) -> None:
        self._write_wanted = self._state_wanted = False
        if self.journal is not None:
            self.journal.unsynced = False  # commits from now on wait for the next write
        snapshot = self._snapshot() if state else None
        self._writing = future = self._writer.submit(self._write, snapshot)
        future.add_done_callback(lambda _: self.loop.call_soon_threadsafe(self._write_done, future))

    def _write_done(self, future: concurrent.futures.Future[None]) -> None:
        if future is not self._writing:
            return  # close() took over
        self._writing = None
        for tx in self._held:
            self._send(tx)
        self._held, self._held_next = self._held_next, []
        if self._write_wanted:
            self._start_write(self._state_wanted)
        else:
            for tx in self._held:
                self._send(tx)
            self._held = []

    def _service(self) -> None:
        node = self.node
        state_dirty = node.state_dirty
        if state_dirty or (self.journal is not None and self.journal.unsynced):
            node.state_dirty = False
            if self._writing is None:
                self._held.extend(node.datagrams_to_send())
                self._start_write(state_dirty)
            else:  # the write under way began before this change: the next one takes it
                self._write_wanted = True
                self._state_wanted |= state_dirty
        for tx in node.datagrams_to_send():
            if self._write_wanted:
                self._held_next.append(tx)
            elif self._writing is not None:
                self._held.append(tx)
            else:
                self._send(tx)
        for host, port in node.resolutions_wanted():
            task = self.loop.create_task(self._resolve(host, port))
            self._resolving.add(task)
            task.add_done_callback(self._resolving.discard)
        while (event := node.next_event()) is not None:
            self._log_event(event)
        when = node.get_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = when
            if when is not None:
                self._timer = self.loop.call_at(when, self._on_timer)

    def _send(self, tx: ev.Transmit) -> None:
        endpoint = self.endpoints.get(tx.local) if tx.local is not None else None
        host = tx.addr[0]
        family = 6 if ":" in host else 4
        if endpoint is None:
            for key, candidate in self.endpoints.items():
                if (6 if key.startswith("[") else 4) == family:
                    endpoint = candidate
                    break
        if endpoint is None:  # e.g. an IPv4 peer and only a dual-stack [::] listener
            endpoint = next(iter(self.endpoints.values()), None)
        if endpoint is None or endpoint.transport is None:
            log.warning("no PFCP endpoint to send to %s", host)
            return
        if family == 4 and endpoint.key.startswith("["):
            host = f"::ffff:{host}"
        endpoint.transport.sendto(tx.data, (host, tx.addr[1]))

    def _log_event(self, event: ev.Event) -> None:
        name = type(event).__name__
        fields: dict[str, object] = {"event": name}
        if isinstance(event, ev.DatagramDropped):
            level = (
                logging.WARNING if event.reason in ("not_allowed", "rate_limited") else logging.INFO
            )
            self._ratelimited_log.log(
                (event.reason, event.addr[0]),
                level,
                f"dropped datagram from {event.addr[0]}:{event.addr[1]} ({event.reason}): "
                f"{event.detail}",
                self.loop.time(),
                event=name,
                peer=event.addr[0],
                reason=event.reason,
            )
            return
        if isinstance(event, ev.RequestRejected):
            self._ratelimited_log.log(
                ("rejected", event.addr[0]),
                logging.INFO,
                f"request type {event.msg_type} from {event.addr[0]} rejected with cause "
                f"{event.cause}: {event.detail}",
                self.loop.time(),
                event=name,
                peer=event.addr[0],
                cause=event.cause,
            )
            return
        if isinstance(event, ev.IEsIgnored):
            self._ratelimited_log.log(
                ("ies_ignored", event.addr[0]),
                logging.WARNING,
                f"{message_type_name(event.msg_type)} seq {event.seq} from {event.addr[0]}: "
                f"IEs ignored: {'; '.join(event.ignored)}",
                self.loop.time(),
                event=name,
                peer=event.addr[0],
            )
            return
        level = logging.INFO
        if isinstance(event, ev.AssociationEstablished):
            msg = (
                f"association with {event.node_id} at {event.addr[0]}:{event.addr[1]} "
                f"established (initiated by {event.initiator}"
                + (", replacing the previous one)" if event.replaced else ")")
            )
        elif isinstance(event, ev.AssociationReleased):
            msg = f"association with {event.node_id} released ({event.reason})"
        elif isinstance(event, ev.AssociationSetupFailed):
            level = logging.WARNING
            msg = f"association setup to {event.addr[0]}:{event.addr[1]} failed: {event.reason}"
        elif isinstance(event, ev.PeerLost):
            level = logging.WARNING
            msg = (
                f"peer {event.node_id} at {event.addr[0]} lost (heartbeats unanswered); "
                f"sessions released in {event.release_in:g} s unless it comes back"
            )
        elif isinstance(event, ev.PeerRecovered):
            msg = f"peer {event.node_id} at {event.addr[0]} answers heartbeats again"
        elif isinstance(event, ev.PeerRestarted):
            level = logging.WARNING
            msg = (
                f"peer {event.node_id} restarted (recovery time stamp {event.old_time_stamp} -> "
                f"{event.new_time_stamp}); sessions {'kept' if event.sessions_kept else 'purged'}"
            )
        elif isinstance(event, ev.ReleaseRequested):
            msg = (
                f"release of the association with {event.node_id} requested: "
                + {
                    True: "accepted",
                    False: "refused",
                    None: "no answer",
                }[event.accepted]
            )
        else:
            msg = repr(event)
        fields.update({k: getattr(event, k) for k in getattr(event, "__slots__", ())})
        log.log(level, msg, extra={"fields": fields})

"""Nothing about an association is confirmed to a CP before it is in the node state file:
a write that fails turns the answers waiting for it into cause 77 System failure and rolls
the associations back; shutdown has one writer and says when the state is not saved."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from pathlib import Path

import pytest
from node_harness import cause_of, start_server

from pfcpd.daemon import server as server_module
from pfcpd.daemon.state_store import NodeState, load_state
from pfcpd.node.events import Transmit
from pfcpd.pfcp import Cause, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_flags import CPFunctionFeatures
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType


def setup_request(seq: int, name: str = "smf") -> Message:
    ies = [NodeID.from_text(name), RecoveryTimeStamp(3_900_000_000)]
    return Message(M.ASSOCIATION_SETUP_REQUEST, seq, ies)


def failing_disk(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """State writes fail with ENOSPC while the returned event is set; a failed write is
    retried after 0.05 s."""
    real_save = server_module.save_state
    disk_full = threading.Event()

    def save(state_dir: Path, state: NodeState) -> None:
        if disk_full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(state_dir, state)

    monkeypatch.setattr(server_module, "save_state", save)
    monkeypatch.setattr(server_module, "STATE_RETRY_INTERVAL", 0.05)
    return disk_full


def test_a_change_that_cannot_be_written_is_answered_77_and_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    disk_full = failing_disk(monkeypatch)
    disk_full.set()
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    systemd.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))

    async def main() -> None:
        server, cp, target = await start_server(tmp_path / "state")
        answer = await cp.ask(target, setup_request(1))
        assert answer.get(IEType.CAUSE) == CauseIE(Cause.SYSTEM_FAILURE)
        assert server.node.associations() == []  # rolled back
        assert server.metrics.state_write_failures.get() == 1
        # The same request again (a retransmission) is handled afresh, not answered from
        # the response cache; with the disk back it is accepted, once written.
        disk_full.clear()
        answer = await cp.ask(target, setup_request(1))
        assert answer.get(IEType.CAUSE) == CauseIE(Cause.REQUEST_ACCEPTED)
        assert [a.node_id for a in server.node.associations()] == ["smf"]
        assert server.close()
        assert cp.transport is not None
        cp.transport.close()

    with caplog.at_level(logging.WARNING, logger="pfcpd"):
        asyncio.run(main())
    assert any("STATE NOT SAVED" in r.getMessage() for r in caplog.records)
    assert any("state saved again" in r.getMessage() for r in caplog.records)
    # systemd hears it too (systemctl status shows the last STATUS=).
    assert systemd.recv(1000).startswith(b"STATUS=STATE NOT SAVED: [Errno 28]")
    assert systemd.recv(1000) == b"STATUS=state saved"
    systemd.close()
    state, _ = load_state(tmp_path / "state", "127.0.0.1")
    assert [a["node_id"] for a in state.associations] == ["smf"]


def test_shutdown_has_one_writer_and_says_when_the_state_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write that hangs at shutdown: the final write waits behind it (never two writers),
    close() gives up after CLOSE_TIMEOUT, says so, and sends no answer that waited for it."""
    real_save = server_module.save_state
    gate = threading.Event()
    lock = threading.Lock()
    writers = [0, 0]  # now, most at once

    def slow_save(state_dir: Path, state: NodeState) -> None:
        with lock:
            writers[0] += 1
            writers[1] = max(writers)
        try:
            gate.wait(5)
            real_save(state_dir, state)
        finally:
            with lock:
                writers[0] -= 1

    monkeypatch.setattr(server_module, "save_state", slow_save)
    monkeypatch.setattr(server_module, "CLOSE_TIMEOUT", 0.3)

    async def main() -> tuple[bool, int]:
        server, cp, target = await start_server(tmp_path / "state")
        assert cp.transport is not None
        cp.transport.sendto(encode(setup_request(1)), target)
        await asyncio.sleep(0.2)  # the write is under way (and hangs)
        saved = server.close()
        answers = len(cp.received)
        cp.transport.close()
        return saved, answers

    with caplog.at_level(logging.ERROR, logger="pfcpd"):
        saved, answers = asyncio.run(main())
    gate.set()
    assert not saved and answers == 0
    assert writers[1] == 1
    assert any("took more than 0.3 s" in r.getMessage() for r in caplog.records)


def test_a_change_refused_twice_stays_rolled_back(tmp_path: Path, monkeypatch) -> None:
    """Each failed write rolls back to the state as written, not to objects the node has
    changed since the last roll-back."""
    disk_full = failing_disk(monkeypatch)
    update = Message(M.ASSOCIATION_UPDATE_REQUEST, 0, [NodeID.from_text("smf")])
    update.ies.append(CPFunctionFeatures.of("LOAD"))

    async def main() -> list[int]:
        server, cp, target = await start_server(tmp_path / "state")
        causes = [cause_of(await cp.ask(target, setup_request(1)))]
        disk_full.set()
        for seq in (2, 3):
            update.seq = seq
            causes.append(cause_of(await cp.ask(target, update)))
            [assoc] = server.node.associations()
            assert assoc.cp_features == 0  # as written
        disk_full.clear()
        server.close()
        assert cp.transport is not None
        cp.transport.close()
        return causes

    accepted, failed = Cause.REQUEST_ACCEPTED, Cause.SYSTEM_FAILURE
    assert asyncio.run(main()) == [accepted, failed, failed]


def test_a_lost_cp_s_time_stamp_is_written_before_its_setup_is_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TS 29.244 6.2.6.2.2: a CP lost with its sessions kept (`PfcpNode.lost_peers`, read
    back from the node state file) sets up again, restarted: its sessions go and the
    setup is accepted once the state file no longer names it. When that write fails the
    setup is answered 77 and the CP is named again (rolled back with the associations), so
    that its setup, retransmitted, is seen as a restart again; written, the state file
    names it no more."""
    from node_harness import LoopbackCP, server_config

    from pfcpd.daemon.server import PfcpServer
    from pfcpd.node import NoSessionEngine
    from pfcpd.node.node_metrics import NodeMetrics
    from pfcpd.node.session_handler import Peer, PeerGone

    disk_full = failing_disk(monkeypatch)

    class Handler(NoSessionEngine):
        def __init__(self) -> None:
            self.gone: list[tuple[str, PeerGone, bool]] = []

        def has_sessions(self, node_id: str) -> bool:
            return node_id == "smf"

        def peer_gone(
            self,
            peer: Peer,
            reason: PeerGone,
            keep_sessions: bool,
            now: float,
            kept_at: frozenset[str] | None = None,
        ) -> None:
            self.gone.append((peer.node_id, reason, keep_sessions))

    handler = Handler()
    restarted = setup_request(1)
    restarted.ies[1] = RecoveryTimeStamp(3_900_000_777)

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        config = server_config(tmp_path / "state", heartbeat_interval=60)
        state = NodeState("127.0.0.1", 3_950_000_000, lost_peers={"smf": 3_900_000_000})
        server = PfcpServer(config, state, NodeMetrics(), handler)
        await server.start()
        [endpoint] = server.endpoints.values()
        target = endpoint.sockname[:2]
        transport, cp = await loop.create_datagram_endpoint(LoopbackCP, local_addr=("127.0.0.1", 0))
        cp.transport = transport
        assert server.node.lost_peers() == {"smf": 3_900_000_000}
        disk_full.set()
        causes = [cause_of(await cp.ask(target, restarted))]
        assert server.node.lost_peers() == {"smf": 3_900_000_000}  # rolled back
        disk_full.clear()
        causes.append(cause_of(await cp.ask(target, restarted)))
        assert server.node.lost_peers() == {}
        assert server.close()
        transport.close()
        return causes

    assert asyncio.run(main()) == [Cause.SYSTEM_FAILURE, Cause.REQUEST_ACCEPTED]
    assert handler.gone == [("smf", PeerGone.RELEASED, False)] * 2
    state, _ = load_state(tmp_path / "state", "127.0.0.1")
    assert state.lost_peers == {} and [a["node_id"] for a in state.associations] == ["smf"]


def test_a_failed_write_sends_no_session_answer_before_its_journal_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session request answered while a state write is under way is committed to the
    journal at once and its answer held for the next write; when the write under way
    fails, the association change it held is answered 77, and the session answer leaves
    only after a flush of the journal made after its commit (the failed write flushed
    before it), never straight away with the failed write's answers."""
    from node_harness import LoopbackCP, server_config

    from pfcpd.daemon.server import PfcpServer
    from pfcpd.node import NoSessionEngine
    from pfcpd.node.node_metrics import NodeMetrics

    events: list[tuple[str, object]] = []
    gate = threading.Event()  # the state write fails once the test lets it go
    real_save = server_module.save_state

    def save(state_dir: Path, state: NodeState) -> None:
        if state.associations and not gate.is_set():
            gate.wait(5)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(state_dir, state)

    monkeypatch.setattr(server_module, "save_state", save)
    monkeypatch.setattr(server_module, "STATE_RETRY_INTERVAL", 0.05)

    class Journal:
        unsynced = False
        checkpoint_due = False

        def sync(self) -> None:
            events.append(("synced", None))

        def checkpoint(self) -> None:
            return None

    journal = Journal()

    class Handler(NoSessionEngine):
        answered = 0

        def handle_request(self, request: Message, *args: object) -> Message:
            self.answered += 1
            return super().handle_request(request, *args)  # type: ignore[arg-type]

        def commit(self) -> list[tuple[Message, Message]]:
            if self.answered:
                events.append(("commit", self.answered))
                self.answered = 0
                journal.unsynced = True
            return []

    real_send = PfcpServer._send_all

    def send(server: PfcpServer, txs: list[Transmit]) -> None:  # (when they leave, not arrive)
        events.extend(("answer", decode(tx.data).msg_type) for tx in txs)
        real_send(server, txs)

    monkeypatch.setattr(PfcpServer, "_send_all", send)
    CP = LoopbackCP

    async def main() -> list[Message]:
        loop = asyncio.get_running_loop()
        config = server_config(tmp_path / "state", heartbeat_interval=60)
        state = NodeState("127.0.0.1", 3_950_000_000)
        server = PfcpServer(config, state, NodeMetrics(), Handler(), journal)
        await server.start()
        [endpoint] = server.endpoints.values()
        target = endpoint.sockname[:2]
        transport, cp = await loop.create_datagram_endpoint(CP, local_addr=("127.0.0.1", 0))
        # An association, written; then a change of it whose write hangs, then fails.
        answer = await cp_ask(transport, cp, target, setup_request(1, "smf"))
        assert cause_of(answer) == Cause.REQUEST_ACCEPTED
        gate.clear()
        transport.sendto(encode(setup_request(2, "smf-b")), target)
        await asyncio.sleep(0.1)  # (its write is under way)
        deletion = Message(M.SESSION_DELETION_REQUEST, 3, [], 0x42)
        transport.sendto(encode(deletion), target)
        await asyncio.sleep(0.1)
        events.append(("fail", None))
        gate.set()
        for _ in range(300):
            if len(cp.received) == 3:
                break
            await asyncio.sleep(0.01)
        server.close()
        transport.close()
        return cp.received

    async def cp_ask(
        transport: asyncio.DatagramTransport, cp: LoopbackCP, target: object, msg: Message
    ) -> Message:
        cp.transport = transport
        return await cp.ask(target, msg)

    gate.set()
    received = asyncio.run(main())
    assert [cause_of(m) for m in received] == [
        Cause.REQUEST_ACCEPTED,
        Cause.SYSTEM_FAILURE,  # the association change: not written
        Cause.SESSION_CONTEXT_NOT_FOUND,  # (the session answer, whatever it says)
    ]
    commit = max(i for i, e in enumerate(events) if e == ("commit", 1))
    answer = events.index(("answer", M.SESSION_DELETION_RESPONSE))
    assert events.index(("fail", None)) < answer
    assert ("synced", None) in events[commit:answer]  # flushed after its commit, before it left

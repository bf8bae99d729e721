"""20% datagram loss both ways (a loopback proxy): every transaction completes exactly once."""

from __future__ import annotations

import random
import select
import socket
import threading
import time

from node_harness import CP_RECOVERY, cause_of

from pfcpd.pfcp import Cause, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_flags import CPFunctionFeatures
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp
from pfcpd.pfcp.message_types import RESPONSE_TO

M = MessageType
LOSS = 0.2
PEER_T1 = 0.15
PEER_TRIES = 40


class LossyProxy(threading.Thread):
    """Peer <-> [front | back] <-> pfcpd, dropping ``loss`` of the datagrams each way."""

    def __init__(self, pfcpd: tuple[str, int], loss: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.pfcpd = pfcpd
        self.loss = loss
        self.random = random.Random(seed)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.peer: tuple[str, int] | None = None
        self.dropped = {"to_pfcpd": 0, "to_peer": 0}
        self.running = True

    @property
    def address(self) -> tuple[str, int]:
        return self.front.getsockname()

    def run(self) -> None:
        while self.running:
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for sock in ready:
                data, addr = sock.recvfrom(65535)
                if sock is self.front:
                    self.peer = addr
                    self._forward(self.back, data, self.pfcpd, "to_pfcpd")
                elif self.peer is not None:
                    self._forward(self.front, data, self.peer, "to_peer")

    def _forward(self, sock: socket.socket, data: bytes, to: tuple[str, int], way: str) -> None:
        if self.random.random() < self.loss:
            self.dropped[way] += 1
            return
        sock.sendto(data, to)

    def stop(self) -> None:
        self.running = False
        self.join(2)
        self.front.close()
        self.back.close()


class RetransmittingPeer:
    """A CP that retransmits its requests and answers pfcpd's heartbeats (each retransmission
    of one gets the same answer)."""

    def __init__(self, peer, proxy: LossyProxy) -> None:
        self.peer = peer
        self.peer.target = proxy.address
        self.heartbeats_answered: set[int] = set()
        self.retransmissions = 0

    def _handle(self, data: bytes) -> Message | None:
        msg = decode(data)
        if msg.msg_type == M.HEARTBEAT_REQUEST:
            self.heartbeats_answered.add(msg.seq)
            self.peer.answer_heartbeat(msg)
            return None
        return msg

    def transact(self, msg: Message) -> Message:
        msg.seq = self.peer.next_seq()
        data = encode(msg)
        for attempt in range(PEER_TRIES):
            if attempt:
                self.retransmissions += 1
            self.peer.send(data)
            deadline = time.monotonic() + PEER_T1
            while (left := deadline - time.monotonic()) > 0:
                got = self.peer.recv(left)
                if got is None:
                    break
                answer = self._handle(got)
                if answer is not None and answer.seq == msg.seq:
                    assert answer.msg_type == RESPONSE_TO[msg.msg_type]
                    return answer
        raise AssertionError(f"{msg.name} seq {msg.seq}: no answer after {PEER_TRIES} tries")

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            got = self.peer.recv(left)
            if got is not None:
                self._handle(got)


def test_every_transaction_completes_once_with_20_percent_loss(start_pfcpd, make_peer):
    daemon = start_pfcpd(
        {"pfcp": {"t1": 0.1, "n1": 20, "heartbeat_interval": 0.25, "response_cache_time": 30}}
    )
    proxy = LossyProxy(daemon.addr, LOSS, seed=29244)
    proxy.start()
    try:
        cp = RetransmittingPeer(make_peer(daemon.addr), proxy)
        node_id = NodeID.from_text("smf.lossy")
        setup = cp.transact(
            Message(M.ASSOCIATION_SETUP_REQUEST, 0, [node_id, RecoveryTimeStamp(CP_RECOVERY)])
        )
        assert cause_of(setup) == Cause.REQUEST_ACCEPTED
        updates, heartbeats = 12, 12
        for i in range(updates):
            features = CPFunctionFeatures(flags=i % 4)
            answer = cp.transact(Message(M.ASSOCIATION_UPDATE_REQUEST, 0, [node_id, features]))
            assert cause_of(answer) == Cause.REQUEST_ACCEPTED
        for _ in range(heartbeats):
            cp.transact(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(CP_RECOVERY)]))
        assert proxy.dropped["to_pfcpd"] > 0 and proxy.dropped["to_peer"] > 0
        assert cp.retransmissions > 0

        # Let pfcpd's own heartbeats settle without loss, then account for them.
        proxy.loss = 0.0
        cp.pump(1.5)
        completed = daemon.metric("pfcpd_transactions_completed_total", type="heartbeat_request")
        in_flight = daemon.metric("pfcpd_transactions_in_flight")
        # Read while the peer still answers: once the proxy stops, pfcpd's heartbeats go
        # unanswered and, on a slow machine, the peer can be declared lost before the reads below.
        timeouts = daemon.metric("pfcpd_timeouts_total", type="heartbeat_request")
        peers_lost = daemon.metric("pfcpd_peers_lost_total")
        states = [a["state"] for a in daemon.associations()]
    finally:
        proxy.stop()

    # CP-originated: each request took effect exactly once despite the retransmissions.
    handled = {
        name: daemon.metric("pfcpd_requests_handled_total", type=name)
        for name in ("association_setup_request", "association_update_request", "heartbeat_request")
    }
    assert handled == {
        "association_setup_request": 1,
        "association_update_request": updates,
        "heartbeat_request": heartbeats,
    }
    assert daemon.metric("pfcpd_associations_established_total", initiator="cp") == 1
    assert daemon.metric("pfcpd_duplicate_requests_total", type="association_update_request") > 0
    # UP-originated heartbeats: none timed out, the peer never counted as lost, and every
    # heartbeat the peer answered completed once (at most one may be on its way right now).
    assert timeouts == 0
    assert peers_lost == 0
    assert completed >= 4
    assert completed <= len(cp.heartbeats_answered) <= completed + in_flight
    assert states == ["established"]

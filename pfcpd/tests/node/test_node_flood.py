"""Fairness under load: one allowed peer floods pfcpd (garbage, and session requests without
an association) while another probes it with heartbeats; the other peer stays answered and
every datagram of the flood is accounted for: read, or dropped by the kernel for a full
receive buffer (counted), and each one read is answered or counted as a drop by reason.

Bounded: loopback only, FLOOD_RATE datagrams/s for FLOOD_SECONDS (the issue's flood was
~58,000/s for 5 s), probes every PROBE_INTERVAL.
"""

from __future__ import annotations

import subprocess
import sys
import time

from node_harness import Peer
from test_node_sans_io import CP, exchange, make_node, setup

from pfcpd.config import RateLimitConfig
from pfcpd.pfcp import Cause, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

FLOOD_RATE = 50_000
FLOOD_SECONDS = 3.0
PROBE_INTERVAL = 0.1
PROBE_T1, PROBE_N1 = 0.5, 3  # the prober retransmits as a CP would

FLOODER = r"""
import os, socket, sys, time
target = (sys.argv[1], int(sys.argv[2]))
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
session = bytes.fromhex(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 0))
garbage = [os.urandom(40) for _ in range(64)]
sent, start = 0, time.monotonic()
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate)
    while sent < due:
        s.sendto(session if sent % 2 else garbage[sent % 64], target)
        sent += 1
    time.sleep(0.001)
print(sent)
"""


def test_a_flood_from_one_peer_leaves_another_answered_and_every_drop_counted(start_pfcpd):
    daemon = start_pfcpd({"logging": {"level": "info"}})
    target = ("127.0.0.1", daemon.port)
    probe = Peer(target, host="127.0.0.3")
    session = encode(Message(MessageType.SESSION_MODIFICATION_REQUEST, 1, [], seid=0x42))
    flooder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            FLOODER,
            *map(str, target),
            str(FLOOD_RATE),
            str(FLOOD_SECONDS),
            session.hex(),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    rtts: list[float] = []
    attempts = lost = 0
    probes_sent = 0
    try:
        deadline = time.monotonic() + FLOOD_SECONDS + 1.0  # probes outlast the flood
        while time.monotonic() < deadline:
            seq = probe.next_seq()
            request = encode(Message(MessageType.HEARTBEAT_REQUEST, seq, [RecoveryTimeStamp(1)]))
            first = time.monotonic()
            for _ in range(1 + PROBE_N1):
                attempts += 1
                probes_sent += 1
                sent_at = time.monotonic()
                probe.send(request)
                answer = _answer(probe, seq, PROBE_T1)
                if answer is not None:
                    rtts.append(time.monotonic() - sent_at)
                    break
            else:
                lost += 1
            time.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - first)))
        flood_sent = int(flooder.communicate(timeout=30)[0])
    finally:
        if flooder.poll() is None:
            flooder.kill()
        probe.close()
    rtts.sort()
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    print(
        f"flood {flood_sent} datagrams; probes: {len(rtts)} answered, {lost} lost, "
        f"{attempts} attempts, p99 {p99 * 1000:.1f} ms"
    )
    assert lost == 0
    # Every datagram sent to pfcpd is accounted for: read, or dropped by the kernel (counted).
    total = flood_sent + probes_sent
    deadline = time.monotonic() + 10
    while True:
        read = daemon.metric("pfcpd_datagrams_read_total")
        kernel = daemon.metric("pfcpd_datagrams_dropped_total", reason="socket_buffer")
        if read + kernel >= total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(f"read {read:.0f}, dropped by the kernel {kernel:.0f}, sent {total}")
    assert read + kernel == total
    assert daemon.metric("pfcpd_datagrams_dropped_total", reason="rate_limited") > 0


def _answer(peer: Peer, seq: int, timeout: float) -> Message | None:
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        data = peer.recv(left)
        if data is None:
            return None
        msg = decode(data)
        if msg.seq == seq and msg.msg_type == MessageType.HEARTBEAT_RESPONSE:
            return msg
    return None


def test_the_source_is_judged_before_anything_is_decoded():
    """Garbage over a peer's rate is dropped as rate_limited without being parsed; a session
    request from a peer without an association is answered 72 from its header alone (its
    body, broken here, is never decoded)."""
    node = make_node(rate_limit=RateLimitConfig(requests_per_second=1.0, burst=2))
    for _ in range(5):
        node.datagram_received(b"\x20\x01\x00", CP, 0.0)  # too short for a header
    assert node.metrics.dropped.get("too_short") == 2
    assert node.metrics.dropped.get("rate_limited") == 3
    broken = bytearray(encode(Message(MessageType.SESSION_MODIFICATION_REQUEST, 7, [], seid=9)))
    broken += b"\x00\x38\x00\x09"  # an IE overrunning the message (68, were it decoded)
    broken[3] += 4
    node.datagram_received(bytes(broken), CP, 10.0)
    [answer] = [decode(t.data) for t in node.datagrams_to_send()]
    assert (answer.msg_type, answer.seq) == (MessageType.SESSION_MODIFICATION_RESPONSE, 7)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)


def test_answers_to_this_nodes_requests_pass_the_rate_limit_and_others_are_not_decoded():
    """A peer's responses to this node's own requests are not held to its rate limit (a busy
    CP answering Session Reports must not make pfcpd retransmit); a response nobody asked
    for is dropped on its header."""
    node = make_node(rate_limit=RateLimitConfig(requests_per_second=1.0, burst=1))
    exchange(node, setup(), 0.0)  # the peer's one token
    node.handle_timer(5.0)  # a heartbeat to the CP
    [hb] = [decode(t.data) for t in node.datagrams_to_send()]
    response = Message(MessageType.HEARTBEAT_RESPONSE, hb.seq, [RecoveryTimeStamp(1)])
    exchange(node, response, 5.0)
    assert node.metrics.transactions_completed.get("heartbeat_request") == 1
    assert node.metrics.rate_limited.get() == 0
    broken = bytearray(encode(Message(MessageType.HEARTBEAT_RESPONSE, 999, [])))
    broken += b"\x00\x60\x00\x09"  # overruns the message (were it decoded)
    node.datagram_received(bytes(broken), CP, 5.0)
    assert node.metrics.dropped.get("unmatched_response") == 1

"""The local datapath's part in GTP-U path management: `LocalDatapath.send_echo` queues a
GTPv1-U Echo Request (scapy reads it), `echo_response` turns an Echo Response into an
ECHO_RESPONSE event and refuses what is not one, a flood of them is capped; and the packet
loop over loopback: the request leaves the N3 socket, the peer's response comes back as an
event (not through the C core)."""

from __future__ import annotations

import ipaddress
import random
import socket
import threading
import time

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPEchoRequest, GTPEchoResponse, IE_Recovery
from scapy.packet import raw

from pfcpd.datapath.interface import EchoSent, EventType
from pfcpd.datapath.local.engine import MAX_ECHO_EVENTS, LocalDatapath
from pfcpd.datapath.local.io import PacketLoop

N3 = ipaddress.ip_address("192.0.2.1")
GNB = ipaddress.ip_address("192.0.2.9")


def response(seq: int) -> bytes:
    return raw(GTP_U_Header(gtp_type=2, S=1, seq=seq, teid=0) / GTPEchoResponse() / IE_Recovery())


def test_echo_request_bytes(datapath: LocalDatapath) -> None:
    assert datapath.send_echo(N3, GNB, 0xBEEF) is EchoSent.SENT
    ((peer, msg),) = datapath.take_echoes()
    assert peer == GNB
    g = GTP_U_Header(msg)
    assert (g.version, g.PT, g.S, g.gtp_type, g.length, g.teid, g.seq) == (
        1, 1, 1, 1, 4, 0, 0xBEEF
    )  # fmt: skip
    assert len(msg) == 12 and (g.npdu, g.next_ex) == (0, 0)  # (no IE: Private Extension only)
    assert datapath.take_echoes() == []


def test_echo_response_becomes_an_event(datapath: LocalDatapath) -> None:
    assert datapath.echo_response(GNB, response(0x1234))
    not_echo = raw(GTP_U_Header(gtp_type=1, S=1, seq=1, teid=0) / GTPEchoRequest())
    no_seq = bytes([0x30, 2, 0, 2, 0, 0, 0, 0, 0x0E, 0])
    v0 = bytes([0x12]) + response(1)[1:]
    for other in (not_echo, no_seq, v0, b""):
        assert not datapath.echo_response(GNB, other)
    (ev,) = datapath.poll_events()
    assert (ev.type, ev.seid, ev.id, ev.value, ev.peer) == (
        EventType.ECHO_RESPONSE,
        0,
        0,
        0x1234,
        GNB,
    )


def test_a_flood_of_echo_responses_is_capped(datapath: LocalDatapath) -> None:
    for seq in range(MAX_ECHO_EVENTS + 50):
        datapath.echo_response(GNB, response(seq % 65536))
    assert len(datapath.poll_events()) == MAX_ECHO_EVENTS
    datapath.echo_response(GNB, response(7))
    assert [e.value for e in datapath.poll_events()] == [7]  # (counted again after a poll)


def test_packet_loop_sends_and_receives_over_loopback(datapath: LocalDatapath) -> None:
    n3 = ipaddress.ip_address(f"127.{random.randint(100, 200)}.{random.randint(0, 255)}.7")
    gnb = ipaddress.ip_address(f"127.{random.randint(100, 200)}.{random.randint(0, 255)}.9")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.bind((str(gnb), 2152))
    except OSError as exc:
        pytest.skip(f"cannot bind {gnb}:2152: {exc}")
    peer.settimeout(3.0)
    loop = PacketLoop(datapath, n3, [])
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert datapath.send_echo(n3, gnb, 0x0102) is EchoSent.SENT
        data, src = peer.recvfrom(2048)
        assert src == (str(n3), 2152)
        assert GTP_U_Header(data).seq == 0x0102
        peer.sendto(response(0x0102), src)
        deadline = time.monotonic() + 3.0
        events = []
        while not events and time.monotonic() < deadline:
            events = datapath.poll_events()
            time.sleep(0.02)
        assert [(e.type, e.value, e.peer) for e in events] == [
            (EventType.ECHO_RESPONSE, 0x0102, gnb)
        ]
    finally:
        loop.stop()
        thread.join()
        loop.close()
        peer.close()

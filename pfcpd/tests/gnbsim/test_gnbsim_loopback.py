"""The gNB simulator against a stand-in UPF on loopback (no root): the stand-in decapsulates
each uplink G-PDU, answers it as a DN would (ICMP echo reply, UDP echoed; for IPv6 scapy
reads the packet, checks its checksums and builds the ICMPv6 echo reply or the UDP answer),
sends the answer back in a G-PDU to the gNB's TEID with a DL PDU Session Container, answers
the simulator's GTP-U Echo Request and sends one of its own. The simulator's counts, loss
and QFIs, and its Echo Response as scapy reads it."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import raw

from pfcpd.gnbsim import gtpu, packets
from pfcpd.gnbsim.receiver import Receiver
from pfcpd.gnbsim.sim import (
    PING_OCTETS,
    GnbSimulator,
    Session,
    SessionStats,
    ping_octets,
    wait_until,
)

GNB_TEID, UPF_TEID = 0x1234, 0x99


class StandInUpf:
    def __init__(self, address: str, gnb: str) -> None:
        self.gnb = gnb
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, gtpu.PORT))
        self.uplink: list[gtpu.Message] = []
        self.echo_responses: list[bytes] = []
        self.bad_checksums = 0  # IPv6 uplink packets whose checksum scapy computes otherwise
        self.receiver = Receiver(self.sock, self.handle, "stand-in-upf")

    def handle(self, data: bytes, peer: tuple[str, int]) -> None:
        msg = gtpu.parse(data)
        assert msg is not None
        if msg.msg_type == gtpu.ECHO_RESPONSE:
            self.echo_responses.append(data)
            return
        if msg.msg_type == gtpu.ECHO_REQUEST:
            self.sock.sendto(gtpu.echo_response(msg.seq or 0), peer)
            return
        self.uplink.append(msg)
        pkt = IPv6(msg.payload) if msg.payload[0] >> 4 == 6 else IP(msg.payload)
        if ICMPv6EchoReply in pkt or (ICMP in pkt and pkt[ICMP].type == 0):
            return  # a UE's answer to an echo request (test_the_ue_answers_pings...)
        if msg.payload[0] >> 4 == 6:
            answer = self.answer_v6(msg.payload)
        else:
            answer = self.answer_v4(msg.payload)
        container = bytes([1, gtpu.PDU_TYPE_DL << 4, 9, 0])
        body = struct.pack("!HBB", 0, 0, gtpu.EXT_PDU_SESSION_CONTAINER) + container + answer
        reply = struct.pack("!BBHI", 0x34, gtpu.G_PDU, len(body), GNB_TEID) + body
        self.sock.sendto(reply, (self.gnb, gtpu.PORT))

    def answer_v6(self, data: bytes) -> bytes:
        pkt = IPv6(data)
        layer = pkt[ICMPv6EchoRequest] if ICMPv6EchoRequest in pkt else pkt[UDP]
        sent = layer.cksum if ICMPv6EchoRequest in pkt else layer.chksum
        del pkt.plen
        if ICMPv6EchoRequest in pkt:
            del pkt[ICMPv6EchoRequest].cksum
            self.bad_checksums += IPv6(raw(pkt))[ICMPv6EchoRequest].cksum != sent
            echo = pkt[ICMPv6EchoRequest]
            reply = IPv6(src=pkt.dst, dst=pkt.src) / ICMPv6EchoReply(
                id=echo.id, seq=echo.seq, data=echo.data
            )
        else:
            del pkt[UDP].chksum
            self.bad_checksums += IPv6(raw(pkt))[UDP].chksum != sent
            udp = pkt[UDP]
            reply = IPv6(src=pkt.dst, dst=pkt.src) / UDP(sport=udp.dport, dport=udp.sport)
            reply /= raw(udp.payload)
        return raw(reply)

    def answer_v4(self, data: bytes) -> bytes:
        inner = packets.parse(data)
        assert inner is not None
        if inner.proto == packets.PROTO_ICMP:
            body = struct.pack("!BBHHH", 0, 0, 0, inner.icmp_id, inner.icmp_seq) + inner.payload
            return packets.ipv4(inner.dst, inner.src, packets.PROTO_ICMP, body)
        return packets.udp(inner.dst, inner.dport, inner.src, inner.sport, inner.payload)

    def close(self) -> None:
        self.receiver.stop()
        self.sock.close()


@pytest.fixture
def addresses() -> Iterator[tuple[str, str]]:
    base = f"127.{random.randint(100, 200)}.{random.randint(0, 255)}"
    yield f"{base}.1", f"{base}.2"  # UPF, gNB


def test_traffic_measured_per_session_and_echo_answered(addresses: tuple[str, str]) -> None:
    upf_addr, gnb_addr = addresses
    upf = StandInUpf(upf_addr, gnb_addr)
    session = Session("s1", "10.231.128.9", upf_addr, UPF_TEID, GNB_TEID, qfi=5)
    try:
        with GnbSimulator(gnb_addr, [session]) as gnb:
            gnb.ping(session, "10.231.6.2", 3, interval=0.01)
            gnb.udp_stream(session, ("10.231.6.2", 9000), 200, 1e6, count=20)
            upf.sock.sendto(gtpu.echo_request(0x55), (gnb_addr, gtpu.PORT))
            seq = gnb.echo(upf_addr)
            gnb.wait_quiet(quiet=0.3)
            stats = gnb.stats["s1"]
            assert (stats.pings_sent, stats.pings_answered) == (3, 3)
            assert (stats.udp_sent, stats.udp_echoed) == (20, 20)
            assert stats.loss() == 0.0 and len(stats.rtts_ms) == 23
            assert stats.ul.packets == stats.dl.packets == 23
            assert stats.ul.octets == stats.dl.octets == 3 * PING_OCTETS + 20 * 200
            assert stats.dl_qfis == {9}
            assert gnb.echo_requests_answered == 1 and gnb.unmatched == 0
            assert list(gnb.echo_responses) == [seq]
    finally:
        upf.close()
    assert {m.teid for m in upf.uplink} == {UPF_TEID} and {m.qfi for m in upf.uplink} == {5}
    (echo,) = upf.echo_responses
    msg = GTP_U_Header(echo)
    assert msg.seq == 0x55 and GTPEchoResponse in msg


def test_a_g_pdu_for_an_unknown_teid_is_counted_apart(addresses: tuple[str, str]) -> None:
    upf_addr, gnb_addr = addresses
    session = Session("s1", "10.231.128.9", upf_addr, UPF_TEID, GNB_TEID)
    with GnbSimulator(gnb_addr, [session]) as gnb:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind((upf_addr, 0))
        sender.sendto(gtpu.g_pdu(0x4321, b"\x45" + bytes(27)), (gnb_addr, gtpu.PORT))
        sender.sendto(b"not gtp", (gnb_addr, gtpu.PORT))
        sender.close()
        gnb.wait_quiet(quiet=0.3)
        assert gnb.unmatched == 2 and gnb.stats["s1"].dl.packets == 0


def test_a_dual_stack_session_over_ipv4_and_ipv6(addresses: tuple[str, str]) -> None:
    upf_addr, gnb_addr = addresses
    upf = StandInUpf(upf_addr, gnb_addr)
    ue6, dn6 = "fd00:231:0:8000::1", "fd00:231:0:6::2"
    # Not compressed as written: the session keeps the form the parser reads back.
    session = Session("d", "10.231.128.9", upf_addr, UPF_TEID, GNB_TEID, ue6="fd00:231:0:8000:0::1")
    try:
        with GnbSimulator(gnb_addr, []) as gnb:
            gnb.add(session)  # a session set up while the simulator runs
            with pytest.raises(ValueError, match="taken"):
                gnb.add(session)
            gnb.ping(session, dn6, 3, interval=0.01)
            gnb.udp_stream(session, (dn6, 9000), 200, 1e6, count=10)
            gnb.ping(session, "10.231.6.2", 2, interval=0.01)
            gnb.udp_stream(session, ("10.231.6.2", 9000), 200, 1e6, count=5)
            gnb.wait_quiet(quiet=0.3)
            stats = gnb.stats["d"]
            assert (stats.pings_sent, stats.pings_answered) == (5, 5)
            assert (stats.udp_sent, stats.udp_echoed) == (15, 15)
            octets = 3 * ping_octets(dn6) + 2 * PING_OCTETS + 15 * 200
            assert stats.ul.octets == stats.dl.octets == octets
            assert ping_octets(dn6) == 104 and PING_OCTETS == 84
    finally:
        upf.close()
    assert upf.bad_checksums == 0
    sources = [IPv6(m.payload).src for m in upf.uplink if m.payload[0] >> 4 == 6]
    assert sources == [ue6] * 13


def test_a_session_without_an_address_of_the_destinations_version() -> None:
    session = Session("v4", "10.231.128.9", "127.0.0.1", 1, 2)
    with pytest.raises(ValueError, match="no address of"):
        session.source_for("fd00::1")
    with pytest.raises(ValueError, match="ue6 is the IPv6 address"):
        Session("bad", "fd00::1", "127.0.0.1", 1, 2, ue6="fd00::2")


def test_the_ue_answers_pings_from_the_network(addresses: tuple[str, str]) -> None:
    # Echo requests built by scapy reach the UE in G-PDUs; its replies go uplink, as scapy
    # reads them (checksums recomputed by scapy).
    upf_addr, gnb_addr = addresses
    upf = StandInUpf(upf_addr, gnb_addr)
    ue6, dn6 = "fd00:231:0:8000::1", "fd00:231:0:6::2"
    session = Session("d", "10.231.128.9", upf_addr, UPF_TEID, GNB_TEID, ue6=ue6)
    requests = [
        raw(IPv6(src=dn6, dst=ue6) / ICMPv6EchoRequest(id=0x77, seq=1, data=b"z" * 56)),
        raw(IP(src="10.231.6.2", dst="10.231.128.9") / ICMP(type=8, id=0x78, seq=2) / b"y"),
    ]
    try:
        with GnbSimulator(gnb_addr, [session]) as gnb:
            for request in requests:
                upf.sock.sendto(gtpu.g_pdu(GNB_TEID, request), (gnb_addr, gtpu.PORT))
            gnb.wait_quiet(quiet=0.3)
            stats = gnb.stats["d"]
            assert stats.pings_from_dn == 2 and stats.dl.packets == 2
            assert stats.ul.octets == sum(len(r) for r in requests)
    finally:
        upf.close()
    v6_reply, v4_reply = (m.payload for m in upf.uplink)
    pkt6 = IPv6(v6_reply)
    echo6 = pkt6[ICMPv6EchoReply]
    assert (pkt6.src, pkt6.dst, echo6.id, echo6.seq, echo6.data) == (ue6, dn6, 0x77, 1, b"z" * 56)
    sent6 = echo6.cksum
    del echo6.cksum
    assert IPv6(raw(pkt6))[ICMPv6EchoReply].cksum == sent6
    pkt4 = IP(v4_reply)
    assert (pkt4.src, pkt4[ICMP].type, pkt4[ICMP].id, pkt4[ICMP].seq) == (
        "10.231.128.9",
        0,
        0x78,
        2,
    )
    sent4 = pkt4[ICMP].chksum
    del pkt4[ICMP].chksum
    assert IP(raw(pkt4))[ICMP].chksum == sent4


class CountsAtSend:
    """The simulator's socket for its sends: records the session's counts (echo requests
    answered, uplink packets) at the moment each packet leaves, then sends it."""

    def __init__(self, sock: socket.socket, stats: SessionStats) -> None:
        self.sock, self.stats = sock, stats
        self.seen: list[tuple[int, int]] = []

    def sendto(self, data: bytes, peer: tuple[str, int]) -> int:
        self.seen.append((self.stats.pings_from_dn, self.stats.ul.packets))
        return self.sock.sendto(data, peer)

    def close(self) -> None:
        self.sock.close()


def test_the_ues_answer_is_counted_before_it_leaves(
    addresses: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pinging DN checks the UE's count as soon as it has the replies (the lab's smoke):
    # the count has to include every reply the DN can have, so it is counted before sending.
    upf_addr, gnb_addr = addresses
    ue6, dn6 = "fd00:231:0:8000::1", "fd00:231:0:6::2"
    session = Session("d", "10.231.128.9", upf_addr, UPF_TEID, GNB_TEID, ue6=ue6)
    upf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upf.bind((upf_addr, gtpu.PORT))
    upf.settimeout(2.0)
    try:
        with GnbSimulator(gnb_addr, [session]) as gnb:
            stats = gnb.stats["d"]
            spy = CountsAtSend(gnb.sock, stats)
            monkeypatch.setattr(gnb, "sock", spy)  # the receiving thread reads the real one
            answered_at_reply = []
            for seq, (src, dst) in enumerate([(dn6, ue6), ("10.231.6.2", "10.231.128.9")] * 2):
                request = packets.icmp_echo(src, dst, 0x77, seq, bytes(56))
                upf.sendto(gtpu.g_pdu(GNB_TEID, request), (gnb_addr, gtpu.PORT))
                reply = gtpu.parse(upf.recv(65535))
                assert reply is not None and reply.teid == UPF_TEID
                answered_at_reply.append(stats.pings_from_dn)  # no wait: as the DN reads it
    finally:
        upf.close()
    assert spy.seen == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert answered_at_reply == [1, 2, 3, 4]


def test_wait_until_waits_for_a_count_up_to_its_deadline() -> None:
    stats = SessionStats()

    def answer_later() -> None:
        time.sleep(0.1)
        stats.pings_answered += 1

    thread = threading.Thread(target=answer_later)
    start = time.monotonic()
    thread.start()
    assert wait_until(lambda: stats.pings_answered >= 1, timeout=5.0)
    thread.join()
    assert time.monotonic() - start < 2.0  # returns once it holds, long before the deadline
    start = time.monotonic()
    assert not wait_until(lambda: stats.pings_answered >= 2, timeout=0.2)  # one lost
    assert 0.2 <= time.monotonic() - start < 2.0

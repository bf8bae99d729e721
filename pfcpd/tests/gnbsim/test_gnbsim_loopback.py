"""The gNB simulator against a stand-in UPF on loopback (no root): the stand-in decapsulates
each uplink G-PDU, answers it as a DN would (ICMP echo reply, UDP echoed), sends the answer
back in a G-PDU to the gNB's TEID with a DL PDU Session Container, answers the simulator's
GTP-U Echo Request and sends one of its own. The simulator's counts, loss and QFIs, and its
Echo Response as scapy reads it."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse

from pfcpd.gnbsim import gtpu, packets
from pfcpd.gnbsim.receiver import Receiver
from pfcpd.gnbsim.sim import PING_OCTETS, GnbSimulator, Session

GNB_TEID, UPF_TEID = 0x1234, 0x99


class StandInUpf:
    def __init__(self, address: str, gnb: str) -> None:
        self.gnb = gnb
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, gtpu.PORT))
        self.uplink: list[gtpu.Message] = []
        self.echo_responses: list[bytes] = []
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
        inner = packets.parse(msg.payload)
        assert inner is not None
        if inner.proto == packets.PROTO_ICMP:
            body = struct.pack("!BBHHH", 0, 0, 0, inner.icmp_id, inner.icmp_seq) + inner.payload
            answer = packets.ipv4(inner.dst, inner.src, packets.PROTO_ICMP, body)
        else:
            answer = packets.udp(inner.dst, inner.dport, inner.src, inner.sport, inner.payload)
        container = bytes([1, gtpu.PDU_TYPE_DL << 4, 9, 0])
        body = struct.pack("!HBB", 0, 0, gtpu.EXT_PDU_SESSION_CONTAINER) + container + answer
        reply = struct.pack("!BBHI", 0x34, gtpu.G_PDU, len(body), GNB_TEID) + body
        self.sock.sendto(reply, (self.gnb, gtpu.PORT))

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

"""The gNB simulator's packets, read by scapy (a decoder we did not write): IPv4 and IPv6,
UDP, ICMP and ICMPv6 echo with their checksums (scapy recomputes them, over the IPv6 pseudo
header for UDP and ICMPv6); GTP-U G-PDUs with the PDU Session Container and QFI, echo
responses; and our parser reading what scapy builds."""

from __future__ import annotations

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.packet import Raw, raw

from pfcpd.gnbsim import gtpu, packets


def test_udp_packet_and_its_checksums_as_scapy_reads_them() -> None:
    data = packets.udp("10.231.128.1", 7000, "10.231.6.2", 9000, b"x" * 33, ident=5)
    pkt = IP(data)
    assert (pkt.src, pkt.dst, pkt.len, pkt.id, pkt.ttl) == ("10.231.128.1", "10.231.6.2", 61, 5, 64)
    assert (pkt[UDP].sport, pkt[UDP].dport, bytes(pkt[UDP].payload)) == (7000, 9000, b"x" * 33)
    ip_sum, udp_sum = pkt.chksum, pkt[UDP].chksum
    del pkt.chksum, pkt[UDP].chksum
    again = IP(raw(pkt))
    assert (again.chksum, again[UDP].chksum) == (ip_sum, udp_sum)


def test_icmp_echo_as_scapy_reads_it() -> None:
    data = packets.icmp_echo("10.231.128.1", "10.231.6.2", ident=0x1234, seq=7, payload=b"p" * 56)
    pkt = IP(data)
    assert pkt[ICMP].type == 8 and (pkt[ICMP].id, pkt[ICMP].seq) == (0x1234, 7)
    icmp_sum = pkt[ICMP].chksum
    del pkt[ICMP].chksum
    assert IP(raw(pkt))[ICMP].chksum == icmp_sum


def test_parse_reads_scapy_packets() -> None:
    reply = raw(IP(src="10.231.6.2", dst="10.231.128.1") / ICMP(type=0, id=9, seq=3) / (b"d" * 20))
    got = packets.parse(reply)
    assert got is not None and (got.icmp_type, got.icmp_id, got.icmp_seq) == (0, 9, 3)
    assert got.payload == b"d" * 20 and got.length == len(reply)
    dgram = raw(IP(src="10.231.6.2", dst="10.231.128.1") / UDP(sport=9000, dport=7000) / b"e")
    got = packets.parse(dgram)
    assert got is not None and (got.sport, got.dport, got.payload) == (9000, 7000, b"e")
    assert packets.parse(b"\x60" + bytes(30)) is None  # a truncated IPv6 header


def test_g_pdu_with_the_pdu_session_container_as_scapy_reads_it() -> None:
    inner = packets.udp("10.231.128.1", 7000, "10.231.6.2", 9000, b"y" * 10)
    msg = GTP_U_Header(gtpu.g_pdu(0xABCDEF01, inner, qfi=9))
    assert (msg.gtp_type, msg.teid, msg.E) == (255, 0xABCDEF01, 1)
    assert msg.next_ex == 0x85
    container = msg[GTPPDUSessionContainer]
    assert (container.type, container.QFI) == (1, 9)  # UL PDU SESSION INFORMATION
    assert raw(container.payload) == inner
    plain = GTP_U_Header(gtpu.g_pdu(5, inner))
    assert (plain.E, plain.S, plain.teid, raw(plain.payload)) == (0, 0, 5, inner)


def test_echo_response_as_scapy_reads_it() -> None:
    msg = GTP_U_Header(gtpu.echo_response(0x4242))
    assert (msg.gtp_type, msg.seq) == (2, 0x4242)
    assert GTPEchoResponse in msg
    ie = msg[GTPEchoResponse].IE_list[0]
    assert (ie.ietype, ie.restart_counter) == (14, 0)


def test_parse_reads_scapy_g_pdus_and_echo_requests() -> None:
    inner = b"\x45" + bytes(19)
    dl = raw(
        GTP_U_Header(teid=77, gtp_type=255, E=1, next_ex=0x85)
        / GTPPDUSessionContainer(type=0, QFI=5)
        / Raw(inner)
    )
    got = gtpu.parse(dl)
    assert got is not None and (got.msg_type, got.teid, got.qfi, got.payload) == (255, 77, 5, inner)
    echo = gtpu.parse(raw(GTP_U_Header(gtp_type=1, S=1, seq=9, teid=0)))
    assert echo is not None and (echo.msg_type, echo.seq) == (1, 9)
    assert gtpu.parse(dl[:10]) is None  # truncated
    assert gtpu.parse(b"\x50" + dl[1:]) is None  # version 2


def test_loss_and_rtt_summary() -> None:
    from pfcpd.gnbsim.sim import SessionStats

    stats = SessionStats(pings_sent=4, pings_answered=3, udp_sent=6, udp_echoed=6)
    stats.rtts_ms = [1.0, 2.0, 3.0, 10.0]
    assert stats.loss() == 0.1
    assert (stats.rtt_ms(0.5), stats.rtt_ms(0.99)) == (2.0, 10.0)


UE6, DN6 = "fd00:231:0:8000::1", "fd00:231:0:6::2"


def test_ipv6_udp_packet_as_scapy_builds_it() -> None:
    data = packets.udp(UE6, 7000, DN6, 9000, b"x" * 33, ident=5)
    expected = IPv6(src=UE6, dst=DN6, hlim=64) / UDP(sport=7000, dport=9000) / (b"x" * 33)
    assert data == raw(expected)  # the same octets, checksum over the IPv6 pseudo header
    pkt = IPv6(data)
    assert (pkt.version, pkt.plen, pkt.nh, pkt.fl) == (6, 41, 17, 0)


def test_ipv6_udp_checksum_never_zero() -> None:
    # A payload word equal to the checksum without it makes the checksum compute to 0; it is
    # then sent as 0xFFFF (RFC 768; RFC 8200 8.1 forbids a zero UDP checksum over IPv6).
    base = IPv6(src=UE6, dst=DN6) / UDP(sport=7000, dport=9000)
    word = IPv6(raw(base / b"\0\0"))[UDP].chksum
    payload = word.to_bytes(2, "big")
    data = packets.udp(UE6, 7000, DN6, 9000, payload)
    assert IPv6(data)[UDP].chksum == 0xFFFF
    assert data == raw(base / payload)


def test_icmpv6_echo_as_scapy_builds_it() -> None:
    data = packets.icmp_echo(UE6, DN6, ident=0x1234, seq=7, payload=b"p" * 56)
    expected = IPv6(src=UE6, dst=DN6) / ICMPv6EchoRequest(id=0x1234, seq=7, data=b"p" * 56)
    assert data == raw(expected)
    pkt = IPv6(data)
    assert pkt[ICMPv6EchoRequest].type == 128 and pkt.nh == 58


def test_ipv4_packets_as_scapy_builds_them() -> None:
    # The same byte comparison for IPv4 (identification, DF, TTL 64 as scapy is told).
    data = packets.udp("10.231.128.1", 7000, "10.231.6.2", 9000, b"x" * 3, ident=5)
    assert data == raw(
        IP(src="10.231.128.1", dst="10.231.6.2", id=5, flags="DF")
        / UDP(sport=7000, dport=9000)
        / (b"x" * 3)
    )


def test_mixed_ip_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="not of one IP version"):
        packets.udp(UE6, 7000, "10.231.6.2", 9000, b"")
    with pytest.raises(ValueError, match="not of one IP version"):
        packets.icmp_echo("10.231.128.1", DN6, 1, 1, b"")


def test_parse_reads_scapy_ipv6_packets() -> None:
    reply = raw(IPv6(src=DN6, dst=UE6) / ICMPv6EchoReply(id=9, seq=3, data=b"d" * 20))
    got = packets.parse(reply)
    assert got is not None and got.echo_reply and got.proto == packets.PROTO_ICMPV6
    assert (got.src, got.dst, got.icmp_type, got.icmp_id, got.icmp_seq) == (DN6, UE6, 129, 9, 3)
    assert got.payload == b"d" * 20 and got.length == len(reply)
    request = packets.parse(raw(IPv6(src=DN6, dst=UE6) / ICMPv6EchoRequest(id=9, seq=3)))
    assert request is not None and not request.echo_reply and request.icmp_type == 128
    dgram = raw(IPv6(src=DN6, dst=UE6) / UDP(sport=9000, dport=7000) / b"e") + b"trailer"
    got = packets.parse(dgram)
    assert got is not None and (got.sport, got.dport, got.payload) == (9000, 7000, b"e")
    assert got.length == 40 + 8 + 1  # the payload length, not the octets after it


def test_parse_walks_ipv6_extension_headers() -> None:
    chained = raw(
        IPv6(src=DN6, dst=UE6)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / UDP(sport=9000, dport=7000)
        / b"ext"
    )
    got = packets.parse(chained)
    assert got is not None and (got.proto, got.dport, got.payload) == (17, 7000, b"ext")
    fragment = raw(IPv6(src=DN6, dst=UE6) / IPv6ExtHdrFragment(offset=1) / (b"x" * 8))
    got = packets.parse(fragment)
    assert got is not None and got.proto == 44 and got.payload == b""
    assert packets.parse(chained[:44]) is None  # payload length beyond the octets


def test_ipv4_echo_reply_flag() -> None:
    reply = packets.parse(raw(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=0, id=1, seq=1)))
    request = packets.parse(raw(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=8, id=1, seq=1)))
    assert reply is not None and reply.echo_reply
    assert request is not None and not request.echo_reply


def test_echo_replies_as_scapy_builds_them() -> None:
    data = packets.icmp_echo(UE6, DN6, ident=3, seq=4, payload=b"q" * 56, reply=True)
    assert data == raw(IPv6(src=UE6, dst=DN6) / ICMPv6EchoReply(id=3, seq=4, data=b"q" * 56))
    v4 = packets.icmp_echo("10.231.128.1", "10.231.6.2", ident=3, seq=4, payload=b"q", reply=True)
    pkt = IP(v4)
    assert (pkt[ICMP].type, pkt[ICMP].id, pkt[ICMP].seq) == (0, 3, 4)
    icmp_sum = pkt[ICMP].chksum
    del pkt[ICMP].chksum
    assert IP(raw(pkt))[ICMP].chksum == icmp_sum
    request = packets.parse(packets.icmp_echo(DN6, UE6, 1, 2, b"r"))
    assert request is not None and request.echo_request and not request.echo_reply

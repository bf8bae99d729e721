"""The gNB simulator's packets, read by scapy (a decoder we did not write): IPv4, UDP and
ICMP echo with their checksums; GTP-U G-PDUs with the PDU Session Container and QFI, echo
responses; and our parser reading what scapy builds."""

from __future__ import annotations

from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP, UDP
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
    assert packets.parse(b"\x60" + bytes(40)) is None  # IPv6: not read


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

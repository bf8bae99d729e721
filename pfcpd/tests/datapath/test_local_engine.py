"""The local datapath engine: packets built by scapy go through libupfcore.so; verdicts,
rewritten bytes (decoded by scapy) and counters are checked."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from typing import Any

import pytest
from dp_programs import DL_TEID, DN, N3_GNB, N3_UPF, QFI, UE, UL_TEID, basic_program
from scapy.contrib.gtp import (
    GTP_U_Header,
    GTPEchoRequest,
    GTPEchoResponse,
    GTPPDUSessionContainer,
)
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.packet import Raw, raw

from pfcpd.datapath.interface import (
    DLDR_DSCP,
    ApplyAction,
    Bar,
    DatapathError,
    DuplicateEncap,
    DuplicatingParameters,
    EventType,
    Far,
    Interface,
    IPAddress,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.local.engine import LocalDatapath, Verdict

EVERY_FAR = frozenset(range(256))  # (end markers asked for every FAR of these programs)


def gtpu_ul(inner: IP | IPv6, teid: int = UL_TEID, qfi: int | None = QFI) -> bytes:
    gtp = GTP_U_Header(teid=teid, gtp_type=255)
    if qfi is not None:
        gtp = gtp / GTPPDUSessionContainer(type=1, QFI=qfi)
    return raw(IP(src=str(N3_GNB), dst=str(N3_UPF)) / UDP(sport=2152, dport=2152) / gtp / inner)


def test_uplink_decapsulates_and_counts(datapath: LocalDatapath) -> None:
    datapath.install(0x42, basic_program())
    inner = IP(src=str(UE), dst=str(DN)) / ICMP(id=7, seq=1) / Raw(b"x" * 56)
    res = datapath.process_ul(gtpu_ul(inner), now_ns=1_000)
    assert res.verdict == Verdict.FORWARD
    assert (res.seid, res.pdr_id, res.far_id) == (0x42, 1, 1)
    assert res.destination_interface == Interface.CORE
    out = IP(res.output)
    assert out.src == str(UE) and out.dst == str(DN)
    assert out[ICMP].id == 7 and bytes(out[Raw].load) == b"x" * 56
    assert res.output == raw(inner)
    usage = datapath.read_usage(0x42, 1)
    assert usage.packets_ul == 1 and usage.bytes_ul == len(raw(inner))
    assert usage.first_packet_ns == 1_000


def test_downlink_encapsulates_with_teid_qfi_dscp(datapath: LocalDatapath) -> None:
    datapath.install(0x42, basic_program())
    inner = IP(src=str(DN), dst=str(UE)) / TCP(sport=443, dport=50000) / Raw(b"hello")
    res = datapath.process_dl(raw(inner), now_ns=5)
    assert res.verdict == Verdict.FORWARD and res.pdr_id == 2 and res.qfi == QFI
    outer = IP(res.output)
    assert outer.src == str(N3_UPF) and outer.dst == str(N3_GNB)
    assert outer.tos == 46 << 2
    assert outer[UDP].dport == 2152
    gtp = outer[GTP_U_Header]
    assert gtp.teid == DL_TEID and gtp.gtp_type == 255 and gtp.E == 1
    psc = outer[GTPPDUSessionContainer]
    assert psc.type == 0 and psc.QFI == QFI
    assert raw(psc.payload) == raw(inner)
    # scapy recomputes the IPv4 header checksum: ours must agree
    check = IP(res.output)
    del check.chksum
    assert IP(raw(check)).chksum == outer.chksum
    assert datapath.read_usage(0x42, 1).bytes_dl == len(raw(inner))


def test_ipv6_transport_udp_checksum(datapath: LocalDatapath) -> None:
    n3_upf6 = ipaddress.IPv6Address("fd00:200::2")
    gnb6 = ipaddress.IPv6Address("fd00:200::1")
    prog = basic_program()
    prog = SessionProgram(
        pdrs=prog.pdrs,
        fars=(
            prog.fars[0],
            Far(
                far_id=2,
                apply_action=ApplyAction.FORW,
                destination_interface=Interface.ACCESS,
                outer_header_creation=(gnb6, 0xABC),
                ohc_source=n3_upf6,
                pdu_session_container=False,
            ),
        ),
        qers=prog.qers,
        urrs=prog.urrs,
    )
    datapath.install(7, prog)
    inner = IP(src=str(DN), dst=str(UE)) / UDP(sport=53, dport=1234) / Raw(b"abc")
    res = datapath.process_dl(raw(inner))
    outer = IPv6(res.output)
    assert outer.dst == str(gnb6) and outer[GTP_U_Header].teid == 0xABC
    assert outer[GTP_U_Header].E == 0
    sent = outer[UDP].chksum
    check = IPv6(res.output)
    del check[UDP].chksum
    assert IPv6(raw(check))[UDP].chksum == sent


def test_echo_request_and_error_indication(datapath: LocalDatapath) -> None:
    echo = raw(
        IP(src=str(N3_GNB), dst=str(N3_UPF))
        / UDP(sport=40000, dport=2152)
        / GTP_U_Header(gtp_type=1, S=1, seq=77)
        / GTPEchoRequest()
    )
    res = datapath.process_ul(echo)
    assert res.verdict == Verdict.ECHO_REQUEST
    reply = IP(res.output)
    assert reply.dst == str(N3_GNB) and reply[UDP].dport == 40000
    assert reply[GTP_U_Header].gtp_type == 2 and reply[GTP_U_Header].seq == 77
    assert reply.haslayer(GTPEchoResponse)
    # G-PDU for an unknown TEID: error indication with TEID Data I + peer address
    res = datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / ICMP(), teid=0xDEAD))
    assert res.verdict == Verdict.DROP and res.drop_reason == "no session for TEID / UE address"
    err = IP(res.output)
    gtp = err[GTP_U_Header]
    assert gtp.gtp_type == 26
    ies = raw(gtp.payload)
    assert ies[0] == 16 and int.from_bytes(ies[1:5], "big") == 0xDEAD
    assert ies[5] == 133 and ies[8:12] == N3_UPF.packed
    # the same over the GTP-U-layer entry point (kernel UDP socket)
    res = datapath.process_ul_gtpu(N3_UPF, raw(GTP_U_Header(gtp_type=1, S=1, seq=5)))
    assert GTP_U_Header(res.output).seq == 5


def test_a_received_error_indication_tells_its_peer_address(datapath: LocalDatapath) -> None:
    """A gNB's Error Indication (TS 29.281 7.3.1): the event carries its TEID Data I and
    its GTP-U Peer Address, IPv4 or IPv6 (all 16 octets); None without one."""
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication, IE_GSNAddress

    gnb6 = ipaddress.IPv6Address("2001:db8:9:1:2:3:4:5")
    senders = [
        IE_GSNAddress(length=4, ipv4_address=str(N3_GNB)),
        IE_GSNAddress(length=16, ipv6_address=str(gnb6)),
        None,
    ]
    datapath.poll_events()
    for teid, sender in enumerate(senders, 0x700):
        ies = [IE_TEIDI(TEIDI=teid)] + ([sender] if sender is not None else [])
        ei = GTP_U_Header(gtp_type=26) / GTPErrorIndication(IE_list=ies)
        assert datapath.process_ul_gtpu(N3_UPF, raw(ei)).verdict == Verdict.DROP
    got = [(e.type, e.seid, e.id, e.value, e.peer) for e in datapath.poll_events()]
    assert got == [
        (EventType.ERROR_INDICATION, 0, 0, 0x700, N3_GNB),
        (EventType.ERROR_INDICATION, 0, 0, 0x701, gnb6),
        (EventType.ERROR_INDICATION, 0, 0, 0x702, None),
    ]


def test_sdf_filters_pick_the_pdr(datapath: LocalDatapath) -> None:
    web = SdfFilter(
        protocol=6, remote=ipaddress.ip_network("10.201.0.0/16"), remote_ports=(443, 443)
    )
    voice = SdfFilter(protocol=17, ue_ports=(5000, 5999), tos=(0xB8, 0xFC))
    prog = basic_program(
        extra_pdrs=(
            Pdr(
                pdr_id=10,
                precedence=10,
                source_interface=Interface.CORE,
                far_id=3,
                ue_ip=ipaddress.ip_network(f"{UE}/32"),
                sdf_filters=(web,),
                qer_ids=(2,),
            ),
            Pdr(
                pdr_id=11,
                precedence=5,
                source_interface=Interface.CORE,
                far_id=4,
                ue_ip=ipaddress.ip_network(f"{UE}/32"),
                sdf_filters=(voice,),
            ),
            Pdr(
                pdr_id=12,
                precedence=10,
                source_interface=Interface.ACCESS,
                far_id=4,
                local_fteid=(N3_UPF, UL_TEID),
                sdf_filters=(web,),
            ),
        ),
        extra_fars=(
            Far(
                far_id=3,
                apply_action=ApplyAction.FORW,
                destination_interface=Interface.ACCESS,
                outer_header_creation=(N3_GNB, 0x300),
                ohc_source=N3_UPF,
            ),
            Far(far_id=4, apply_action=ApplyAction.DROP),
        ),
    )
    prog = SessionProgram(
        pdrs=prog.pdrs, fars=prog.fars, qers=(*prog.qers, Qer(qer_id=2, qfi=5)), urrs=prog.urrs
    )
    datapath.install(1, prog)

    def dl(pkt: IP) -> tuple[int, int]:
        res = datapath.process_dl(raw(pkt))
        return res.pdr_id, res.qfi

    assert dl(IP(src=str(DN), dst=str(UE)) / TCP(sport=443, dport=40000)) == (10, 5)
    out = datapath.process_dl(raw(IP(src=str(DN), dst=str(UE)) / TCP(sport=443)))
    assert IP(out.output)[GTP_U_Header].teid == 0x300
    assert dl(IP(src=str(DN), dst=str(UE)) / TCP(sport=444)) == (2, QFI)
    assert dl(IP(src="10.202.0.1", dst=str(UE)) / TCP(sport=443)) == (2, QFI)
    assert dl(IP(src=str(DN), dst=str(UE), tos=0xB9) / UDP(dport=5500)) == (11, 0)
    assert dl(IP(src=str(DN), dst=str(UE), tos=0) / UDP(dport=5500)) == (2, QFI)
    # a non-first fragment has no ports: the port filter cannot match it
    frag = IP(src=str(DN), dst=str(UE), frag=100, proto=6) / Raw(b"\0" * 16)
    assert dl(frag) == (2, QFI)
    # uplink: the same filter applies swapped
    res = datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / TCP(dport=443)))
    assert res.pdr_id == 12 and res.verdict == Verdict.DROP
    res = datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / TCP(sport=443)))
    assert res.pdr_id == 1 and res.verdict == Verdict.FORWARD


def test_gate_quota_and_events(datapath: LocalDatapath) -> None:
    urr = Urr(urr_id=1, volume_threshold=(0, 200, 0), volume_quota=(400, 0, 0))
    datapath.install(9, basic_program(urr=urr, qer=Qer(qer_id=1, qfi=QFI, gate_dl_open=False)))
    inner = IP(src=str(UE), dst=str(DN)) / UDP() / Raw(b"\0" * 72)  # 100 bytes
    verdicts = [datapath.process_ul(gtpu_ul(inner)).verdict for _ in range(6)]
    assert verdicts == [Verdict.FORWARD] * 4 + [Verdict.DROP] * 2
    events = datapath.poll_events()
    assert [(e.type, e.id, e.seid) for e in events] == [
        (EventType.USAGE_THRESHOLD, 1, 9),
        (EventType.USAGE_QUOTA, 1, 9),
    ]
    res = datapath.process_dl(raw(IP(src=str(DN), dst=str(UE)) / UDP()))
    assert res.drop_reason == "QER gate closed"
    final = datapath.remove(9)
    assert final[1].packets_ul == 4 and final[1].dropped_dl_packets == 1
    assert datapath.counters().drops["usage quota exhausted"] == 2
    with pytest.raises(DatapathError):
        datapath.read_usage(9, 1)


def test_buffering_and_flush_on_far_change(datapath: LocalDatapath) -> None:
    buffering = basic_program(dl_action=ApplyAction.BUFF | ApplyAction.NOCP)
    buffering = SessionProgram(
        pdrs=buffering.pdrs,
        fars=buffering.fars,
        qers=buffering.qers,
        urrs=buffering.urrs,
        bar=Bar(bar_id=1, max_packets=2),
    )
    datapath.install(3, buffering)
    pkts = [raw(IP(src=str(DN), dst=str(UE), id=i) / UDP()) for i in range(3)]
    results = [datapath.process_dl(p) for p in pkts]
    assert [r.verdict for r in results] == [Verdict.BUFFER, Verdict.BUFFER, Verdict.DROP]
    reports = [e for e in datapath.poll_events() if e.type == EventType.DL_DATA_REPORT]
    assert [(e.seid, e.id, e.value) for e in reports] == [(3, 2, QFI | DLDR_DSCP)]  # (DSCP 0)
    assert datapath.buffered(3) == 2
    datapath.install(3, basic_program())  # FAR 2 now forwards: the buffer is flushed
    sent = datapath.take_pending()
    assert [IP(r.output)[GTPPDUSessionContainer].payload.id for r in sent] == [0, 1]
    assert datapath.buffered(3) == 0


def test_install_errors_change_nothing(datapath: LocalDatapath) -> None:
    datapath.install(1, basic_program())
    with pytest.raises(DatapathError, match="F-TEID"):
        datapath.install(2, basic_program(ue=ipaddress.IPv4Address("10.45.0.8")))
    bad = basic_program()
    bad = SessionProgram(pdrs=bad.pdrs, fars=bad.fars[:1], qers=bad.qers, urrs=bad.urrs)
    with pytest.raises(DatapathError, match="FAR 2 not defined"):
        datapath.install(1, bad)
    # session 1 still works with its old program
    res = datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / ICMP()))
    assert res.verdict == Verdict.FORWARD and res.seid == 1


def test_garbage_never_crashes(datapath: LocalDatapath) -> None:
    datapath.install(1, basic_program())
    rng = random.Random(4)
    valid = gtpu_ul(IP(src=str(UE), dst=str(DN)) / ICMP())
    for _ in range(3000):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(len(data) + 1)]
        datapath.process_ul(bytes(data))
        datapath.process_dl(bytes(data))
        datapath.process_ul_gtpu(N3_UPF, bytes(data[28:]))
    counters = datapath.counters()
    assert counters.rx_ul == 6000
    assert sum(counters.malformed.values()) > 1000
    assert datapath.process_ul(valid).verdict == Verdict.FORWARD


def test_end_marker_to_the_old_tunnel(datapath: LocalDatapath) -> None:
    datapath.install(5, basic_program())
    moved = basic_program()
    new_far = Far(
        far_id=2,
        apply_action=ApplyAction.FORW,
        destination_interface=Interface.ACCESS,
        outer_header_creation=(ipaddress.IPv4Address("10.200.0.9"), 0x999),
        ohc_source=N3_UPF,
    )
    moved = SessionProgram(
        pdrs=moved.pdrs, fars=(moved.fars[0], new_far), qers=moved.qers, urrs=moved.urrs
    )
    datapath.install(5, moved)  # without SNDEM: nothing sent
    assert datapath.take_pending() == []
    datapath.install(5, basic_program(), end_markers=EVERY_FAR)
    (marker,) = datapath.take_pending()
    outer = IP(marker.output)
    assert outer.src == str(N3_UPF) and outer.dst == "10.200.0.9"
    gtp = outer[GTP_U_Header]
    assert gtp.gtp_type == 254 and gtp.teid == 0x999
    assert outer[GTPPDUSessionContainer].QFI == QFI
    # downlink now goes to the new tunnel
    res = datapath.process_dl(raw(IP(src=str(DN), dst=str(UE)) / UDP()))
    assert IP(res.output)[GTP_U_Header].teid == DL_TEID


N9_UPF = ipaddress.IPv4Address("10.202.0.2")
N9_PSA = ipaddress.IPv4Address("10.202.0.1")
N9_TEID = 0x300


def _end_marker(src: IPAddress, dst: IPAddress, teid: int, qfi: int | None = None) -> bytes:
    """A GTP-U End Marker (TS 29.281 7.3.2), with a DL PDU Session Container if ``qfi``."""
    gtp = GTP_U_Header(teid=teid, gtp_type=254)
    if qfi is not None:
        gtp = gtp / GTPPDUSessionContainer(type=0, QFI=qfi)
    ip = IP if src.version == 4 else IPv6
    return raw(ip(src=str(src), dst=str(dst)) / UDP(sport=2152, dport=2152) / gtp)


def _iupf_program(**kw: Any) -> SessionProgram:
    """basic_program as an I-UPF's: PDR 3 takes the PSA's N9 downlink on F-TEID (N9_UPF,
    N9_TEID), source interface Core, to FAR 2 (the gNB's tunnel)."""
    n9 = Pdr(
        pdr_id=3,
        precedence=10,
        source_interface=Interface.CORE,
        far_id=2,
        local_fteid=(N9_UPF, N9_TEID),
        outer_header_removal=0,
        qer_ids=(1,),
        urr_ids=(1,),
    )
    return basic_program(extra_pdrs=(n9,), **kw)


def test_end_marker_relayed_from_n9_to_the_gnb(datapath: LocalDatapath) -> None:
    """TS 29.281 7.3.2, TS 23.502 4.9.1.2.3: an I-UPF forwards the End Marker the PSA sends
    on its N9 F-TEID to the NG-RAN on the FAR's tunnel (its TEID, the QER's QFI in the PDU
    Session Container, no T-PDU); nothing is counted."""
    datapath.install(5, _iupf_program())
    res = datapath.process_ul(_end_marker(N9_PSA, N9_UPF, N9_TEID, qfi=3))
    assert res.verdict == Verdict.END_MARKER and res.output == b""
    assert (res.seid, res.teid) == (5, N9_TEID)
    (relayed,) = datapath.take_pending()
    assert relayed.encapsulated and (relayed.far_id, relayed.teid) == (2, DL_TEID)
    outer = IP(relayed.output)
    assert outer.src == str(N3_UPF) and outer.dst == str(N3_GNB)
    assert outer[UDP].sport == 2152 and outer[UDP].dport == 2152
    gtp = outer[GTP_U_Header]
    assert gtp.gtp_type == 254 and gtp.teid == DL_TEID
    psc = outer[GTPPDUSessionContainer]
    assert psc.type == 0 and psc.QFI == QFI
    assert raw(psc.payload) == b""
    assert gtp.length == len(raw(gtp)) - 8
    # scapy's checksum agrees with ours (the DSCP of the FAR is kept, as for G-PDUs)
    check = IP(relayed.output)
    del check.chksum
    assert IP(raw(check)).chksum == outer.chksum and outer.tos == 46 << 2
    usage = datapath.read_usage(5, 1)
    assert usage.packets_total == 0
    assert "GTP-U signalling message consumed" not in datapath.counters().drops
    # the GTP-U-layer entry point (the N3/N9 socket) relays it the same way
    res = datapath.process_ul_gtpu(
        N9_UPF, raw(IP(_end_marker(N9_PSA, N9_UPF, N9_TEID))[UDP].payload)
    )
    assert res.verdict == Verdict.END_MARKER
    (relayed,) = datapath.take_pending()
    assert IP(relayed.output)[GTP_U_Header].teid == DL_TEID


def test_end_marker_relayed_in_indirect_forwarding(datapath: LocalDatapath) -> None:
    """TS 38.300 9.2.3, TS 23.502 4.9.1.3.3: in handover with indirect data forwarding, the
    source NG-RAN's End Marker received on the forwarding F-TEID (source interface Access)
    goes on to the target NG-RAN's forwarding tunnel; over IPv6 transport too (its UDP
    checksum as scapy computes it)."""
    for n3_upf, src_gnb, target in (
        (N3_UPF, N3_GNB, ipaddress.IPv4Address("10.200.0.9")),
        (
            ipaddress.IPv6Address("fd00:200::2"),
            ipaddress.IPv6Address("fd00:200::1"),
            ipaddress.IPv6Address("fd00:200::9"),
        ),
    ):
        fwd = Pdr(
            pdr_id=4,
            precedence=5,
            source_interface=Interface.ACCESS,
            far_id=4,
            local_fteid=(n3_upf, 0x400),
            outer_header_removal=0 if n3_upf.version == 4 else 1,
        )
        fwd_far = Far(
            far_id=4,
            apply_action=ApplyAction.FORW,
            destination_interface=Interface.ACCESS,
            outer_header_creation=(target, 0x500),
            ohc_source=n3_upf,
            pdu_session_container=False,
        )
        prog = basic_program(
            n3_upf=n3_upf, n3_gnb=src_gnb, extra_pdrs=(fwd,), extra_fars=(fwd_far,)
        )
        datapath.install(6, prog)
        res = datapath.process_ul(_end_marker(src_gnb, n3_upf, 0x400))
        assert res.verdict == Verdict.END_MARKER
        (relayed,) = datapath.take_pending()
        ip = IP if n3_upf.version == 4 else IPv6
        outer = ip(relayed.output)
        assert outer.dst == str(target) and outer.src == str(n3_upf)
        gtp = outer[GTP_U_Header]
        assert (gtp.gtp_type, gtp.teid, gtp.E, gtp.length) == (254, 0x500, 0, 0)
        assert not outer.haslayer(GTPPDUSessionContainer)
        sent = outer[UDP].chksum
        check = ip(relayed.output)
        del check[UDP].chksum
        # (IPv4: none, 0, as on every GTP-U packet we build; IPv6: the one scapy computes)
        assert sent == (ip(raw(check))[UDP].chksum if n3_upf.version == 6 else 0)
        datapath.remove(6)


def test_end_marker_not_relayed(datapath: LocalDatapath) -> None:
    """An End Marker whose F-TEID's FARs create no GTP-U header (N3 uplink: decapsulated to
    N6), or drop, or whose TEID is no session's, is consumed as before: dropped as GTP-U
    signalling, nothing sent (no Error Indication: TS 29.281 7.3.1 answers G-PDUs only)."""
    datapath.install(5, _iupf_program(dl_action=ApplyAction.DROP))
    for teid in (UL_TEID, N9_TEID, 0xDEAD):
        res = datapath.process_ul(_end_marker(N3_GNB, N3_UPF, teid))
        assert res.verdict == Verdict.DROP
        assert res.drop_reason == "GTP-U signalling message consumed"
        assert res.output == b"" and datapath.take_pending() == []
    assert datapath.counters().drops["GTP-U signalling message consumed"] == 3


def test_time_driven_events_use_the_clock(datapath: LocalDatapath) -> None:
    now = [1_000_000]
    dp = LocalDatapath(clock=lambda: now[0])
    try:
        prog = basic_program(
            dl_action=ApplyAction.BUFF,
            urr=Urr(urr_id=1, time_threshold_ns=5_000_000),
        )
        prog = SessionProgram(
            pdrs=prog.pdrs,
            fars=prog.fars,
            qers=prog.qers,
            urrs=prog.urrs,
            bar=Bar(bar_id=4, duration_ns=2_000_000),
        )
        dp.install(8, prog)
        dp.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / ICMP()))  # starts the URR clock
        assert dp.process_dl(raw(IP(src=str(DN), dst=str(UE)) / UDP())).verdict == Verdict.BUFFER
        assert dp.poll_events() == []
        now[0] += 2_000_000
        (expired,) = dp.poll_events()
        assert (expired.type, expired.seid, expired.id, expired.value) == (
            EventType.BUFFER_EXPIRED,
            8,
            4,
            1,
        )
        assert dp.buffered(8) == 0
        now[0] += 3_000_000
        (threshold,) = dp.poll_events()
        assert (threshold.type, threshold.id) == (EventType.TIME_THRESHOLD, 1)
        assert dp.drop_buffered(8) == 0
    finally:
        dp.close()


def _checksums_valid(pkt: IP | IPv6) -> bool:
    """The IP header checksum (IPv4) and the checksum of the layer right after the IP header
    (TCP, UDP, ICMPv6; an IPv4 UDP checksum of 0 means none) as scapy computes them."""
    fresh = pkt.__class__(raw(pkt))
    l4 = fresh.payload
    if isinstance(fresh, IP):
        del fresh.chksum
    if isinstance(l4, UDP) and isinstance(fresh, IP) and l4.chksum == 0:
        pass
    elif isinstance(l4, TCP | UDP):
        del l4.chksum
    elif isinstance(l4, ICMPv6EchoRequest):
        del l4.cksum
    return raw(fresh) == raw(pkt)


def _with_fars(*fars: Far, ue6: bool = False) -> SessionProgram:
    prog = basic_program()
    pdrs = prog.pdrs
    if ue6:
        ue = ipaddress.ip_network(f"{UE6}/128")
        pdrs = tuple(dataclasses.replace(p, ue_ip=ue) for p in pdrs)
    by_id = {f.far_id: f for f in (*prog.fars, *fars)}
    return SessionProgram(pdrs=pdrs, fars=tuple(by_id.values()), qers=prog.qers, urrs=prog.urrs)


LI_GTPU = ipaddress.IPv4Address("10.200.9.1")
LI_UDP = ipaddress.IPv4Address("10.200.9.2")
LI6, N3_UPF6 = ipaddress.IPv6Address("fd00:209::1"), ipaddress.IPv6Address("fd00:209::2")
UE6 = ipaddress.IPv6Address("fd00:45::7")


def test_duplicating_parameters_send_copies(datapath: LocalDatapath) -> None:
    ul_far = Far(
        far_id=1,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        destination_interface=Interface.CORE,
        duplicating=(
            DuplicatingParameters(
                destination_interface=Interface.ACCESS,
                encap=DuplicateEncap.GTPU,
                peer=LI_GTPU,
                source=N3_UPF,
                teid=0x777,
                pdu_session_container=True,
                dscp=34,
            ),
            DuplicatingParameters(
                destination_interface=Interface.CP_FUNCTION,
                encap=DuplicateEncap.UDP,
                peer=LI_UDP,
                source=N3_UPF,
                port=9999,
                forwarding_policy=2,
            ),
        ),
    )
    dl_far = Far(
        far_id=2,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        destination_interface=Interface.ACCESS,
        outer_header_creation=(N3_GNB, DL_TEID),
        ohc_source=N3_UPF,
        duplicating=(
            DuplicatingParameters(
                destination_interface=Interface.CORE,
                encap=DuplicateEncap.IP,
                peer=LI6,
                source=N3_UPF6,
            ),
            DuplicatingParameters(destination_interface=Interface.CORE),
        ),
    )
    datapath.install(0x42, _with_fars(ul_far, dl_far))
    inner = IP(src=str(UE), dst=str(DN)) / UDP(sport=4000, dport=53) / Raw(b"dupl" * 10)
    res = datapath.process_ul(gtpu_ul(inner))
    assert res.verdict == Verdict.FORWARD and res.output == raw(inner)
    gtpu_copy, udp_copy = res.duplicates
    assert gtpu_copy.destination_interface == Interface.ACCESS
    assert gtpu_copy.encap == DuplicateEncap.GTPU
    outer = IP(gtpu_copy.output)
    assert outer.dst == str(LI_GTPU) and outer.src == str(N3_UPF) and outer.tos == 34 << 2
    assert outer[UDP].dport == 2152 and outer[GTP_U_Header].teid == 0x777
    assert outer[GTPPDUSessionContainer].QFI == QFI
    assert raw(outer[GTPPDUSessionContainer].payload) == raw(inner)
    assert _checksums_valid(outer)
    assert udp_copy.destination_interface == Interface.CP_FUNCTION
    assert udp_copy.forwarding_policy == 2
    outer = IP(udp_copy.output)
    assert outer.dst == str(LI_UDP) and outer[UDP].dport == 9999
    assert raw(outer[UDP].payload) == raw(inner)
    assert _checksums_valid(outer)
    # DL: encapsulated to the gNB, plus IP-in-IPv6 and a plain copy
    dl = IP(src=str(DN), dst=str(UE)) / TCP(sport=443, dport=40000) / Raw(b"down")
    res = datapath.process_dl(raw(dl))
    assert res.encapsulated and IP(res.output)[GTP_U_Header].teid == DL_TEID
    tunnel, plain = res.duplicates
    outer6 = IPv6(tunnel.output)
    assert outer6.nh == 4 and outer6.dst == str(LI6) and outer6.plen == len(raw(dl))
    assert raw(outer6.payload) == raw(dl)
    assert plain.encap == DuplicateEncap.NONE and plain.output == raw(dl)
    # dropped packets are not copied
    gated = Qer(qer_id=1, qfi=QFI, gate_ul_open=False)
    datapath.install(0x42, dataclasses.replace(_with_fars(ul_far, dl_far), qers=(gated,)))
    res = datapath.process_ul(gtpu_ul(inner))
    assert res.verdict == Verdict.DROP and res.duplicates == ()


def test_duplicating_parameters_refused(datapath: LocalDatapath) -> None:
    plain = DuplicatingParameters(destination_interface=Interface.CORE)
    three = Far(
        far_id=1,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        duplicating=(plain, plain, plain),
    )
    with pytest.raises(DatapathError, match="more than 2 duplicating parameters"):
        datapath.install(1, _with_fars(three))
    no_peer = Far(
        far_id=1,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        duplicating=(DuplicatingParameters(Interface.ACCESS, DuplicateEncap.GTPU),),
    )
    with pytest.raises(DatapathError, match="need peer and source"):
        datapath.install(1, _with_fars(no_peer))
    mixed = Far(
        far_id=1,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        duplicating=(
            DuplicatingParameters(Interface.ACCESS, DuplicateEncap.UDP, peer=LI6, source=N3_UPF),
        ),
    )
    with pytest.raises(DatapathError, match="families differ"):
        datapath.install(1, _with_fars(mixed))


def test_redirect_rewrites_uplink_destination(datapath: LocalDatapath) -> None:
    portal = ipaddress.IPv4Address("10.201.0.80")
    ul_far = Far(far_id=1, apply_action=ApplyAction.FORW, redirect=(0, portal))
    datapath.install(6, _with_fars(ul_far))
    for l4 in (TCP(sport=40000, dport=80) / Raw(b"GET / HTTP/1.1\r\n"), UDP(dport=53) / Raw(b"q")):
        sent = IP(src=str(UE), dst=str(DN)) / l4
        res = datapath.process_ul(gtpu_ul(sent))
        assert res.verdict == Verdict.FORWARD and res.redirect_type == 0 and res.redirected
        out = IP(res.output)
        assert out.dst == str(portal) and out.src == str(UE)
        assert raw(out.payload.payload) == raw(sent.payload.payload)
        assert _checksums_valid(out)
    # DL is not rewritten, only reported
    res = datapath.process_dl(raw(IP(src=str(DN), dst=str(UE)) / TCP(sport=80)))
    assert res.redirect_type is None and not res.redirected


def test_redirect_ipv6_and_url(datapath: LocalDatapath) -> None:
    portal6 = ipaddress.IPv6Address("fd00:201::80")
    ul_far = Far(far_id=1, apply_action=ApplyAction.FORW, redirect=(1, portal6))
    datapath.install(6, _with_fars(ul_far, ue6=True))
    for l4 in (
        ICMPv6EchoRequest(id=5, seq=1, data=b"ping"),
        TCP(sport=40000, dport=443),
        UDP(dport=53) / Raw(b"q"),
    ):
        sent = IPv6(src=str(UE6), dst="fd00:201::9") / l4
        res = datapath.process_ul(gtpu_ul(sent))
        assert res.redirected and res.redirect_type == 1
        out = IPv6(res.output)
        assert out.dst == str(portal6) and _checksums_valid(out)
    # an address type without an address of that family is refused
    bad = Far(far_id=1, apply_action=ApplyAction.FORW, redirect=(1, "portal.test"))
    with pytest.raises(DatapathError, match="redirect type 1 needs an IPv6 address"):
        datapath.install(6, _with_fars(bad, ue6=True))
    # URL redirect (needs an HTTP proxy): reported, the packet is forwarded unchanged
    url_far = Far(far_id=1, apply_action=ApplyAction.FORW, redirect=(2, "http://portal.test/"))
    datapath.install(6, _with_fars(url_far, ue6=True))
    sent = IPv6(src=str(UE6), dst="fd00:201::9") / TCP(dport=80)
    res = datapath.process_ul(gtpu_ul(sent))
    assert res.redirect_type == 2 and not res.redirected and res.output == raw(sent)


def _session(program: SessionProgram, teid: int, ue: str, gnb: str, dl_teid: int) -> SessionProgram:
    """``program`` for another session of its shape: its F-TEID, UE address and gNB tunnel
    changed, its other rules the same objects (as the session engine hands them out)."""
    ul, dl = program.pdrs
    net = ipaddress.ip_network(f"{ue}/32")
    far = dataclasses.replace(
        program.fars[1], outer_header_creation=(ipaddress.IPv4Address(gnb), dl_teid)
    )
    return dataclasses.replace(
        program,
        pdrs=(
            dataclasses.replace(ul, local_fteid=(N3_UPF, teid), ue_ip=net),
            dataclasses.replace(dl, ue_ip=net),
        ),
        fars=(program.fars[0], far),
    )


def test_sessions_of_one_shape_keep_their_own_tunnels(datapath: LocalDatapath) -> None:
    """Sessions whose programs share their rules but the F-TEID, UE address and gNB tunnel
    (their descriptor packed over one kept for their shape) each forward on their own;
    one replaced or removed leaves the others as they were."""
    base = basic_program()
    ues = [f"10.45.1.{i}" for i in range(3)]
    gnbs = [f"10.200.9.{i}" for i in range(3)]
    for i in range(3):
        datapath.install(10 + i, _session(base, 0x500 + i, ues[i], gnbs[i], 0x900 + i))
    datapath.install(11, _session(base, 0x511, ues[1], gnbs[2], 0x911), end_markers=EVERY_FAR)
    assert len(datapath._shapes) == 1  # (one descriptor, packed over for each)
    (marker,) = datapath.take_pending()  # to session 11's old tunnel
    assert IP(marker.output).dst == gnbs[1] and IP(marker.output)[GTP_U_Header].teid == 0x901
    teids, dl_teids = [0x500, 0x511, 0x502], [0x900, 0x911, 0x902]
    peers = [gnbs[0], gnbs[2], gnbs[2]]
    for i in range(3):
        inner = IP(src=ues[i], dst=str(DN)) / UDP() / Raw(b"u" * i)
        res = datapath.process_ul(gtpu_ul(inner, teid=teids[i]))
        assert (res.verdict, res.seid) == (Verdict.FORWARD, 10 + i)
        res = datapath.process_dl(raw(IP(src=str(DN), dst=ues[i]) / UDP() / Raw(b"d" * i)))
        assert (res.verdict, res.seid) == (Verdict.FORWARD, 10 + i)
        outer = IP(res.output)
        assert (outer.dst, outer[GTP_U_Header].teid) == (peers[i], dl_teids[i])
    assert datapath.process_ul(gtpu_ul(IP(src=ues[1], dst=str(DN)), teid=0x501)).seid == 0
    final = datapath.remove(11)
    assert list(final) == [1]
    assert (final[1].packets_ul, final[1].packets_dl, final[1].bytes_dl) == (1, 1, 28 + 1)
    with pytest.raises(DatapathError, match="not installed"):
        datapath.read_usage(11, 1)
    assert datapath.process_dl(raw(IP(src=str(DN), dst=ues[1]) / UDP())).seid == 0
    res = datapath.process_dl(raw(IP(src=str(DN), dst=ues[2]) / UDP()))
    assert (res.seid, IP(res.output)[GTP_U_Header].teid) == (12, 0x902)
    assert datapath.remove(10)[1].packets_total == 2


def test_removal_reads_every_urr(datapath: LocalDatapath) -> None:
    """A removed session's final usage: each URR's, in the program's order, as read just
    before (more URRs than the datapath first has room for)."""
    base = basic_program()
    ids = (7, 3, 9, 1, 5, 2)
    ul, dl = base.pdrs
    program = dataclasses.replace(
        base,
        pdrs=(
            dataclasses.replace(ul, urr_ids=ids[:4]),
            dataclasses.replace(dl, urr_ids=ids[2:]),
        ),
        urrs=tuple(Urr(i) for i in ids),
    )
    datapath.install(3, program)
    datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / UDP()), now_ns=10)
    datapath.process_dl(raw(IP(src=str(DN), dst=str(UE)) / UDP()), now_ns=20)
    before = {i: datapath.read_usage(3, i) for i in ids}
    assert before[7].packets_total == 1 and before[9].packets_total == 2
    assert before[2].packets_dl == 1 and before[2].last_packet_ns == 20
    final = datapath.remove(3)
    assert list(final) == list(ids) and final == before
    datapath.install(3, base)  # (a new session under the SEID)
    assert datapath.remove(3) == {1: dataclasses.replace(before[1], **_ZERO)}


_ZERO = {
    f: 0
    for f in (
        "bytes_total",
        "bytes_ul",
        "bytes_dl",
        "packets_total",
        "packets_ul",
        "packets_dl",
        "first_packet_ns",
        "last_packet_ns",
    )
}


def test_a_refused_replacement_keeps_the_session_whole(datapath: LocalDatapath) -> None:
    """The datapath keeps a session's handle and its program together (one entry by SEID):
    a replacement the library refuses, or one whose value cannot be packed (through the
    shape kept), leaves both as they were: its counters, its old tunnel's End Marker, its
    URRs at removal. A SEID not installed, or any after close, reaches no session."""
    base = basic_program()
    gnb, moved_gnb = str(N3_GNB), "10.200.0.9"
    for seid in (2, 3):  # (the shape is kept the second time it comes)
        datapath.install(seid, _session(base, 0x700 + seid, f"10.45.2.{seid}", gnb, seid))
    datapath.install(1, _session(base, UL_TEID, str(UE), gnb, DL_TEID))
    assert len(datapath._shapes) == 1
    assert datapath.process_ul(gtpu_ul(IP(src=str(UE), dst=str(DN)) / UDP())).seid == 1
    taken = _session(base, 0x702, str(UE), moved_gnb, 0x999)  # (session 2's F-TEID)
    ul, dl = taken.pdrs
    taken = dataclasses.replace(
        taken,
        pdrs=(dataclasses.replace(ul, urr_ids=(7,)), dataclasses.replace(dl, urr_ids=(7,))),
        urrs=(Urr(7),),
    )
    with pytest.raises(DatapathError, match="F-TEID"):  # (the library's refusal)
        datapath.install(1, taken, end_markers=EVERY_FAR)
    with pytest.raises(DatapathError, match="teid"):  # (packed over the shape's descriptor)
        datapath.install(1, _session(base, 1 << 32, str(UE), moved_gnb, 0x999), EVERY_FAR)
    assert not datapath._shapes  # (refused through it: no longer kept)
    assert datapath.take_pending() == []
    assert datapath.read_usage(1, 1).packets_ul == 1
    datapath.install(1, _session(base, UL_TEID, str(UE), moved_gnb, 0x999), EVERY_FAR)
    (marker,) = datapath.take_pending()  # (to the tunnel installed, not to a refused one)
    assert (IP(marker.output).dst, IP(marker.output)[GTP_U_Header].teid) == (gnb, DL_TEID)
    final = datapath.remove(1)
    assert list(final) == [1] and final[1].packets_ul == 1
    for absent in (1, 0x77):
        assert datapath.buffered(absent) == 0 and datapath.drop_buffered(absent) == 0
        with pytest.raises(DatapathError, match="not installed"):
            datapath.read_usage(absent, 1)
        with pytest.raises(DatapathError, match="not installed"):
            datapath.remove(absent)
    datapath.close()
    assert datapath.buffered(2) == 0 and datapath.poll_events() == []
    with pytest.raises(DatapathError, match="not installed"):
        datapath.remove(2)
    # (an install after close is refused, not made with the freed context: it crashed)
    with pytest.raises(DatapathError, match="closed"):
        datapath.install(4, _session(base, 0x704, "10.45.2.4", gnb, 4))
    with pytest.raises(DatapathError, match="closed"):
        datapath.install_shaped(4, object(), (), (), (), None)

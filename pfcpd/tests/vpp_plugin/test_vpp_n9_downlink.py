"""The UPF plugin as an I-UPF: the downlink arrives over N9 on a local F-TEID of a PDR with
source interface Core (a remote PSA's G-PDUs), and leaves re-encapsulated towards the gNB's
F-TEID, counted as downlink; the uplink of the same session still leaves decapsulated. The
packets go in and out through pg interfaces of a real VPP, built and decoded with scapy."""

from __future__ import annotations

from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from test_vpp_plugin import (
    ACCESS,
    CORE,
    CREATE,
    DELETE,
    MODIFY,
    N3_GNB,
    N3_UPF,
    SERVER,
    far,
    gtpu,
    pdr,
    program,
    session_rules,
    ul_inner,
    wait_events,
)
from vpp_lab import GNB_MAC, ROUTER_MAC, Lab

UE = "10.45.0.2"
PSA = "10.0.3.7"  # the remote PSA, on the N3/N9 side
CP_FUNCTION = 3
BUFF_NOCP = 0x04 | 0x08


def from_psa(
    lab: Lab, teid: int, payload: Packet | bytes = b"", gtp_type: int = 255, **container: int
) -> Ether:
    """A frame from the PSA to the N9 F-TEID ``teid``: GTP-U of ``gtp_type`` (255 G-PDU,
    254 End Marker) with a DL PDU Session Container (``container``: QFI, PPP, PPI) and
    ``payload`` after it."""
    frame = (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IP(src=PSA, dst=N3_UPF)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=teid, gtp_type=gtp_type)
        / GTPPDUSessionContainer(type=0, **container)
    )
    return frame / payload if payload else frame


def tunnel_pdr(pdr_id: int, source: int, teid: int, **kw: object) -> dict[str, object]:
    """A PDR taking the G-PDUs of our F-TEID ``teid`` from ``source`` (Core: N9, CP function:
    N4-u) as downlink, GTP-U removed, to FAR 2."""
    return pdr(
        pdr_id,
        source_interface=source,
        has_fteid=True,
        fteid_addr=N3_UPF,
        teid=teid,
        outer_header_removal=0,
        network_instance=1,
        far_id=2,
        **kw,
    )


def iupf_rules(
    dl_teid: int, gnb_teid: int, ul_teid: int | None = None, ue_ip: str | None = None
) -> list[dict[str, object]]:
    """An I-UPF session: the N9 downlink on F-TEID ``dl_teid`` (PDR 3, source interface
    Core) re-encapsulated to the gNB's ``gnb_teid`` with a PDU Session Container (FAR 2);
    with ``ul_teid``, the uplink F-TEID (PDR 1) decapsulated to N6 (FAR 1), both PDRs
    counted by URR 1."""
    urr_ids = [1, 0, 0, 0] if ul_teid is not None else [0, 0, 0, 0]
    ue = {"has_ue_ip": True, "ue_ip": f"{ue_ip}/32"} if ue_ip is not None else {}
    rules: list[dict[str, object]] = [
        tunnel_pdr(3, CORE, dl_teid, urr_ids=urr_ids, **ue),
        far(
            2,
            destination_interface=ACCESS,
            network_instance=1,
            ohc=1,
            ohc_peer=N3_GNB,
            ohc_teid=gnb_teid,
            ohc_src=N3_UPF,
            pdu_session_container=True,
        ),
    ]
    if ul_teid is not None:
        rules += [
            pdr(
                1,
                source_interface=ACCESS,
                has_fteid=True,
                fteid_addr=N3_UPF,
                teid=ul_teid,
                outer_header_removal=0,
                network_instance=1,
                urr_ids=urr_ids,
            ),
            far(1, destination_interface=CORE, network_instance=2),
            {
                "kind": 3,
                "r": {"urr": {"urr_id": 1, "vol_threshold": [0, 0, 0], "vol_quota": [0, 0, 0]}},
            },
        ]
    return rules


def test_n9_downlink_reencapsulated_to_the_gnb(lab: Lab) -> None:
    rules = iupf_rules(0x903, 0x902, ul_teid=0x900, ue_ip=UE)
    program(lab, 0x90, CREATE, rules)
    sent = [
        IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"n" * (30 + i))
        for i in range(3)
    ]
    packets = [from_psa(lab, 0x903, p, QFI=9) for p in sent]
    cap = lab.vpp.capture(0, "n9dl", 3)
    lab.vpp.send(0, packets, "n9dl")
    got = lab.vpp.captured(0, cap, 3)
    assert len(got) == 3
    for s, g in zip(sent, got, strict=True):
        assert g[Ether].dst == GNB_MAC
        assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB
        assert g[UDP].dport == 2152 and g[GTP_U_Header].teid == 0x902
        inner = IP(bytes(g[GTPPDUSessionContainer].payload))
        assert inner.dst == UE and bytes(inner[UDP].payload) == bytes(s[UDP].payload)
    r = lab.api.upf_usage_get(seid=0x90, urr_id=1, reset=False)
    assert r.retval == 0 and r.n_usage == 1
    u = r.usage[0]
    assert u.pkts_dl == 3 and u.bytes_dl == sum(len(p) for p in sent) and u.pkts_ul == 0
    # the uplink of the session: decapsulated to N6
    cap = lab.vpp.capture(1, "n9ul", 1)
    lab.vpp.send(0, [gtpu(lab, 0x900, ul_inner())], "n9ul")
    (g,) = lab.vpp.captured(1, cap, 1)
    assert g[Ether].dst == ROUTER_MAC and g[IP].src == UE
    program(lab, 0x90, DELETE, [])


def test_n9_downlink_paging_policy_indicator_relayed_to_the_gnb(lab: Lab) -> None:
    """TS 38.415 5.5.2.1: the PSA's DL PDU Session Container carries PPP = 1 and the PPI;
    the container the plugin writes towards the gNB carries them on, with the QFI."""
    rules = iupf_rules(0x933, 0x932)
    program(lab, 0x93, CREATE, rules)
    sent = IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"ppi")
    packet = from_psa(lab, 0x933, sent, QFI=9, PPP=1, PPI=5)
    cap = lab.vpp.capture(0, "n9ppi", 1)
    lab.vpp.send(0, [packet], "n9ppi")
    (g,) = lab.vpp.captured(0, cap, 1)
    assert g[GTP_U_Header].teid == 0x932
    psc = g[GTPPDUSessionContainer]
    assert (psc.type, psc.QFI, psc.PPP, psc.PPI) == (0, 9, 1, 5)
    inner = IP(bytes(psc.payload))
    assert inner.dst == UE and bytes(inner[UDP].payload) == b"ppi"
    program(lab, 0x93, DELETE, [])


def test_end_marker_relayed_from_n9_to_the_gnb(lab: Lab) -> None:
    """TS 29.281 7.3.2, TS 23.502 4.9.1.2.3: the End Marker the PSA sends on the N9 F-TEID
    goes on to the gNB on the FAR's tunnel (its TEID, a PDU Session Container with the
    received QFI, no T-PDU), counted by no URR; one on the N3 uplink F-TEID (its FAR
    decapsulates) is consumed."""
    rules = iupf_rules(0x913, 0x912, ul_teid=0x910)
    program(lab, 0x91, CREATE, rules)

    cap = lab.vpp.capture(0, "emrelay", 1)
    lab.vpp.send(0, [from_psa(lab, 0x913, gtp_type=254, QFI=7)], "emrelay")
    (g,) = lab.vpp.captured(0, cap, 1)
    assert g[Ether].dst == GNB_MAC
    assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB
    assert g[UDP].sport == 2152 and g[UDP].dport == 2152
    gtp = g[GTP_U_Header]
    assert gtp.gtp_type == 254 and gtp.teid == 0x912
    psc = g[GTPPDUSessionContainer]
    assert psc.type == 0 and psc.QFI == 7 and bytes(psc.payload) == b""
    r = lab.api.upf_usage_get(seid=0x91, urr_id=1, reset=False)
    assert r.retval == 0 and r.n_usage == 1
    assert r.usage[0].pkts_dl == 0 and r.usage[0].pkts_ul == 0
    # on the uplink F-TEID: consumed, nothing sent
    cap = lab.vpp.capture(0, "emdrop", 1)
    lab.vpp.send(0, [from_psa(lab, 0x910, gtp_type=254, QFI=7)], "emdrop")
    assert lab.vpp.captured(0, cap, 1, timeout=1.0) == []
    program(lab, 0x91, DELETE, [])


def test_end_marker_relayed_after_the_g_pdus_received_before_it(lab: Lab) -> None:
    """TS 29.281 7.3.2, TS 23.502 4.9.1.2.2: the End Marker is the last packet on the old
    path. The PSA's last G-PDUs on the N9 F-TEID and its End Marker arrive in one frame; the
    gNB gets every G-PDU, in order, and then the relayed End Marker."""
    rules = iupf_rules(0x923, 0x922)
    program(lab, 0x92, CREATE, rules)

    sent = [
        IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"%02d" % i)
        for i in range(8)
    ]
    # one pg stream: the G-PDUs and then the End Marker reach upf-gtpu4-input in one frame
    cap = lab.vpp.capture(0, "emorder", len(sent) + 1)
    frames = [from_psa(lab, 0x923, p, QFI=9) for p in sent]
    lab.vpp.send(0, [*frames, from_psa(lab, 0x923, gtp_type=254, QFI=9)], "emorder")
    got = lab.vpp.captured(0, cap, len(sent) + 1)
    assert all(g[GTP_U_Header].teid == 0x922 for g in got)
    types = [g[GTP_U_Header].gtp_type for g in got]
    assert types == [255] * len(sent) + [254], f"gNB got GTP-U types {types}"
    for s, g in zip(sent, got, strict=False):
        inner = IP(bytes(g[GTPPDUSessionContainer].payload))
        assert bytes(inner[UDP].payload) == bytes(s[UDP].payload)
    program(lab, 0x92, DELETE, [])


def test_n9_downlink_buffered_while_idle_and_flushed_in_order_to_the_gnb(lab: Lab) -> None:
    """An I-UPF (or home-routed V-UPF) whose UE is idle: the N9 downlink PDR (3) is the
    session's only downlink PDR and its FAR (2) buffers and notifies (BAR 1). The PSA's
    G-PDUs are buffered (as G-PDUs), reported once naming PDR 3 with the PDU Session
    Container's QFI, counted for no URR while they wait; when FAR 2 forwards to the gNB's
    new tunnel they leave in order, classified by their F-TEID again, and are counted."""
    assert lab.api.want_upf_events(enable=True, pid=3).retval == 0
    lab.events.clear()
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1, "max_pkts": 16}}}
    rules = [*iupf_rules(0x953, 0x952, ul_teid=0x950, ue_ip=UE), bar]
    rules[1]["r"]["far"]["apply_action"] = BUFF_NOCP  # type: ignore[index]
    program(lab, 0x95, CREATE, rules)
    sent = [
        IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"idle%d" % i)
        for i in range(3)
    ]
    lab.vpp.send(0, [from_psa(lab, 0x953, p, QFI=9) for p in sent], "n9buf")
    recs = wait_events(lab, lambda r: r.type == 5 and r.seid == 0x95)
    dldr = [r for r in recs if r.type == 5 and r.seid == 0x95]
    assert [(r.id, r.value & 0x3F) for r in dldr] == [(3, 9)], recs
    (d,) = list(lab.api.upf_session_dump(seid=0x95))
    assert d.buffered_pkts == 3
    u = lab.api.upf_usage_get(seid=0x95, urr_id=1, reset=False).usage[0]
    assert u.pkts_dl == 0
    cap = lab.vpp.capture(0, "n9flush", 3)
    program(lab, 0x95, MODIFY, [*iupf_rules(0x953, 0x954, ul_teid=0x950, ue_ip=UE), bar])
    got = lab.vpp.captured(0, cap, 3)
    assert len(got) == 3
    for s, g in zip(sent, got, strict=True):
        assert g[IP].dst == N3_GNB and g[GTP_U_Header].teid == 0x954
        inner = IP(bytes(g[GTPPDUSessionContainer].payload))
        assert inner.dst == UE and bytes(inner[UDP].payload) == bytes(s[UDP].payload)
    (d,) = list(lab.api.upf_session_dump(seid=0x95))
    assert d.buffered_pkts == 0
    u = lab.api.upf_usage_get(seid=0x95, urr_id=1, reset=False).usage[0]
    assert u.pkts_dl == 3 and u.bytes_dl == sum(len(p) for p in sent)
    program(lab, 0x95, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=3)


def test_v_upf_buffers_both_ways_until_both_tunnels_are_known(lab: Lab) -> None:
    """Home-routed roaming as Open5GS's V-SMF sets the V-UPF up: PDR 1 takes the H-UPF's
    N9 downlink on F-TEID 0x963, PDR 2 the gNB's uplink on 0x960, neither with a UE
    address; both FARs buffer and notify (BAR 1). An uplink and a downlink G-PDU are
    buffered; only the downlink one is reported (NOCP is about downlink data). Once both
    FARs forward, the uplink one leaves to the H-UPF's TEID and the downlink one to the
    gNB's, each re-encapsulated, in the order they came."""
    lab.vpp.cli(f"set ip neighbor pg0 {PSA} {GNB_MAC} static")
    assert lab.api.want_upf_events(enable=True, pid=3).retval == 0
    lab.events.clear()
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1, "max_pkts": 16}}}
    tunnels = [
        pdr(1, source_interface=CORE, has_fteid=True, fteid_addr=N3_UPF, teid=0x963,
            outer_header_removal=0, network_instance=1),
        pdr(2, source_interface=ACCESS, has_fteid=True, fteid_addr=N3_UPF, teid=0x960,
            outer_header_removal=0, network_instance=1),
        bar,
    ]  # fmt: skip
    to_gnb = {"ohc": 1, "ohc_peer": N3_GNB, "ohc_teid": 0x961, "ohc_src": N3_UPF}
    to_h_upf = {"ohc": 1, "ohc_peer": PSA, "ohc_teid": 0x970, "ohc_src": N3_UPF}
    idle = [
        far(1, apply_action=BUFF_NOCP, destination_interface=ACCESS, network_instance=1),
        far(2, apply_action=BUFF_NOCP, destination_interface=CORE, network_instance=1),
    ]
    program(lab, 0x96, CREATE, [*tunnels, *idle])
    up = ul_inner(n=41)
    down = IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"v" * 43)
    lab.vpp.send(0, [gtpu(lab, 0x960, up), from_psa(lab, 0x963, down, QFI=9)], "vupf")
    recs = wait_events(lab, lambda r: r.type == 5 and r.seid == 0x96)
    dldr = [(r.id, r.value & 0x3F) for r in recs if r.type == 5 and r.seid == 0x96]
    assert dldr == [(1, 9)], recs
    (d,) = list(lab.api.upf_session_dump(seid=0x96))
    assert d.buffered_pkts == 2
    cap = lab.vpp.capture(0, "vupfflush", 2)
    forwarding = [
        far(1, destination_interface=ACCESS, network_instance=1, **to_gnb),
        far(2, destination_interface=CORE, network_instance=1, **to_h_upf),
    ]
    program(lab, 0x96, MODIFY, [*tunnels, *forwarding])
    got = lab.vpp.captured(0, cap, 2)
    assert [(g[IP].dst, g[GTP_U_Header].teid) for g in got] == [(PSA, 0x970), (N3_GNB, 0x961)]
    assert bytes(got[0][GTP_U_Header].payload).endswith(bytes(up[UDP].payload))
    assert bytes(got[1][GTP_U_Header].payload).endswith(bytes(down[UDP].payload))
    (d,) = list(lab.api.upf_session_dump(seid=0x96))
    assert d.buffered_pkts == 0
    program(lab, 0x96, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=3)


def test_n4u_downlink_buffered_and_flushed_through_its_f_teid(lab: Lab) -> None:
    """A session as Open5GS's SMF makes it: the N6 PDR of the UE's address (2) and a PDR from
    the CP function on an F-TEID of its own (3, N4-u) share the downlink FAR (2), which
    buffers and notifies. A G-PDU the SMF sends on PDR 3's F-TEID is buffered, reported
    naming PDR 3, and reaches the gNB when FAR 2 forwards, classified by its F-TEID
    again."""
    assert lab.api.want_upf_events(enable=True, pid=3).retval == 0
    lab.events.clear()
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1, "max_pkts": 16}}}
    n4u = tunnel_pdr(3, CP_FUNCTION, 0x943)
    rules = session_rules(0x940, UE, 0x942, extra=[bar, n4u])
    rules[3]["r"]["far"]["apply_action"] = BUFF_NOCP
    program(lab, 0x94, CREATE, rules)
    sent = IP(src=SERVER, dst=UE, ttl=64) / UDP(sport=5000, dport=40000) / Raw(b"n4u")
    lab.vpp.send(0, [from_psa(lab, 0x943, sent, QFI=9)], "n4ubuf")
    recs = wait_events(lab, lambda r: r.type == 5 and r.seid == 0x94)
    assert [r.id for r in recs if r.type == 5 and r.seid == 0x94] == [3], recs
    (d,) = list(lab.api.upf_session_dump(seid=0x94))
    assert d.buffered_pkts == 1
    cap = lab.vpp.capture(0, "n4uflush", 1)
    program(lab, 0x94, MODIFY, session_rules(0x940, UE, 0x942, extra=[bar, n4u]))
    (g,) = lab.vpp.captured(0, cap, 1)
    assert g[IP].dst == N3_GNB and g[GTP_U_Header].teid == 0x942
    inner = IP(bytes(g[GTPPDUSessionContainer].payload))
    assert inner.dst == UE and bytes(inner[UDP].payload) == b"n4u"
    (d,) = list(lab.api.upf_session_dump(seid=0x94))
    assert d.buffered_pkts == 0
    program(lab, 0x94, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=3)

"""The UPF plugin inside a real VPP: sessions programmed over the binary API (upf.api),
GTP-U and N6 packets built with scapy and injected with the packet generator, what comes
out captured and decoded with scapy (not our code).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from vpp_lab import GNB_MAC, ROUTER_MAC, Lab

UE = "10.45.0.2"
SERVER = "192.0.2.10"
N3_UPF, N3_GNB = "10.0.3.1", "10.0.3.2"
PDR, FAR, QER, URR, SDF = 0, 1, 2, 3, 4
ACCESS, CORE = 0, 1
FORW, DROP = 0x02, 0x01
CREATE, MODIFY, DELETE = 0, 1, 2


def pdr(pdr_id: int, **kw: Any) -> dict[str, Any]:
    body = {
        "pdr_id": pdr_id,
        "precedence": 100,
        "outer_header_removal": 255,
        "far_id": pdr_id,
        "qer_ids": [0, 0],
        "urr_ids": [0, 0, 0, 0],
    }
    body.update(kw)
    return {"kind": PDR, "r": {"pdr": body}}


def far(far_id: int, **kw: Any) -> dict[str, Any]:
    body = {"far_id": far_id, "apply_action": FORW, "dscp": 255}
    body.update(kw)
    return {"kind": FAR, "r": {"far": body}}


def session_rules(
    ul_teid: int,
    ue: str,
    dl_teid: int,
    qer: dict[str, Any] | None = None,
    urr: dict[str, Any] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """UL PDR 1 (F-TEID) -> FAR 1 (N6, nwi 2); DL PDR 2 (UE address) -> FAR 2 (GTP-U to
    the gNB with a PDU session container, nwi 1); optional QER 1 and URR 1 on both."""
    qer_ids = [1, 0] if qer is not None else [0, 0]
    urr_ids = [1, 0, 0, 0] if urr is not None else [0, 0, 0, 0]
    rules = [
        pdr(
            1,
            source_interface=ACCESS,
            has_fteid=True,
            fteid_addr=N3_UPF,
            teid=ul_teid,
            outer_header_removal=0,
            network_instance=1,
            qer_ids=qer_ids,
            urr_ids=urr_ids,
        ),
        pdr(
            2,
            source_interface=CORE,
            has_ue_ip=True,
            ue_ip=f"{ue}/32",
            network_instance=2,
            qer_ids=qer_ids,
            urr_ids=urr_ids,
        ),
        far(1, destination_interface=CORE, network_instance=2),
        far(
            2,
            destination_interface=ACCESS,
            network_instance=1,
            ohc=1,
            ohc_peer=N3_GNB,
            ohc_teid=dl_teid,
            ohc_src=N3_UPF,
            pdu_session_container=True,
        ),
    ]
    if qer is not None:
        rules.append({"kind": QER, "r": {"qer": {"qer_id": 1, **qer}}})
    if urr is not None:
        body = {"urr_id": 1, "vol_threshold": [0, 0, 0], "vol_quota": [0, 0, 0], **urr}
        rules.append({"kind": URR, "r": {"urr": body}})
    return rules + (extra or [])


def program(lab: Lab, seid: int, op: int, rules: list[dict[str, Any]]) -> Any:
    r = lab.api.upf_session_add_del(seid=seid, op=op, cookie=seid, n_rules=len(rules), rules=rules)
    assert r.retval == 0, r.error
    return r


def gtpu(lab: Lab, teid: int, inner: Any, qfi: int | None = 9, gtp_type: int = 255) -> Any:
    if qfi is None:
        g = GTP_U_Header(teid=teid, gtp_type=gtp_type)
    else:
        g = GTP_U_Header(teid=teid, gtp_type=gtp_type) / GTPPDUSessionContainer(type=1, QFI=qfi)
    return (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IP(src=N3_GNB, dst=N3_UPF)
        / UDP(sport=2152, dport=2152)
        / g
        / inner
    )


def ul_inner(dport: int = 5000, n: int = 32) -> Any:
    return IP(src=UE, dst=SERVER, ttl=64) / UDP(sport=40000, dport=dport) / Raw(b"u" * n)


def counters(lab: Lab) -> dict[str, int]:
    r = lab.api.upf_counters_get()
    assert r.retval == 0
    return {f"{c.kind}:{c.name}": int(c.value) for c in r.counters}


def test_plugin_loaded(lab: Lab) -> None:
    assert "upf_plugin.so" in lab.vpp.cli("show plugins")
    shown = lab.vpp.cli("show upf interfaces")
    assert "pg1 role n6 nwi 2" in shown and "pg0 role n3 nwi 1" in shown


def test_ul_decap_and_dl_encap(lab: Lab) -> None:
    program(lab, 0x10, CREATE, session_rules(0x100, UE, 0x200, qer={"qfi": 5}))
    sent = [ul_inner(n=10 + i) for i in range(3)]
    cap = lab.vpp.capture(1, "ul", 3)
    lab.vpp.send(0, [gtpu(lab, 0x100, p) for p in sent], "ul")
    got = lab.vpp.captured(1, cap, 3)
    assert len(got) == 3
    for s, g in zip(sent, got, strict=True):
        assert g[Ether].dst == ROUTER_MAC
        assert g[IP].src == UE and g[IP].dst == SERVER and g[IP].ttl == 63
        assert bytes(g[UDP].payload) == bytes(s[UDP].payload)

    dl = [
        Ether(src=ROUTER_MAC, dst=lab.n6_mac)
        / IP(src=SERVER, dst=UE, ttl=64)
        / UDP(sport=5000, dport=40000)
        / Raw(b"d" * (20 + i))
        for i in range(2)
    ]
    cap = lab.vpp.capture(0, "dl", 2)
    lab.vpp.send(1, dl, "dl")
    got = lab.vpp.captured(0, cap, 2)
    assert len(got) == 2
    for s, g in zip(dl, got, strict=True):
        assert g[Ether].dst == GNB_MAC
        assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB
        assert g[UDP].sport == 2152 and g[UDP].dport == 2152
        assert g[GTP_U_Header].teid == 0x200
        assert g[GTPPDUSessionContainer].QFI == 5
        inner = IP(bytes(g[GTPPDUSessionContainer].payload))
        assert inner.dst == UE and bytes(inner[UDP].payload) == bytes(s[UDP].payload)
    program(lab, 0x10, DELETE, [])


def _dl_containers(lab: Lab, name: str, n: int) -> list[Any]:
    dl = [
        Ether(src=ROUTER_MAC, dst=lab.n6_mac)
        / IP(src=SERVER, dst=UE, ttl=64)
        / UDP(sport=5000, dport=40000)
        / Raw(b"p" * (20 + i))
        for i in range(n)
    ]
    cap = lab.vpp.capture(0, name, n)
    lab.vpp.send(1, dl, name)
    got = lab.vpp.captured(0, cap, n)
    assert len(got) == n
    for s, g in zip(dl, got, strict=True):
        assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB and g[GTP_U_Header].teid == 0x2B0
        assert g[IP].len == len(g[IP]) and g[UDP].len == len(g[UDP])
        assert g[IP].chksum == IP(bytes(IP(bytes(g[IP]), chksum=None))).chksum
        inner = IP(bytes(g[GTPPDUSessionContainer].payload))
        assert inner.dst == UE and bytes(inner[UDP].payload) == bytes(s[UDP].payload)
    return [g[GTPPDUSessionContainer] for g in got]


def test_qer_paging_policy_indicator_in_dl_container(lab: Lab) -> None:
    """TS 29.244 Table 7.5.2.5-1 (Create QER), Paging Policy Indicator, set in the outgoing
    packets: the DL PDU SESSION INFORMATION has PPP = 1 and the PPI (TS 38.415 5.5.2.1), the
    container 8 octets long; a QER without it (upf_qer.ppi 255, the default) has PPP = 0."""
    program(lab, 0x2B, CREATE, session_rules(0x1B0, UE, 0x2B0, qer={"qfi": 5, "ppi": 3}))
    for psc in _dl_containers(lab, "ppi", 2):
        assert (psc.ExtHdrLen, psc.type, psc.PPP, psc.QFI, psc.PPI) == (2, 0, 1, 5, 3)
    program(lab, 0x2B, MODIFY, session_rules(0x1B0, UE, 0x2B0, qer={"qfi": 5}))
    for psc in _dl_containers(lab, "noppi", 1):
        assert (psc.ExtHdrLen, psc.type, psc.PPP, psc.QFI) == (1, 0, 0, 5)
    program(lab, 0x2B, DELETE, [])


def test_usage_counted_and_reported_at_delete(lab: Lab) -> None:
    program(lab, 0x11, CREATE, session_rules(0x110, "10.45.0.3", 0x210, urr={}))
    sent = [IP(src="10.45.0.3", dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"x" * 50)] * 4
    cap = lab.vpp.capture(1, "usage", 4)
    lab.vpp.send(0, [gtpu(lab, 0x110, p) for p in sent], "usage")
    assert len(lab.vpp.captured(1, cap, 4)) == 4
    r = lab.api.upf_usage_get(seid=0x11, urr_id=1, reset=False)
    assert r.retval == 0 and r.n_usage == 1
    u = r.usage[0]
    assert u.pkts_ul == 4 and u.bytes_ul == 4 * len(sent[0]) and u.pkts_dl == 0
    assert u.bytes_total == u.bytes_ul and u.first_ns <= u.last_ns <= r.now_ns
    (snap,) = list(lab.api.upf_session_usage_dump(seid=0x11))
    assert snap.seid == 0x11 and snap.n_usage == 1 and snap.usage[0].pkts_ul == 4
    d = program(lab, 0x11, DELETE, [])
    assert d.n_usage == 1 and d.usage[0].pkts_ul == 4


def test_precedence_sdf_drop_before_forward(lab: Lab) -> None:
    # PDR 3 (precedence 10): UDP to remote port 6000 -> FAR 3 DROP; PDR 1 (100): the rest
    sdf = {
        "kind": SDF,
        "r": {
            "sdf": {
                "flags": 0x01 | 0x02,
                "proto": 17,
                "remote": "0.0.0.0/0",
                "ue": "0.0.0.0/0",
                "remote_port_lo": 6000,
                "remote_port_hi": 6000,
            }
        },
    }
    extra = [
        pdr(
            3,
            precedence=10,
            source_interface=ACCESS,
            has_fteid=True,
            fteid_addr=N3_UPF,
            teid=0x120,
            outer_header_removal=0,
            network_instance=1,
            sdf_first=0,
            sdf_count=1,
        ),
        far(3, apply_action=DROP),
        sdf,
    ]
    program(lab, 0x12, CREATE, session_rules(0x120, "10.45.0.4", 0x220, extra=extra))
    before = counters(lab)
    pkts = [
        IP(src="10.45.0.4", dst=SERVER) / UDP(sport=1, dport=p) / Raw(b"p" * 8)
        for p in (6000, 7000, 6000, 7000)
    ]
    cap = lab.vpp.capture(1, "prec", 2)
    lab.vpp.send(0, [gtpu(lab, 0x120, p) for p in pkts], "prec")
    got = lab.vpp.captured(1, cap, 2)
    assert [g[UDP].dport for g in got] == [7000, 7000]
    after = counters(lab)
    key = "2:FAR apply action DROP"
    assert after[key] - before[key] == 2
    program(lab, 0x12, DELETE, [])


def test_gate_closed_drops_uplink(lab: Lab) -> None:
    program(lab, 0x13, CREATE, session_rules(0x130, "10.45.0.5", 0x230, qer={}))
    program(
        lab, 0x13, MODIFY, session_rules(0x130, "10.45.0.5", 0x230, qer={"gate_ul_closed": True})
    )
    before = counters(lab)
    cap = lab.vpp.capture(1, "gate", 1)
    pkt = IP(src="10.45.0.5", dst=SERVER) / UDP(sport=1, dport=2)
    lab.vpp.send(0, [gtpu(lab, 0x130, pkt)] * 3, "gate")
    assert lab.vpp.captured(1, cap, 1, timeout=1.0) == []
    assert counters(lab)["2:QER gate closed"] - before["2:QER gate closed"] == 3
    program(lab, 0x13, DELETE, [])


def test_a_urr_measuring_before_qos_counts_what_the_gate_drops(lab: Lab) -> None:
    """before_qos (MBQE): the packets the closed uplink gate drops are counted by the URR
    (not by one without it, test_gate_closed_drops_uplink's session has none)."""
    urr = {"before_qos": True}
    program(lab, 0x1A, CREATE, session_rules(0x1A0, "10.45.0.26", 0x2A0, qer={}, urr=urr))
    closed = {"gate_ul_closed": True}
    rules = session_rules(0x1A0, "10.45.0.26", 0x2A0, qer=closed, urr=urr)
    program(lab, 0x1A, MODIFY, rules)
    before = counters(lab)
    pkt = IP(src="10.45.0.26", dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"q" * 50)
    cap = lab.vpp.capture(1, "mbqe", 1)
    lab.vpp.send(0, [gtpu(lab, 0x1A0, pkt)] * 3, "mbqe")
    assert lab.vpp.captured(1, cap, 1, timeout=1.0) == []
    assert counters(lab)["2:QER gate closed"] - before["2:QER gate closed"] == 3
    r = lab.api.upf_usage_get(seid=0x1A, urr_id=1, reset=False)
    assert r.retval == 0 and r.n_usage == 1
    assert r.usage[0].pkts_ul == 3 and r.usage[0].bytes_ul == 3 * len(pkt)
    program(lab, 0x1A, DELETE, [])


def test_mbr_polices_uplink(lab: Lab) -> None:
    # 8 kbit/s = 1000 B/s, bucket 2000 bytes: of 10 x 500-byte packets sent at once, the
    # bucket lets through about 4
    program(
        lab,
        0x14,
        CREATE,
        session_rules(0x140, "10.45.0.6", 0x240, qer={"mbr_ul": 8000, "burst_bytes": 2000}),
    )
    before = counters(lab)
    pkt = IP(src="10.45.0.6", dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"m" * 472)
    cap = lab.vpp.capture(1, "mbr", 10)
    lab.vpp.send(0, [gtpu(lab, 0x140, pkt)] * 10, "mbr")
    got = lab.vpp.captured(1, cap, 10, timeout=1.0)
    policed = counters(lab)["2:MBR exceeded"] - before["2:MBR exceeded"]
    assert 1 <= len(got) <= 5 and len(got) + policed == 10
    program(lab, 0x14, DELETE, [])


def test_echo_response(lab: Lab) -> None:
    req = (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IP(src=N3_GNB, dst=N3_UPF)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(gtp_type=1, S=1, seq=0x4242, teid=0)
    )
    cap = lab.vpp.capture(0, "echo", 1)
    lab.vpp.send(0, [req], "echo")
    got = lab.vpp.captured(0, cap, 1)
    assert len(got) == 1
    g = got[0]
    assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB and g[UDP].dport == 2152
    assert g[GTP_U_Header].gtp_type == 2 and g[GTP_U_Header].seq == 0x4242


def test_error_indication_on_unknown_teid(lab: Lab) -> None:
    cap = lab.vpp.capture(0, "ei", 1)
    lab.vpp.send(0, [gtpu(lab, 0xDEAD, ul_inner())], "ei")
    got = lab.vpp.captured(0, cap, 1)
    assert len(got) == 1
    g = got[0]
    assert g[IP].dst == N3_GNB and g[GTP_U_Header].gtp_type == 26
    raw = bytes(g[GTP_U_Header].payload)
    # TEID Data I (IE 16) = the unknown TEID, then GTP-U Peer Address (IE 133) = our address
    assert raw[0] == 16 and int.from_bytes(raw[1:5], "big") == 0xDEAD
    assert raw[5] == 133 and raw[8:12] == bytes([10, 0, 3, 1])


def test_malformed_gtpu_counted_and_dropped(lab: Lab) -> None:
    before = counters(lab)
    bad = (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IP(src=N3_GNB, dst=N3_UPF)
        / UDP(sport=2152, dport=2152)
        / Raw(bytes([0x50, 0xFF, 0, 4, 0, 0, 1, 0]) + b"abcd")
    )
    cap = lab.vpp.capture(1, "bad", 1)
    lab.vpp.send(0, [bad] * 2, "bad")
    assert lab.vpp.captured(1, cap, 1, timeout=1.0) == []
    after = counters(lab)
    assert after["1:GTP version not 1"] - before["1:GTP version not 1"] == 2


def test_usage_threshold_event(lab: Lab) -> None:
    r = lab.api.want_upf_events(enable=True, pid=1)
    assert r.retval == 0
    lab.events.clear()
    program(
        lab,
        0x15,
        CREATE,
        session_rules(
            0x150, "10.45.0.7", 0x250, urr={"triggers": 0x01, "vol_threshold": [100, 0, 0]}
        ),
    )
    pkt = IP(src="10.45.0.7", dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"t" * 60)
    cap = lab.vpp.capture(1, "ev", 3)
    lab.vpp.send(0, [gtpu(lab, 0x150, pkt)] * 3, "ev")
    assert len(lab.vpp.captured(1, cap, 3)) == 3
    deadline = time.monotonic() + 3
    while not lab.events and time.monotonic() < deadline:
        lab.api.control_ping()  # reading replies also reads the queued events
        time.sleep(0.05)
    recs = [rec for e in lab.events for rec in e.records]
    assert any(rec.type == 1 and rec.seid == 0x15 and rec.id == 1 for rec in recs), recs
    program(lab, 0x15, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=1)


def _events(lab: Lab, seid: int, kind: int, timeout: float = 3.0) -> int:
    """How many events of ``kind`` for ``seid`` arrive within ``timeout`` (read, then
    cleared from ``lab.events``), waiting for the first."""
    deadline = time.monotonic() + timeout
    found = 0
    while time.monotonic() < deadline:
        lab.api.control_ping()  # reading replies also reads the queued events
        recs = [rec for e in lab.events for rec in e.records]
        lab.events.clear()
        found += sum(1 for rec in recs if rec.type == kind and rec.seid == seid)
        if found:
            return found
        time.sleep(0.05)
    return found


def test_time_quota_granted_again_with_the_same_value(lab: Lab) -> None:
    """A Time Quota used up (its event, the traffic dropped) stays used up through a
    program of the same quota and grant; granted again with the same value (another
    time_quota_grant, TS 29.244 5.2.2.2.1: a new quota) the traffic is forwarded, until
    that quota is used up in turn, with its own event."""
    time_quota = 4  # EventType.TIME_QUOTA
    seid, teid, ue = 0x17, 0x170, "10.45.0.9"
    assert lab.api.want_upf_events(enable=True, pid=1).retval == 0
    lab.events.clear()
    # (a grant's quota starts at the plugin's next tick after its program, every 100 ms:
    # 2 s leave this test's steps time)
    urr = {"triggers": 0x08, "drop_on_quota": True, "time_quota_ns": 2_000_000_000}
    program(lab, seid, CREATE, session_rules(teid, ue, 0x270, urr={**urr, "time_quota_grant": 1}))
    pkt = gtpu(lab, teid, IP(src=ue, dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"q" * 40))

    def forwarded(tag: str) -> int:
        cap = lab.vpp.capture(1, tag, 1)
        lab.vpp.send(0, [pkt], tag)
        return len(lab.vpp.captured(1, cap, 1, timeout=1.0))

    def flags(reset: bool) -> int:
        r = lab.api.upf_usage_get(seid=seid, urr_id=1, reset=reset)
        assert r.retval == 0 and r.n_usage == 1
        return int(r.usage[0].flags)

    def granted(grant: int) -> None:
        rules = session_rules(teid, ue, 0x270, urr={**urr, "time_quota_grant": grant})
        program(lab, seid, MODIFY, rules)

    try:
        assert forwarded("tq1") == 1
        assert _events(lab, seid, time_quota, timeout=5.0) == 1
        assert forwarded("tq2") == 0
        granted(1)  # (another change of the session: the same grant)
        assert forwarded("tq3") == 0
        assert _events(lab, seid, time_quota, timeout=1.0) == 0
        assert flags(reset=True) & 8  # (the report's read: a new period, still used up)
        granted(2)
        assert not flags(reset=False) & 8
        assert forwarded("tq4") == 1
        assert _events(lab, seid, time_quota, timeout=5.0) == 1
        assert forwarded("tq5") == 0
    finally:
        program(lab, seid, DELETE, [])
        lab.api.want_upf_events(enable=False, pid=1)


def test_time_quota_counts_from_its_grant_across_reads_with_reset(lab: Lab) -> None:
    """A Time Quota counts from its grant (here the first packet, the quota granted before
    it): reads with reset every 0.3 s (pfcpd's periodic or Query URR reports), each a new
    measurement period, do not start it again: its event comes ~2 s after the packet, and
    its traffic is dropped from then."""
    time_quota = 4  # EventType.TIME_QUOTA
    seid, teid, ue = 0x1B, 0x1B0, "10.45.0.27"
    assert lab.api.want_upf_events(enable=True, pid=1).retval == 0
    lab.events.clear()
    urr = {"triggers": 0x08, "drop_on_quota": True, "time_quota_ns": 2_000_000_000}
    program(lab, seid, CREATE, session_rules(teid, ue, 0x2B0, urr={**urr, "time_quota_grant": 1}))
    pkt = gtpu(lab, teid, IP(src=ue, dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"r" * 40))

    def forwarded(tag: str) -> int:
        cap = lab.vpp.capture(1, tag, 1)
        lab.vpp.send(0, [pkt], tag)
        return len(lab.vpp.captured(1, cap, 1, timeout=1.0))

    try:
        start = time.monotonic()
        assert forwarded("tr1") == 1
        found, at = 0, 0.0
        while not found and time.monotonic() - start < 6.0:
            r = lab.api.upf_usage_get(seid=seid, urr_id=1, reset=True)
            assert r.retval == 0 and r.n_usage == 1
            found = _events(lab, seid, time_quota, timeout=0.3)
            at = time.monotonic() - start
        assert found == 1 and at >= 1.9, at
        assert forwarded("tr2") == 0
    finally:
        program(lab, seid, DELETE, [])
        lab.api.want_upf_events(enable=False, pid=1)


def test_refused_program_changes_nothing(lab: Lab) -> None:
    # a PDR naming a FAR that does not exist is refused with the core's reason
    rules = [
        pdr(1, source_interface=ACCESS, has_fteid=True, fteid_addr=N3_UPF, teid=0x160, far_id=99)
    ]
    r = lab.api.upf_session_add_del(seid=0x16, op=CREATE, cookie=0, n_rules=1, rules=rules)
    assert r.retval != 0 and r.error
    assert list(lab.api.upf_session_dump(seid=0x16)) == []


@pytest.mark.parametrize("op", [MODIFY, DELETE])
def test_unknown_seid_refused(lab: Lab, op: int) -> None:
    r = lab.api.upf_session_add_del(seid=0x999, op=op, cookie=0, n_rules=0, rules=[])
    assert r.retval == -6  # VNET_API_ERROR_NO_SUCH_ENTRY


def dl_frames(lab: Lab, ue: str, n: int, size: int = 20) -> list[Any]:
    return [
        Ether(src=ROUTER_MAC, dst=lab.n6_mac)
        / IP(src=SERVER, dst=ue)
        / UDP(sport=5000, dport=40000)
        / Raw(bytes([i]) * size)
        for i in range(n)
    ]


def wait_events(lab: Lab, pred: Any, timeout: float = 3.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lab.api.control_ping()  # reading replies also reads the queued events
        recs = [rec for e in lab.events for rec in e.records]
        if any(pred(r) for r in recs):
            return recs
        time.sleep(0.05)
    return [rec for e in lab.events for rec in e.records]


def test_end_marker_on_path_switch(lab: Lab) -> None:
    program(lab, 0x17, CREATE, session_rules(0x170, "10.45.0.8", 0x270))
    cap = lab.vpp.capture(0, "em", 1)
    r = lab.api.upf_session_add_del(
        seid=0x17,
        op=MODIFY,
        send_end_marker=True,
        cookie=0,
        n_rules=4,
        rules=session_rules(0x170, "10.45.0.8", 0x271),
    )
    assert r.retval == 0, r.error
    got = lab.vpp.captured(0, cap, 1)
    assert len(got) == 1
    assert got[0][GTP_U_Header].gtp_type == 254 and got[0][GTP_U_Header].teid == 0x270
    assert got[0][IP].dst == N3_GNB
    program(lab, 0x17, DELETE, [])


def test_dl_buffering_report_and_ordered_flush(lab: Lab) -> None:
    r = lab.api.want_upf_events(enable=True, pid=2)
    assert r.retval == 0
    lab.events.clear()
    ue = "10.45.0.9"
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1, "max_pkts": 16}}}
    rules = session_rules(0x180, ue, 0x280, extra=[bar])
    rules[3]["r"]["far"]["apply_action"] = 0x04 | 0x08  # BUFF | NOCP
    program(lab, 0x18, CREATE, rules)
    lab.vpp.send(1, dl_frames(lab, ue, 5), "buf")
    recs = wait_events(lab, lambda r: r.type == 5 and r.seid == 0x18)
    assert any(r.type == 5 and r.seid == 0x18 and r.id == 2 for r in recs), recs
    (d,) = list(lab.api.upf_session_dump(seid=0x18))
    assert d.buffered_pkts == 5
    cap = lab.vpp.capture(0, "flush", 5)
    program(lab, 0x18, MODIFY, session_rules(0x180, ue, 0x280, extra=[bar]))
    got = lab.vpp.captured(0, cap, 5)
    inner = [IP(bytes(g[GTPPDUSessionContainer].payload)) for g in got]
    assert [bytes(i[UDP].payload)[0] for i in inner] == [0, 1, 2, 3, 4]
    assert all(g[GTP_U_Header].teid == 0x280 for g in got)
    program(lab, 0x18, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=2)


def test_drop_buffered(lab: Lab) -> None:
    ue = "10.45.0.10"
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1}}}
    rules = session_rules(0x190, ue, 0x290, extra=[bar])
    rules[3]["r"]["far"]["apply_action"] = 0x04
    program(lab, 0x19, CREATE, rules)
    lab.vpp.send(1, dl_frames(lab, ue, 3), "drobu")
    r = lab.api.upf_session_drop_buffered(seid=0x19)
    assert r.retval == 0 and r.n_dropped == 3
    (d,) = list(lab.api.upf_session_dump(seid=0x19))
    assert d.buffered_pkts == 0
    program(lab, 0x19, DELETE, [])


def test_a_dl_data_report_rearmed_is_raised_again(lab: Lab) -> None:
    """upf_session_rearm_dl_report (TS 29.244 5.2.3.1: a report the CP never got): the
    pair's next buffered packet raises its DL data report again; a pair not reported, or
    a session VPP does not hold, changes nothing."""
    r = lab.api.want_upf_events(enable=True, pid=2)
    assert r.retval == 0
    lab.events.clear()
    ue = "10.45.0.11"
    bar = {"kind": 6, "r": {"bar": {"bar_id": 1}}}
    rules = session_rules(0x1A0, ue, 0x2A0, extra=[bar])
    rules[3]["r"]["far"]["apply_action"] = 0x04 | 0x08  # BUFF | NOCP

    def reports() -> list[Any]:
        return [r for e in lab.events for r in e.records if r.type == 5 and r.seid == 0x1A]

    program(lab, 0x1A, CREATE, rules)
    lab.vpp.send(1, dl_frames(lab, ue, 2), "rearm1")
    wait_events(lab, lambda r: r.type == 5 and r.seid == 0x1A)
    assert [r.id for r in reports()] == [2]
    r = lab.api.upf_session_rearm_dl_report(seid=0x1A, pdr_id=2, qfi=5)
    assert r.retval == 0 and not r.rearmed
    r = lab.api.upf_session_rearm_dl_report(seid=0x1A, pdr_id=2, qfi=0)
    assert r.retval == 0 and r.rearmed
    lab.vpp.send(1, dl_frames(lab, ue, 2), "rearm2")
    wait_events(lab, lambda r: len(reports()) > 1)
    assert [r.id for r in reports()] == [2, 2]
    (d,) = list(lab.api.upf_session_dump(seid=0x1A))
    assert d.buffered_pkts == 4
    r = lab.api.upf_session_rearm_dl_report(seid=0x1B, pdr_id=2, qfi=0)
    assert r.retval != 0
    program(lab, 0x1A, DELETE, [])
    lab.api.want_upf_events(enable=False, pid=2)


def test_ipv6_outer_and_ipv6_ue(lab: Lab) -> None:
    from scapy.layers.inet6 import IPv6

    upf6, gnb6, ue6, server6 = "2001:db8:3::1", "2001:db8:3::2", "2001:db8:45::2", "2001:db8:99::1"
    rules = [
        pdr(
            1,
            source_interface=ACCESS,
            has_fteid=True,
            fteid_addr=upf6,
            teid=0x1A0,
            outer_header_removal=1,
            network_instance=1,
        ),
        pdr(2, source_interface=CORE, has_ue_ip=True, ue_ip=f"{ue6}/128", network_instance=2),
        far(1, destination_interface=CORE, network_instance=2),
        far(
            2,
            destination_interface=ACCESS,
            network_instance=1,
            ohc=1,
            ohc_peer=gnb6,
            ohc_teid=0x2A0,
            ohc_src=upf6,
            pdu_session_container=True,
        ),
    ]
    program(lab, 0x1A, CREATE, rules)
    inner = IPv6(src=ue6, dst=server6, hlim=64) / UDP(sport=1, dport=2) / Raw(b"six")
    ul = (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IPv6(src=gnb6, dst=upf6)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=0x1A0, gtp_type=255)
        / GTPPDUSessionContainer(type=1, QFI=1)
        / inner
    )
    cap = lab.vpp.capture(1, "ul6", 1)
    lab.vpp.send(0, [ul], "ul6")
    got = lab.vpp.captured(1, cap, 1)
    assert len(got) == 1 and got[0][IPv6].src == ue6 and got[0][IPv6].hlim == 63
    dl = Ether(src=ROUTER_MAC, dst=lab.n6_mac) / IPv6(src=server6, dst=ue6) / UDP() / Raw(b"dl6")
    cap = lab.vpp.capture(0, "dl6", 1)
    lab.vpp.send(1, [dl], "dl6")
    got = lab.vpp.captured(0, cap, 1)
    assert len(got) == 1
    g = got[0]
    assert g[IPv6].src == upf6 and g[IPv6].dst == gnb6 and g[GTP_U_Header].teid == 0x2A0
    assert bytes(g[GTPPDUSessionContainer].payload)[-3:] == b"dl6"
    program(lab, 0x1A, DELETE, [])


def test_a_received_error_indication_names_its_teid_and_sender(lab: Lab) -> None:
    """A gNB's Error Indication (TS 29.281 7.3.1): the event carries its TEID Data I
    (value) and its GTP-U Peer Address (has_peer, peer: IPv4, or IPv6 with all its 16
    octets), which pfcpd matches with the FARs' peers; without the address, has_peer
    false (the TEID alone). id is 0."""
    from scapy.contrib.gtp import IE_TEIDI, GTPErrorIndication, IE_GSNAddress

    gnb6 = "2001:db8:9:1:2:3:4:5"
    assert lab.api.want_upf_events(enable=True, pid=3).retval == 0
    lab.events.clear()
    senders = (
        IE_GSNAddress(length=4, ipv4_address=N3_GNB),
        IE_GSNAddress(length=16, ipv6_address=gnb6),
        None,
    )
    for teid, sender in enumerate(senders, 0x1234):
        ies = [IE_TEIDI(TEIDI=teid)] + ([sender] if sender is not None else [])
        ei = GTPErrorIndication(IE_list=ies)
        lab.vpp.send(0, [gtpu(lab, 0, ei, qfi=None, gtp_type=26)], "eir")
    recs = wait_events(lab, lambda r: r.type == 7 and r.value == 0x1236)
    got = {
        r.value: (r.seid, r.id, r.has_peer, r.peer if r.has_peer else None)
        for r in recs
        if r.type == 7
    }
    assert got == {
        0x1234: (0, 0, True, ipaddress.IPv4Address(N3_GNB)),
        0x1235: (0, 0, True, ipaddress.IPv6Address(gnb6)),
        0x1236: (0, 0, False, None),
    }, recs
    lab.api.want_upf_events(enable=False, pid=3)


def test_gtpu_path_management_echo_sent_and_response_reported(lab: Lab) -> None:
    """GTP-U path management (TS 29.281 7.2.1): ``upf_gtpu_echo_send`` puts an Echo Request
    (TEID 0, S, the sequence number) from our N3 address to the peer's port 2152 on the
    wire; the peer's Echo Response comes back as an event record of type 8 (the sequence
    number as value, the sender as peer), and is not answered. (Skipped with a plugin older
    than the message: written with it, not yet run against a rebuilt plugin.)"""
    if not hasattr(lab.api, "upf_gtpu_echo_send"):
        pytest.skip("the upf plugin has no upf_gtpu_echo_send (older than this tree)")
    cap = lab.vpp.capture(0, "echoreq", 1)
    r = lab.api.upf_gtpu_echo_send(
        src=ipaddress.ip_address(N3_UPF), dst=ipaddress.ip_address(N3_GNB), seq=0x0777
    )
    assert r.retval == 0
    (g,) = lab.vpp.captured(0, cap, 1)
    assert g[IP].src == N3_UPF and g[IP].dst == N3_GNB
    assert g[UDP].sport == 2152 and g[UDP].dport == 2152
    h = g[GTP_U_Header]
    assert (h.gtp_type, h.S, h.seq, h.teid, h.length) == (1, 1, 0x0777, 0, 4)
    mixed = lab.api.upf_gtpu_echo_send(
        src=ipaddress.ip_address(N3_UPF), dst=ipaddress.ip_address("2001:db8::9"), seq=1
    )
    assert mixed.retval != 0  # (two families: refused)
    assert lab.api.want_upf_events(enable=True, pid=4).retval == 0
    lab.events.clear()
    resp = (
        Ether(src=GNB_MAC, dst=lab.n3_mac)
        / IP(src=N3_GNB, dst=N3_UPF)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(gtp_type=2, S=1, seq=0x0777, teid=0)
        / Raw(b"\x0e\x00")  # Recovery
    )
    lab.vpp.send(0, [resp], "echoresp")
    recs = wait_events(lab, lambda r: r.type == 8)
    got = [(r.seid, r.id, r.value, r.has_peer, r.peer) for r in recs if r.type == 8]
    assert got == [(0, 0, 0x0777, True, ipaddress.IPv4Address(N3_GNB))], recs
    lab.api.want_upf_events(enable=False, pid=4)

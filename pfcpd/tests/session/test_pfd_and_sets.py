"""PFD Management (Application ID PDRs match their PFDs' flow descriptions), Session Set
Deletion and Session Set Modification, through the sans-IO node with the engine on the real
local datapath."""

from __future__ import annotations

import json
from ipaddress import ip_network

import pytest
from oracles import tshark_fields, tshark_problems
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw, raw
from session_harness import (
    DN,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
    g,
    qer,
    restarted,
    standard_rules,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.interface import SdfFilter
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.codec import encode_ies
from pfcpd.pfcp.ie import IE, RawIE
from pfcpd.session.engine import SessionEngine

T = IEType
M = MessageType
UE = "10.45.0.1"


def pfd_request(app: str, *contents: TR.PFDContents) -> Message:
    ctx = [g(T.PFD_CONTEXT, c) for c in contents]
    return Message(
        M.PFD_MANAGEMENT_REQUEST, 0, [g(T.APPLICATION_IDS_PFDS, X.ApplicationID(app), *ctx)]
    )


def app_dl_pdr(app: str) -> object:
    pdi = g(
        T.PDI,
        S.SourceInterface(1),
        X.NetworkInstance("internet"),
        A.UEIPAddress(choose_v4=True),
        X.ApplicationID(app),
    )
    return g(T.CREATE_PDR, S.PDRID(3), S.Precedence(10), pdi, S.FARID(3))


def dl(port: int) -> bytes:
    return raw(IP(src=DN, dst=UE) / UDP(sport=port, dport=1000) / Raw(b"x" * 10))


def test_application_pdr_matches_its_pfd_flows(h: Harness) -> None:
    assert "PFDM" in h.engine.up_features()
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr("web"), ul_far(), dl_far(), far3, qer(), urr(1)]
    resp = h.establish(*rules)  # type: ignore[arg-type]
    assert cause(resp) == 1
    assert h.dp.process_dl(dl(443)).pdr_id == 3
    assert h.dp.process_dl(dl(80)).pdr_id == 2
    # New PFDs for the application: the session follows them.
    other = TR.PFDContents(fd=b"permit out 17 from any 8443 to assigned")
    assert cause(h.request(pfd_request("web", other))) == 1
    assert h.dp.process_dl(dl(8443)).pdr_id == 3 and h.dp.process_dl(dl(443)).pdr_id == 2
    assert h.journal.records["pfd"]


def test_unknown_application_and_domain_name_pfds_are_refused(h: Harness) -> None:
    resp = h.request(pfd_request("video", TR.PFDContents(dn=b"example.com")))
    assert cause(resp) == 76 and resp.get(T.OFFENDING_IE).value == T.PFD_CONTENTS  # type: ignore[union-attr]
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr("video"), ul_far(), dl_far(), far3, qer(), urr(1)]
    resp = h.establish(*rules)  # type: ignore[arg-type]
    assert cause(resp) == 81 and h.engine.teids.in_use == 0


def _app_session(h: Harness, app: str) -> Message:
    """A session whose downlink PDR 3 (to FAR 3) names ``app``, beside PDR 2 (every other
    downlink packet): its establishment's answer (accepted)."""
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr(app), ul_far(), dl_far(), far3, qer(), urr(1)]
    resp = h.establish(*rules)  # type: ignore[arg-type]
    assert cause(resp) == 1
    return resp


def _removal(app: str) -> Message:
    """A PFD Management Request removing ``app``'s PFDs (no PFD Context)."""
    return Message(M.PFD_MANAGEMENT_REQUEST, 0, [g(T.APPLICATION_IDS_PFDS, X.ApplicationID(app))])


def test_an_application_pdr_detects_nothing_while_its_pfds_are_removed(h: Harness) -> None:
    """Its PFDs removed, a PDR naming the application detects no traffic (its flow goes to
    PDR 2, as every other packet does: the PDR does not match all of them either) and the
    session keeps it; PFDs provisioned again, it detects their flows."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    seid = up_seid(_app_session(h, "web"))
    assert h.dp.process_dl(dl(443)).pdr_id == 3
    assert cause(h.request(_removal("web"))) == 1
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80, 8443)] == [2, 2, 2]
    assert 3 in h.engine.sessions[seid].rules.pdr
    assert json.loads(h.journal.records["pfd"]) == {"web": []}
    other = TR.PFDContents(fd=b"permit out 17 from any 8443 to assigned")
    assert cause(h.request(pfd_request("web", other))) == 1
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80, 8443)] == [2, 2, 3]


def test_a_request_naming_no_application_removes_every_application_s_pfds(h: Harness) -> None:
    """TS 29.244 Table 7.4.3.1-1: a PFD Management Request without Application ID's PFDs
    deletes the PFDs of every Application ID: the applications stay known with none (a
    session naming one keeps its PDR, which detects nothing; a new one naming another is
    accepted), journaled; PFDs provisioned again, the session's PDR detects their flows."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    video = TR.PFDContents(fd=b"permit out 17 from any 554 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    assert cause(h.request(pfd_request("video", video))) == 1
    seid = up_seid(_app_session(h, "web"))
    assert h.dp.process_dl(dl(443)).pdr_id == 3
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, []))) == 1
    assert h.engine.pfds.apps == {"web": (), "video": ()}
    assert json.loads(h.journal.records["pfd"]) == {"web": [], "video": []}
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]
    assert 3 in h.engine.sessions[seid].rules.pdr
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr("video"), ul_far(), dl_far(), far3, qer(), urr(1)]
    assert cause(h.establish(*rules, cp_seid=2)) == 1  # type: ignore[arg-type]
    assert cause(h.request(pfd_request("web", web))) == 1
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [3, 2]


def test_a_request_naming_no_application_with_none_known_changes_nothing(h: Harness) -> None:
    """No application provisioned: accepted, none becomes known (a PDR naming one is still
    refused with 81)."""
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, []))) == 1
    assert h.engine.pfds.apps == {}
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr("web"), ul_far(), dl_far(), far3, qer(), urr(1)]
    assert cause(h.establish(*rules)) == 81  # type: ignore[arg-type]


def test_a_new_pdr_naming_an_application_without_pfds_detects_nothing(h: Harness) -> None:
    """An application whose PFDs were removed is known: a session naming it is established,
    its PDR detecting nothing until PFDs come; an Application ID never provisioned (its
    removal changes nothing) is still refused with 81."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    assert cause(h.request(_removal("web"))) == 1
    resp = _app_session(h, "web")
    assert created(resp)[3][T.UE_IP_ADDRESS].ipv4 == UE  # type: ignore[attr-defined]
    assert h.engine.sessions[up_seid(resp)].apps == frozenset({"web"})
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]
    assert cause(h.request(pfd_request("web", web))) == 1
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [3, 2]
    assert cause(h.request(_removal("video"))) == 1
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3).ies[1:])
    rules = [ul_pdr(), dl_pdr(), app_dl_pdr("video"), ul_far(), dl_far(), far3, qer(), urr(1)]
    resp = h.establish(*rules, cp_seid=2)  # type: ignore[arg-type]
    assert cause(resp) == 81 and len(h.engine.sessions) == 1


def _app_session_with(h: Harness, *sdf: TR.SDFFilter) -> Message:
    """`_app_session` for "web" whose PDR 3 has the SDF filters ``sdf`` too: its
    establishment's answer."""
    pdr3 = app_dl_pdr("web")
    pdi = pdr3.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies += sdf
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    rules = [ul_pdr(), dl_pdr(), pdr3, ul_far(), dl_far(), far3, qer(), urr(1)]
    return h.establish(*rules)  # type: ignore[arg-type]


def _pdr3_filters(engine: SessionEngine, seid: int) -> tuple[SdfFilter, ...] | None:
    """The SDF filters of the session's PDR 3 as its program has them (None: left out)."""
    program = engine._program(engine.sessions[seid])
    return next((p.sdf_filters for p in program.pdrs if p.pdr_id == 3), None)


def test_sdf_filters_and_an_application_both_apply(h: Harness) -> None:
    """A PDI with SDF filters and an Application ID matches the packets that match one SDF
    filter and one of the application's flows (TS 29.244 5.2.1: all its match fields): its
    filters are their intersections, after new PFDs and after a restart too."""
    web = TR.PFDContents(fd=b"permit out 17 from 198.51.100.0/24 400-500 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    own = TR.SDFFilter(flow_description="permit out 17 from any 443-8443 to assigned")
    resp = _app_session_with(h, own)
    assert cause(resp) == 1
    seid = up_seid(resp)
    both = SdfFilter(protocol=17, remote=ip_network("198.51.100.0/24"), remote_ports=(443, 500))
    assert _pdr3_filters(h.engine, seid) == (both,)
    # (420: the application's flow only; 600: the SDF filter's only)
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 500, 420, 600)] == [3, 3, 2, 2]
    other = TR.PFDContents(fd=b"permit out 17 from any 8000-9000 to assigned")
    assert cause(h.request(pfd_request("web", other))) == 1
    assert _pdr3_filters(h.engine, seid) == (SdfFilter(protocol=17, remote_ports=(8000, 8443)),)
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (8000, 8443, 8444, 443)] == [3, 3, 2, 2]
    with restarted(h, 1) as engine:
        assert _pdr3_filters(engine, seid) == _pdr3_filters(h.engine, seid)
        assert [engine.datapath.process_dl(dl(p)).pdr_id for p in (8443, 8444)] == [3, 2]


def test_sdf_filters_that_meet_no_application_flow_detect_nothing(h: Harness) -> None:
    """No SDF filter meets one of the application's flows: the PDR detects no traffic (the
    program leaves it out, the session keeps it), until PFDs come that one meets."""
    web = TR.PFDContents(fd=b"permit out 17 from 198.51.100.0/24 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    tcp = TR.SDFFilter(flow_description="permit out 6 from any 443 to assigned")
    udp_elsewhere = TR.SDFFilter(flow_description="permit out 17 from 192.0.2.0/24 to assigned")
    resp = _app_session_with(h, tcp, udp_elsewhere)
    assert cause(resp) == 1
    seid = up_seid(resp)
    assert _pdr3_filters(h.engine, seid) is None and 3 in h.engine.sessions[seid].rules.pdr
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]
    any_tcp = TR.PFDContents(fd=b"permit out 6 from any to assigned")
    assert cause(h.request(pfd_request("web", any_tcp))) == 1
    assert _pdr3_filters(h.engine, seid) == (SdfFilter(protocol=6, remote_ports=(443, 443)),)
    tcp443 = raw(IP(src=DN, dst=UE) / TCP(sport=443, dport=1000) / Raw(b"x" * 10))
    assert [h.dp.process_dl(p).pdr_id for p in (tcp443, dl(443))] == [3, 2]


def test_an_sdf_filter_of_tos_alone_narrows_the_application_flows(h: Harness) -> None:
    """An SDF filter with a ToS/Traffic Class and no flow description, beside an Application
    ID: the application's flows with that ToS."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    resp = _app_session_with(h, TR.SDFFilter(tos_traffic_class=0xB8FC))  # (DSCP EF)
    assert cause(resp) == 1
    want = SdfFilter(protocol=17, remote_ports=(443, 443), tos=(0xB8, 0xFC))
    assert _pdr3_filters(h.engine, up_seid(resp)) == (want,)
    ef = raw(IP(src=DN, dst=UE, tos=0xB8) / UDP(sport=443, dport=1000) / Raw(b"x" * 10))
    assert [h.dp.process_dl(p).pdr_id for p in (ef, dl(443))] == [3, 2]


def test_the_filter_limit_holds_for_the_intersections(h: Harness) -> None:
    """At most 64 SDF filters for a PDR: what the intersections give, whatever the SDF
    filters and flows are in number. 80 flows met by 40 SDF filters are 40 filters; 8 SDF
    filters each meeting each of 9 flows are 72, refused (73, Failed Rule ID PDR 3)."""
    flows = [
        TR.PFDContents(fd=f"permit out 17 from any {port} to assigned".encode())
        for port in range(2000, 2080)
    ]
    assert cause(h.request(pfd_request("web", *flows))) == 1
    even = ",".join(str(port) for port in range(2000, 2080, 2))
    resp = _app_session_with(
        h, TR.SDFFilter(flow_description=f"permit out 17 from any {even} to assigned")
    )
    assert cause(resp) == 1
    assert len(_pdr3_filters(h.engine, up_seid(resp)) or ()) == 40
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (2000, 2001, 2078)] == [3, 2, 3]
    assert cause(h.delete(up_seid(resp))) == 1
    assert cause(h.request(pfd_request("web", *flows[:9]))) == 1
    ue_ports = TR.SDFFilter(
        flow_description="permit out 17 from any to assigned 1,3,5,7,9,11,13,15"
    )
    resp = _app_session_with(h, ue_ports)
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 3)
    assert h.engine.sessions == {}


def test_too_many_pairs_to_intersect_are_refused(h: Harness) -> None:
    """A PDR whose SDF filters times its application's flows exceed 64 x 64 pairs is refused
    (73, Failed Rule ID PDR 3) before any pair is intersected: 64 SDF filters against 65
    flows, though at most one pair meets."""
    flows = [
        TR.PFDContents(fd=f"permit out 17 from any {port} to assigned".encode())
        for port in range(3000, 3065)
    ]
    assert cause(h.request(pfd_request("web", *flows))) == 1
    ports = ",".join(str(port) for port in range(2874, 3001, 2))  # (64: only 3000 meets)
    own = TR.SDFFilter(flow_description=f"permit out 17 from any {ports} to assigned")
    resp = _app_session_with(h, own)
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 3)
    assert h.engine.sessions == {}
    assert cause(h.request(pfd_request("web", *flows[:64]))) == 1  # (4,096 pairs)
    resp = _app_session_with(h, own)
    assert cause(resp) == 1
    assert _pdr3_filters(h.engine, up_seid(resp)) == (
        SdfFilter(protocol=17, remote_ports=(3000, 3000)),
    )


def _filtered_app_session(h: Harness) -> int:
    """A second session (CP SEID 2) whose PDR 3 names "web" and has SDF filters of its own:
    every UDP flow, and UDP from remote port 2000 to UE port 1000. With the application's
    UDP flows from remote ports 2000 on, its PDR 3 has one filter (rule) more than
    `_app_session`'s in the downlink direction: each flow, and flow 2000 to port 1000. Its
    UP SEID."""
    pdr3 = app_dl_pdr("web")
    pdi = pdr3.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(TR.SDFFilter(flow_description="permit out 17 from any to assigned"))
    pdi.ies.append(TR.SDFFilter(flow_description="permit out 17 from any 2000 to assigned 1000"))
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x334).ies[1:])
    rules = [ul_pdr(), dl_pdr(), pdr3, ul_far(), dl_far(), far3, qer(), urr(1)]
    return up_seid(h.establish(*rules, cp_seid=2))  # type: ignore[arg-type]


def test_pfds_a_session_cannot_take_are_refused_and_change_nothing(h: Harness) -> None:
    """New PFDs that give a session's PDR more SDF filters than it may have (64), or its
    program more rules than the datapath takes in a direction: the request is refused (64,
    Offending IE PFD Contents) and changes nothing: every session keeps the PFDs before, in
    the datapath, the journal and after a restart (it would otherwise keep them in the
    datapath alone, and its record would not restore)."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    seid = up_seid(_app_session(h, "web"))  # (UE: the pool's first address)
    other = _filtered_app_session(h)
    record = h.journal.records["pfd"]
    # 65 flows: more SDF filters than the first session's PDR 3 may have (it does not
    # compile); 63: the first session's downlink takes them (64 rules with PDR 2's), the
    # second's would have 65 rules in that direction (the datapath refuses its program),
    # after the first one's was installed
    for flows in (65, 63):
        many = [
            TR.PFDContents(fd=f"permit out 17 from any {port} to assigned".encode())
            for port in range(2000, 2000 + flows)
        ]
        resp = h.request(pfd_request("web", *many))
        assert cause(resp) == 64
        assert resp.get(T.OFFENDING_IE).value == T.PFD_CONTENTS  # type: ignore[union-attr]
        assert h.engine.pfds.flows("web") == ("permit out 17 from any 443 to assigned",)
        assert h.journal.records["pfd"] == record
        assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 2000)] == [3, 2]
    with restarted(h, 2) as engine:
        assert sorted(engine.sessions) == sorted([seid, other])
        assert engine.pfds.flows("web") == ("permit out 17 from any 443 to assigned",)


def test_a_refused_pfd_request_leaves_no_session_to_the_next_change(h: Harness) -> None:
    """A PFD Management Request refused after it installed a session's program with the new
    PFDs (and again with the old ones) leaves no session noted as handed to the datapath:
    the next change of the batch would take it as its own (undone, 77, should the
    datapath refuse that session at the barrier)."""
    web = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    assert cause(h.request(pfd_request("web", web))) == 1
    _app_session(h, "web")
    _filtered_app_session(h)
    many = [
        TR.PFDContents(fd=f"permit out 17 from any {port} to assigned".encode())
        for port in range(2000, 2063)
    ]
    h.send(pfd_request("web", *many), 400)
    assert h.engine._touched == []
    (answer,) = h._collect()
    assert cause(answer) == 64


def test_session_set_deletion_removes_the_cps_sessions(h: Harness) -> None:
    seids = [up_seid(h.establish(cp_seid=i)) for i in (1, 2)]
    resp = h.request(Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf")]))
    assert cause(resp) == 1 and resp.seid is None
    assert all(s not in h.engine.sessions for s in seids) and h.records == {}
    assert h.dp.process_dl(dl(80)).verdict == Verdict.DROP


def test_another_cp_cannot_touch_a_session(h: Harness) -> None:
    seid = up_seid(h.establish())
    other = ("127.0.0.3", 8805)
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST, 1, [A.NodeID.from_text("smf2"), S.RecoveryTimeStamp(1)]
    )
    h.node.datagram_received(encode(setup), other, h.now)
    h.node.datagrams_to_send()
    for req in (
        Message(M.SESSION_DELETION_REQUEST, 2, [], seid),
        Message(M.SESSION_MODIFICATION_REQUEST, 3, [g(T.QUERY_URR, S.URRID(1))], seid),
    ):
        h.node.datagram_received(encode(req), other, h.now)
        (resp,) = [decode(t.data) for t in h.node.datagrams_to_send()]
        assert cause(resp) == 65 and resp.seid == 0
    assert seid in h.engine.sessions


SMF_NODE = "192.0.2.77"  # the address in the SMF's FQ-CSIDs
SMF2 = ("127.0.0.3", 8805)


def fq_csid(*csids: int, node: str = SMF_NODE) -> A.FQCSID:
    return A.FQCSID(A.FQ_CSID_IPV4, node, csids, 2)  # node type PGW-C/SMF


def _establish_with(h: Harness, cp_seid: int, *ies: IE) -> int:
    req = establishment(*standard_rules(), cp_seid=cp_seid)
    req.ies += list(ies)
    return up_seid(h.request(req))


def _associate(h: Harness, addr: tuple[str, int], node_id: str, *ies: IE) -> None:
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        1,
        [A.NodeID.from_text(node_id), S.RecoveryTimeStamp(1), *ies],
    )
    h.node.datagram_received(encode(setup), addr, h.now)
    h.node.datagrams_to_send()


def _change_info(alternative: str, *selectors: IE) -> Grouped:
    return g(T.PFCP_SESSION_CHANGE_INFO, *selectors, A.AlternativeSMFIPAddress(ipv4=alternative))


def _set_modification(*infos: Grouped) -> Message:
    return Message(M.SESSION_SET_MODIFICATION_REQUEST, 0, [A.NodeID.from_text("smf"), *infos])


def test_session_change_info_without_its_alternative_smf_address_is_66(h: Harness) -> None:
    """TS 29.244 Table 7.4.7.1-2: the Alternative SMF/PGW-C IP Address of a PFCP Session
    Change Info is mandatory: absent, 66 "Mandatory IE missing" naming it (69 is for one
    present but wrong); nothing moves."""
    one = _establish_with(h, 1, fq_csid(7))
    resp = h.request(_set_modification(g(T.PFCP_SESSION_CHANGE_INFO, fq_csid(7))))
    assert cause(resp) == 66
    assert resp.get(T.OFFENDING_IE).value == T.ALTERNATIVE_SMF_IP_ADDRESS  # type: ignore[union-attr]
    assert one in h.engine.sessions


def test_session_set_deletion_by_fq_csid_deletes_those_sessions(h: Harness) -> None:
    one = _establish_with(h, 1, fq_csid(7))
    two = _establish_with(h, 2, fq_csid(8))
    req = Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf"), fq_csid(7, 9)])
    assert tshark_problems([encode(req)]) == []
    assert cause(h.request(req)) == 1
    assert one not in h.engine.sessions and two in h.engine.sessions


@pytest.mark.parametrize("kind", ["reserved_node_id_type", "no_csid", "null_length"])
def test_session_set_deletion_naming_an_unusable_fq_csid_deletes_nothing(
    h: Harness, kind: str
) -> None:
    """TS 29.244 7.4.6 (Table 7.4.6.1-1): the UP function deletes the sessions of the
    FQ-CSIDs the request carries (TS 23.007 partial failure), and only those. An FQ-CSID
    that names no CSID of a node (a reserved Node-ID type 3, which the codec sets aside as
    incorrect; a node address without CSID; the null-length IE) must not make the request
    one that names none, which deletes all the CP's sessions: it is refused, 69 with
    Offending IE FQ-CSID (Table 7.4.6.2-1), and every session stays."""
    seids = [_establish_with(h, i, fq_csid(i)) for i in (1, 2)]
    fq: IE
    if kind == "reserved_node_id_type":
        fq = RawIE(T.FQ_CSID, bytes([0x31, 192, 0, 2, 77, 0, 1]))  # type 3, CSID 1
    elif kind == "no_csid":
        fq = fq_csid()
    else:
        fq = A.FQCSID()
    req = Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf"), fq])
    resp = h.request(req)
    assert cause(resp) == 69, resp
    assert resp.get(T.OFFENDING_IE) == S.OffendingIE(T.FQ_CSID)
    assert all(s in h.engine.sessions for s in seids)


def test_session_set_modification_moves_the_named_sessions(h: Harness) -> None:
    """RESPS (TS 29.244 5.22.4, 7.4.7): sessions named by PGW-C/SMF FQ-CSID, Group Id or CP
    IP Address now report to the CP at the Alternative SMF IP Address, which owns them."""
    by_csid = _establish_with(h, 1, fq_csid(7))
    by_group = _establish_with(h, 2, X.GroupID("group-a"))
    kept = _establish_with(h, 3, fq_csid(8), X.GroupID("group-b"))
    _associate(h, SMF2, "smf2")
    req = _set_modification(
        _change_info(SMF2[0], fq_csid(7)), _change_info(SMF2[0], X.GroupID("group-a"))
    )
    names = ["pfcp.csid", "pfcp.group_id", "pfcp.alternative_smf_ip_address.ipv4"]
    assert tshark_fields([encode(req)], names) == [
        {
            "pfcp.csid": ["7"],
            "pfcp.group_id": ["group-a"],
            "pfcp.alternative_smf_ip_address.ipv4": [SMF2[0], SMF2[0]],
        }
    ]
    assert tshark_problems([encode(req)]) == []
    resp = h.request(req)
    assert cause(resp) == 1 and resp.get(T.NODE_ID) is not None and resp.seid is None
    for seid in (by_csid, by_group):
        session = h.engine.sessions[seid]
        assert (session.cp_node_id, session.cp_fseid.ipv4) == ("smf2", SMF2[0])
        record = json.loads(h.journal.records[session.key])
        assert record["cp_node_id"] == "smf2"
    assert h.engine.sessions[kept].cp_node_id == "smf"
    # The old CP no longer owns a moved session; the new one does.
    query = Message(M.SESSION_MODIFICATION_REQUEST, 0, [g(T.QUERY_URR, S.URRID(1))], by_csid)
    assert cause(h.request(query)) == 65
    h.node.datagram_received(encode(Message(query.msg_type, 77, query.ies, by_csid)), SMF2, h.now)
    [answer] = [decode(t.data) for t in h.node.datagrams_to_send()]
    assert cause(answer) == 1 and answer.seid == 1
    # Its Session Report Requests go to the new CP, whose answer may give it a new Group Id.
    h.engine._send_report(h.engine.sessions[by_group], "USAR", [], h.now)
    [report] = h.node.datagrams_to_send()
    h.sent.append(report.data)
    assert report.addr == SMF2 and decode(report.data).seid == 2
    answer_ies = [S.Cause(1), X.GroupID("group-c")]
    report_resp = Message(M.SESSION_REPORT_RESPONSE, decode(report.data).seq, answer_ies, 2)
    h.node.datagram_received(encode(report_resp), SMF2, h.now)
    assert h.engine.sessions[by_group].group_id == "group-c"
    assert h.node.datagrams_to_send() == []  # (the node commits the engine's changes)
    assert json.loads(h.journal.records[h.engine.sessions[by_group].key])["group_id"] == "group-c"


def test_session_set_modification_by_cp_ip_address_and_its_refusals(h: Harness) -> None:
    seid = _establish_with(h, 1)
    cp_address = h.engine.sessions[seid].cp_fseid.ipv4
    assert cp_address is not None
    # No CP is associated at the alternative address: refused, nothing moves.
    resp = h.request(_set_modification(_change_info("127.0.0.9", A.CPIPAddress(ipv4=cp_address))))
    assert cause(resp) == 64 and resp.get(T.OFFENDING_IE).value == T.ALTERNATIVE_SMF_IP_ADDRESS  # type: ignore[union-attr]
    assert h.engine.sessions[seid].cp_node_id == "smf"
    # A change info naming no session set: 67 (conditional IE missing).
    resp = h.request(_set_modification(_change_info(SMF2[0])))
    assert cause(resp) == 67
    _associate(h, SMF2, "smf2")
    req = _set_modification(_change_info(SMF2[0], A.CPIPAddress(ipv4=cp_address)))
    assert tshark_problems([encode(req)]) == []
    assert cause(h.request(req)) == 1
    assert h.engine.sessions[seid].cp_node_id == "smf2"


def test_fq_csids_and_group_id_follow_modifications_and_restarts(h: Harness) -> None:
    seid = _establish_with(h, 1, fq_csid(7), X.GroupID("group-a"))
    session = h.engine.sessions[seid]
    assert [c.csids for c in session.fq_csids] == [(7,)] and session.group_id == "group-a"
    h.modify(seid, fq_csid(9), X.GroupID("group-b"))  # same node type: replaced
    assert [c.csids for c in session.fq_csids] == [(9,)] and session.group_id == "group-b"
    h.modify(seid, A.FQCSID())  # null length: every FQ-CSID removed
    assert session.fq_csids == ()
    h.modify(seid, fq_csid(5))
    record = json.loads(h.journal.records[session.key])
    assert (record["group_id"], record["fq_csids"]) == ("group-b", encode_ies([fq_csid(5)]).hex())
    # FQ-CSIDs without the Node Type octet (before Rel-16): one per node.
    sgw, smf = A.FQCSID(0, "192.0.2.1", (1,)), A.FQCSID(0, "192.0.2.2", (2,))
    other = h.engine.sessions[_establish_with(h, 2, sgw, smf)]
    assert set(other.fq_csids) == {sgw, smf}


def test_session_sets_and_a_moved_session_come_back_after_a_restart(h: Harness) -> None:
    seid = _establish_with(h, 1, fq_csid(7), X.GroupID("group-a"))
    _associate(h, SMF2, "smf2")
    assert cause(h.request(_set_modification(_change_info(SMF2[0], fq_csid(7))))) == 1
    with restarted(h, 1) as engine2:
        back = engine2.sessions[seid]
        assert (back.cp_node_id, back.cp_fseid.ipv4, back.group_id) == ("smf2", SMF2[0], "group-a")
        assert back.fq_csids == (fq_csid(7),)


def test_another_smf_of_the_set_takes_sessions_over(h: Harness) -> None:
    """MPAS (5.22.3/5.22.4): an SMF of the same SMF set moves the sessions to itself, at one
    of its Alternative SMF IP Addresses; an SMF of no set cannot touch them."""
    seid = _establish_with(h, 1, X.GroupID("group-a"))
    update = Message(
        M.ASSOCIATION_UPDATE_REQUEST, 0, [A.NodeID.from_text("smf"), X.SMFSetID("set1.example")]
    )
    assert cause(h.request(update)) == 1
    _associate(
        h,
        SMF2,
        "smf2",
        A.AlternativeSMFIPAddress(ipv4="127.0.0.4"),
        X.SMFSetID("set1.example"),
    )
    outsider = ("127.0.0.5", 8805)
    _associate(h, outsider, "smf3")
    info = _change_info(outsider[0], X.GroupID("group-a"))
    req = Message(M.SESSION_SET_MODIFICATION_REQUEST, 9, [A.NodeID.from_text("smf3"), info])
    h.node.datagram_received(encode(req), outsider, h.now)
    [answer] = [decode(t.data) for t in h.node.datagrams_to_send()]
    assert cause(answer) == 1 and h.engine.sessions[seid].cp_node_id == "smf"
    info = _change_info("127.0.0.4", X.GroupID("group-a"))
    req = Message(M.SESSION_SET_MODIFICATION_REQUEST, 10, [A.NodeID.from_text("smf2"), info])
    assert tshark_problems([encode(req)]) == []
    h.node.datagram_received(encode(req), SMF2, h.now)
    [answer] = [decode(t.data) for t in h.node.datagrams_to_send()]
    h.sent.append(encode(answer))
    session = h.engine.sessions[seid]
    assert cause(answer) == 1
    assert (session.cp_node_id, session.cp_fseid.ipv4) == ("smf2", "127.0.0.4")
    record = next(a.to_record(0.0) for a in h.node.associations() if a.node_id == "smf2")
    assert (record["smf_set_id"], record["alternative_addresses"]) == (
        "set1.example",
        ["127.0.0.4"],
    )

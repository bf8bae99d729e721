"""PFD Management (Application ID PDRs match their PFDs' flow descriptions) and Session Set
Deletion, through the sans-IO node with the engine on the real local datapath."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from session_harness import (
    DN,
    Harness,
    cause,
    dl_far,
    dl_pdr,
    g,
    qer,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR

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


def test_session_set_deletion_removes_the_cps_sessions(h: Harness) -> None:
    seids = [up_seid(h.establish(cp_seid=i)) for i in (1, 2)]
    resp = h.request(Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf")]))
    assert cause(resp) == 1 and resp.seid is None
    assert all(s not in h.engine.sessions for s in seids) and h.journal.records == {}
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


def test_session_set_deletion_by_fq_csid_is_refused(h: Harness) -> None:
    from pfcpd.pfcp import RawIE

    seid = up_seid(h.establish())
    fq_csid = RawIE(T.FQ_CSID, bytes([0x01, 192, 0, 2, 77, 0, 1]))  # IPv4 node, 1 CSID
    req = Message(M.SESSION_SET_DELETION_REQUEST, 0, [A.NodeID.from_text("smf"), fq_csid])
    assert cause(h.request(req)) == 76
    assert seid in h.engine.sessions

"""The octets of a Session Establishment Response (UP F-SEID, Created PDRs with the F-TEID
and UE addresses the UP function chose) are what scapy's scapy.contrib.pfcp builds from the
values expected: for the requests of one shape taken the long way and by shape, across the
UE pool's /24 boundaries, and for freed TEIDs and addresses taken again (oldest first)."""

from __future__ import annotations

import ipaddress

import pytest

scapy_pfcp = pytest.importorskip("scapy.contrib.pfcp", reason="scapy not installed (test extra)")

from pfcpd.datapath.local.engine import LocalDatapath  # noqa: E402
from pfcpd.node.session_handler import Peer  # noqa: E402
from pfcpd.pfcp import IEType, decode, encode  # noqa: E402
from pfcpd.pfcp import ies_address as A  # noqa: E402
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine  # noqa: E402
from pfcpd.session.rules import ie_value  # noqa: E402
from pfcpd.smfsim import rules as R  # noqa: E402

P = scapy_pfcp
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")
POOL = ipaddress.ip_network("10.45.0.0/23")


def _expected(cp_seid: int, seq: int, up_seid: int, teid: int, ue: str) -> bytes:
    pkt = P.PFCP(version=1, S=1, seid=cp_seid, seq=seq) / P.PFCPSessionEstablishmentResponse(
        IE_list=[
            P.IE_NodeId(id_type=0, ipv4="127.0.0.1"),
            P.IE_Cause(cause=1),
            P.IE_FSEID(v4=1, seid=up_seid, ipv4="127.0.0.1"),
            P.IE_CreatedPDR(
                IE_list=[
                    P.IE_PDR_Id(id=1),
                    P.IE_FTEID(V4=1, TEID=teid, ipv4="127.0.0.1"),
                    P.IE_UE_IP_Address(V4=1, SD=1, ipv4=ue),
                ]
            ),
            P.IE_CreatedPDR(
                IE_list=[P.IE_PDR_Id(id=2), P.IE_UE_IP_Address(V4=1, ipv4=ue)],
            ),
        ]
    )
    return bytes(pkt)


def test_establishment_answers_are_what_scapy_builds() -> None:
    lo = ipaddress.ip_address("127.0.0.1")
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools={"internet": (POOL,)})
    dp = LocalDatapath(expected_sessions=512)
    engine = SessionEngine(settings, dp, MemoryJournal(), ntp_clock=lambda: 3.9e9)
    seq = 0

    def establish(cp_seid: int) -> bytes:
        nonlocal seq
        seq += 1
        rules = R.session_rules(gnb_teid=0x100 + cp_seid)
        req = R.establishment_request("smf", "127.0.0.1", cp_seid, rules, seq=seq)
        answer = engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
        engine.commit()
        return encode(answer)

    try:
        hosts = list(POOL.hosts())
        for n in range(1, 301):  # (hosts 10.45.0.1 - 10.45.1.44)
            got = establish(1000 + n)
            assert got == _expected(1000 + n, seq, n, n, str(hosts[n - 1])), n
        assert engine.memos.establishments  # (most of them taken by shape)
        for up_seid in (7, 3, 290):
            seq += 1
            answer = engine.handle_request(R.deletion_request(up_seid, seq=seq), PEER, NODE, 0.0)
            assert ie_value(answer, IEType.CAUSE) == 1
            engine.commit()
        # The never-used address first (TEIDs are never short: always new ones), then the
        # freed addresses, oldest first.
        assert establish(2001) == _expected(2001, seq, 301, 301, str(hosts[300]))
        for n in range(302, len(hosts) + 1):
            assert ie_value(decode(establish(3000 + n)), IEType.CAUSE) == 1
        for n, ue in enumerate(("10.45.0.7", "10.45.0.3", str(hosts[289])), len(hosts) + 1):
            assert establish(2000 + n) == _expected(2000 + n, seq, n, n, ue)
        assert ie_value(decode(establish(5000)), IEType.CAUSE) == 79  # (all taken)
    finally:
        dp.close()

"""A running pfcpd listening on a wildcard address does not send a Session Report Request
to an F-SEID address of its own host (the daemon gives the node its host-address check,
`daemon.host_addresses`): the report goes to the CP's association address instead. On
loopback: pfcpd on 0.0.0.0, the CP at 127.0.0.1, its F-SEID at 127.0.0.99 (loopback, so
the host's); a URR with a 1-second measurement period makes the report."""

from __future__ import annotations

from node_harness import free_port

from pfcpd.pfcp import IEType, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules

M = MessageType
T = IEType


def test_a_report_to_an_fseid_naming_the_host_goes_to_the_association(
    start_pfcpd, make_peer
) -> None:
    port = free_port(host="0.0.0.0")
    start_pfcpd({"node_id": "upf.test", "pfcp": {"listen": [f"0.0.0.0:{port}"]}})
    peer = make_peer(("127.0.0.1", port))
    peer.associate()
    pdi = rules.group(T.PDI, S.SourceInterface(1), A.UEIPAddress(ipv4="10.45.0.5"))
    dl_pdr = rules.group(T.CREATE_PDR, S.PDRID(2), S.Precedence(200), pdi, S.FARID(2), S.URRID(1))
    request = rules.establishment_request(
        "smf.test", "127.0.0.99", 0x55, [dl_pdr, rules.dl_far(), rules.urr(period=1)]
    )
    answer = peer.request(request)
    assert answer.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    report = peer.expect(M.SESSION_REPORT_REQUEST, timeout=4.0)
    assert report.seid == 0x55

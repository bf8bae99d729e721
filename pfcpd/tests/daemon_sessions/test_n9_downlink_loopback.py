"""A real `pfcpd run` with the local datapath as an I-UPF, over loopback: the SMF simulator
establishes a session whose downlink arrives over N9 (a PDR with source interface Core and
a local F-TEID); a G-PDU a remote PSA sends to that F-TEID leaves pfcpd's GTP-U socket
re-encapsulated towards the gNB's F-TEID, and the uplink still leaves decapsulated. While
the UE is idle (the N9 PDR's FAR buffers, no N6 PDR) the PSA's G-PDUs are buffered, reported
and then sent in order when the FAR forwards. And a PSA's session as Open5GS's SMF makes
it: a G-PDU the SMF sends over N4-u while the downlink FAR buffers is reported, and reaches
the gNB when the FAR forwards."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from node_harness import free_n3_address
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from sessions_harness import needs_root, session_overrides

from pfcpd.pfcp import Grouped, IEType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.smfsim import rules

pytestmark = needs_root
T = IEType
DN = "198.51.100.1"


CP_FUNCTION = 3


def n9_pdr(pdr_id: int, far_id: int, source: int = rules.CORE) -> Grouped:
    """Downlink from the core over N9 (or from ``source``): a local F-TEID the UP function
    chooses, GTP-U removed."""
    pdr = rules.dl_pdr(pdr_id, far_id)
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [S.SourceInterface(source) if ie.type == T.SOURCE_INTERFACE else ie for ie in pdi.ies]
    pdi.ies.append(A.FTEID(choose=True, choose_v4=True, choose_id=2))
    pdr.ies.append(TR.OuterHeaderRemoval(0))
    return pdr


def g_pdu(teid: int, inner: bytes) -> bytes:
    return raw(
        GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=0, QFI=9) / Raw(inner)
    )


def test_n9_downlink_leaves_encapsulated_to_the_gnb(start_pfcpd: Any, smf: Any) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.21.0/30"))
    n3 = daemon.config["interfaces"]["n3"]["address"]
    gnb_addr = free_n3_address()  # (another 127.x.y.z whose port 2152 is free)
    cp = smf(daemon)
    cp.associate()
    session = [
        rules.ul_pdr(),
        n9_pdr(3, 2),
        rules.ul_far(),
        rules.dl_far(2, 0x4242, gnb_addr),
        rules.qer(),
        rules.urr(),
    ]
    est = cp.establish(session)
    ue = est.ue_addresses[0]
    n9_addr, n9_teid = est.teids[3]
    assert n9_addr == n3 and n9_teid != est.teids[1][1]
    inner = raw(IP(src=DN, dst=ue) / UDP(sport=53, dport=4000) / Raw(b"n9" * 50))
    gpdu = g_pdu(n9_teid, inner)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gnb,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as psa,
    ):
        gnb.bind((gnb_addr, 2152))
        gnb.settimeout(3)
        psa.bind(("127.0.0.1", 0))
        psa.sendto(gpdu, (n3, 2152))
        message, source = gnb.recvfrom(65535)
    assert source == (n3, 2152)
    gtp = GTP_U_Header(message)
    assert gtp.gtp_type == 255 and gtp.teid == 0x4242
    assert message.endswith(inner)
    assert IP(message[len(message) - len(inner) :]).dst == ue
    # the session counted it as downlink
    answer = cp.modify(est.up_seid, [rules.group(T.QUERY_URR, S.URRID(1))])
    (usage,) = answer.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert isinstance(usage, Grouped)
    volume = usage.get(T.VOLUME_MEASUREMENT)
    assert volume is not None and (volume.dl, volume.ul) == (len(inner), 0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "with_n6"),
    [(rules.CORE, False), (CP_FUNCTION, True)],
    ids=["n9-idle-ue", "n4u-open5gs"],
)
def test_tunnel_downlink_buffered_reported_then_sent_in_order(
    start_pfcpd: Any, smf: Any, source: int, with_n6: bool
) -> None:
    """The tunnel PDR (3) and its FAR (2), BUFF+NOCP: an I-UPF's session whose UE is idle
    (source interface Core, the session's only downlink PDR), or a PSA's session as
    Open5GS's SMF makes it (source interface CP-function: N4-u, with the N6 PDR 2 sharing
    the FAR until the gNB's tunnel is known). Two G-PDUs sent to PDR 3's F-TEID make one
    DL data report naming PDR 3 and the QFI of their PDU Session Container, and leave
    towards the gNB, in order, when the Update FAR gives its tunnel (pfcpd's N3 socket
    path: upfcore_ul_gtpu_packet, then the flush through it again)."""
    daemon = start_pfcpd(session_overrides(pool=f"198.18.{22 + with_n6}.0/30"))
    n3 = daemon.config["interfaces"]["n3"]["address"]
    gnb_addr = free_n3_address()
    cp = smf(daemon)
    cp.associate()
    session = [
        rules.ul_pdr(),
        *([rules.dl_pdr()] if with_n6 else []),
        n9_pdr(3, 2, source),
        rules.ul_far(),
        rules.dl_far(2, gnb=None),
        rules.qer(),
        rules.urr(),
    ]
    est = cp.establish(session)
    ue = est.ue_addresses[0]
    _, teid = est.teids[3]
    inners = [
        raw(IP(src=DN, dst=ue) / UDP(sport=53, dport=4000) / Raw(b"buf%d" % i * 10))
        for i in range(2)
    ]
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gnb,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        gnb.bind((gnb_addr, 2152))
        gnb.settimeout(3)
        sender.bind(("127.0.0.1", 0))
        for inner in inners:
            sender.sendto(g_pdu(teid, inner), (n3, 2152))
        (report,) = cp.wait_report(timeout=5.0)
        dldr = report.get(T.DOWNLINK_DATA_REPORT)
        assert isinstance(dldr, Grouped)
        assert dldr.get(T.PDR_ID) == S.PDRID(3)
        info = dldr.get(T.DOWNLINK_DATA_SERVICE_INFORMATION)
        assert isinstance(info, TR.DownlinkDataServiceInformation) and info.qfi == 9
        answer = cp.modify(est.up_seid, [rules.update_dl_far(2, 0x4444, gnb_addr)])
        assert answer.get(T.CAUSE) == S.Cause(1)
        got = [gnb.recvfrom(65535) for _ in inners]
    for (message, sent_from), inner in zip(got, inners, strict=True):
        assert sent_from == (n3, 2152)
        gtp = GTP_U_Header(message)
        assert gtp.gtp_type == 255 and gtp.teid == 0x4444
        assert message.endswith(inner)

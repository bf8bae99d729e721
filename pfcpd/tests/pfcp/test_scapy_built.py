"""Messages built by scapy's scapy.contrib.pfcp decode to the values scapy put in."""

from __future__ import annotations

import pytest

scapy_pfcp = pytest.importorskip("scapy.contrib.pfcp", reason="scapy not installed (test extra)")

from pfcpd.pfcp import Grouped, IEType, MessageType, decode, encode, encode_groups  # noqa: E402
from pfcpd.pfcp import ies_address as A  # noqa: E402
from pfcpd.pfcp import ies_flags as F  # noqa: E402
from pfcpd.pfcp import ies_scalar as S  # noqa: E402
from pfcpd.pfcp import ies_text as X  # noqa: E402
from pfcpd.pfcp import ies_traffic as TR  # noqa: E402

P = scapy_pfcp


def _establishment_bytes() -> bytes:
    pdi = P.IE_PDI(
        IE_list=[
            P.IE_SourceInterface(interface=0),
            P.IE_FTEID(V4=1, TEID=0x11223344, ipv4="127.0.0.1"),
            P.IE_NetworkInstance(instance="internet"),
            P.IE_UE_IP_Address(V4=1, SD=1, ipv4="10.45.0.9"),
            P.IE_SDF_Filter(FD=1, flow_description="permit out ip from any to assigned"),
            P.IE_QFI(QFI=5),
        ]
    )
    pdr = P.IE_CreatePDR(
        IE_list=[
            P.IE_PDR_Id(id=7),
            P.IE_Precedence(precedence=200),
            pdi,
            P.IE_OuterHeaderRemoval(header=0),
            P.IE_FAR_Id(id=3),
            P.IE_URR_Id(id=4),
            P.IE_QER_Id(id=5),
        ]
    )
    far = P.IE_CreateFAR(
        IE_list=[
            P.IE_FAR_Id(id=3),
            P.IE_ApplyAction(FORW=1),
            P.IE_ForwardingParameters(
                IE_list=[
                    P.IE_DestinationInterface(interface=1),
                    P.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0xAABB, ipv4="127.0.0.3"),
                ]
            ),
        ]
    )
    qer = P.IE_CreateQER(
        IE_list=[
            P.IE_QER_Id(id=5),
            P.IE_GateStatus(ul=0, dl=1),
            P.IE_MBR(ul=64000, dl=128000),
            P.IE_PagingPolicyIndicator(ppi=5),
        ]
    )
    urr = P.IE_CreateURR(
        IE_list=[
            P.IE_URR_Id(id=4),
            P.IE_MeasurementMethod(VOLUM=1),
            P.IE_ReportingTriggers(volume_threshold=1, volume_quota=1),
            P.IE_VolumeThreshold(TOVOL=1, DLVOL=1, total=1_000_000, downlink=600_000),
        ]
    )
    pkt = P.PFCP(version=1, S=1, seid=0, seq=4242) / P.PFCPSessionEstablishmentRequest(
        IE_list=[
            P.IE_NodeId(id_type=0, ipv4="127.0.0.2"),
            P.IE_FSEID(v4=1, seid=0xDEADBEEF, ipv4="127.0.0.2"),
            pdr,
            far,
            qer,
            urr,
        ]
    )
    return bytes(pkt)


def test_scapy_session_establishment_decodes_to_scapys_values() -> None:
    msg = decode(_establishment_bytes())
    assert msg.msg_type == MessageType.SESSION_ESTABLISHMENT_REQUEST
    assert (msg.seq, msg.seid) == (4242, 0)
    assert msg.get(IEType.NODE_ID) == A.NodeID(0, "127.0.0.2")
    assert msg.get(IEType.F_SEID) == A.FSEID(0xDEADBEEF, ipv4="127.0.0.2")
    pdr = msg.get(IEType.CREATE_PDR)
    assert isinstance(pdr, Grouped)
    assert pdr.get(IEType.PDR_ID) == S.PDRID(7)
    assert pdr.get(IEType.PRECEDENCE) == S.Precedence(200)
    assert pdr.get(IEType.OUTER_HEADER_REMOVAL) == TR.OuterHeaderRemoval(0)
    pdi = pdr.get(IEType.PDI)
    assert isinstance(pdi, Grouped)
    assert pdi.get(IEType.F_TEID) == A.FTEID(teid=0x11223344, ipv4="127.0.0.1")
    # scapy writes the network instance as DNS labels: we keep that form
    assert pdi.get(IEType.NETWORK_INSTANCE) == X.NetworkInstance("internet", dns_labels=True)
    assert pdi.get(IEType.UE_IP_ADDRESS) == A.UEIPAddress(ipv4="10.45.0.9", source=True)
    assert pdi.get(IEType.SDF_FILTER) == TR.SDFFilter("permit out ip from any to assigned")
    assert pdi.get(IEType.QFI) == S.QFI(5)
    far = msg.get(IEType.CREATE_FAR)
    assert isinstance(far, Grouped)
    action = far.get(IEType.APPLY_ACTION)
    assert isinstance(action, F.ApplyAction) and action.names() == ["FORW"]
    fp = far.get(IEType.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    assert fp.get(IEType.OUTER_HEADER_CREATION) == A.OuterHeaderCreation(
        A.OHC_GTPU_UDP_IPV4, teid=0xAABB, ipv4="127.0.0.3"
    )
    qer = msg.get(IEType.CREATE_QER)
    assert isinstance(qer, Grouped)
    assert qer.get(IEType.GATE_STATUS) == TR.GateStatus(0, 1)
    assert qer.get(IEType.MBR) == TR.MBR(64000, 128000)
    # TS 29.244 8.2.116: spare (bits 8-4), PPI value (bits 3-1)
    assert qer.get(IEType.PAGING_POLICY_INDICATOR) == S.PagingPolicyIndicator(5)
    urr = msg.get(IEType.CREATE_URR)
    assert isinstance(urr, Grouped)
    triggers = urr.get(IEType.REPORTING_TRIGGERS)
    assert isinstance(triggers, F.ReportingTriggers)
    assert set(triggers.names()) == {"VOLTH", "VOLQU"}
    assert urr.get(IEType.VOLUME_THRESHOLD) == TR.VolumeThreshold(total=1_000_000, dl=600_000)


def test_scapy_bytes_reencode_byte_for_byte() -> None:
    data = _establishment_bytes()
    assert encode(decode(data)) == data


def test_paging_policy_indicator_encoded_as_scapy_reads_it() -> None:
    """TS 29.244 8.2.116: one octet, spare bits 8-4 zero, the PPI value in bits 3-1; scapy
    reads pfcpd's encoding back, spare bits set by a peer are ignored."""
    ie = P.IE_PagingPolicyIndicator(encode_groups([S.PagingPolicyIndicator(7)]))
    assert (ie.ietype, ie.length, ie.spare, ie.ppi) == (158, 1, 0, 7)
    assert S.PagingPolicyIndicator.decode(b"\xfd") == S.PagingPolicyIndicator(5)


def test_scapy_association_setup_and_heartbeat() -> None:
    setup = P.PFCP(version=1, S=0, seq=9) / P.PFCPAssociationSetupRequest(
        IE_list=[
            P.IE_NodeId(id_type=2, id="smf.example.org"),
            P.IE_RecoveryTimeStamp(timestamp=3_900_000_000),
            P.IE_UPFunctionFeatures(FTUP=1, BUCP=1, EMPU=1),
        ]
    )
    msg = decode(bytes(setup))
    assert (msg.msg_type, msg.seq, msg.seid) == (MessageType.ASSOCIATION_SETUP_REQUEST, 9, None)
    node = msg.get(IEType.NODE_ID)
    assert isinstance(node, A.NodeID) and (node.kind, node.value) == (2, "smf.example.org")
    assert msg.get(IEType.RECOVERY_TIME_STAMP) == S.RecoveryTimeStamp(3_900_000_000)
    feats = msg.get(IEType.UP_FUNCTION_FEATURES)
    assert isinstance(feats, F.UPFunctionFeatures)
    assert set(feats.names()) == {"FTUP", "BUCP", "EMPU"}

    hb = P.PFCP(version=1, S=0, seq=0xFFFFFF) / P.PFCPHeartbeatRequest(
        IE_list=[P.IE_RecoveryTimeStamp(timestamp=1)]
    )
    msg = decode(bytes(hb))
    assert (msg.msg_type, msg.seq) == (MessageType.HEARTBEAT_REQUEST, 0xFFFFFF)


def test_our_bytes_parse_in_scapy_with_our_values() -> None:
    """The other direction: scapy reads what we encode."""
    from sample_messages import session_establishment_request

    pkt = P.PFCP(encode(session_establishment_request(seq=77)))
    assert pkt.seq == 77
    assert pkt.message_type == 50
    ies = pkt[P.PFCPSessionEstablishmentRequest].IE_list
    fseid = next(ie for ie in ies if isinstance(ie, P.IE_FSEID))
    assert fseid.seid == 0x1122334455667788
    assert fseid.ipv4 == "127.0.0.2"

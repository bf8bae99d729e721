"""Realistic PFCP messages built with our codec's typed IEs, shared by tests and the bench.

Between them the samples use every typed IE class the codec registers (a test checks that),
so checking all samples against tshark and pycrate checks every typed IE encoder.
"""

from __future__ import annotations

import struct

from pfcpd.pfcp import Grouped, IEType, Message, MessageType, RawIE, VendorIE
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import IE

T = IEType
M = MessageType


def tlv(ie_type: int, value: bytes) -> bytes:
    """One IE as octets, built by hand (for values the typed IEs would refuse to encode)."""
    return struct.pack("!HH", ie_type, len(value)) + value


CP_NODE = A.NodeID.from_text("127.0.0.2")
UP_NODE = A.NodeID.from_text("127.0.0.1")
RECOVERY = S.RecoveryTimeStamp(3_927_000_000)


def g(ie_type: int, *ies: IE) -> Grouped:
    return Grouped(ie_type, list(ies))


def create_pdr(pdr_id: int, uplink: bool) -> Grouped:
    if uplink:
        pdi = g(
            T.PDI,
            S.SourceInterface(0),
            A.FTEID(choose=True, choose_v4=True, choose_id=pdr_id),
            X.NetworkInstance("internet"),
            A.UEIPAddress(ipv4="10.45.0.7", source=True),
            TR.SDFFilter(flow_description="permit out ip from any to assigned", filter_id=1),
            S.QFI(9),
        )
        extra: list[IE] = [TR.OuterHeaderRemoval(0)]
    else:
        pdi = g(
            T.PDI,
            S.SourceInterface(1),
            X.NetworkInstance("internet"),
            A.UEIPAddress(ipv4="10.45.0.7"),
            TR.SDFFilter(
                flow_description="permit out 17 from 198.51.100.0/24 1000-2000 to assigned",
                tos_traffic_class=0x2EFC,
                spi=0x1234,
                flow_label=0xABCDE,
            ),
        )
        extra = []
    return g(
        T.CREATE_PDR,
        S.PDRID(pdr_id),
        S.Precedence(255 - pdr_id),
        pdi,
        *extra,
        S.FARID(pdr_id),
        S.QERID(1),
        S.URRID(1),
    )


def create_far(far_id: int, uplink: bool) -> Grouped:
    if uplink:
        fp = g(T.FORWARDING_PARAMETERS, S.DestinationInterface(1), X.NetworkInstance("internet"))
        return g(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), fp)
    fp = g(
        T.FORWARDING_PARAMETERS,
        S.DestinationInterface(0),
        X.NetworkInstance("access", dns_labels=False),
        A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV4, teid=0x01020304, ipv4="127.0.0.3"),
        TR.TransportLevelMarking(0xB8FC),
    )
    return g(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), fp, S.BARID(1))


def session_establishment_request(seq: int = 1) -> Message:
    """What an SMF sends for a plain IPv4 PDU session: 2 PDRs, 2 FARs, 1 QER, 1 URR, UE IP,
    CH F-TEID. The bench's message."""
    return Message(
        M.SESSION_ESTABLISHMENT_REQUEST,
        seq,
        [
            CP_NODE,
            A.FSEID(0x1122334455667788, ipv4="127.0.0.2"),
            create_pdr(1, uplink=True),
            create_pdr(2, uplink=False),
            create_far(1, uplink=True),
            create_far(2, uplink=False),
            g(T.CREATE_QER, S.QERID(1), TR.GateStatus(0, 0), TR.MBR(100_000, 200_000), S.QFI(9)),
            g(
                T.CREATE_URR,
                S.URRID(1),
                F.MeasurementMethod.of("VOLUM", "DURAT"),
                F.ReportingTriggers.of("VOLTH", "VOLQU"),
                TR.VolumeThreshold(total=10_000_000),
                TR.VolumeQuota(total=100_000_000),
                F.MeasurementInformation.of("ISTM", "MNOP"),
            ),
            S.PDNType(1),
        ],
        seid=0,
    )


def session_establishment_request_full(seq: int = 1) -> Message:
    """The realistic request plus every optional IE a UPF may see in one."""
    return Message(
        M.SESSION_ESTABLISHMENT_REQUEST,
        seq,
        [
            CP_NODE,
            A.FSEID(0x1122334455667788, ipv4="127.0.0.2"),
            create_pdr(1, uplink=True),
            create_pdr(2, uplink=False),
            create_far(1, uplink=True),
            create_far(2, uplink=False),
            g(
                T.CREATE_QER,
                S.QERID(1),
                TR.GateStatus(0, 0),
                TR.MBR(100_000, 200_000),
                TR.GBR(1_000, 2_000),
                S.QFI(9),
                S.QERCorrelationID(7),
                F.RQI.of("RQI"),
                S.PagingPolicyIndicator(3),
                S.AveragingWindow(2000),
            ),
            g(
                T.CREATE_URR,
                S.URRID(1),
                F.MeasurementMethod.of("VOLUM", "DURAT"),
                F.ReportingTriggers.of("VOLTH", "VOLQU", "TIMTH", "PERIO"),
                S.MeasurementPeriod(60),
                TR.VolumeThreshold(total=10_000_000, ul=5_000_000, dl=5_000_000),
                TR.VolumeQuota(total=100_000_000),
                S.TimeThreshold(600),
                S.TimeQuota(3600),
                S.QuotaHoldingTime(30),
                S.MonitoringTime(3_927_000_600),
                TR.SubsequentVolumeThreshold(total=20_000_000),
                S.SubsequentTimeThreshold(1200),
                TR.SubsequentVolumeQuota(dl=50_000_000),
                S.SubsequentTimeQuota(7200),
                S.InactivityDetectionTime(10),
                S.LinkedURRID(2),
                TR.DroppedDLTrafficThreshold(packets=100, octets=100_000),
                S.QuotaValidityTime(86400),
                S.EventThreshold(5),
                S.EventQuota(50),
                S.NumberOfReports(3),
                g(
                    T.AGGREGATED_URRS,
                    S.AggregatedURRID(9),
                    RawIE(
                        T.MULTIPLIER, (15).to_bytes(8, "big") + (-1 & 0xFFFFFFFF).to_bytes(4, "big")
                    ),
                ),
            ),
            g(
                T.CREATE_BAR,
                S.BARID(1),
                S.DownlinkDataNotificationDelay(2),
                S.SuggestedBufferingPacketsCount(16),
            ),
            g(
                T.CREATE_TRAFFIC_ENDPOINT,
                S.TrafficEndpointID(1),
                A.UEIPAddress(ipv4="10.45.0.7", ipv6="2001:db8:45::", ipv6_prefix_length=64),
            ),
            S.PDNType(1),
            S.UserPlaneInactivityTimer(300),
            X.APNDNN("internet"),
            F.PFCPSEReqFlags.of("RESTI"),
            F.CreateBridgeInfoForTSC.of("BII"),
            VendorIE(0x8001, 65000, b"vendor-data"),
        ],
        seid=0,
    )


def session_modification_request(seq: int = 2) -> Message:
    return Message(
        M.SESSION_MODIFICATION_REQUEST,
        seq,
        [
            g(T.REMOVE_PDR, S.PDRID(3)),
            g(T.REMOVE_FAR, S.FARID(3)),
            g(T.REMOVE_URR, S.URRID(3)),
            g(T.REMOVE_QER, S.QERID(3)),
            g(T.REMOVE_BAR, S.BARID(2)),
            g(T.REMOVE_TRAFFIC_ENDPOINT, S.TrafficEndpointID(2)),
            g(
                T.CREATE_TRAFFIC_ENDPOINT,
                S.TrafficEndpointID(1),
                A.FTEID(teid=0x1000, ipv4="127.0.0.1", ipv6="::1"),
                X.NetworkInstance("internet"),
                A.UEIPAddress(ipv6="2001:db8:45::7", ipv6_prefix_delegation_bits=8),
                F.EthernetPDUSessionInformation.of("ETHI"),
                X.FramedRoute("10.46.0.0/16 0.0.0.0 1"),
                S.FramedRouting(1),
                X.FramedIPv6Route("2001:db8:46::/48 :: 1"),
            ),
            g(
                T.UPDATE_PDR,
                S.PDRID(2),
                S.Precedence(100),
                X.ActivatePredefinedRules("gold"),
                X.DeactivatePredefinedRules("bronze"),
            ),
            g(
                T.UPDATE_FAR,
                S.FARID(2),
                F.ApplyAction.of("BUFF", "NOCP"),
                g(
                    T.UPDATE_FORWARDING_PARAMETERS,
                    S.DestinationInterface(0),
                    A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV6, teid=0x0A0B0C0D, ipv6="2001:db8::3"),
                    TR.RedirectInformation(2, "http://portal.example/"),
                ),
                S.BARID(1),
            ),
            g(
                T.UPDATE_URR,
                S.URRID(1),
                TR.VolumeQuota(total=50_000_000),
            ),
            g(T.UPDATE_QER, S.QERID(1), TR.GateStatus(1, 1)),
            g(
                T.UPDATE_BAR,
                S.BARID(1),
                S.DownlinkDataNotificationDelay(1),
                S.SuggestedBufferingPacketsCount(8),
            ),
            g(T.QUERY_URR, S.URRID(1)),
            S.QueryURRReference(99),
            F.PFCPSMReqFlags.of("DROBU", "QAURR"),
            S.UserPlaneInactivityTimer(600),
        ],
        seid=0x0102030405060708,
    )


def _usage_report(ie_type: int) -> Grouped:
    return g(
        ie_type,
        S.URRID(1),
        S.URSEQN(4),
        F.UsageReportTrigger.of("VOLTH"),
        S.StartTime(3_927_000_000),
        S.EndTime(3_927_000_060),
        TR.VolumeMeasurement(
            total=3000, ul=1000, dl=2000, total_packets=30, ul_packets=10, dl_packets=20
        ),
        S.DurationMeasurement(60),
        S.TimeOfFirstPacket(3_927_000_001),
        S.TimeOfLastPacket(3_927_000_059),
        F.UsageInformation.of("AFT"),
        *([] if ie_type == T.USAGE_REPORT_DELETION_RESPONSE else [S.QueryURRReference(99)]),
    )


def all_samples() -> list[Message]:
    """At least one message of every message type."""
    sid = 0x0102030405060708
    return [
        Message(M.HEARTBEAT_REQUEST, 1, [RECOVERY]),
        Message(M.HEARTBEAT_RESPONSE, 1, [RECOVERY]),
        Message(
            M.PFD_MANAGEMENT_REQUEST,
            2,
            [
                g(
                    T.APPLICATION_IDS_PFDS,
                    X.ApplicationID("app1"),
                    g(
                        T.PFD_CONTEXT,
                        TR.PFDContents(
                            fd=b"permit out 6 from 192.0.2.10 443 to any", url=b"example.org"
                        ),
                    ),
                )
            ],
        ),
        Message(M.PFD_MANAGEMENT_RESPONSE, 2, [S.Cause(1)]),
        Message(
            M.ASSOCIATION_SETUP_REQUEST,
            3,
            [
                CP_NODE,
                RECOVERY,
                F.CPFunctionFeatures.of("LOAD", "OVRL"),
                A.AlternativeSMFIPAddress(ipv4="127.0.0.7", preferred=True),
                X.SMFSetID("set1.smfset.5gc.mnc001.mcc001.3gppnetwork.org"),
                g(
                    T.PFCP_SESSION_RETENTION_INFORMATION,
                    A.CPPFCPEntityIPAddress(ipv4="127.0.0.2"),
                ),
                F.PFCPASReqFlags.of("UUPSI"),
            ],
        ),
        Message(
            M.ASSOCIATION_SETUP_RESPONSE,
            3,
            [
                UP_NODE,
                S.Cause(1),
                RECOVERY,
                F.UPFunctionFeatures.of("BUCP", "DDND", "DLBD", "FTUP", "EMPU", size=2),
                A.UserPlaneIPResourceInformation(
                    ipv4="127.0.0.1",
                    teid_range_bits=2,
                    teid_range=1,
                    network_instance=b"\x08internet",
                    source_interface=0,
                ),
                F.PFCPASRspFlags.of("PSREI"),
            ],
        ),
        Message(
            M.ASSOCIATION_UPDATE_REQUEST,
            4,
            [
                A.NodeID.from_text("smf.example.org"),
                F.PFCPAUReqFlags.of("PARPS"),
                F.PFCPAssociationReleaseRequestFlags.of("SARR"),
                S.GracefulReleasePeriod.from_seconds(60),
                A.AlternativeSMFIPAddress(ipv4="127.0.0.5"),
            ],
        ),
        Message(M.ASSOCIATION_UPDATE_RESPONSE, 4, [UP_NODE, S.Cause(1)]),
        Message(M.ASSOCIATION_RELEASE_REQUEST, 5, [CP_NODE]),
        Message(M.ASSOCIATION_RELEASE_RESPONSE, 5, [UP_NODE, S.Cause(1)]),
        Message(M.VERSION_NOT_SUPPORTED_RESPONSE, 6, []),
        Message(
            M.NODE_REPORT_REQUEST,
            7,
            [
                UP_NODE,
                F.NodeReportType.of("UPFR"),
                g(T.USER_PLANE_PATH_FAILURE_REPORT, A.RemoteGTPUPeer(ipv4="127.0.0.3")),
                g(
                    T.GTP_U_PATH_QOS_REPORT,
                    A.RemoteGTPUPeer(
                        ipv6="::3", destination_interface=0, network_instance=b"\x03ran"
                    ),
                    RawIE(T.QOS_REPORT_TRIGGER, b"\x01"),
                    S.TimeStamp(3_927_000_000),
                    g(
                        T.QOS_INFORMATION_IN_GTP_U_PATH_QOS_REPORT,
                        RawIE(T.AVERAGE_PACKET_DELAY, (5).to_bytes(4, "big")),
                    ),
                ),
            ],
        ),
        Message(M.NODE_REPORT_RESPONSE, 7, [CP_NODE, S.Cause(1)]),
        Message(
            M.SESSION_SET_DELETION_REQUEST,
            8,
            [CP_NODE, A.FQCSID(A.FQ_CSID_IPV6, "2001:db8::7", (1, 2), 2)],
        ),
        Message(M.SESSION_SET_DELETION_RESPONSE, 8, [UP_NODE, S.Cause(1)]),
        Message(
            M.SESSION_SET_MODIFICATION_REQUEST,
            16,
            [
                CP_NODE,
                Grouped(
                    T.PFCP_SESSION_CHANGE_INFO,
                    [
                        A.FQCSID(A.FQ_CSID_IPV4, "127.0.0.5", (7,), 2),
                        X.GroupID("0f5f3c6e-5b1e-4bd4-9f0a-2a1d3c4b5a69"),
                        A.CPIPAddress(ipv4="127.0.0.5", ipv6="::5"),
                        A.AlternativeSMFIPAddress(ipv4="127.0.0.6", ipv6="::6", preferred=True),
                    ],
                ),
            ],
        ),
        Message(M.SESSION_SET_MODIFICATION_RESPONSE, 16, [UP_NODE, S.Cause(1)]),
        session_establishment_request_full(9),
        session_establishment_request(19),
        Message(
            M.SESSION_ESTABLISHMENT_RESPONSE,
            9,
            [
                UP_NODE,
                S.Cause(1),
                A.FSEID(sid, ipv4="127.0.0.1", ipv6="::1"),
                g(
                    T.CREATED_PDR,
                    S.PDRID(1),
                    A.FTEID(teid=0x1001, ipv4="127.0.0.1"),
                    A.UEIPAddress(ipv4="10.45.0.7", source=True),
                ),
                g(
                    T.LOAD_CONTROL_INFORMATION,
                    S.SequenceNumber(1),
                    S.Metric(20),
                ),
                g(
                    T.OVERLOAD_CONTROL_INFORMATION,
                    S.SequenceNumber(1),
                    S.Metric(10),
                    S.Timer.from_seconds(600),
                    F.OCIFlags.of("AOCI"),
                ),
                g(
                    T.CREATED_TRAFFIC_ENDPOINT,
                    S.TrafficEndpointID(1),
                    A.FTEID(teid=7, ipv4="127.0.0.1"),
                ),
            ],
            seid=0x1122334455667788,
        ),
        session_modification_request(10),
        Message(
            M.SESSION_MODIFICATION_RESPONSE,
            10,
            [
                S.Cause(1),
                _usage_report(T.USAGE_REPORT_MODIFICATION_RESPONSE),
                TR.AdditionalUsageReportsInformation(count=2),
            ],
            seid=0x1122334455667788,
        ),
        Message(M.SESSION_DELETION_REQUEST, 11, [], seid=sid),
        Message(
            M.SESSION_DELETION_RESPONSE,
            11,
            [
                S.Cause(1),
                _usage_report(T.USAGE_REPORT_DELETION_RESPONSE),
                F.PFCPSDRspFlags.of("PURU"),
            ],
            seid=0x1122334455667788,
        ),
        Message(
            M.SESSION_REPORT_REQUEST,
            12,
            [
                F.ReportType.of("DLDR", "USAR", "ERIR"),
                g(
                    T.DOWNLINK_DATA_REPORT,
                    S.PDRID(2),
                    TR.DownlinkDataServiceInformation(ppi=3, qfi=9),
                    F.DataStatus.of("BUFF"),
                ),
                _usage_report(T.USAGE_REPORT_REPORT_REQUEST),
                g(T.ERROR_INDICATION_REPORT, A.FTEID(teid=0x1001, ipv4="127.0.0.3")),
                F.PFCPSRReqFlags.of("PSDBU"),
            ],
            seid=0x1122334455667788,
        ),
        Message(
            M.SESSION_REPORT_RESPONSE,
            12,
            [
                S.Cause(1),
                g(
                    T.UPDATE_BAR_SESSION_REPORT_RESPONSE,
                    S.BARID(1),
                    S.DownlinkDataNotificationDelay(1),
                    S.DLBufferingDuration.from_seconds(20),
                    S.DLBufferingSuggestedPacketCount(10),
                ),
                F.PFCPSRRspFlags.of("DROBU"),
            ],
            seid=sid,
        ),
        Message(
            M.SESSION_REPORT_RESPONSE,
            13,
            [
                S.Cause(64),
                S.OffendingIE(T.CREATE_PDR),
                g(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, S.BARID(1)),
            ],
            seid=sid,
        ),
        Message(
            M.SESSION_ESTABLISHMENT_RESPONSE,
            14,
            [UP_NODE, S.Cause(73), S.OffendingIE(T.CREATE_PDR), TR.FailedRuleID(0, 3)],
            seid=sid,
        ),
        Message(
            M.SESSION_MODIFICATION_REQUEST,
            15,
            [
                g(
                    T.CREATE_PDR,
                    S.PDRID(5),
                    S.Precedence(10),
                    g(
                        T.PDI,
                        S.SourceInterface(2),
                        X.ApplicationID("video"),
                        X.NetworkInstance("ims"),
                    ),
                    S.FARID(5),
                    X.UEIPAddressPoolIdentity("pool-a"),
                ),
                g(
                    T.CREATE_FAR,
                    S.FARID(5),
                    F.ApplyAction.of("FORW", "DUPL"),
                    g(T.DUPLICATING_PARAMETERS, S.DestinationInterface(4)),
                ),
                g(T.CREATE_QER, S.QERID(5), TR.GateStatus(1, 0)),
                g(
                    T.CREATE_URR,
                    S.URRID(5),
                    F.MeasurementMethod.of("EVENT"),
                    F.ReportingTriggers.of("START", size=3),
                ),
            ],
            seid=sid,
        ),
    ]


def typed_ie_classes_in(messages: list[Message]) -> set[type]:
    seen: set[type] = set()

    def walk(ies: list[IE]) -> None:
        for ie in ies:
            seen.add(type(ie))
            if isinstance(ie, Grouped):
                walk(ie.ies)

    for m in messages:
        walk(m.ies)
    return seen - {Grouped, RawIE, VendorIE}

"""PFCP messages: the Message type, the IEs each message must carry and those it may carry
(TS 29.244 clause 7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ie import IE, IEList
from .ie_types import IEType as T
from .message_types import MessageType as M
from .message_types import message_type_name


@dataclass(frozen=True, slots=True)
class IgnoredIE:
    """An IE the decoder set aside, not part of the message's IEs (TS 29.244 clause 7.6): one
    of a known type that is not expected where it was (7.6.9), or an optional IE with an
    incorrect value (7.6.8: treated as not present). The receiver logs it. ``within``: the
    list it was set aside from (its enclosing group's ``ies``, or the message's), which
    tells which of several groups of one type held it (a zero-length IE in an Update
    rule group removes that IE from the rule: `session.rules.null_removals`)."""

    path: tuple[str, ...]  # the enclosing grouped IEs, outermost first
    ie: IE  # the IE as it arrived (a RawIE)
    unexpected: bool  # False: an optional IE with an incorrect value
    reason: str
    within: list[IE] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return "/".join((*self.path, self.ie.name)) + f": {self.reason}"


@dataclass(slots=True)
class Message(IEList):
    """One PFCP message. ``seid`` is set exactly for session messages (50-57). ``ignored``:
    the IEs the decoder set aside (not in ``ies``; not part of equality or encoding)."""

    msg_type: int
    seq: int
    ies: list[IE] = field(default_factory=list)
    seid: int | None = None
    priority: int | None = None
    ignored: list[IgnoredIE] = field(default_factory=list, compare=False, repr=False)

    @property
    def name(self) -> str:
        return message_type_name(self.msg_type)


def _m(*types: int) -> frozenset[int]:
    return frozenset(types)


_NODE_CAUSE = _m(T.NODE_ID, T.CAUSE)

# IEs marked M in the message tables of clause 7.4 and 7.5 (Rel-17).
MANDATORY_IES: dict[int, frozenset[int]] = {
    M.HEARTBEAT_REQUEST: _m(T.RECOVERY_TIME_STAMP),
    M.HEARTBEAT_RESPONSE: _m(T.RECOVERY_TIME_STAMP),
    M.PFD_MANAGEMENT_REQUEST: _m(),
    M.PFD_MANAGEMENT_RESPONSE: _m(T.CAUSE),
    M.ASSOCIATION_SETUP_REQUEST: _m(T.NODE_ID, T.RECOVERY_TIME_STAMP),
    M.ASSOCIATION_SETUP_RESPONSE: _m(T.NODE_ID, T.CAUSE, T.RECOVERY_TIME_STAMP),
    M.ASSOCIATION_UPDATE_REQUEST: _m(T.NODE_ID),
    M.ASSOCIATION_UPDATE_RESPONSE: _NODE_CAUSE,
    M.ASSOCIATION_RELEASE_REQUEST: _m(T.NODE_ID),
    M.ASSOCIATION_RELEASE_RESPONSE: _NODE_CAUSE,
    M.VERSION_NOT_SUPPORTED_RESPONSE: _m(),
    M.NODE_REPORT_REQUEST: _m(T.NODE_ID, T.NODE_REPORT_TYPE),
    M.NODE_REPORT_RESPONSE: _NODE_CAUSE,
    M.SESSION_SET_DELETION_REQUEST: _m(T.NODE_ID),
    M.SESSION_SET_DELETION_RESPONSE: _NODE_CAUSE,
    # V17.7.1 also makes PFCP Session Change Info mandatory; earlier Rel-17 versions carried
    # its IEs (Alternative SMF IP Address, ...) in the message itself. Only what both forms
    # have is checked here; the session engine checks the form it receives.
    M.SESSION_SET_MODIFICATION_REQUEST: _m(T.NODE_ID),
    M.SESSION_SET_MODIFICATION_RESPONSE: _NODE_CAUSE,
    M.SESSION_ESTABLISHMENT_REQUEST: _m(T.NODE_ID, T.F_SEID, T.CREATE_PDR, T.CREATE_FAR),
    M.SESSION_ESTABLISHMENT_RESPONSE: _NODE_CAUSE,
    M.SESSION_MODIFICATION_REQUEST: _m(),
    M.SESSION_MODIFICATION_RESPONSE: _m(T.CAUSE),
    M.SESSION_DELETION_REQUEST: _m(),
    M.SESSION_DELETION_RESPONSE: _m(T.CAUSE),
    M.SESSION_REPORT_REQUEST: _m(T.REPORT_TYPE),
    M.SESSION_REPORT_RESPONSE: _m(T.CAUSE),
}

# Every IE a message may carry: the M, C and O rows of the same tables (TS 29.244 V17.7.1,
# joined with V17.0.0 where the two differ). An IE of any other type is unexpected in that
# message, and its receiver discards it and goes on (clause 7.6.9). Vendor-specific IEs (type
# with bit 0x8000 set) are always accepted and not listed here; a message type absent from
# this table accepts any IE.
ALLOWED_IES: dict[int, frozenset[int]] = {
    M.HEARTBEAT_REQUEST: _m(T.RECOVERY_TIME_STAMP, T.SOURCE_IP_ADDRESS),
    M.HEARTBEAT_RESPONSE: _m(T.RECOVERY_TIME_STAMP),
    M.PFD_MANAGEMENT_REQUEST: _m(T.APPLICATION_IDS_PFDS, T.NODE_ID),
    M.PFD_MANAGEMENT_RESPONSE: _m(T.CAUSE, T.OFFENDING_IE, T.NODE_ID),
    M.ASSOCIATION_SETUP_REQUEST: _m(
        T.NODE_ID,
        T.RECOVERY_TIME_STAMP,
        T.UP_FUNCTION_FEATURES,
        T.CP_FUNCTION_FEATURES,
        T.ALTERNATIVE_SMF_IP_ADDRESS,
        T.SMF_SET_ID,
        T.PFCP_SESSION_RETENTION_INFORMATION,
        T.UE_IP_ADDRESS_POOL_INFORMATION,
        T.GTP_U_PATH_QOS_CONTROL_INFORMATION,
        T.CLOCK_DRIFT_CONTROL_INFORMATION,
        T.NF_INSTANCE_ID,
        T.PFCPASREQ_FLAGS,
        T.USER_PLANE_IP_RESOURCE_INFORMATION,  # Rel-15 (reserved since Rel-16)
    ),
    M.ASSOCIATION_SETUP_RESPONSE: _m(
        T.NODE_ID,
        T.CAUSE,
        T.RECOVERY_TIME_STAMP,
        T.UP_FUNCTION_FEATURES,
        T.CP_FUNCTION_FEATURES,
        T.ALTERNATIVE_SMF_IP_ADDRESS,
        T.SMF_SET_ID,
        T.PFCPASRSP_FLAGS,
        T.CLOCK_DRIFT_CONTROL_INFORMATION,
        T.UE_IP_ADDRESS_POOL_INFORMATION,
        T.GTP_U_PATH_QOS_CONTROL_INFORMATION,
        T.NF_INSTANCE_ID,
        T.USER_PLANE_IP_RESOURCE_INFORMATION,  # Rel-15 (reserved since Rel-16)
    ),
    M.ASSOCIATION_UPDATE_REQUEST: _m(
        T.NODE_ID,
        T.UP_FUNCTION_FEATURES,
        T.CP_FUNCTION_FEATURES,
        T.PFCP_ASSOCIATION_RELEASE_REQUEST,
        T.GRACEFUL_RELEASE_PERIOD,
        T.PFCPAUREQ_FLAGS,
        T.ALTERNATIVE_SMF_IP_ADDRESS,
        T.SMF_SET_ID,
        T.CLOCK_DRIFT_CONTROL_INFORMATION,
        T.UE_IP_ADDRESS_POOL_INFORMATION,
        T.GTP_U_PATH_QOS_CONTROL_INFORMATION,
        T.UE_IP_ADDRESS_USAGE_INFORMATION,
        T.USER_PLANE_IP_RESOURCE_INFORMATION,  # Rel-15 (reserved since Rel-16)
    ),
    M.ASSOCIATION_UPDATE_RESPONSE: _m(
        T.NODE_ID,
        T.CAUSE,
        T.UP_FUNCTION_FEATURES,
        T.CP_FUNCTION_FEATURES,
        T.UE_IP_ADDRESS_USAGE_INFORMATION,
    ),
    M.ASSOCIATION_RELEASE_REQUEST: _m(T.NODE_ID),
    M.ASSOCIATION_RELEASE_RESPONSE: _m(T.NODE_ID, T.CAUSE),
    M.VERSION_NOT_SUPPORTED_RESPONSE: _m(),  # only the header (clause 7.4.4.7)
    M.NODE_REPORT_REQUEST: _m(
        T.NODE_ID,
        T.NODE_REPORT_TYPE,
        T.VENDOR_SPECIFIC_NODE_REPORT_TYPE,
        T.USER_PLANE_PATH_FAILURE_REPORT,
        T.USER_PLANE_PATH_RECOVERY_REPORT,
        T.CLOCK_DRIFT_REPORT,
        T.GTP_U_PATH_QOS_REPORT,
        T.PEER_UP_RESTART_REPORT,
    ),
    M.NODE_REPORT_RESPONSE: _m(T.NODE_ID, T.CAUSE, T.OFFENDING_IE),
    M.SESSION_SET_DELETION_REQUEST: _m(T.NODE_ID, T.FQ_CSID),
    M.SESSION_SET_DELETION_RESPONSE: _m(T.NODE_ID, T.CAUSE, T.OFFENDING_IE),
    # V17.7.1 moved FQ-CSID, Group Id, CP IP Address and Alternative SMF IP Address into
    # PFCP Session Change Info; earlier Rel-17 versions carried them in the message itself.
    M.SESSION_SET_MODIFICATION_REQUEST: _m(
        T.NODE_ID,
        T.PFCP_SESSION_CHANGE_INFO,
        T.FQ_CSID,
        T.GROUP_ID,
        T.CP_IP_ADDRESS,
        T.ALTERNATIVE_SMF_IP_ADDRESS,
    ),
    M.SESSION_SET_MODIFICATION_RESPONSE: _m(T.NODE_ID, T.CAUSE, T.OFFENDING_IE),
    M.SESSION_ESTABLISHMENT_REQUEST: _m(
        T.NODE_ID,
        T.F_SEID,
        T.CREATE_PDR,
        T.CREATE_FAR,
        T.CREATE_URR,
        T.CREATE_QER,
        T.CREATE_BAR,
        T.CREATE_TRAFFIC_ENDPOINT,
        T.PDN_TYPE,
        T.FQ_CSID,
        T.USER_PLANE_INACTIVITY_TIMER,
        T.USER_ID,
        T.TRACE_INFORMATION,
        T.APN_DNN,
        T.CREATE_MAR,
        T.PFCPSEREQ_FLAGS,
        T.CREATE_BRIDGE_INFO_FOR_TSC,
        T.CREATE_SRR,
        T.PROVIDE_ATSSS_CONTROL_INFORMATION,
        T.RECOVERY_TIME_STAMP,
        T.S_NSSAI,
        T.PROVIDE_RDS_CONFIGURATION_INFORMATION,
        T.RAT_TYPE,
        T.L2TP_TUNNEL_INFORMATION,
        T.L2TP_SESSION_INFORMATION,
        T.GROUP_ID,
        T.MBS_SESSION_N4MB_CONTROL_INFORMATION,
        T.MBS_SESSION_N4_CONTROL_INFORMATION,
        T.DSCP_TO_PPI_CONTROL_INFORMATION,
    ),
    M.SESSION_ESTABLISHMENT_RESPONSE: _m(
        T.NODE_ID,
        T.CAUSE,
        T.OFFENDING_IE,
        T.F_SEID,
        T.CREATED_PDR,
        T.LOAD_CONTROL_INFORMATION,
        T.OVERLOAD_CONTROL_INFORMATION,
        T.FQ_CSID,
        T.FAILED_RULE_ID,
        T.CREATED_TRAFFIC_ENDPOINT,
        T.CREATED_BRIDGE_INFO_FOR_TSC,
        T.ATSSS_CONTROL_PARAMETERS,
        T.RDS_CONFIGURATION_INFORMATION,
        T.PARTIAL_FAILURE_INFORMATION,
        T.L2TP_SESSION_INFORMATION_ESTABLISHMENT_RESPONSE,
        T.MBS_SESSION_N4MB_INFORMATION,
        T.MBS_SESSION_N4_CONTROL_INFORMATION_ESTABLISHMENT_RESPONSE,
    ),
    M.SESSION_MODIFICATION_REQUEST: _m(
        T.F_SEID,
        T.REMOVE_PDR,
        T.REMOVE_FAR,
        T.REMOVE_URR,
        T.REMOVE_QER,
        T.REMOVE_BAR,
        T.REMOVE_TRAFFIC_ENDPOINT,
        T.CREATE_PDR,
        T.CREATE_FAR,
        T.CREATE_URR,
        T.CREATE_QER,
        T.CREATE_BAR,
        T.CREATE_TRAFFIC_ENDPOINT,
        T.UPDATE_PDR,
        T.UPDATE_FAR,
        T.UPDATE_URR,
        T.UPDATE_QER,
        T.UPDATE_BAR,
        T.UPDATE_TRAFFIC_ENDPOINT,
        T.PFCPSMREQ_FLAGS,
        T.QUERY_URR,
        T.FQ_CSID,
        T.USER_PLANE_INACTIVITY_TIMER,
        T.QUERY_URR_REFERENCE,
        T.TRACE_INFORMATION,
        T.REMOVE_MAR,
        T.UPDATE_MAR,
        T.CREATE_MAR,
        T.NODE_ID,
        T.TSC_MANAGEMENT_INFORMATION,
        T.REMOVE_SRR,
        T.CREATE_SRR,
        T.UPDATE_SRR,
        T.PROVIDE_ATSSS_CONTROL_INFORMATION,
        T.ETHERNET_CONTEXT_INFORMATION,
        T.ACCESS_AVAILABILITY_INFORMATION,
        T.QUERY_PACKET_RATE_STATUS,
        T.S_NSSAI,
        T.GROUP_ID,
        T.MBS_SESSION_N4_CONTROL_INFORMATION,
        T.DSCP_TO_PPI_CONTROL_INFORMATION,
        T.RAT_TYPE,
    ),
    # Packet Rate Status Report (252) and Partial Failure Information (273) as V17.0.0 had them.
    M.SESSION_MODIFICATION_RESPONSE: _m(
        T.CAUSE,
        T.OFFENDING_IE,
        T.CREATED_PDR,
        T.LOAD_CONTROL_INFORMATION,
        T.OVERLOAD_CONTROL_INFORMATION,
        T.USAGE_REPORT_MODIFICATION_RESPONSE,
        T.FAILED_RULE_ID,
        T.ADDITIONAL_USAGE_REPORTS_INFORMATION,
        T.CREATED_TRAFFIC_ENDPOINT,
        T.PORT_MANAGEMENT_INFORMATION_FOR_TSC_MODIFICATION_RESPONSE,
        T.ATSSS_CONTROL_PARAMETERS,
        T.UPDATED_PDR,
        T.QUERY_PACKET_RATE_STATUS_REPORT,
        T.PARTIAL_FAILURE_INFORMATION,
        T.MBS_SESSION_N4_CONTROL_INFORMATION_ESTABLISHMENT_RESPONSE,
        T.PACKET_RATE_STATUS_REPORT,
        T.PARTIAL_FAILURE_INFORMATION_MODIFICATION_RESPONSE,
    ),
    M.SESSION_DELETION_REQUEST: _m(),
    M.SESSION_DELETION_RESPONSE: _m(
        T.CAUSE,
        T.OFFENDING_IE,
        T.LOAD_CONTROL_INFORMATION,
        T.OVERLOAD_CONTROL_INFORMATION,
        T.USAGE_REPORT_DELETION_RESPONSE,
        T.ADDITIONAL_USAGE_REPORTS_INFORMATION,
        T.PACKET_RATE_STATUS_REPORT,
        T.SESSION_REPORT,
        T.MBS_SESSION_N4_CONTROL_INFORMATION_ESTABLISHMENT_RESPONSE,
        T.PFCPSDRSP_FLAGS,
    ),
    M.SESSION_REPORT_REQUEST: _m(
        T.REPORT_TYPE,
        T.DOWNLINK_DATA_REPORT,
        T.USAGE_REPORT_REPORT_REQUEST,
        T.ERROR_INDICATION_REPORT,
        T.LOAD_CONTROL_INFORMATION,
        T.OVERLOAD_CONTROL_INFORMATION,
        T.ADDITIONAL_USAGE_REPORTS_INFORMATION,
        T.PFCPSRREQ_FLAGS,
        T.F_SEID,
        T.PACKET_RATE_STATUS_REPORT,
        T.PORT_MANAGEMENT_INFORMATION_FOR_TSC_REPORT_REQUEST,
        T.SESSION_REPORT,
        T.CAUSE,
    ),
    M.SESSION_REPORT_RESPONSE: _m(
        T.CAUSE,
        T.OFFENDING_IE,
        T.UPDATE_BAR_SESSION_REPORT_RESPONSE,
        T.PFCPSRRSP_FLAGS,
        T.F_SEID,
        T.F_TEID,
        T.ALTERNATIVE_SMF_IP_ADDRESS,
        T.FQ_CSID,
        T.GROUP_ID,
        T.NODE_ID,
    ),
}

"""Session Deletion Response with Session Report Requests of the session unanswered: TS 29.244
Table 7.5.7.1-1 (Rel-17), PFCPSDRsp-Flags (IE type 318), "PURU (Pending Usage Reports
Unacknowledged): the UP function shall set this flag if the UP function has pending PFCP
Session Report Request messages which have not been acknowledged yet when it sends the PFCP
Session Deletion Response message." The SMF then waits for the usage still in flight before
it closes the charging record."""

from __future__ import annotations

from oracles import pycrate_error, tshark_fields
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.pfcp import IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_flags import PFCPSDRspFlags
from pfcpd.pfcp.ies_scalar import Cause

M = MessageType
T = IEType


def _volth_report_sent(h: Harness) -> tuple[int, list[Message]]:
    """A session whose URR 1 has a Volume Threshold of 300 octets, crossed by three UL
    packets of 100: its UP SEID, and the Session Report Requests sent (one, VOLTH)."""
    resp = h.establish(
        ul_pdr(),
        dl_pdr(),
        ul_far(),
        dl_far(),
        qer(),
        urr(1, "VOLTH", vt=TR.VolumeThreshold(total=300)),
    )
    seid = up_seid(resp)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    for _ in range(3):
        h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 100), teid))
    sent = h.advance(0.2)
    reports = [m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert len(reports) == 1
    return seid, reports


def test_a_deletion_with_a_report_unanswered_sets_puru(ht: Harness) -> None:
    """Table 7.5.7.1-1: a VOLTH Session Report Request is in T1/N1 retransmission, not
    answered, when the SMF deletes the session: the Session Deletion Response carries
    PFCPSDRsp-Flags with PURU (besides the Cause and the TERMR Usage Report)."""
    seid, _ = _volth_report_sent(ht)
    deletion = ht.delete(seid)
    assert cause(deletion) == 1
    assert deletion.get(T.USAGE_REPORT_DELETION_RESPONSE) is not None
    assert deletion.get(T.PFCPSDRSP_FLAGS) == PFCPSDRspFlags.of("PURU")


def test_a_deletion_with_every_report_answered_has_no_puru(ht: Harness) -> None:
    """Table 7.5.7.1-1: PFCPSDRsp-Flags is conditional, PURU only with a report pending:
    the report answered, the Session Deletion Response has none."""
    seid, reports = _volth_report_sent(ht)
    ht.answer(reports[0])
    deletion = ht.delete(seid)
    assert cause(deletion) == 1
    assert deletion.get(T.PFCPSDRSP_FLAGS) is None


def test_pfcpsdrsp_flags_octets_as_tshark_and_pycrate_read_them() -> None:
    """The IE's coding (type 318, one octet, PURU bit 1 of octet 5) as decoders we did not
    write read it: tshark's PFCP dissector shows PURU set, and pycrate parses the Session
    Deletion Response holding it without error."""
    ie = PFCPSDRspFlags.of("PURU")
    assert encode(Message(M.SESSION_DELETION_RESPONSE, 1, [ie], 1))[-5:] == bytes.fromhex(
        "013e000101"
    )
    response = Message(M.SESSION_DELETION_RESPONSE, 7, [Cause(1), ie], 0xC0FFEE)
    datagrams = [encode(response)]
    rows = tshark_fields(datagrams, ["pfcp.pfcpsdrsp_flags.puru", "pfcp.cause"])
    assert rows == [{"pfcp.pfcpsdrsp_flags.puru": ["1"], "pfcp.cause": ["1"]}]
    assert pycrate_error(datagrams[0]) is None

"""Real SMFs' session requests, from the public captures in ../shared/pcaps, replayed octet
for octet into the sans-IO node with the session engine on the real local datapath: each
gets the cause the UP function of the capture answered, the same Created PDRs, and, for a
deletion, Usage Reports of the same URRs. Requests about a session established before the
capture began are left out (their UP SEID is nobody's here); the others go with their
header's SEID replaced by the one pfcpd allocated for the session. Every answer is read by
tshark and pycrate (the harness's teardown). Nothing is sent anywhere: the F-SEIDs and
addresses in the captures stay inside the engine."""

from __future__ import annotations

import struct

import pytest
from oracles import require_pcaps
from session_harness import Harness, cause, created

from pfcpd.capture import read_datagrams
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, decode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S

T = IEType
M = MessageType
REQUESTS = (
    M.SESSION_ESTABLISHMENT_REQUEST,
    M.SESSION_MODIFICATION_REQUEST,
    M.SESSION_DELETION_REQUEST,
)
ANSWERS = (
    M.SESSION_ESTABLISHMENT_RESPONSE,
    M.SESSION_MODIFICATION_RESPONSE,
    M.SESSION_DELETION_RESPONSE,
)
CAPTURES = {
    # Open5GS's SMF: the N6 PDR and an N4-u PDR (source interface CP-function) share the
    # downlink FAR, BUFF+NOCP until the gNB's tunnel is known; F-TEIDs CH with V4 and V6
    "pfcp-upf-smf-sessions.pcap": 2,
    "pfcp-ue-init-with-usage-report.pcap": 1,
    # another SMF: an uplink filter "permit in ip from any to any", an F-TEID CH with
    # neither V4 nor V6, a Node ID FQDN, a CP F-SEID of 0.0.0.0
    "pfcp-5gsa-pdu-establishment.pcap": 1,
}


def _usage_urrs(msg: Message) -> list[int]:
    out = []
    for report in msg.get_all(T.USAGE_REPORT_DELETION_RESPONSE):
        assert isinstance(report, Grouped)
        out.append(report.get(T.URR_ID).value)  # type: ignore[union-attr]
    return sorted(out)


def _allocated(msg: Message) -> dict[int, list[int]]:
    """The Created PDRs carrying what the UP function allocated (TS 29.244 7.5.3.2: present
    for those only; some UP functions list every PDR): PDR ID -> the types allocated."""
    kinds = (T.F_TEID, T.UE_IP_ADDRESS)
    out = {pdr: sorted(t for t in ies if t in kinds) for pdr, ies in created(msg).items()}
    return {pdr: types for pdr, types in out.items() if types}


@pytest.mark.parametrize("name", CAPTURES)
def test_a_real_smfs_requests_get_the_answers_of_the_captures_upf(h: Harness, name: str) -> None:
    messages = [(d, decode(d.payload)) for d in read_datagrams(str(require_pcaps() / name))]
    first = next((d, m) for d, m in messages if m.msg_type == M.SESSION_ESTABLISHMENT_REQUEST)
    smf = first[0].src
    node_id = first[1].get(T.NODE_ID)
    assert isinstance(node_id, A.NodeID)
    setup = Message(M.ASSOCIATION_SETUP_REQUEST, 7, [node_id, S.RecoveryTimeStamp(3_900_000_000)])
    assert [cause(m) for m in h.exchange(setup)] == [1]
    answers = {m.seq: m for d, m in messages if d.src != smf and m.msg_type in ANSWERS}
    seids: dict[int, int] = {}  # the capture's UP SEID -> ours
    done: set[tuple[int, int]] = set()  # (a capture seen on two interfaces has each twice)
    established = deleted = 0
    for d, m in messages:
        if d.src != smf or m.msg_type not in REQUESTS or (m.msg_type, m.seq) in done:
            continue
        done.add((m.msg_type, m.seq))
        data = bytearray(d.payload)
        if m.msg_type != M.SESSION_ESTABLISHMENT_REQUEST:
            if m.seid not in seids:
                continue  # (a session established before the capture began)
            data[4:12] = struct.pack("!Q", seids[m.seid])
        (ours,) = h.exchange_octets(bytes(data))
        theirs = answers[m.seq]
        assert (ours.msg_type, ours.seq) == (theirs.msg_type, m.seq)
        assert cause(ours) == cause(theirs) == 1, f"{name} request seq {m.seq}"
        if m.msg_type == M.SESSION_ESTABLISHMENT_REQUEST:
            assert _allocated(ours) == _allocated(theirs)
            up, their_up = ours.get(T.F_SEID), theirs.get(T.F_SEID)
            assert isinstance(up, A.FSEID) and isinstance(their_up, A.FSEID)
            seids[their_up.seid] = up.seid
            established += 1
        elif m.msg_type == M.SESSION_DELETION_REQUEST:
            assert _usage_urrs(ours) == _usage_urrs(theirs)
            deleted += 1
    assert established == CAPTURES[name]
    assert len(h.engine.sessions) == established - deleted

"""A CP's Association Setup Request for a Node ID already associated (TS 29.244 6.2.6.2.2):
the new association overwrites the old whatever the Recovery Time Stamp, and the CP's
sessions are deleted (their TEIDs and UE addresses freed) unless the request has PFCP
Session Retention Information: then all are kept, or with CP PFCP Entity IP Addresses those
whose CP F-SEID has one of them; PSREI in the response says sessions were retained."""

from __future__ import annotations

import dataclasses

from session_harness import CP, Harness, cause, establishment, g, standard_rules, up_seid
from test_cp_sessions import check_left

from pfcpd.pfcp import IE, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules

T = IEType
M = MessageType
CP_TS = 3_900_000_000  # the harness's CP's Recovery Time Stamp


def setup(ts: int = CP_TS, *ies: IE) -> Message:
    return Message(
        M.ASSOCIATION_SETUP_REQUEST, 0, [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(ts), *ies]
    )


def retention(*addresses: A.CPPFCPEntityIPAddress) -> IE:
    return g(T.PFCP_SESSION_RETENTION_INFORMATION, *addresses)


def three_sessions(h: Harness) -> list[int]:
    """smf's sessions with CP F-SEIDs at 127.0.0.2 (the association's address), 127.0.0.7
    and 2001:db8::7."""
    seids = [up_seid(h.establish(cp_seid=1))]
    for n, address in ((2, "127.0.0.7"), (3, "2001:db8::7")):
        request = rules.establishment_request("smf", address, n, standard_rules())
        seids.append(up_seid(h.request(request)))
    check_left(h, seids)
    return seids


def psrei(response: Message) -> bool:
    flags = response.get(T.PFCPASRSP_FLAGS)
    return isinstance(flags, F.PFCPASRspFlags) and flags.has("PSREI")


def test_a_setup_again_without_retention_deletes_the_sessions(h: Harness) -> None:
    """The same Recovery Time Stamp, no PFCP Session Retention Information: every session of
    the CP goes, its TEID and UE address freed."""
    seids = three_sessions(h)
    response = h.request(setup())
    assert cause(response) == 1 and not psrei(response)
    check_left(h, [])
    assert cause(h.modify(seids[0])) == 65
    assert h.engine.metrics.deleted.get("peer_released") == 3


def test_a_restarted_cp_without_retention_loses_them_whatever_on_peer_restart(
    h: Harness,
) -> None:
    """A new Recovery Time Stamp in the setup: pfcp.on_peer_restart ("keep" here) does not
    apply, the request says what becomes of the sessions."""
    h.node.config = dataclasses.replace(h.node.config, on_peer_restart="keep")
    three_sessions(h)
    response = h.request(setup(CP_TS + 10))
    assert cause(response) == 1 and not psrei(response)
    check_left(h, [])


def test_retention_without_addresses_keeps_every_session(h: Harness) -> None:
    """PFCP Session Retention Information without CP PFCP Entity IP Address: all are kept
    (a restarted CP too, with on_peer_restart "purge"), and the response sets PSREI."""
    seids = three_sessions(h)
    response = h.request(setup(CP_TS + 10, retention()))
    assert cause(response) == 1 and psrei(response)
    check_left(h, seids)
    assert [cause(h.modify(seid)) for seid in seids] == [1, 1, 1]
    # No association with the Node ID before: no PSREI (6.2.6.2.2 is about an existing one).
    other = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        77,
        [A.NodeID.from_text("smf2"), S.RecoveryTimeStamp(CP_TS), retention()],
    )
    h.node.datagram_received(encode(other), ("127.0.0.3", 8805), h.now)
    (response,) = h._collect()
    assert cause(response) == 1 and not psrei(response)


def test_retention_with_addresses_keeps_the_sessions_at_them(h: Harness) -> None:
    """With CP PFCP Entity IP Addresses only the sessions whose CP F-SEID has one of them
    are kept; the others are deleted, their allocations freed."""
    seids = three_sessions(h)
    kept = retention(
        A.CPPFCPEntityIPAddress("127.0.0.7"), A.CPPFCPEntityIPAddress(ipv6="2001:db8::7")
    )
    response = h.request(setup(CP_TS, kept))
    assert cause(response) == 1 and psrei(response)
    check_left(h, seids[1:])
    assert cause(h.modify(seids[0])) == 65
    # An address no session has: PSREI (the sessions asked for are retained, none), all go.
    response = h.request(setup(CP_TS, retention(A.CPPFCPEntityIPAddress("127.0.0.9"))))
    assert cause(response) == 1 and psrei(response)
    check_left(h, [])


def test_a_retransmitted_setup_is_answered_from_the_cache_without_a_second_effect(
    h: Harness,
) -> None:
    """The setup deletes the sessions it finds; its retransmission (the same octets) gets
    the same answer and leaves the sessions established since alone."""
    three_sessions(h)
    request = setup()
    request.seq = 500
    h.node.datagram_received(encode(request), CP, h.now)
    (first,) = h._collect()
    assert cause(first) == 1
    check_left(h, [])
    again = up_seid(h.request(establishment(*standard_rules(), cp_seid=9)))
    h.node.datagram_received(encode(request), CP, h.now)
    (second,) = h._collect()
    assert h.sent[-1] == h.sent[-3]  # (the answer's octets again)
    assert second == first
    check_left(h, [again])
    assert cause(h.modify(again)) == 1

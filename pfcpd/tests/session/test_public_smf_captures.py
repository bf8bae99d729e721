"""Real SMFs' session requests, from the public captures in ../shared/pcaps, replayed octet
for octet into the sans-IO node with the session engine on the real local datapath
(`pfcpd.replay_command.replay`, what `pfcpd replay` runs): each gets the cause the UP
function of the capture answered, the same allocations in Created PDR, and, for a deletion,
Usage Reports of the same URRs. Every answer is read by tshark and pycrate (the harness's
teardown). Nothing is sent anywhere: the F-SEIDs and addresses in the captures stay inside
the engine."""

from __future__ import annotations

import pytest
from oracles import require_pcaps
from session_harness import Harness

from pfcpd.capture import read_datagrams
from pfcpd.pfcp import MessageType
from pfcpd.replay_command import replay

M = MessageType
CAPTURES = {
    # Open5GS's SMF: the N6 PDR and an N4-u PDR (source interface CP-function) share the
    # downlink FAR, BUFF+NOCP until the gNB's tunnel is known; F-TEIDs CH with V4 and V6
    "pfcp-upf-smf-sessions.pcap": (2, 2, 1),
    # (its deletion is of a session established before the capture: left out)
    "pfcp-ue-init-with-usage-report.pcap": (1, 1, 0),
    # another SMF: an uplink filter "permit in ip from any to any", an F-TEID CH with
    # neither V4 nor V6, a Node ID FQDN, a CP F-SEID of 0.0.0.0
    "pfcp-5gsa-pdu-establishment.pcap": (1, 1, 0),
}


@pytest.mark.parametrize("name", CAPTURES)
def test_a_real_smfs_requests_get_the_answers_of_the_captures_upf(h: Harness, name: str) -> None:
    datagrams = list(read_datagrams(str(require_pcaps() / name)))
    replayed = list(replay(datagrams, h.node, h.now))
    assert [(r.frame, r.differences()) for r in replayed] == [(r.frame, []) for r in replayed]
    counts = tuple(
        sum(1 for r in replayed if r.request.msg_type == t)
        for t in (
            M.SESSION_ESTABLISHMENT_REQUEST,
            M.SESSION_MODIFICATION_REQUEST,
            M.SESSION_DELETION_REQUEST,
        )
    )
    assert counts == CAPTURES[name]
    assert len(h.engine.sessions) == counts[0] - counts[2]
    h.sent += [r.ours_octets for r in replayed]  # (read by tshark and pycrate at teardown)

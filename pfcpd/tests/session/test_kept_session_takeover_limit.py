"""The documented limit of SMF Set takeover (docs/pfcpd.md, "SMF Set takeover"): with
`pfcp.on_peer_lost: keep`, an SMF of a set whose association ended (lost, after
`graceful_release_period`) keeps its sessions, still its own; no SMF of its set can take
one over (65: a takeover needs both CPs associated with the same SMF Set ID, and the old
one's association is gone) until that SMF associates again with the SMF Set ID. Within
the graceful release period its association is there (lost) and a takeover holds."""

from __future__ import annotations

import dataclasses

from session_harness import Harness, cause
from test_smf_set_takeover import SET_ID, SMF2, establish, from_, join_set, modification

from pfcpd.pfcp import Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X

M = MessageType


def lose_smf(h: Harness, grace: float) -> None:
    """smf lost (as N1 unanswered heartbeats make it), its sessions kept."""
    h.node.config = dataclasses.replace(
        h.node.config, on_peer_lost="keep", graceful_release_period=grace
    )
    h.node._peer_lost(h.node._associations["smf"], h.now)


def test_documented_limit_no_takeover_of_a_lost_smf_s_kept_session(h: Harness) -> None:
    join_set(h)
    seid, _, _ = establish(h, 0xA1)
    lose_smf(h, 0.0)
    assert "smf" not in h.node._associations and seid in h.engine.sessions  # kept
    refused = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    assert (cause(refused), refused.seid) == (65, 0)
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf", 0xA1)
    # smf associates again (the same Recovery Time Stamp) with its SMF Set ID: the session
    # is its own still, and smf2 takes it over.
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        0,
        [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(3_900_000_000), X.SMFSetID(SET_ID)],
    )
    assert cause(h.request(setup)) == 1 and "smf" in h.node._associations
    taken = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 401)
    assert (cause(taken), taken.seid) == (1, 0xB1)
    assert h.engine.sessions[seid].cp_node_id == "smf2"


def test_within_the_graceful_release_period_a_takeover_holds(h: Harness) -> None:
    join_set(h)
    seid, _, _ = establish(h, 0xA2)
    lose_smf(h, 30.0)
    assert "smf" in h.node._associations
    taken = from_(h, SMF2, modification(seid, A.FSEID(0xB2, SMF2[0])), 400)
    assert (cause(taken), taken.seid) == (1, 0xB2)
    assert h.engine.sessions[seid].cp_node_id == "smf2"

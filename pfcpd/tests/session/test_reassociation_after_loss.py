"""A CP associating again after its association ended with its sessions kept
(`pfcp.on_peer_lost: keep`, the graceful release period over): pfcpd remembers the CP's
Recovery Time Stamp (`PfcpNode.lost_peers`, in the node state file) and at the CP's next
association tells a restart from a return.

- Another time stamp: the CP restarted and lost its sessions (TS 23.527 restoration: a
  peer's new Recovery Time Stamp). Its own Association Setup Request decides as one that
  overwrites an association does (TS 29.244 6.2.6.2.2): without PFCP Session Retention
  Information the sessions are deleted, with it kept; its answer to pfcpd's setup
  (`associate_to`) follows `pfcp.on_peer_restart`, as a heartbeat's would.
- The same time stamp: the sessions stay the CP's (as in
  `test_kept_session_takeover_limit.py`).
- Sessions retained at the setup, the response says so: PSREI in PFCPASRsp-Flags (8.2.134)."""

from __future__ import annotations

import dataclasses

from session_harness import CP, Harness, cause, up_seid
from test_reassociation import psrei, retention, setup

from pfcpd.node.node import SetupTarget
from pfcpd.pfcp import Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S

M = MessageType
CP_TS = 3_900_000_000  # the harness CP's Recovery Time Stamp


def lose_smf_keeping_its_sessions(h: Harness, **config: object) -> int:
    """smf has one session (CP SEID 0xC0FFEE); with `on_peer_lost: keep` and no graceful
    release period its heartbeats go unanswered (N1 retransmissions): its association
    ends, its session is kept, its Recovery Time Stamp remembered. The session's UP SEID."""
    seid = up_seid(h.establish())
    h.node.config = dataclasses.replace(
        h.node.config, on_peer_lost="keep", graceful_release_period=0.0, **config
    )
    h.advance(1003.5)  # heartbeat at 1000, retransmissions at 1001 and 1002, lost at 1003
    assert "smf" not in h.node._associations and seid in h.engine.sessions
    assert h.node.lost_peers() == {"smf": CP_TS}
    return seid


def test_a_cp_restarted_after_its_loss_does_not_inherit_its_previous_run_s_sessions(
    h: Harness,
) -> None:
    """TS 29.244 6.2.6.2.2, TS 23.527: smf, lost with its session kept, restarts (a new
    Recovery Time Stamp) and sets up its association again without PFCP Session Retention
    Information: its previous run's session is deleted (its TEID and UE address freed), and
    the restarted SMF's first Session Establishment, numbering its CP SEIDs from the start
    again (0xC0FFEE), is accepted, not refused 64 "CP F-SEID in use"."""
    old = lose_smf_keeping_its_sessions(h)
    response = h.request(setup(CP_TS + 777))
    assert cause(response) == 1 and not psrei(response)
    assert old not in h.engine.sessions
    assert h.engine.metrics.deleted.get("peer_released") == 1
    assert h.node.metrics.peer_restarts.get() == 1
    assert h.node.lost_peers() == {}
    assert cause(h.establish()) == 1


def test_sessions_kept_after_a_loss_and_retained_at_the_setup_are_said_retained(
    h: Harness,
) -> None:
    """TS 29.244 6.2.6.2.2, 8.2.134: smf comes back (the same Recovery Time Stamp) with PFCP
    Session Retention Information; its session, kept since the loss, is retained, and the
    response sets PSREI: else the CP takes it as deleted and establishes it again."""
    seid = lose_smf_keeping_its_sessions(h)
    response = h.request(setup(CP_TS, retention()))
    assert cause(response) == 1 and psrei(response)
    assert seid in h.engine.sessions
    assert cause(h.modify(seid)) == 1


def test_a_restarted_cp_asking_for_retention_after_its_loss_keeps_them(h: Harness) -> None:
    """TS 29.244 6.2.6.2.2: the CP's setup decides, whatever its Recovery Time Stamp: a
    restarted smf (new time stamp) asking for retention keeps its session (the restart
    counted), and PSREI says so."""
    seid = lose_smf_keeping_its_sessions(h)
    response = h.request(setup(CP_TS + 777, retention()))
    assert cause(response) == 1 and psrei(response)
    assert seid in h.engine.sessions
    assert h.node.metrics.peer_restarts.get() == 1


def test_retention_with_addresses_after_a_loss_keeps_those_at_them(h: Harness) -> None:
    """TS 29.244 6.2.6.2.2: retention naming CP PFCP Entity IP Addresses keeps the sessions
    whose CP F-SEID has one of them, as for an association still there: the session at
    127.0.0.2 (none named) goes; the answer sets PSREI (those asked for are retained)."""
    seid = lose_smf_keeping_its_sessions(h)
    response = h.request(setup(CP_TS, retention(A.CPPFCPEntityIPAddress("127.0.0.9"))))
    assert cause(response) == 1 and psrei(response)
    assert seid not in h.engine.sessions


def test_a_cp_back_with_the_same_time_stamp_and_no_retention_keeps_them(h: Harness) -> None:
    """The same Recovery Time Stamp, no retention: the CP did not restart, the lost
    association resumes and its session stays its own (no restart counted)."""
    seid = lose_smf_keeping_its_sessions(h)
    response = h.request(setup(CP_TS))
    assert cause(response) == 1 and not psrei(response)
    assert seid in h.engine.sessions and cause(h.modify(seid)) == 1
    assert h.node.metrics.peer_restarts.get() == 0
    assert h.node.lost_peers() == {}


def _pfcpd_s_setup_answered(h: Harness, cp_ts: int) -> None:
    """pfcpd's own Association Setup Request to smf (`associate_to`) answered with Recovery
    Time Stamp ``cp_ts``."""
    target = SetupTarget("127.0.0.2", CP[1], h.now, addr=CP, in_flight=True)
    answer = Message(
        M.ASSOCIATION_SETUP_RESPONSE,
        0,
        [A.NodeID.from_text("smf"), S.Cause(1), S.RecoveryTimeStamp(cp_ts)],
    )
    h.node._setup_done(target, answer, h.now)
    h._collect()
    assert "smf" in h.node._associations


def test_pfcpd_s_own_setup_answered_by_a_restarted_cp_purges_per_on_peer_restart(
    h: Harness,
) -> None:
    """A restart seen in the answer to pfcpd's Association Setup Request (a new Recovery
    Time Stamp) after the loss: the session goes per `on_peer_restart: purge` (the
    default), as for a restart seen in a heartbeat."""
    seid = lose_smf_keeping_its_sessions(h)
    _pfcpd_s_setup_answered(h, CP_TS + 777)
    assert seid not in h.engine.sessions
    assert h.engine.metrics.deleted.get("peer_restarted") == 1
    assert cause(h.establish()) == 1


def test_pfcpd_s_own_setup_answered_by_a_restarted_cp_keeps_per_on_peer_restart(
    h: Harness,
) -> None:
    """`on_peer_restart: keep`: the restarted CP's session is kept (the restart counted);
    the same time stamp keeps it too, as a return."""
    seid = lose_smf_keeping_its_sessions(h, on_peer_restart="keep")
    _pfcpd_s_setup_answered(h, CP_TS + 777)
    assert seid in h.engine.sessions
    assert h.node.metrics.peer_restarts.get() == 1


def test_a_loss_that_kept_no_session_is_not_remembered(h: Harness) -> None:
    """With `on_peer_lost: release` the lost CP's sessions go: nothing to tell a restart
    for, nothing remembered (nor written in the node state file)."""
    up_seid(h.establish())
    h.node.config = dataclasses.replace(h.node.config, graceful_release_period=0.0)
    h.advance(1003.5)
    assert "smf" not in h.node._associations and not h.engine.sessions
    assert h.node.lost_peers() == {}

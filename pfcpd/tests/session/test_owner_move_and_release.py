"""A Session Modification moves a session to another CP of the SMF Set (its CP F-SEID at
that CP's address) in the same batch as the release of one of the two CPs' associations:
whose the session is, and so whether the release removes it, is known once the change is
durable or undone: the node commits the batch's changes before the CP's sessions are taken
(`PfcpNode._peer_gone`).
"""

from __future__ import annotations

import pytest
from datapath.conftest import require_core
from session_harness import Harness, cause, standard_rules, up_seid

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.smfsim import rules

M = MessageType
SET = "set1.example"
OTHER = ("127.0.0.11", 8805)  # CP "smf-b" of the same set


@pytest.fixture
def h() -> Harness:
    require_core()
    h = Harness(LocalDatapath(expected_sessions=16))
    update = Message(M.ASSOCIATION_UPDATE_REQUEST, 0, [A.NodeID.from_text("smf"), X.SMFSetID(SET)])
    assert cause(h.request(update)) == 1
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        1,
        [A.NodeID.from_text("smf-b"), S.RecoveryTimeStamp(1), X.SMFSetID(SET)],
    )
    h.node.datagram_received(encode(setup), OTHER, h.now)
    h._collect()
    return h


def move_and_release(h: Harness, released: str, fail: bool) -> tuple[int, list[int]]:
    """Establish a session of "smf", then in one batch move it to "smf-b" and release
    ``released``'s association (the journal failing once when ``fail``)."""
    seid = up_seid(
        h.request(rules.establishment_request("smf", "127.0.0.9", 0xD1, standard_rules()))
    )
    if fail:
        h.journal.fail_next = 1
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text(released)])
    answers = h.batch(
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [A.FSEID(0xD2, "127.0.0.11")], seid),
        (release, OTHER) if released == "smf-b" else release,
    )
    return seid, [cause(a) for a in answers]


def journaled(h: Harness) -> bool:
    return any(str(key).startswith("s:") for key in h.journal.records)


def test_undone_move_to_a_cp_released_meanwhile_keeps_the_session_its_cp_s(h: Harness) -> None:
    """The move refused (77): the session is still "smf"'s, in the engine as in the journal;
    "smf-b"'s release does not take it."""
    seid, causes = move_and_release(h, "smf-b", fail=True)
    assert causes == [77, 1]
    assert h.engine.sessions[seid].cp_node_id == "smf"
    assert journaled(h)


def test_a_move_to_a_cp_released_meanwhile_ends_with_that_cp(h: Harness) -> None:
    seid, causes = move_and_release(h, "smf-b", fail=False)
    assert causes == [1, 1]
    assert seid not in h.engine.sessions
    assert not journaled(h)


def test_undone_move_from_a_cp_released_meanwhile_ends_with_that_cp(h: Harness) -> None:
    """The move refused: the session is "smf"'s, whose association is gone: removed, in the
    engine and in the journal (no session of a CP with no association)."""
    seid, causes = move_and_release(h, "smf", fail=True)
    assert causes == [77, 1]
    assert seid not in h.engine.sessions
    assert not journaled(h)


def test_a_move_from_a_cp_released_meanwhile_keeps_the_session_the_new_cp_s(h: Harness) -> None:
    seid, causes = move_and_release(h, "smf", fail=False)
    assert causes == [1, 1]
    assert h.engine.sessions[seid].cp_node_id == "smf-b"
    assert journaled(h)


def test_undone_move_and_deletion_then_the_first_cp_released(h: Harness) -> None:
    """Moved to smf-b, deleted by smf-b, then smf released, the journal failing: both
    changes undone, the session is smf's again, and smf's release takes it (no session of
    a CP with no association), in the journal too."""
    seid = up_seid(
        h.request(rules.establishment_request("smf", "127.0.0.9", 0xD1, standard_rules()))
    )
    h.journal.fail_next = 1
    answers = h.batch(
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [A.FSEID(0xD2, "127.0.0.11")], seid),
        (Message(M.SESSION_DELETION_REQUEST, 0, [], seid), OTHER),
        Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text("smf")]),
    )
    assert [cause(a) for a in answers] == [77, 77, 1]
    assert seid not in h.engine.sessions
    assert not journaled(h)


def test_a_cp_released_and_associated_again_in_the_batch_has_no_session_left(h: Harness) -> None:
    """Moved to smf-b, smf-b released, associated again, and its modification of the
    session, in one batch: the release took the session (the move was durable first), so
    the modification is answered 65 (no such session), as the session is gone."""
    seid = up_seid(
        h.request(rules.establishment_request("smf", "127.0.0.9", 0xD1, standard_rules()))
    )
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        1,
        [A.NodeID.from_text("smf-b"), S.RecoveryTimeStamp(1), X.SMFSetID(SET)],
    )
    answers = h.batch(
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [A.FSEID(0xD2, "127.0.0.11")], seid),
        (Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text("smf-b")]), OTHER),
        (setup, OTHER),
        (Message(M.SESSION_MODIFICATION_REQUEST, 0, [], seid), OTHER),
    )
    assert [cause(a) for a in answers] == [1, 1, 1, 65]
    assert seid not in h.engine.sessions
    assert not journaled(h)

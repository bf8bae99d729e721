"""A Session Modification Request with a CP F-SEID (TS 29.244 7.5.4.1): the session moves
to it (its CP SEID and addresses, the CP index, the journal record), its answer and the
Session Report Requests after it carry the new SEID; the old SEID is free for another
session, a SEID another of the CP's sessions has is refused 64 as an establishment's
duplicate F-SEID is, the same SEID changes no entry, and an undone modification (journal,
datapath) puts the session back on its old CP F-SEID."""

from __future__ import annotations

import pytest
from oracles import tshark_fields
from pipelined_datapath import Pipelined
from session_harness import (
    CP,
    Harness,
    cause,
    created,
    establishment,
    g,
    gtpu,
    restarted,
    standard_rules,
    ul_packet,
    up_seid,
    urr,
)
from test_cp_index import _refuse, _refuse_once, check_index
from test_cp_sessions import check_left, check_order, lose

from pfcpd.datapath.local.engine import Verdict
from pfcpd.node.session_handler import PeerGone
from pfcpd.pfcp import IE, IEType, Message, MessageType, decode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session.engine import SessionEngine
from pfcpd.smfsim import rules

M = MessageType
T = IEType
NEW_CP = "127.0.0.9"  # (the new F-SEID's address; the CP's association stays at CP)


def check_read(engine: SessionEngine) -> None:
    """The index is the sessions'; each CP's entries, read (`_cp_seids`), in the order of
    `sessions`, and then so kept (`check_order`)."""
    check_index(engine)
    for node in list(engine._by_cp):
        mine = [seid for seid, s in engine.sessions.items() if s.cp_node_id == node]
        assert engine._cp_seids(node) == mine
    check_order(engine)
    assert engine._cp_unordered == set()


def move(h: Harness, seid: int, cp_seid: int, *ies: IE, ipv4: str = NEW_CP) -> Message:
    """A modification of session ``seid`` giving it CP F-SEID ``cp_seid`` at ``ipv4``."""
    return h.modify(seid, A.FSEID(cp_seid, ipv4), *ies)


def test_a_modification_moves_the_session_to_the_new_cp_fseid(h: Harness) -> None:
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    answer = move(h, a, 0xC)
    assert cause(answer) == 1 and answer.seid == 0xC  # (the answer: the new SEID)
    s = h.engine.sessions[a]
    assert (s.cp_seid, s.cp_ipv4, s.cp_ipv6, s.cp_node_id) == (0xC, NEW_CP, None, "smf")
    assert s.cp_fseid == A.FSEID(0xC, NEW_CP)
    assert h.engine.peer_seid(a) == 0xC
    check_index(h.engine)
    assert h.engine._by_cp == {"smf": {0xB: b, 0xC: a}}
    # The old SEID is free: a new session takes it; the new one is A's.
    assert cause(h.request(rules.establishment_request("smf", NEW_CP, 0xC, standard_rules()))) == 64
    c = up_seid(h.request(establishment(*standard_rules(), cp_seid=0xA)))
    assert h.engine._by_cp == {"smf": {0xB: b, 0xC: a, 0xA: c}}
    # Requests about A after it carry the new SEID (deletion: its answer's header).
    assert h.delete(a).seid == 0xC
    assert h.engine._by_cp == {"smf": {0xB: b, 0xA: c}}
    check_index(h.engine)


def test_the_new_cp_fseid_is_journaled_and_restored(h: Harness) -> None:
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    key = f"s:{a:x}"
    before = h.journal.records[key]
    assert cause(move(h, a, 0xC)) == 1
    assert h.journal.records[key] != before
    with restarted(h, 2) as engine:
        s = engine.sessions[a]
        assert (s.cp_seid, s.cp_ipv4, s.cp_ipv6) == (0xC, NEW_CP, None)
        assert engine._by_cp == {"smf": {0xB: b, 0xC: a}}
        check_index(engine)


def _transmits(h: Harness, seconds: float) -> list[tuple[Message, tuple[str, int]]]:
    """`Harness.advance` keeping where each message goes."""
    until = h.now + seconds
    out = []
    while (t := h.node.get_timer()) is not None and t <= until:
        h.now = max(h.now, t)
        h.node.handle_timer(h.now)
        for x in h.node.datagrams_to_send():
            h.sent.append(x.data)
            out.append((decode(x.data), x.addr))
    h.now = until
    return out


def test_reports_after_the_move_carry_the_new_seid(h: Harness) -> None:
    """A usage threshold's Session Report Request after the move has the new CP SEID in its
    header; it goes to the new F-SEID's address (test_report_destination.py); a
    Query URR's report comes in the answer that carries the new SEID."""
    volth = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=1000))
    resp = h.establish(*standard_rules()[:-1], volth, cp_seid=0xA)
    a = up_seid(resp)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    answer = move(h, a, 0xC)
    assert cause(answer) == 1 and answer.seid == 0xC
    answered = h.sent[-1]
    ((_, ue),) = h.engine.sessions[a].ue
    sent = []
    for _ in range(8):  # 1024 bytes: over the threshold
        assert h.dp.process_ul(gtpu(ul_packet(ue.partition("/")[0], 100), teid)).verdict == (
            Verdict.FORWARD
        )
        sent += _transmits(h, 0.6)
    reports = [(m, addr) for m, addr in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert reports
    assert {(m.seid, addr) for m, addr in reports} == {(0xC, (NEW_CP, CP[1]))}
    # (the octets sent, as tshark reads them)
    report = next(d for d in h.sent if d[1] == M.SESSION_REPORT_REQUEST)
    rows = tshark_fields([answered, report], ["pfcp.msg_type", "pfcp.seid", "pfcp.cause"])
    assert [(r["pfcp.msg_type"], r["pfcp.seid"]) for r in rows] == [
        (["53"], ["0x000000000000000c"]),
        (["56"], ["0x000000000000000c"]),
    ]
    h.answer_all([m for m, _ in reports])
    query = move(h, a, 0xD, g(T.QUERY_URR, S.URRID(1)))
    assert cause(query) == 1 and query.seid == 0xD
    assert query.get(T.USAGE_REPORT_MODIFICATION_RESPONSE) is not None


def test_a_cp_seid_another_session_has_is_refused(h: Harness) -> None:
    """Refused 64 (as an establishment with that CP F-SEID is: TS 29.244 5.6.2, that SEID
    at that address names the other session), no Offending IE, the header the old SEID's;
    nothing changes, the rest of the request with it."""
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    records = dict(h.journal.records)
    program = h.dp._programs[a]
    answer = move(h, a, 0xB, rules.update_dl_far(2, 0x999, "192.0.2.77"), ipv4=CP[0])
    assert cause(answer) == 64 and answer.seid == 0xA
    assert [ie.type for ie in answer.ies] == [T.CAUSE]
    assert h.engine._by_cp == {"smf": {0xA: a, 0xB: b}}
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, CP[0])
    assert h.journal.records == records and h.dp._programs[a] is program
    # The CP F-SEID is still b's: an establishment with it too is 64.
    assert cause(h.request(establishment(*standard_rules(), cp_seid=0xB))) == 64


def test_the_same_cp_seid_changes_no_entry(h: Harness) -> None:
    """The session's own F-SEID: no change (the record's octets the same); its SEID at
    another address: the address is taken, the index entry stays where it is."""
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    key = f"s:{a:x}"
    before = h.journal.records[key]
    answer = move(h, a, 0xA, ipv4=CP[0])
    assert cause(answer) == 1 and answer.seid == 0xA
    assert h.journal.records[key] == before
    answer = move(h, a, 0xA)
    assert cause(answer) == 1 and answer.seid == 0xA
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, NEW_CP)
    assert list(h.engine._by_cp["smf"].items()) == [(0xA, a), (0xB, b)]
    assert h.engine._cp_unordered == set()
    with restarted(h, 2) as engine:
        assert engine.sessions[a].cp_fseid == A.FSEID(0xA, NEW_CP)


def test_a_move_the_journal_refuses_is_undone(h: Harness) -> None:
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    records = dict(h.journal.records)
    h.journal.fail_next = 1
    answer = move(h, a, 0xC)
    assert cause(answer) == 77 and answer.seid == 0xA  # (undone: the old SEID's)
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, CP[0])
    assert h.engine.peer_seid(a) == 0xA
    assert h.engine._by_cp == {"smf": {0xA: a, 0xB: b}}
    assert h.journal.records == records
    check_read(h.engine)
    # 0xC is free again, 0xA still A's.
    assert cause(h.request(establishment(*standard_rules(), cp_seid=0xA))) == 64
    c = up_seid(h.request(establishment(*standard_rules(), cp_seid=0xC)))
    assert h.engine._by_cp == {"smf": {0xA: a, 0xB: b, 0xC: c}}


def test_an_establishment_on_the_cp_seid_an_undone_move_left_is_undone_too(
    hp: Harness,
) -> None:
    """One batch: a change of A the datapath refuses, A's move to 0xC, an establishment
    with A's old SEID. A's changes are undone, A is back on 0xA: the establishment that
    took it is undone and refused 77 with them."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    records = dict(h.records)
    _refuse_once(h, a)
    answers = h.batch(
        _refuse(h, a),
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [A.FSEID(0xC, NEW_CP)], a),
        establishment(*standard_rules(), cp_seid=0xA),
    )
    assert [(m.seq, cause(m)) for m in answers] == [(300, 77), (301, 77), (302, 77)]
    assert sorted(h.engine.sessions) == sorted([a, b])
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, CP[0])
    assert h.engine._by_cp == {"smf": {0xA: a, 0xB: b}}
    assert h.records == records
    check_read(h.engine)


def test_a_move_onto_the_cp_seid_an_undone_deletion_left_is_undone_too(hp: Harness) -> None:
    """One batch: a change of C the datapath refuses, C's deletion, A's move onto C's CP
    SEID. C's changes are undone, C is back on its SEID: A's move, which took it, is undone
    and refused 77 with them, so that no two sessions share a CP F-SEID."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = up_seid(h.establish(cp_seid=0xA))
    c = up_seid(h.establish(cp_seid=0xC))
    records = dict(h.journal.records)
    _refuse_once(h, c)
    answers = h.batch(
        _refuse(h, c),
        Message(M.SESSION_DELETION_REQUEST, 0, [], c),
        Message(M.SESSION_MODIFICATION_REQUEST, 0, [A.FSEID(0xC, CP[0])], a),
    )
    assert [(m.seq, cause(m)) for m in answers] == [(300, 77), (301, 77), (302, 77)]
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, CP[0])
    assert h.engine._by_cp == {"smf": {0xA: a, 0xC: c}}
    assert h.journal.records == records
    check_read(h.engine)


def test_a_seid_another_session_has_at_other_addresses_is_taken(h: Harness) -> None:
    """TS 29.244 5.6.2 (a SEID names a session at an IP address of the CP) and 7.5.4.1: A's
    new CP F-SEID (0xB, 127.0.0.9) has B's SEID (0xB, 127.0.0.2) at another address: another
    CP F-SEID, accepted (the index keys it by SEID and addresses). A then takes another
    address with that SEID (its entry follows); a move the journal refuses is undone; each
    F-SEID stays its session's, the CP's sessions read in the engine's order, after a
    restart too."""
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    answer = move(h, a, 0xB)
    assert cause(answer) == 1 and answer.seid == 0xB
    assert h.engine._by_cp == {"smf": {0xB: b, (0xB, NEW_CP, None): a}}
    check_read(h.engine)
    assert cause(h.request(establishment(*standard_rules(), cp_seid=0xB))) == 64
    assert cause(h.request(rules.establishment_request("smf", NEW_CP, 0xB, standard_rules()))) == 64
    answer = move(h, a, 0xB, ipv4="127.0.0.10")
    assert cause(answer) == 1 and answer.seid == 0xB
    assert h.engine._by_cp == {"smf": {0xB: b, (0xB, "127.0.0.10", None): a}}
    check_read(h.engine)
    h.journal.fail_next = 1
    assert cause(move(h, a, 0xB)) == 77
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xB, "127.0.0.10")
    check_read(h.engine)
    c = up_seid(h.request(rules.establishment_request("smf", NEW_CP, 0xB, standard_rules())))
    check_read(h.engine)
    assert h.engine._cp_seids("smf") == [a, b, c]
    with restarted(h, 3) as engine:
        check_read(engine)
        assert engine._cp_seids("smf") == [a, b, c]


def test_an_establishment_on_the_address_an_undone_change_left_is_undone_too(
    hp: Harness,
) -> None:
    """One batch: a modification giving A (0xA, 127.0.0.2) the CP F-SEID (0xA, 127.0.0.9)
    that the datapath refuses, then an establishment with (0xA, 127.0.0.2), which A left
    (TS 29.244 5.6.2: a free CP F-SEID). A's change is undone, A back on its old F-SEID:
    the establishment, which took it, is undone and refused 77 with it, so that no two
    sessions share a CP F-SEID."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    a = up_seid(h.establish(cp_seid=0xA))
    _refuse_once(h, a)
    change = _refuse(h, a)
    change.ies.append(A.FSEID(0xA, NEW_CP))
    answers = h.batch(change, establishment(*standard_rules(), cp_seid=0xA))
    assert [(m.seq, cause(m)) for m in answers] == [(300, 77), (301, 77)]
    assert h.engine.sessions[a].cp_fseid == A.FSEID(0xA, CP[0])
    assert list(h.engine.sessions) == [a]
    check_read(h.engine)


@pytest.mark.parametrize("how", [PeerGone.LOST, PeerGone.RELEASED])
def test_a_cp_gone_after_a_move_deletes_the_moved_session(h: Harness, how: PeerGone) -> None:
    """The moved session's entry is the CP's last until the CP's entries are read, then in
    the order of the sessions: the CP gone deletes every one of its sessions in that order."""
    a = up_seid(h.establish(cp_seid=0xA))
    b = up_seid(h.establish(cp_seid=0xB))
    assert cause(move(h, a, 0xC)) == 1
    assert list(h.engine._by_cp["smf"]) == [0xB, 0xC]
    assert h.engine._cp_seids("smf") == [a, b]
    assert list(h.engine._by_cp["smf"]) == [0xC, 0xB]
    check_order(h.engine)
    assert cause(move(h, b, 0xD)) == 1
    lose(h, CP, how)
    check_left(h, [])
    assert h.engine._by_cp == {} and h.engine._cp_unordered == set()


def test_a_path_switch_with_a_cp_fseid_moves_the_session(h: Harness) -> None:
    """Update FARs alone are changed in place (`_modify_fars`, from what the first such
    change compiled); with a CP F-SEID the session moves too."""
    a = up_seid(h.establish(cp_seid=0xA))
    assert cause(h.modify(a, rules.update_dl_far(2, 0x998, "192.0.2.77"))) == 1
    answer = move(h, a, 0xC, rules.update_dl_far(2, 0x999, "192.0.2.77"))
    assert cause(answer) == 1 and answer.seid == 0xC
    s = h.engine.sessions[a]
    assert s.cp_fseid == A.FSEID(0xC, NEW_CP)
    assert [(str(peer), teid) for peer, teid in s.peers] == [("192.0.2.77", 0x999)]
    assert h.engine._by_cp == {"smf": {0xC: a}}

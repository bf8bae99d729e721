"""An SMF of the owner's SMF Set takes a session over with a Session Modification Request
over its own association (TS 29.244 5.22.3, MPAS; 5.8.1 NOTE 1: the UP function then gets
the new SMF's Node ID): its header SEID is the session's UP SEID, its CP F-SEID the new
SMF's (7.5.4.1). The session becomes the requesting CP's (its requests answered, the old
owner's 65, its reports sent to the new CP F-SEID's address, its association's release
deleting it), journaled so; a commit that fails undoes it. A CP outside the set, or of the
set without a CP F-SEID, or a Deletion from a CP of the set, gets 65 as before."""

from __future__ import annotations

from session_harness import (
    CP,
    Harness,
    cause,
    establishment,
    gtpu,
    restarted,
    standard_rules,
    ul_packet,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IE, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.smfsim import rules

M = MessageType
T = IEType
SET_ID = "set1.example"
SMF2 = ("127.0.0.3", 8805)  # "smf2": another SMF of smf's SMF Set, its own association
SMF3 = ("127.0.0.5", 8805)  # "smf3": an SMF of no set
SMF4 = ("127.0.0.6", 8805)  # "smf4": an SMF of another set
VOLTH = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=1000))


def associate(h: Harness, addr: tuple[str, int], node_id: str, *ies: IE) -> None:
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST, 1, [A.NodeID.from_text(node_id), S.RecoveryTimeStamp(1), *ies]
    )
    (answer,) = h.batch((setup, addr), seq=1)
    assert cause(answer) == 1


def join_set(h: Harness) -> None:
    """ "smf" gives its SMF Set ID; "smf2" associates in that set, "smf3" in none, "smf4"
    in another."""
    update = Message(
        M.ASSOCIATION_UPDATE_REQUEST, 0, [A.NodeID.from_text("smf"), X.SMFSetID(SET_ID)]
    )
    assert cause(h.request(update)) == 1
    associate(h, SMF2, "smf2", X.SMFSetID(SET_ID))
    associate(h, SMF3, "smf3")
    associate(h, SMF4, "smf4", X.SMFSetID("set2.example"))


def establish(h: Harness, cp_seid: int) -> tuple[int, int, str]:
    """A session of "smf" at CP F-SEID (cp_seid, CP), reporting every 1000 octets: its UP
    SEID, its uplink TEID, its UE address."""
    resp = h.request(establishment(*standard_rules()[:-1], VOLTH, cp_seid=cp_seid))
    assert cause(resp) == 1
    seid = up_seid(resp)
    pdr = next(iter(resp.get_all(T.CREATED_PDR)))
    teid = pdr.get(T.F_TEID).teid  # type: ignore[union-attr]
    ((_, ue),) = h.engine.sessions[seid].ue
    return seid, teid, ue.partition("/")[0]


def modification(seid: int, *ies: IE) -> Message:
    return Message(M.SESSION_MODIFICATION_REQUEST, 0, list(ies), seid)


def from_(h: Harness, addr: tuple[str, int], msg: Message, seq: int) -> Message:
    """``msg`` from ``addr`` numbered ``seq``: its one answer."""
    (answer,) = h.batch((msg, addr), seq=seq)
    return answer


def _but_seq(data: bytes) -> bytes:
    """A message's octets but its sequence number (header octets 12-14, with a SEID)."""
    return data[:12] + data[15:]


def report_to(h: Harness, teid: int, ue: str) -> tuple[tuple[str, int], Message]:
    """1024 octets uplink (over the threshold): where the Session Report Request went, and
    the request (timers run until it is sent)."""
    for _ in range(8):
        assert h.dp.process_ul(gtpu(ul_packet(ue, 100), teid)).verdict == Verdict.FORWARD
    for _ in range(8):
        until = h.now + 0.25
        while (t := h.node.get_timer()) is not None and t <= until:
            h.now = max(h.now, t)
            h.node.handle_timer(h.now)
            for tx in h.node.datagrams_to_send():
                h.sent.append(tx.data)
                msg = decode(tx.data)
                if msg.msg_type == M.SESSION_REPORT_REQUEST:
                    return (tx.addr[0], tx.addr[1]), msg
        h.now = until
    raise AssertionError("no Session Report Request")


def reply(h: Harness, addr: tuple[str, int], report: Message, seid: int) -> None:
    answer = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(1)], seid)
    h.node.datagram_received(encode(answer), addr, h.now)
    assert h.node.datagrams_to_send() == []
    assert h.engine._pending == {}


def test_an_smf_of_the_set_takes_the_session_over_on_its_own_association(h: Harness) -> None:
    join_set(h)
    records = set(h.records)
    seid, teid, ue = establish(h, 0xA1)
    answer = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    assert cause(answer) == 1 and answer.seid == 0xB1
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_ipv4) == ("smf2", 0xB1, SMF2[0])
    assert h.engine._by_cp == {"smf2": {0xB1: seid}}
    with restarted(h, 1) as engine:  # (journaled)
        back = engine.sessions[seid]
        assert (back.cp_node_id, back.cp_seid, back.cp_ipv4) == ("smf2", 0xB1, SMF2[0])
    # Its reports go to the new owner, with its SEID; the answer from there is taken.
    addr, report = report_to(h, teid, ue)
    assert (addr, report.seid) == (SMF2, 0xB1)
    reply(h, SMF2, report, seid)
    # The old owner's requests are answered 65 now; the new owner's are accepted.
    assert cause(h.modify(seid)) == 65
    again = from_(h, SMF2, modification(seid), 401)
    assert cause(again) == 1 and again.seid == 0xB1
    # The session goes with its new owner's association, not the old one's.
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text("smf")])
    assert cause(h.request(release)) == 1
    assert seid in h.engine.sessions
    release = Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text("smf2")])
    assert cause(from_(h, SMF2, release, 402)) == 1
    assert h.engine.sessions == {} and h.records.keys() == records


def test_the_same_cp_fseid_from_an_smf_of_the_set_takes_the_session_over(h: Harness) -> None:
    """The new SMF may keep the session's CP F-SEID (an address the set shares): the session
    is its own all the same."""
    join_set(h)
    seid, _, _ = establish(h, 0xA2)
    answer = from_(h, SMF2, modification(seid, A.FSEID(0xA2, CP[0])), 400)
    assert cause(answer) == 1 and answer.seid == 0xA2
    assert h.engine.sessions[seid].cp_node_id == "smf2"
    assert h.engine._by_cp == {"smf2": {0xA2: seid}}
    assert cause(h.delete(seid)) == 65
    gone = from_(h, SMF2, Message(M.SESSION_DELETION_REQUEST, 0, [], seid), 401)
    assert cause(gone) == 1 and gone.seid == 0xA2 and h.engine.sessions == {}


def test_a_cp_seid_the_new_smf_uses_already_is_refused(h: Harness) -> None:
    """The new SMF's SEID names another of its sessions here: 64, as its establishment with
    it would be; the session stays smf's."""
    join_set(h)
    seid, _, _ = establish(h, 0xA3)
    theirs = rules.establishment_request("smf2", SMF2[0], 0xB3, standard_rules(), 0)
    other = up_seid(from_(h, SMF2, theirs, 400))
    refused = from_(h, SMF2, modification(seid, A.FSEID(0xB3, SMF2[0])), 401)
    assert (cause(refused), refused.seid) == (64, 0xA3)
    assert h.engine._by_cp == {"smf": {0xA3: seid}, "smf2": {0xB3: other}}


def test_a_cp_outside_the_set_is_refused_65_and_the_set_member_then_takes_it(
    h: Harness,
) -> None:
    """No SMF Set ID (smf3), another SMF Set ID (smf4): 65 with SEID 0, as for a session
    that is not there, to the byte; so a CP of the set with no CP F-SEID (nothing says
    where its session is) and its Deletion (no takeover). Then smf2's takeover."""
    join_set(h)
    seid, _, _ = establish(h, 0xA4)
    unknown = from_(h, SMF3, modification(0x7777, A.FSEID(0xC4, SMF3[0])), 399)
    assert cause(unknown) == 65
    refusals = [
        (SMF3, modification(seid, A.FSEID(0xC4, SMF3[0]))),
        (SMF4, modification(seid, A.FSEID(0xD4, SMF4[0]))),
        (SMF2, modification(seid)),
        (SMF2, Message(M.SESSION_DELETION_REQUEST, 0, [], seid)),
    ]
    for n, (addr, req) in enumerate(refusals, 400):
        answer = from_(h, addr, req, n)
        assert (cause(answer), answer.seid) == (65, 0)
        if req.msg_type == M.SESSION_MODIFICATION_REQUEST:
            assert _but_seq(encode(answer)) == _but_seq(encode(unknown))
    assert h.engine.sessions[seid].cp_node_id == "smf"
    assert h.engine._by_cp == {"smf": {0xA4: seid}}
    assert cause(from_(h, SMF2, modification(seid, A.FSEID(0xB4, SMF2[0])), 410)) == 1
    assert h.engine.sessions[seid].cp_node_id == "smf2"


def test_a_takeover_in_a_batch_whose_commit_fails_is_undone(h: Harness) -> None:
    """The journal refuses the batch (the takeover and a modification of smf's): both 77,
    the takeover's with the session's old SEID; the session is smf's again at its old CP
    F-SEID, the journal as before, its reports to smf; a takeover after it holds."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA5)
    other, _, _ = establish(h, 0xA6)
    records = dict(h.journal.records)
    h.journal.fail_next = 1
    answers = h.batch(
        (modification(seid, A.FSEID(0xB5, SMF2[0])), SMF2),
        modification(other, S.UserPlaneInactivityTimer(60)),
    )
    assert [(m.seq, cause(m), m.seid) for m in answers] == [(300, 77, 0xA5), (301, 77, 0xA6)]
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_ipv4) == ("smf", 0xA5, CP[0])
    assert h.engine._by_cp == {"smf": {0xA5: seid, 0xA6: other}}
    assert h.journal.records == records
    addr, report = report_to(h, teid, ue)
    assert (addr, report.seid) == (CP, 0xA5)
    reply(h, CP, report, seid)
    assert cause(h.modify(seid)) == 1  # (still smf's)
    assert cause(from_(h, SMF2, modification(seid, A.FSEID(0xB5, SMF2[0])), 400)) == 1
    with restarted(h, 2) as engine:
        assert engine.sessions[seid].cp_node_id == "smf2"

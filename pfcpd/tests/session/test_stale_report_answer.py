"""A Session Report Response about a session that moved after its report went: another SMF
of the owner's SMF Set took it over (TS 29.244 5.22.3), a Session Set Modification moved
it (7.4.7), or its owner gave another CP F-SEID (7.5.4.1). The answer comes from the CP,
at the CP SEID, the report went to, which no longer holds the session: nothing in it
applies (its 65 removes nothing, its FQ-CSID and Group Id are not taken), and the counts
it did not accept go into the session's next report, to its new owner, once (journaled
as a report nobody answered puts them back). DROBU and Update BAR in such an answer are
not taken either."""

from __future__ import annotations

from session_harness import (
    CP,
    Harness,
    cause,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    qer,
    report_octets,
    restarted,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)
from test_pfd_and_sets import fq_csid
from test_smf_set_takeover import (
    SMF2,
    establish,
    from_,
    join_set,
    modification,
    reply,
    report_to,
)

from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session.engine import SessionEngine

M = MessageType
T = IEType


def answer(h: Harness, addr: tuple[str, int], report: Message, value: int, *ies: IE) -> None:
    """The Session Report Response with cause ``value`` to ``report``, from ``addr``, at
    the CP SEID the report carried; nothing goes back, nothing stays pending."""
    response = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(value), *ies], report.seid)
    h.sent.append(encode(response))
    h.node.datagram_received(encode(response), addr, h.now)
    assert h.node.datagrams_to_send() == []
    assert h.engine._pending == {}


def baseline(engine: SessionEngine, seid: int) -> int:
    """The octets URR 1 of session ``seid`` holds for its next report."""
    return engine.sessions[seid].urrs[1].baseline.values[0]


def stale_65_keeps_the_session_and_its_usage(
    h: Harness,
    seid: int,
    teid: int,
    ue: str,
    first: Message,
    owner: tuple[str, tuple[str, int], int],
) -> None:
    """``first`` (a report to smf at CP, before the session moved to ``owner``: Node ID,
    address, CP SEID) answered 65 by smf: the session stays the owner's, with the report's
    octets as baseline, journaled; the next report, to the owner, carries them with the
    new traffic's, and once it is accepted the one after carries only its own."""
    node, addr, cp_seid = owner
    records = dict(h.journal.records)
    answer(h, CP, first, 65)
    assert seid in h.engine.sessions, "removed by the answer to a report sent before the move"
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == (node, cp_seid)
    assert baseline(h.engine, seid) == report_octets(first)
    assert h.journal.records != records  # (the baseline, journaled)
    with restarted(h, len(h.engine.sessions)) as engine:
        assert baseline(engine, seid) == report_octets(first)
    where, second = report_to(h, teid, ue)
    assert (where, second.seid) == (addr, cp_seid)
    # (the same traffic again, and the first's)
    assert report_octets(second) == 2 * report_octets(first)
    reply(h, addr, second, seid)
    where, third = report_to(h, teid, ue)
    assert (where, third.seid) == (addr, cp_seid)
    # (its own traffic only: nothing counted twice)
    assert report_octets(third) == report_octets(first)


def test_the_old_owner_s_65_after_a_takeover_keeps_the_new_owner_s_session(h: Harness) -> None:
    join_set(h)
    seid, teid, ue = establish(h, 0xA1)
    where, first = report_to(h, teid, ue)
    assert (where, first.seid) == (CP, 0xA1)
    taken = from_(h, SMF2, modification(seid, A.FSEID(0xB1, SMF2[0])), 400)
    assert cause(taken) == 1 and h.engine.sessions[seid].cp_node_id == "smf2"
    stale_65_keeps_the_session_and_its_usage(h, seid, teid, ue, first, ("smf2", SMF2, 0xB1))


def test_the_old_owner_s_65_after_a_session_set_modification_keeps_the_session(
    h: Harness,
) -> None:
    """smf moves its session (by its CP IP Address) to smf2 of its set, same SEID."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA2)
    _, first = report_to(h, teid, ue)
    info = Grouped(
        T.PFCP_SESSION_CHANGE_INFO,
        [A.CPIPAddress(ipv4=CP[0]), A.AlternativeSMFIPAddress(ipv4=SMF2[0])],
    )
    move = Message(M.SESSION_SET_MODIFICATION_REQUEST, 0, [A.NodeID.from_text("smf"), info])
    assert cause(h.request(move)) == 1
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_ipv4) == ("smf2", 0xA2, SMF2[0])
    stale_65_keeps_the_session_and_its_usage(h, seid, teid, ue, first, ("smf2", SMF2, 0xA2))


def test_a_65_to_the_owner_s_old_cp_seid_keeps_the_session(h: Harness) -> None:
    """The owner gave another CP F-SEID (same address) after the report went: the 65 is
    about the SEID it left."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA3)
    _, first = report_to(h, teid, ue)
    assert cause(h.modify(seid, A.FSEID(0xC3, CP[0]))) == 1
    stale_65_keeps_the_session_and_its_usage(h, seid, teid, ue, first, ("smf", CP, 0xC3))


def test_the_old_owner_s_acceptance_after_a_takeover_changes_nothing(h: Harness) -> None:
    """smf accepts the report it was sent before smf2 took the session over, with an
    FQ-CSID and a Group Id: the session keeps smf2's; the octets smf accepted are
    delivered (not reported again)."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA4)
    _, first = report_to(h, teid, ue)
    theirs = (fq_csid(7), X.GroupID("group-b"))
    taken = from_(h, SMF2, modification(seid, A.FSEID(0xB4, SMF2[0]), *theirs), 400)
    assert cause(taken) == 1
    session = h.engine.sessions[seid]
    assert (session.fq_csids, session.group_id) == ((fq_csid(7),), "group-b")
    answer(h, CP, first, 1, fq_csid(9), X.GroupID("group-a"))
    session = h.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf2", 0xB4)
    assert (session.fq_csids, session.group_id) == ((fq_csid(7),), "group-b")
    assert baseline(h.engine, seid) == 0
    where, second = report_to(h, teid, ue)
    assert (where, second.seid) == (SMF2, 0xB4)
    assert report_octets(second) == report_octets(first)


def test_the_owner_s_65_still_removes_its_session(h: Harness) -> None:
    """Unmoved (its owner and CP SEID those the report went to): 65 removes it, and the
    owner's acceptance with an FQ-CSID and a Group Id gives it those."""
    join_set(h)
    seid, teid, ue = establish(h, 0xA5)
    _, first = report_to(h, teid, ue)
    answer(h, CP, first, 1, fq_csid(9), X.GroupID("group-a"))
    session = h.engine.sessions[seid]
    assert (session.fq_csids, session.group_id) == ((fq_csid(9),), "group-a")
    _, second = report_to(h, teid, ue)
    answer(h, CP, second, 65)
    assert seid not in h.engine.sessions


def test_the_old_owner_s_drobu_and_update_bar_after_a_takeover_are_not_taken(
    h: Harness,
) -> None:
    """A Downlink Data Report to smf; smf2 takes the session over; smf's answer with DROBU
    and an Update BAR: the buffered packet stays, the BAR is the session's still, and the
    report, not answered by the session's owner, goes to smf2 (TS 29.244 5.2.3.1)."""
    join_set(h)
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seid = up_seid(h.establish(*rules, cp_seid=0xA6))
    ((_, ue),) = h.engine.sessions[seid].ue
    h.dp.process_dl(dl_packet(ue.partition("/")[0], 10))
    (dldr,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    assert dldr.get(T.DOWNLINK_DATA_REPORT) is not None and h.dp.buffered(seid) == 1
    taken = from_(h, SMF2, modification(seid, A.FSEID(0xB6, SMF2[0])), 400)
    assert cause(taken) == 1
    program = h.dp._programs[seid]
    update = g(
        T.UPDATE_BAR_SESSION_REPORT_RESPONSE,
        S.BARID(1),
        S.DLBufferingDuration(0, 2),
        S.DLBufferingSuggestedPacketCount(2),
    )
    flags = F.PFCPSRRspFlags.of("DROBU")
    response = Message(M.SESSION_REPORT_RESPONSE, dldr.seq, [S.Cause(1), update, flags], dldr.seid)
    h.sent.append(encode(response))
    h.node.datagram_received(encode(response), CP, h.now)
    ((data, addr, _),) = h.node.datagrams_to_send()
    h.sent.append(data)
    again = decode(data)
    assert addr == SMF2 and again.seid == 0xB6
    assert again.get(T.DOWNLINK_DATA_REPORT) is not None
    assert h.dp.buffered(seid) == 1  # (no DROBU)
    assert h.dp._programs[seid] is program and program.bar is not None
    assert (program.bar.max_packets, program.bar.duration_ns) == (10, 0)
    assert h.engine.sessions[seid].bar_duration_s is None

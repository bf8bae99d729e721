"""Group commit: the changes of every request the node handled before its datagrams leave are
journaled in one transaction; when that fails, every request of the batch is answered 77 and
each change is rolled back (sessions, allocations, the datapath's programs and counts)."""

from __future__ import annotations

from session_harness import (
    CP,
    Harness,
    cause,
    created,
    dl_packet,
    establishment,
    g,
    gtpu,
    standard_rules,
    ul_packet,
    up_seid,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules

T = IEType
M = MessageType


def _ul_bytes(report: Grouped) -> int:
    return report.get(T.VOLUME_MEASUREMENT).ul  # type: ignore[union-attr]


def test_a_batch_is_one_journal_transaction(h: Harness) -> None:
    commits = h.journal.commits
    for i in range(5):
        h.send(establishment(*standard_rules(), cp_seid=0x100 + i), 200 + i)
    answers = h._collect()
    assert [cause(a) for a in answers] == [1] * 5 and len(h.engine.sessions) == 5
    assert h.journal.commits - commits == 1 and len(h.records) == 5
    assert h.engine.metrics.requests.get("session_establishment_response", "request_accepted") == 5


def test_a_failed_group_commit_answers_77_to_every_request_and_leaves_no_state(
    h: Harness,
) -> None:
    kept = up_seid(h.establish(cp_seid=0xA))
    gone_resp = h.establish(cp_seid=0xB)
    gone = up_seid(gone_resp)
    teid = created(gone_resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    ue_gone = "10.45.0.2"
    assert h.dp.process_ul(gtpu(ul_packet(ue_gone, 100), teid)).verdict == Verdict.FORWARD
    records = dict(h.journal.records)
    tunnels = h.dp._programs[kept].tunnels
    pools, teids = h.engine.ue_pools.usage(), h.engine.teids.in_use
    failures = h.engine.metrics.journal_failures.get()

    new = h.send(establishment(*standard_rules(), cp_seid=0xC), 300)
    update = rules.update_dl_far(2, 0x999, "192.0.2.77")
    h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], kept), 301)
    h.send(Message(M.SESSION_DELETION_REQUEST, 0, [], gone), 302)
    h.send(new, 300)  # a retransmission, answered from the response cache
    assert len(h.engine.sessions) == 2  # (answered: the new one in, the deleted one out)
    h.journal.fail_next = 1
    answers = h._collect()

    assert [(a.msg_type, a.seq, cause(a)) for a in answers] == [
        (M.SESSION_ESTABLISHMENT_RESPONSE, 300, 77),
        (M.SESSION_MODIFICATION_RESPONSE, 301, 77),
        (M.SESSION_DELETION_RESPONSE, 302, 77),
        (M.SESSION_ESTABLISHMENT_RESPONSE, 300, 77),
    ]
    assert [a.seid for a in answers] == [0xC, 0xA, 0xB, 0xC]  # the CP's SEIDs
    # Nothing of the batch is left: sessions, allocations, programs, journal as before.
    assert sorted(h.engine.sessions) == sorted([kept, gone])
    assert h.engine.ue_pools.usage() == pools and h.engine.teids.in_use == teids
    assert sorted(h.dp._programs) == sorted([kept, gone])
    assert h.dp._programs[kept].tunnels == tunnels
    assert h.journal.records == records
    assert h.engine.metrics.journal_failures.get() - failures == 3
    failed = h.engine.metrics.requests.get("session_deletion_response", "system_failure")
    assert failed == 1
    # The deleted session is back and forwards; the bytes it had counted are not lost.
    assert h.dp.process_ul(gtpu(ul_packet(ue_gone, 100), teid)).verdict == Verdict.FORWARD
    assert h.dp.process_dl(dl_packet("10.45.0.3")).verdict == Verdict.DROP  # (no new UE)
    final = h.delete(gone)
    assert cause(final) == 1
    (report,) = final.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(report, Grouped) and _ul_bytes(report) == 2 * 128
    assert report.get(T.UR_SEQN).value == 0  # type: ignore[union-attr]  (none was sent)
    # The retransmission is handled afresh once the journal works again (not from cache).
    h.node.datagram_received(encode(new), CP, h.now)
    (again,) = h._collect()
    assert cause(again) == 1 and len(h.engine.sessions) == 2


def test_a_failed_batch_rolls_back_a_session_changed_twice(h: Harness) -> None:
    """Two modifications of one session and its deletion in one batch: undone newest first,
    the session is as before the batch."""
    seid = up_seid(h.establish(cp_seid=0xA))
    tunnels = h.dp._programs[seid].tunnels
    record = h.journal.records[f"s:{seid:x}"]
    for i, peer in enumerate(("192.0.2.70", "192.0.2.71")):
        update = rules.update_dl_far(2, 0x900 + i, peer)
        h.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, [update], seid), 400 + i)
    h.send(Message(M.SESSION_DELETION_REQUEST, 0, [], seid), 402)
    h.journal.fail_next = 1
    assert [cause(a) for a in h._collect()] == [77, 77, 77]
    assert list(h.engine.sessions) == [seid] and h.dp._programs[seid].tunnels == tunnels
    assert h.journal.records[f"s:{seid:x}"] == record
    query = Message(M.SESSION_MODIFICATION_REQUEST, 0, [g(T.QUERY_URR, S.URRID(1))], seid)
    assert cause(h.request(query)) == 1

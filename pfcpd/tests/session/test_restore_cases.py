"""What a restart keeps of a session's usage and quotas: the cases the randomized run
(`test_a_restored_engine_holds_what_the_live_one_does`) found, each reduced to its few
requests."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from pipelined_datapath import Pipelined
from session_harness import (
    CP,
    Harness,
    MemoryJournal,
    cause,
    created,
    dl_far,
    dl_pdr,
    g,
    gtpu,
    qer,
    restarted,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
    usage_reports,
)
from test_cp_index import _refuse_once
from test_pfd_and_sets import dl

from pfcpd.datapath.interface import DatapathError, Usage
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import SessionEngine
from pfcpd.session.journal import JournalError
from pfcpd.session.rules import ie_value
from pfcpd.session.usage import Counts
from pfcpd.smfsim import rules as R

T = IEType
M = MessageType
UE = "10.45.0.1"  # (the pool's first address)
FORWARD, DROP = Verdict.FORWARD, Verdict.DROP
PACKET = 500  # octets of each uplink packet the tests send (the URRs count the inner packet)


def _session(h: Harness, *urrs: Grouped, pdr_urrs: tuple[int, ...] = (1,)) -> tuple[int, int]:
    """A session whose uplink PDR counts in the URRs ``pdr_urrs`` (its downlink PDR in none):
    its UP SEID and its uplink TEID."""
    pdr = ul_pdr(urr=None)
    pdr.ies += [S.URRID(u) for u in pdr_urrs]
    resp = h.establish(pdr, dl_pdr(urr=None), ul_far(), dl_far(), qer(), *urrs)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    return up_seid(resp), fteid.teid


def _quota(total: int) -> Grouped:
    return urr(1, "VOLQU", quota=TR.VolumeQuota(total=total))


def _uplink(dp: LocalDatapath, teid: int, packets: int) -> list[Verdict]:
    """What the datapath does with ``packets`` uplink packets of `PACKET` octets."""
    packet = gtpu(ul_packet(UE, PACKET - 28), teid)
    return [dp.process_ul(packet).verdict for _ in range(packets)]


def _counted(engine: SessionEngine, seid: int, urr_id: int = 1) -> int:
    """The URR's octets not reported yet, as a restart keeps them (the baseline and what
    the datapath had counted at the last checkpoint)."""
    book = engine.sessions[seid].urrs[urr_id]
    return (book.baseline + book.dp_seen).values[0]


def _failing(h: Harness, *requests: Message) -> None:
    """``requests`` in one batch whose journal commit fails: each answered 77."""
    h.journal.fail_next = 1
    assert [cause(a) for a in h.batch(*requests)] == [77] * len(requests)


def _modification(seid: int, *ies: IE) -> Message:
    return Message(M.SESSION_MODIFICATION_REQUEST, 0, list(ies), seid)


def test_a_used_up_quota_drops_after_a_restart(h: Harness) -> None:
    """The datapath drops a URR's traffic once its quota is used up; restored with what it
    counted (the last checkpoint's counts), the session drops it too, at once: not one
    more packet, and no second VOLQU report."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (the 2nd reaches 600)
    h.engine.checkpoint(h.now)
    assert h._collect() == []
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET
        assert _uplink(engine.datapath, teid, 2) == [DROP, DROP]  # type: ignore[arg-type]
        assert engine.datapath.poll_events() == []


def test_a_used_up_quota_drops_after_a_later_modification(h: Harness) -> None:
    """Its VOLQU report taken, the quota used up stays used up when a modification of the
    session installs its program again (with the counts the report took)."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]
    sent = h.advance(0.1)
    assert len(sent) == 1 and sent[0].msg_type == M.SESSION_REPORT_REQUEST
    h.answer_all(sent)
    assert cause(h.modify(seid, R.update_qer_gates(1, True))) == 1
    assert _uplink(h.dp, teid, 2) == [DROP, DROP]
    assert h.advance(0.1) == []  # (no second VOLQU report)


def test_a_quota_event_from_before_a_new_quota_is_not_reported(h: Harness) -> None:
    """The CP grants a new quota (with a query) before the engine handled the datapath's
    VOLQU event of the old one: that event is not about the new quota, which is not used
    up (no report: VOLQU is a quota's exhaustion, TS 29.244 5.2.2.2.1); the new quota's
    own exhaustion is reported, with every count since the grant."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (a VOLQU event waits)
    grant = g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLQU"))
    grant.ies.append(TR.VolumeQuota(total=4 * PACKET))
    assert cause(h.modify(seid, grant, g(T.QUERY_URR, S.URRID(1)))) == 1
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]  # (half the new quota)
    assert h.advance(0.1) == []  # (the old quota's event)
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (the other half)
    (sent,) = h.advance(0.1)
    assert sent.msg_type == M.SESSION_REPORT_REQUEST
    (report,) = sent.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert isinstance(report, Grouped)
    assert report.get(T.USAGE_REPORT_TRIGGER).has("VOLQU")  # type: ignore[union-attr]
    assert report.get(T.VOLUME_MEASUREMENT).total == 4 * PACKET  # type: ignore[union-attr]


def test_a_rolled_back_query_leaves_no_checkpointed_count_to_add_again(h: Harness) -> None:
    """A Query URR reads the counts with reset; its batch refused, the counts go back into
    the baseline, and what the last checkpoint saw of them (which a restart adds to the
    baseline) goes: journaled at the session's next change, its usage is counted once."""
    seid, teid = _session(h, urr(1))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    h.engine.checkpoint(h.now)
    assert h._collect() == []
    _failing(h, _modification(seid, g(T.QUERY_URR, S.URRID(1))))
    assert cause(h.modify(seid, R.update_qer_gates(1, True))) == 1
    assert _counted(h.engine, seid) == 2 * PACKET
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET


@pytest.mark.parametrize("rolled_back", ["query", "deletion"])
def test_counts_a_rollback_keeps_are_journaled(h: Harness, rolled_back: str) -> None:
    """Counts read from the datapath by a change whose batch is refused (a Query URR's, a
    deletion's final ones) are the baseline again, and journaled with the next commit: no
    checkpoint would (the datapath counts from 0 again), and a restart after it keeps
    them."""
    seid, teid = _session(h, urr(1))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]  # (no checkpoint yet)
    if rolled_back == "query":
        _failing(h, _modification(seid, g(T.QUERY_URR, S.URRID(1))))
    else:
        _failing(h, Message(M.SESSION_DELETION_REQUEST, 0, [], seid))
    h.advance(3.0)  # (the engine's timer: checkpoints, and the node's commits)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET


@pytest.mark.parametrize("beside", ["checkpoint", "refused report"])
def test_what_a_refused_commit_held_beside_its_changes_is_journaled_at_the_next(
    h: Harness, beside: str
) -> None:
    """A commit refused by the journal carries, beside the batch's changes (undone), what
    changed without a request: a checkpoint's counts, the counts of a report the CP did not
    accept back into the baseline. The next commit writes them: a restart after it keeps
    the counts (no checkpoint writes them again: the datapath's counts did not change)."""
    if beside == "checkpoint":
        seid, teid = _session(h, urr(1))
    else:
        seid, teid = _session(h, urr(1, "VOLTH", threshold=TR.VolumeThreshold(total=PACKET)))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    if beside == "checkpoint":
        h.engine.checkpoint(h.now)  # (committed with the batch)
        _failing(h, _modification(seid, R.update_qer_gates(1, True)))
    else:
        (report,) = h.advance(0.1)  # (read for a report of the threshold)
        assert report.msg_type == M.SESSION_REPORT_REQUEST
        refused = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(64)], report.seid)
        h.node.datagram_received(encode(refused), CP, h.now)
        h.journal.fail_next = 1
        assert h._collect() == []
        assert h.journal.fail_next == 0  # (its commit refused)
    assert _counted(h.engine, seid) == 2 * PACKET
    h.advance(3.0)  # (the node's next commits, the engine's checkpoints)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET


def test_a_modification_refused_after_its_reports_keeps_their_counts(h: Harness) -> None:
    """A Session Modification whose Query URR read the counts, refused when its rules are
    compiled (VOLTH with a Volume Threshold of no volume: 73): the counts are the
    URR's baseline and quota consumption again, journaled with the batch (no checkpoint
    sees them: the datapath counts from 0 again), and the datapath is given what is left
    of the quota."""
    seid, teid = _session(h, _quota(4 * PACKET))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]  # (no checkpoint yet)
    query = g(T.QUERY_URR, S.URRID(1))
    assert cause(h.modify(seid, query, _no_volume_threshold())) == 73
    assert _counted(h.engine, seid) == 2 * PACKET
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (the other half)
    h.advance(3.0)  # (the engine's checkpoints)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 4 * PACKET


@pytest.mark.parametrize("later", ["query", "deletion"])
def test_a_rolled_back_read_after_a_urr_update_keeps_its_counts(h: Harness, later: str) -> None:
    """One refused batch: an Update URR of the session (its URR books replaced), then a
    Query URR or the session's deletion (its counts read with reset). Undone, newest
    first, the read puts the counts back into the books the update made, and the update's
    undo puts back the books before it: the counts go into those, so that the next report
    carries them, once, after a restart too."""
    seid, teid = _session(h, urr(1))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    h.engine.checkpoint(h.now)
    assert h._collect() == []
    update = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    if later == "query":
        read = _modification(seid, g(T.QUERY_URR, S.URRID(1)))
    else:
        read = Message(M.SESSION_DELETION_REQUEST, 0, [], seid)
    _failing(h, _modification(seid, update), read)
    book = h.engine.sessions[seid].urrs[1]
    assert (book.baseline.values[0], book.dp_seen) == (2 * PACKET, Counts())
    assert h._collect() == []  # (the node's next commit)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET
    resp = h.delete(seid)
    (report,) = resp.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(report, Grouped)
    assert report.get(T.VOLUME_MEASUREMENT).total == 2 * PACKET  # type: ignore[union-attr]


def test_a_read_after_a_urr_update_the_datapath_refused_keeps_its_counts(hp: Harness) -> None:
    """One batch: an Update URR of the session, which the datapath refuses (at the group
    commit's barrier), then a Query URR: both undone, newest first (77), the counts the
    query read go into the book before the update, once."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    seid, teid = _session(h, urr(1))
    assert _uplink(h.dp.inner, teid, 2) == [FORWARD, FORWARD]
    _refuse_once(h, seid)
    update = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    query = _modification(seid, g(T.QUERY_URR, S.URRID(1)))
    assert [cause(a) for a in h.batch(_modification(seid, update), query)] == [77, 77]
    book = h.engine.sessions[seid].urrs[1]
    assert (book.baseline.values[0], book.dp_seen) == (2 * PACKET, Counts())
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET


def test_a_refused_report_in_a_rolled_back_batch_goes_back_once(h: Harness) -> None:
    """One refused batch: an Update URR of URR 1 (its book replaced), then the CP's 64 to a
    report of URR 2 (its counts back into URR 2's book, which the update left as it was).
    The update undone, URR 2's book holds them once."""
    threshold = urr(2, "VOLTH", threshold=TR.VolumeThreshold(total=PACKET // 2))
    seid, teid = _session(h, urr(1), threshold, pdr_urrs=(1, 2))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    (report,) = h.advance(0.1)  # (URR 2 over its threshold: read for the report)
    assert report.msg_type == M.SESSION_REPORT_REQUEST
    update = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    h.send(_modification(seid, update), 500)
    refused = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(64)], report.seid)
    h.node.datagram_received(encode(refused), CP, h.now)
    h.journal.fail_next = 1
    assert [cause(a) for a in h._collect()] == [77]
    assert h.engine.sessions[seid].urrs[2].baseline.values[0] == 2 * PACKET
    assert h._collect() == []  # (the node's next commit)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid, 2) == 2 * PACKET


def _report_ending(h: Harness, ending: str) -> Callable[[Message], None]:
    """How a Session Report Request ends that no CP takes: "refused" (the CP answers 64)
    or "unanswered" (the node gives up its retransmissions: the engine is told there is no
    answer). What ends it, given the request as the CP received it; made before the report
    is sent (an unanswered report is known by the request the node's sender is given)."""
    if ending == "refused":

        def refuse(report: Message) -> None:
            refused = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(64)], report.seid)
            h.node.datagram_received(encode(refused), CP, h.now)

        return refuse
    sender = h.engine._sender
    assert sender is not None
    requests: list[Message] = []
    send_request = sender.send_request

    def sent(node_id: str, request: Message, *args: object) -> int | None:
        requests.append(request)
        return send_request(node_id, request, *args)  # type: ignore[arg-type]

    sender.send_request = sent  # type: ignore[method-assign]

    def unanswered(report: Message) -> None:
        (request,) = requests
        h.engine.response_received(request, None, h.now)  # (never answered)

    return unanswered


@pytest.mark.parametrize("ending", ["refused", "unanswered"])
def test_a_report_of_a_session_deleted_in_a_rolled_back_batch_goes_back(
    h: Harness, ending: str
) -> None:
    """One refused batch: the session's deletion, then the end of a report of it that no
    CP took (the CP's 64 to it, or no answer at all), with no session to take its counts
    back then. The deletion undone, the session is back with the counts it had and the
    report's: its final report counts each packet once."""
    end_report = _report_ending(h, ending)
    threshold = urr(1, "VOLTH", threshold=TR.VolumeThreshold(total=PACKET // 2))
    seid, teid = _session(h, threshold)
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    (report,) = h.advance(0.1)  # (over its threshold: read for the report)
    assert report.msg_type == M.SESSION_REPORT_REQUEST
    assert _uplink(h.dp, teid, 1) == [FORWARD]
    h.send(Message(M.SESSION_DELETION_REQUEST, 0, [], seid), 500)
    end_report(report)
    h.journal.fail_next = 1
    assert [cause(a) for a in h._collect()] == [77]
    assert h._collect() == []  # (the node's next commit)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 3 * PACKET
    final = h.delete(seid)
    (volume,) = R.usage_volumes(final, T.USAGE_REPORT_DELETION_RESPONSE)
    assert volume.total == 3 * PACKET


def test_a_refused_report_stays_once_when_the_datapath_refuses_another_session(
    hp: Harness,
) -> None:
    """One batch: a modification of another session, which the datapath refuses (77); the
    CP's 64 to a report of URR 2 (its counts back into URR 2's book); an Update URR of URR
    2, kept (its book a copy holding them). Only the other session's change is undone:
    URR 2's book holds the counts once."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    threshold = urr(2, "VOLTH", threshold=TR.VolumeThreshold(total=PACKET // 2))
    seid, teid = _session(h, urr(1), threshold, pdr_urrs=(1, 2))
    other = up_seid(h.establish(cp_seid=77))
    assert _uplink(h.dp.inner, teid, 2) == [FORWARD, FORWARD]
    (report,) = h.advance(0.1)  # (URR 2 over its threshold: read for the report)
    assert report.msg_type == M.SESSION_REPORT_REQUEST
    _refuse_once(h, other)
    h.send(_modification(other, R.update_dl_far(2, 0x999, "192.0.2.77")), 500)
    refused = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(64)], report.seid)
    h.node.datagram_received(encode(refused), CP, h.now)
    update = g(T.UPDATE_URR, S.URRID(2), F.MeasurementInformation.of("MNOP"))
    h.send(_modification(seid, update), 501)
    assert [cause(a) for a in h._collect()] == [77, 1]
    assert h.engine.sessions[seid].urrs[2].baseline.values[0] == 2 * PACKET
    with restarted(h, 2) as engine:
        assert _counted(engine, seid, 2) == 2 * PACKET


def test_a_modification_refused_after_its_reports_in_a_rolled_back_batch_keeps_them(
    h: Harness,
) -> None:
    """One refused batch: an Update URR (its book replaced), then a modification whose
    Query URR reads the counts and that is refused when compiled (73): the update undone,
    the counts go into the book it puts back, once."""
    seid, teid = _session(h, urr(1))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    update = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    query = g(T.QUERY_URR, S.URRID(1))
    h.journal.fail_next = 1
    refusing = _modification(seid, query, _no_volume_threshold())
    refused = h.batch(_modification(seid, update), refusing)
    assert [cause(a) for a in refused] == [77, 73]
    book = h.engine.sessions[seid].urrs[1]
    assert book.baseline.values[0] + h.dp.read_usage(seid, 1).bytes_total == 2 * PACKET
    assert h._collect() == []  # (the node's next commit)
    with restarted(h, 1) as engine:
        assert _counted(engine, seid) == 2 * PACKET


def _no_volume_threshold() -> Grouped:
    """An Update URR of URR 1 that its rules' checks take and the compile refuses (73): VOLTH
    with a Volume Threshold naming no volume."""
    return g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLTH"), TR.VolumeThreshold())


def _grant(total: int, *extra: IE) -> Grouped:
    """An Update URR of URR 1 granting a Volume Quota of ``total`` octets."""
    grant = g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLQU"), *extra)
    grant.ies.append(TR.VolumeQuota(total=total))
    return grant


def test_a_grant_without_a_query_after_a_checkpoint_is_whole_after_a_restart(
    h: Harness,
) -> None:
    """A quota granted without a query, two packets after the last checkpoint: the counts
    the datapath holds then are usage not reported in the grant's record, none of them
    consumed, so a restart (the local datapath loses its counts) gives the datapath the
    new quota whole, not more."""
    seid, teid = _session(h, _quota(10 * PACKET))
    assert _uplink(h.dp, teid, 1) == [FORWARD]
    h.engine.checkpoint(h.now)
    assert h._collect() == []
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]  # (after the checkpoint)
    assert cause(h.modify(seid, _grant(2 * PACKET))) == 1
    with restarted(h, 1) as engine:
        assert isinstance(engine.datapath, LocalDatapath)
        assert _uplink(engine.datapath, teid, 3) == [FORWARD, FORWARD, DROP]
        assert _counted(engine, seid) == 3 * PACKET


def test_a_grant_whose_read_fails_counts_from_the_last_checkpoint(h: Harness) -> None:
    """A quota granted without a query, the datapath failing its read of the counts (VPP:
    a timeout): the last checkpoint's counts, still in the datapath (none read with reset
    since), are the quota before's. The datapath is given the new quota past them, and a
    restart that loses the datapath's counts gives it the new quota whole (the journal
    holds them as usage not reported, none as consumed); the next report carries every
    count once."""
    seid, teid = _session(h, _quota(10 * PACKET))
    assert _uplink(h.dp, teid, 3) == [FORWARD] * 3
    h.engine.checkpoint(h.now)
    assert h._collect() == []
    reads, failed = h.dp.read_usage, []

    def read_usage(seid: int, urr_id: int, reset: bool = False) -> Usage:
        if not failed:  # (the grant's read: the first)
            failed.append((seid, urr_id, reset))
            raise DatapathError("VPP did not answer within 1 s")
        return reads(seid, urr_id, reset)

    h.dp.read_usage = read_usage  # type: ignore[method-assign]
    assert cause(h.modify(seid, _grant(2 * PACKET))) == 1
    h.dp.read_usage = reads  # type: ignore[method-assign]
    assert failed == [(seid, 1, False)]
    with restarted(h, 1) as engine:
        assert isinstance(engine.datapath, LocalDatapath)
        assert _uplink(engine.datapath, teid, 3) == [FORWARD, FORWARD, DROP]
        assert _counted(engine, seid) == 3 * PACKET
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]
    sent = h.advance(0.5)
    assert _volqu_reported(sent) == [1]
    (report,) = usage_reports(sent)
    assert report.get(T.VOLUME_MEASUREMENT).total == 5 * PACKET  # type: ignore[union-attr]


def test_a_quota_granted_on_resumption_counts_from_it(h: Harness) -> None:
    """The quota used up, the measurement paused (INAM: the datapath counts, not usage),
    then resumed with a new quota smaller than what was counted while paused: the new
    quota is compared with what is counted from the resumption."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]
    pause = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP", "INAM"))
    assert cause(h.modify(seid, pause)) == 1
    assert _uplink(h.dp, teid, 5) == [FORWARD] * 5  # (paused: no quota applies)
    resume = _grant(2 * PACKET, F.MeasurementInformation.of("MNOP"))
    assert cause(h.modify(seid, resume)) == 1
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]


def test_the_same_quota_granted_again_with_a_query_is_a_new_quota(h: Harness) -> None:
    """The quota used up, its VOLQU event not handled yet; the CP grants the same quota
    again with a Query URR (the read resets the counts): it is a new quota, forwarded up
    to it, and the old quota's event is not reported."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (a VOLQU event waits)
    assert cause(h.modify(seid, _grant(600), g(T.QUERY_URR, S.URRID(1)))) == 1
    assert h.advance(0.1) == []  # (the old quota's event)
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]


def test_a_used_up_quota_stays_used_up_after_a_rolled_back_grant(h: Harness) -> None:
    """The quota used up, its event not handled yet; a grant without a query in a batch
    the journal refuses: the rollback puts the used-up quota back, which drops at once."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]  # (a VOLQU event waits)
    _failing(h, _modification(seid, _grant(2000)))
    assert _uplink(h.dp, teid, 2) == [DROP, DROP]


def _volqu_reported(sent: list[Message]) -> list[int]:
    """The URR IDs of the usage reports of ``sent`` with the trigger VOLQU."""
    out = []
    for report in usage_reports(sent):
        trigger = report.get(T.USAGE_REPORT_TRIGGER)
        if isinstance(trigger, F.UsageReportTrigger) and trigger.has("VOLQU"):
            out.append(ie_value(report, T.URR_ID) or 0)
    return out


def test_a_quota_used_up_between_a_grant_and_its_rollback_is_reported(h: Harness) -> None:
    """A quota of 4 packets, 2 used; a grant of more (no query) whose batch the journal
    refuses, 3 packets passing under the grant's program before the refusal: the rollback
    puts back the old quota, which they used up; its exhaustion is reported (the next
    packet raises the event), not marked in silence."""
    seid, teid = _session(h, _quota(4 * PACKET))
    assert _uplink(h.dp, teid, 2) == [FORWARD, FORWARD]
    real = h.journal.commit

    def commit(puts: object, deletes: object) -> None:
        h.journal.commit = real  # type: ignore[method-assign]
        assert _uplink(h.dp, teid, 3) == [FORWARD] * 3  # (under the grant)
        raise JournalError("injected")

    h.journal.commit = commit  # type: ignore[method-assign]
    (answer,) = h.batch(_modification(seid, _grant(20 * PACKET)))
    assert cause(answer) == 77
    assert _uplink(h.dp, teid, 2) == [FORWARD, DROP]  # (the event's packet, then used up)
    sent = h.advance(0.5)
    assert _volqu_reported(sent) == [1]


def test_a_grant_used_up_before_the_barrier_is_reported(hp: Harness) -> None:
    """The pipelined datapath: a grant of 2 packets (no query) reads the counts at once;
    3 packets pass under the program before, then the barrier installs the grant's, whose
    quota they used up: its exhaustion is reported."""
    h = hp
    assert isinstance(h.dp, Pipelined)
    seid, teid = _session(h, _quota(10 * PACKET))
    assert _uplink(h.dp.inner, teid, 1) == [FORWARD]
    h.send(_modification(seid, _grant(2 * PACKET)), 300)
    assert _uplink(h.dp.inner, teid, 3) == [FORWARD] * 3  # (before the barrier)
    (answer,) = h._collect()
    assert cause(answer) == 1
    _uplink(h.dp.inner, teid, 2)
    sent = h.advance(0.5)
    assert _volqu_reported(sent) == [1]


def test_a_deferred_quota_event_survives_a_reinstall(h: Harness) -> None:
    """One packet reaches five limits of three URRs; the datapath takes four events a packet
    and defers URR 3's quota event to a later one. The CP grants URRs 1 and 2 new quotas
    (with queries), which installs the program again before that packet: URR 3's quota
    exhaustion is still reported."""

    def both(urr_id: int) -> Grouped:
        volume = TR.VolumeQuota(total=600)
        return urr(
            urr_id,
            "VOLTH",
            "VOLQU",
            threshold=TR.VolumeThreshold(total=600),
            quota=volume,
        )

    third = urr(3, "VOLQU", quota=TR.VolumeQuota(total=600))
    seid, teid = _session(h, both(1), both(2), third, pdr_urrs=(1, 2, 3))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]
    first = h.advance(0.5)
    h.answer_all(first)
    grant2 = g(T.UPDATE_URR, S.URRID(2), *_grant(20 * PACKET).ies[1:])
    queries = [g(T.QUERY_URR, S.URRID(1)), g(T.QUERY_URR, S.URRID(2))]
    assert cause(h.modify(seid, _grant(20 * PACKET), grant2, *queries)) == 1
    _uplink(h.dp, teid, 2)
    later = h.advance(0.5)
    assert 3 in _volqu_reported(first) + _volqu_reported(later)


def test_a_value_freed_before_a_restart_is_not_reused_at_once(h: Harness) -> None:
    """TEIDs and UE addresses are handed out lowest never-used first, then those freed,
    oldest first, so that a late packet of an old session does not reach a new one, and a
    deleted session's UP SEID is not handed out again at once: a restart keeps that order
    (the allocators' marks, marks.py: the restored engine's never-used values start at the
    marks, at or past the live engine's)."""
    kept = up_seid(h.establish(cp_seid=1))
    gone = h.establish(cp_seid=2)
    assert cause(h.delete(up_seid(gone))) == 1
    live = h.establish(cp_seid=3)
    assert cause(h.delete(up_seid(live))) == 1  # (its allocations freed again)
    freed = [_allocated(gone), _allocated(live)]
    with restarted(h, 1) as engine:
        assert list(engine.sessions) == [kept]
        nxt = _allocated(h.establish(cp_seid=4))  # (the live engine's next: never used before)
        restored = engine.ue_pools.take_text("internet", 4)
        assert restored is not None
        teid, seid, ue = engine.teids.take(), engine._new_seid(), IPv4Address(restored[1])
        assert teid >= nxt[0] and seid >= nxt[1] and ue >= nxt[2]
        assert all(teid != t and seid != s and ue != u for t, s, u in freed)


def _allocated(resp: Message) -> tuple[int, int, IPv4Address]:
    """The local TEID, the UP SEID and the UE address an establishment's answer gives."""
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    address = created(resp)[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    return teid, up_seid(resp), IPv4Address(address)


def test_a_new_quota_counts_from_its_grant(h: Harness) -> None:
    """A new Volume Quota counts from the Update URR that grants it (`Modification`: "a new
    quota counts from now"), also when the CP asks for no report of the counts before."""
    seid, teid = _session(h, _quota(10 * PACKET))
    assert _uplink(h.dp, teid, 3) == [FORWARD] * 3
    grant = g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLQU"))
    grant.ies.append(TR.VolumeQuota(total=2 * PACKET))
    assert cause(h.modify(seid, grant)) == 1
    assert _uplink(h.dp, teid, 1) == [FORWARD]
    assert h.advance(3.0) == []  # (the engine's checkpoints: no limit reached)
    with restarted(h, 1) as engine:  # (what is left of the new quota: one packet)
        assert isinstance(engine.datapath, LocalDatapath)
        assert _uplink(engine.datapath, teid, 2) == [FORWARD, DROP]
    assert _uplink(h.dp, teid, 2) == [FORWARD, DROP]
    resp = h.delete(seid)  # (every count since the last report: the old quota's too)
    (report,) = resp.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(report, Grouped)
    assert report.get(T.VOLUME_MEASUREMENT).total == 5 * PACKET  # type: ignore[union-attr]


def test_a_used_up_quota_stays_used_up_after_a_rolled_back_pause(h: Harness) -> None:
    """The datapath's counts have reached the quota (its traffic is dropped); a modification
    pausing the URR's measurement (no quota applies) is rolled back: the quota applies
    again, used up."""
    seid, teid = _session(h, _quota(600))
    assert _uplink(h.dp, teid, 3) == [FORWARD, FORWARD, DROP]
    pause = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP", "INAM"))
    _failing(h, _modification(seid, pause))
    assert _uplink(h.dp, teid, 2) == [DROP, DROP]


def test_a_packet_dropped_for_a_used_up_quota_is_counted_by_no_urr(h: Harness) -> None:
    """The uplink PDR counts in URR 2 (no quota), then URR 1 (a quota of 600 octets): once
    URR 1's quota is used up, its packets are dropped, and URR 2 counts only those
    forwarded."""
    seid, teid = _session(h, _quota(600), urr(2), pdr_urrs=(2, 1))
    assert _uplink(h.dp, teid, 4) == [FORWARD, FORWARD, DROP, DROP]
    assert h.dp.read_usage(seid, 2).bytes_total == 2 * PACKET


def _web_session(h: Harness) -> int:
    """The application "web" provisioned (a PFD: UDP to port 443), a session whose downlink
    PDR 3 (to FAR 3) names it: its UP SEID."""
    pfds = [g(T.PFD_CONTEXT, TR.PFDContents(fd=b"permit out 17 from any 443 to assigned"))]
    request = Message(
        M.PFD_MANAGEMENT_REQUEST, 0, [g(T.APPLICATION_IDS_PFDS, X.ApplicationID("web"), *pfds)]
    )
    assert cause(h.request(request)) == 1
    app = R.application_dl_pdr(3, 3, "web")
    far3 = g(T.CREATE_FAR, S.FARID(3), *dl_far(3, teid=0x333).ies[1:])
    return up_seid(h.establish(ul_pdr(), dl_pdr(), app, ul_far(), dl_far(), far3, qer(), urr(1)))


def test_a_session_whose_application_lost_its_pfds_is_restored(h: Harness) -> None:
    """A PFD Management Request removes the PFDs of the application a downlink PDR (3, to
    FAR 3) names: the session stays, that PDR detecting no traffic (not all of it: a PDR
    with no SDF filter matches every packet) in the live engine and in a restored one, which
    install the same program and keep the session's allocations."""
    seid = _web_session(h)
    assert h.dp.process_dl(dl(443)).pdr_id == 3
    removal = g(T.APPLICATION_IDS_PFDS, X.ApplicationID("web"))  # (no PFD: removed)
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, [removal]))) == 1
    assert seid in h.engine.sessions
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]
    live = h.engine._program(h.engine.sessions[seid])
    assert [p.pdr_id for p in live.pdrs] == [1, 2]
    with restarted(h, 1) as engine:
        assert list(engine.sessions) == [seid]
        assert engine.teids.in_use == 1 and engine.ue_pools.usage() == h.engine.ue_pools.usage()
        assert engine._program(engine.sessions[seid]) == live
        dp = engine.datapath
        assert isinstance(dp, LocalDatapath)
        assert [dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]


def test_a_session_naming_an_application_the_pfd_record_lacks_is_restored(h: Harness) -> None:
    """The journal's PFD record does not name the application a session's PDR names (a
    record that lists only the applications with PFDs): the session is restored, the
    application known with no PFDs, its PDR detecting no traffic."""
    seid = _web_session(h)
    h.journal.records["pfd"] = b"{}"
    with restarted(h, 1) as engine:
        assert list(engine.sessions) == [seid] and engine.teids.in_use == 1
        assert engine.pfds.flows("web") == ()
        dp = engine.datapath
        assert isinstance(dp, LocalDatapath)
        assert [dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]


def test_an_application_only_a_failed_record_names_stays_unknown(h: Harness) -> None:
    """The PFD record lacks the application a session names and that session's record fails
    to restore (the datapath refuses it): nothing restored shows the application was
    provisioned, so it stays unknown and a new PDR naming it is refused 81 (Unknown
    Application ID), not accepted to detect nothing."""
    _web_session(h)
    h.journal.records["pfd"] = b"{}"
    dp = LocalDatapath(expected_sessions=16)
    try:
        journal = MemoryJournal()
        journal.records = dict(h.journal.records)
        engine = SessionEngine(h.settings, dp, journal)

        def refuse(seid: int, program: object) -> None:
            raise DatapathError("refused")

        dp.install = refuse  # type: ignore[method-assign]
        assert engine.restore(journal.items(), 0.0) == 0
        assert engine.pfds.flows("web") is None
        assert engine.teids.in_use == 0
    finally:
        dp.close()

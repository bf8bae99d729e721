"""A Time Quota the datapath meters, through a grant undone and a pause. A modification
granting a new Time Quota that the journal refuses is undone: the program of the grant
before is installed again, and the quota before goes on from its own start (the first
packet), not from the undo (TS 29.244 5.2.2.2.1: the UP function meters the quota the CP
granted; it grants no more time). Measurement Information INAM pauses the measurement
(5.2.2.3.1): the time metered before the pause counts, the time paused does not, and the
resumed quota has the time left. The local datapath, its clock the harness's node clock."""

from __future__ import annotations

from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    g,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    urr,
    usage_reports,
)

from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IEType, Message, MessageType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S

T = IEType
M = MessageType
UE = "10.45.0.1"
REFUSED = 77  # Rule creation/modification failure: the journal refused the batch


def _session(h: Harness, quota_s: int) -> tuple[int, bytes]:
    """A session whose URR 1 reports a Time Quota of ``quota_s`` (TIMQU): its UP SEID and
    an uplink packet of it."""
    resp = h.establish(
        ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMQU", tq=S.TimeQuota(quota_s))
    )
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    (seid,) = h.engine.sessions
    return seid, gtpu(ul_packet(UE), teid)


def _timqu_times(h: Harness, start: float, seconds: float) -> list[float]:
    """The times (seconds after ``start``, by steps of 0.5 s) of the TIMQU reports over the
    next ``seconds``, each answered."""
    out = []
    for _ in range(round(seconds / 0.5)):
        sent = h.advance(0.5)
        for r in usage_reports(sent):
            if "TIMQU" in r.get(T.USAGE_REPORT_TRIGGER).names():  # type: ignore[union-attr]
                out.append(round(h.now - start, 1))
        h.answer_all(sent)
    return out


def test_refused_time_quota_grant_keeps_the_quota_in_force(ht: Harness) -> None:
    """10 s granted, metered from the first packet; at 6 s the CP grants 10 s again in a
    modification the journal refuses: the quota in force is used up at 10 s after the first
    packet (reported once, its traffic dropped), not 10 s after the undo."""
    h = ht
    seid, packet = _session(h, 10)
    start = h.now
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD  # the quota starts
    assert _timqu_times(h, start, 6.0) == []
    h.journal.fail_next = 1
    grant = g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(10))
    (answer,) = h.batch(Message(M.SESSION_MODIFICATION_REQUEST, 0, [grant], seid))
    assert cause(answer) == REFUSED
    assert _timqu_times(h, start, 14.0) == [10.5]  # (the 0.5 s steps: used up at 10 s)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP


def test_refused_grant_after_the_quota_was_used_up(ht: Harness) -> None:
    """The quota used up and reported, a new grant refused: still used up (the traffic
    dropped), not reported again; the CP's next grant is a new quota, used up 10 s later."""
    h = ht
    seid, packet = _session(h, 10)
    start = h.now
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert _timqu_times(h, start, 11.0) == [10.5]
    h.journal.fail_next = 1
    grant = g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(10))
    (answer,) = h.batch(Message(M.SESSION_MODIFICATION_REQUEST, 0, [grant], seid))
    assert cause(answer) == REFUSED
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    assert _timqu_times(h, start, 12.0) == []
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    assert cause(h.modify(seid, grant)) == 1
    granted = h.now
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert _timqu_times(h, granted, 11.0) == [10.5]


def test_paused_time_quota_resumes_with_the_time_left(ht: Harness) -> None:
    """10 s granted, 6 s used, paused (INAM) for 2 s, resumed: the 4 s left are used up 4 s
    after the resumption (12 s after the first packet), neither the paused 2 s counted
    (10 s) nor the whole quota metered again (18 s)."""
    h = ht
    seid, packet = _session(h, 10)
    start = h.now
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert _timqu_times(h, start, 6.0) == []
    pause = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP", "INAM"))
    assert cause(h.modify(seid, pause)) == 1
    assert _timqu_times(h, start, 2.0) == []
    resume = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP"))
    assert cause(h.modify(seid, resume)) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    times = _timqu_times(h, start, 14.0)
    assert len(times) == 1 and 12.0 <= times[0] <= 12.5, times
    assert h.dp.process_ul(packet).verdict == Verdict.DROP


def test_refused_pause_keeps_the_quota_in_force(ht: Harness) -> None:
    """A pause the journal refuses: the quota goes on as if none was asked, used up 10 s
    after the first packet."""
    h = ht
    seid, packet = _session(h, 10)
    start = h.now
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert _timqu_times(h, start, 6.0) == []
    h.journal.fail_next = 1
    pause = g(T.UPDATE_URR, S.URRID(1), F.MeasurementInformation.of("MNOP", "INAM"))
    (answer,) = h.batch(Message(M.SESSION_MODIFICATION_REQUEST, 0, [pause], seid))
    assert cause(answer) == REFUSED
    assert _timqu_times(h, start, 14.0) == [10.5]

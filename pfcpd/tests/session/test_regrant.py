"""Limits given again with the same value after their report (TS 29.244 5.2.2.2.1, 7.5.4):
a Time or Volume Quota in an Update URR is a new quota whatever its value (the usual OCS
grant is the same slice each time), forwarded until it is used up in turn and reported
again; a threshold re-sent as it was holds for the measurement period its report started,
reported again once that period's counts reach it. The local datapath, its clock the
harness's node clock."""

from __future__ import annotations

from collections.abc import Callable

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

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IE, IEType, Message
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
UE = "10.45.0.1"


def _triggers(sent: list[Message]) -> list[tuple[int, list[str]]]:
    return [
        (r.get(T.URR_ID).value, r.get(T.USAGE_REPORT_TRIGGER).names())  # type: ignore[union-attr]
        for r in usage_reports(sent)
    ]


def _session(h: Harness, rule: IE) -> tuple[int, bytes]:
    """A session measured by ``rule``: its UP SEID and an uplink packet of it."""
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), rule)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    (seid,) = h.engine.sessions
    return seid, gtpu(ul_packet(UE), teid)


def _installs(h: Harness) -> list[SessionProgram]:
    """The programs installed from now on, in order."""
    seen: list[SessionProgram] = []
    install: Callable[..., None] = h.dp.install

    def spy(seid: int, program: SessionProgram, **kwargs: object) -> None:
        seen.append(program)
        install(seid, program, **kwargs)

    h.dp.install = spy  # type: ignore[method-assign]
    return seen


def test_time_quota_granted_again_with_the_same_value(ht: Harness) -> None:
    """TIMQU reported, the traffic dropped; the CP grants the same Time Quota again: the
    traffic is forwarded, and once that quota is used up TIMQU is reported a second time
    and the traffic dropped again. A change that grants nothing (a FAR's, taking the
    quick path) keeps the grant the program carries; a third grant forwards again."""
    h = ht
    seid, packet = _session(h, urr(1, "TIMQU", tq=S.TimeQuota(2)))
    installs = _installs(h)
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    sent = h.advance(2.5)
    assert _triggers(sent) == [(1, ["TIMQU"])]
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    granted = g(T.UPDATE_URR, S.URRID(1), S.TimeQuota(2))
    assert cause(h.modify(seid, granted)) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    grant = installs[-1].urrs[0].time_quota_grant
    assert grant  # (the established program's is 0)
    far = g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("FORW"))
    assert cause(h.modify(seid, far)) == 1
    assert installs[-1].urrs[0].time_quota_grant == grant
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert _triggers(h.advance(1.0)) == []
    sent = h.advance(1.5)
    assert _triggers(sent) == [(1, ["TIMQU"])]
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    assert _triggers(h.advance(5.0)) == []
    assert cause(h.modify(seid, granted)) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD


def test_volume_quota_granted_again_with_the_same_value(ht: Harness) -> None:
    """VOLQU reported, the traffic dropped; the CP grants the same Volume Quota again: the
    traffic is forwarded up to that quota, VOLQU reported a second time, then dropped."""
    h = ht
    quota = TR.VolumeQuota(total=1000)
    seid, packet = _session(h, urr(1, "VOLQU", vq=quota))
    size = len(packet) - 36  # (the inner packet: the GTP-U tunnel's headers are not counted)
    per_quota = -(-1000 // size)  # packets that use a quota up (the last one crosses it)
    for _ in range(2):
        verdicts = [h.dp.process_ul(packet).verdict for _ in range(per_quota + 2)]
        assert verdicts == [Verdict.FORWARD] * per_quota + [Verdict.DROP] * 2
        sent = h.advance(0.5)
        assert _triggers(sent) == [(1, ["VOLQU"])]
        h.answer_all(sent)
        assert h.dp.process_ul(packet).verdict == Verdict.DROP
        assert cause(h.modify(seid, g(T.UPDATE_URR, S.URRID(1), quota))) == 1


def test_thresholds_sent_again_with_the_same_value(ht: Harness) -> None:
    """VOLTH and TIMTH reported; the CP sends the same Volume and Time Threshold again: each
    holds for the period its report started, reported again when that period reaches it,
    not at once and not never."""
    h = ht
    rule = urr(
        1,
        "VOLTH",
        "TIMTH",
        vt=TR.VolumeThreshold(total=1000),
        t=S.TimeThreshold(10),
    )
    seid, packet = _session(h, rule)
    size = len(packet) - 36
    per_threshold = -(-1000 // size)
    for _ in range(2):
        for _ in range(per_threshold - 1):
            assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
        assert _triggers(h.advance(0.5)) == []
        assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
        sent = h.advance(0.5)
        assert _triggers(sent) == [(1, ["VOLTH"])]
        h.answer_all(sent)
        same = g(
            T.UPDATE_URR,
            S.URRID(1),
            TR.VolumeThreshold(total=1000),
            S.TimeThreshold(10),
        )
        assert cause(h.modify(seid, same)) == 1
    # each TIMTH report starts a period whose Time Threshold ends 10 s later (the datapath's
    # tick and the engine's timers see it within a timer step)
    times = []
    for _ in range(2):
        sent = []
        while not sent:
            assert h.now < 60
            sent = h.advance(0.5)
            assert _triggers(sent) in ([], [(1, ["TIMTH"])])
        times.append(h.now)
        h.answer_all(sent)
        assert cause(h.modify(seid, same)) == 1
        assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    assert 9.5 <= times[1] - times[0] <= 10.5

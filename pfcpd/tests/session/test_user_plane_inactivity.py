"""User plane inactivity detection and reporting (TS 29.244 5.11.2): the User Plane Inactivity
Timer of a Session Establishment or Modification Request (8.2.83; 0 stops the detection);
a Session Report Request with Report Type UPIR when the session's URRs count no packet for
longer than it, once per inactivity period; the timer journaled across a restart and put
back with the change that set it when that change is undone. The datapath's clock follows
the harness's node clock (``ht``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from session_harness import (
    NTP_NOW,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
    g,
    gtpu,
    qer,
    standard_rules,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import IEType as T
from pfcpd.pfcp import Message, MessageType
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal

M = MessageType
UE = "10.45.0.1"


def _establish(h: Harness, timer: int | None) -> tuple[int, int]:
    """A session with the standard rules (one URR on both PDRs) and the timer given; its
    UP SEID and uplink TEID."""
    req = establishment(*standard_rules())
    if timer is not None:
        req.ies.append(S.UserPlaneInactivityTimer(timer))
    resp = h.request(req)
    assert cause(resp) == 1
    return up_seid(resp), created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]


def _upirs(h: Harness, sent: list[Message]) -> list[Message]:
    """The Session Report Requests of ``sent`` (answered; retransmissions left out), each
    checked to be a UPIR alone: Report Type UPIR and no other IE (TS 29.244 Table
    7.5.8.1-1), to the CP's SEID."""
    reports = list({m.seq: m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST}.values())
    for m in reports:
        assert m.get(T.REPORT_TYPE).names() == ["UPIR"]  # type: ignore[union-attr]
        assert [ie.type for ie in m.ies] == [T.REPORT_TYPE]
        assert m.seid == 0xC0FFEE
    h.answer_all(reports)
    return reports


def _packet(h: Harness, teid: int) -> None:
    assert h.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == 1


def test_reported_after_the_timer_without_traffic_once(ht: Harness) -> None:
    _establish(ht, 2)
    assert _upirs(ht, ht.advance(1.8)) == []
    assert len(_upirs(ht, ht.advance(1.0))) == 1
    # once per inactivity period: not again while it lasts
    assert _upirs(ht, ht.advance(20.0)) == []
    assert ht.engine.metrics.reports.get("UPIR") == 1


def test_no_report_while_traffic_flows_then_one_after_it_stops(ht: Harness) -> None:
    _, teid = _establish(ht, 2)
    for _ in range(8):  # a packet every second: never 2 s without one
        _packet(ht, teid)
        assert _upirs(ht, ht.advance(1.0)) == []
    assert _upirs(ht, ht.advance(0.8)) == []  # 1.8 s since the last packet
    assert len(_upirs(ht, ht.advance(1.0))) == 1


def test_a_session_without_a_urr_is_not_reported(ht: Harness) -> None:
    """No URR counts its packets: no report rather than one while traffic may flow."""
    req = establishment(
        ul_pdr(urr=None), dl_pdr(urr=None), ul_far(), dl_far(), qer(), cp_seid=0xC0FFEE
    )
    req.ies.append(S.UserPlaneInactivityTimer(2))
    resp = ht.request(req)
    assert cause(resp) == 1
    assert _upirs(ht, ht.advance(10.0)) == []
    assert up_seid(resp) in ht.engine._idle  # (kept: a URR created later is watched)
    seid = up_seid(resp)
    assert cause(ht.modify(seid, urr(1, "VOLTH", v=TR.VolumeThreshold(total=10**9)))) == 1
    assert len(_upirs(ht, ht.advance(3.0))) == 1


def test_counts_are_read_at_the_end_of_the_timer_only(ht: Harness) -> None:
    """Not at every activity check (0.5 s): at the timer's end, and a timer after a report
    (a VOLTH URR: no other time-driven read)."""
    _, teid = _establish(ht, 10)
    reads: list[float] = []
    read = ht.dp.read_usage

    def counted(seid: int, urr_id: int, reset: bool = False):  # type: ignore[no-untyped-def]
        if sys._getframe(1).f_code.co_name == "_idle_check":  # (the others' reads apart)
            reads.append(ht.now)
        return read(seid, urr_id, reset)

    ht.dp.read_usage = counted  # type: ignore[method-assign]
    for _ in range(30):  # a packet every second
        _packet(ht, teid)
        ht.advance(1.0)
    assert 2 <= len(reads) <= 4, reads  # (~ at 10 s, 20 s, 30 s)
    reads.clear()
    assert len(_upirs(ht, ht.advance(10.5))) == 1
    assert _upirs(ht, ht.advance(30.0)) == []
    assert len(reads) <= 5, reads


def test_reported_again_after_traffic_then_inactivity(ht: Harness) -> None:
    _, teid = _establish(ht, 2)
    assert len(_upirs(ht, ht.advance(3.0))) == 1
    _packet(ht, teid)  # a new period
    assert _upirs(ht, ht.advance(1.5)) == []
    assert len(_upirs(ht, ht.advance(1.5))) == 1
    assert _upirs(ht, ht.advance(10.0)) == []
    _packet(ht, teid)
    assert len(_upirs(ht, ht.advance(3.0))) == 1


def test_a_packet_read_with_reset_by_a_usage_report_still_counts(ht: Harness) -> None:
    """A Query URR reads the URR's counters with reset (its time of last packet with them):
    the packet before still ends the inactivity period, and the read is no packet."""
    seid, teid = _establish(ht, 2)
    ht.advance(1.0)
    _packet(ht, teid)
    query = ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    assert cause(query) == 1 and query.get(T.USAGE_REPORT_MODIFICATION_RESPONSE) is not None
    assert _upirs(ht, ht.advance(1.8)) == []  # 1.8 s since the packet
    assert len(_upirs(ht, ht.advance(1.0))) == 1


def test_a_modification_sets_changes_and_removes_the_timer(ht: Harness) -> None:
    seid, _ = _establish(ht, None)
    assert _upirs(ht, ht.advance(5.0)) == []  # no timer: no detection
    assert not any(k.startswith("u:") for k in ht.records)
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(30))) == 1
    assert ht.records[f"u:{seid:x}"] == b"30 0"
    assert _upirs(ht, ht.advance(3.0)) == []
    # changed: the new timer, from the modification on
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(2))) == 1
    assert _upirs(ht, ht.advance(1.8)) == []
    assert len(_upirs(ht, ht.advance(1.0))) == 1
    assert ht.records[f"u:{seid:x}"] == b"2 1"
    # given again: a new period, reported again
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(2))) == 1
    assert len(_upirs(ht, ht.advance(3.0))) == 1
    # 0: the detection stops, its record goes
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(2))) == 1
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(0))) == 1
    assert _upirs(ht, ht.advance(10.0)) == []
    assert f"u:{seid:x}" not in ht.records
    assert seid not in ht.engine._idle


def test_a_modification_the_journal_refuses_leaves_the_timer_as_it_was(ht: Harness) -> None:
    seid, _ = _establish(ht, 2)
    ht.journal.fail_next = 1
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(0))) == 77
    assert ht.records[f"u:{seid:x}"] == b"2 0"
    assert len(_upirs(ht, ht.advance(3.0))) == 1  # still watched
    ht.journal.fail_next = 1
    assert cause(ht.modify(seid, S.UserPlaneInactivityTimer(60))) == 77
    ht.advance(0.1)  # (the records of the undone change: written again as they are)
    assert ht.records[f"u:{seid:x}"] == b"2 1"
    # the same period (reported), not a new one
    assert _upirs(ht, ht.advance(10.0)) == []


def test_an_establishment_the_journal_refuses_leaves_no_timer(ht: Harness) -> None:
    ht.journal.fail_next = 1
    req = establishment(*standard_rules())
    req.ies.append(S.UserPlaneInactivityTimer(2))
    assert cause(ht.request(req)) == 77
    assert ht.engine._idle == {}
    _establish(ht, None)
    assert _upirs(ht, ht.advance(5.0)) == []
    assert not any(k.startswith("u:") for k in ht.records)


def test_a_deleted_session_s_timer_goes_with_it(ht: Harness) -> None:
    seid, _ = _establish(ht, 2)
    assert f"u:{seid:x}" in ht.records
    assert cause(ht.delete(seid)) == 1
    assert not any(k.startswith("u:") for k in ht.records)
    assert ht.engine._idle == {}


@contextmanager
def _restarted(h: Harness) -> Iterator[Harness]:
    """pfcpd started again on ``h``'s journal: a new engine, node and (clock-following)
    datapath, the CP associated again."""
    box: dict[str, Harness] = {}
    dp = LocalDatapath(
        expected_sessions=16,
        clock=lambda: int(box["h"].now * 1e9) + 1 if "h" in box else 1,
    )
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    try:
        again = Harness(dp, journal=journal)
        box["h"] = again
        again.engine._ntp = lambda: NTP_NOW + again.now  # type: ignore[method-assign]
        assert again.engine.restore(journal.items(), again.now) == 1
        yield again
        again.check_sent_with_tshark()
        assert again.engine.metrics.errors.get("timer") == 0
    finally:
        dp.close()


def test_a_restart_keeps_the_timer(ht: Harness) -> None:
    _establish(ht, 3)
    ht.advance(1.0)
    with _restarted(ht) as again:
        # the inactivity period counts from the restore
        assert _upirs(again, again.advance(2.8)) == []
        assert len(_upirs(again, again.advance(0.5))) == 1
        assert _upirs(again, again.advance(10.0)) == []


def test_a_period_reported_before_a_restart_is_not_reported_again(ht: Harness) -> None:
    seid, _ = _establish(ht, 2)
    assert len(_upirs(ht, ht.advance(3.0))) == 1
    ht.advance(0.1)  # (the commit after the report: its flag journaled)
    assert ht.records[f"u:{seid:x}"] == b"2 1"
    with _restarted(ht) as again:
        assert _upirs(again, again.advance(10.0)) == []
        # (a packet starts the next period)
        teid = next(iter(again.engine.sessions.values())).teids[0]
        _packet(again, teid)
        assert len(_upirs(again, again.advance(3.0))) == 1


def test_a_record_without_its_session_is_deleted(ht: Harness) -> None:
    seid, _ = _establish(ht, 2)
    ht.journal.records[f"u:{seid + 1:x}"] = b"5 0"  # (its session's record lost)
    with _restarted(ht) as again:
        assert list(again.engine._idle) == [seid]
        again.engine.commit()
        assert f"u:{seid + 1:x}" not in again.records
        assert again.records[f"u:{seid:x}"] == b"2 0"


def test_an_establishment_with_an_inactivity_timer_is_counted_accepted_once(h: Harness) -> None:
    """An establishment whose request carries a User Plane Inactivity Timer is counted
    once, accepted, and once established (the timer's undo is staged before the
    establishment's own change, which `handle_request` finds last and leaves to the commit
    to count by its label; staged after it, the answer was counted at once and again by the
    commit)."""
    accepted = ("session_establishment_response", "request_accepted")
    before = h.engine.metrics.requests.get(*accepted)
    established = h.engine.metrics.established.get()
    req = establishment(*standard_rules(), cp_seid=0x77)
    req.ies.append(S.UserPlaneInactivityTimer(30))
    assert cause(h.request(req)) == 1
    assert h.engine.metrics.established.get() - established == 1
    assert h.engine.metrics.requests.get(*accepted) - before == 1

"""GTP-U path management's timing, sans-IO (`gtpu_path.PathMonitor`): Echo Requests at the
interval, T3-RESPONSE retransmissions with the same sequence number, N3-REQUESTS attempts
before the path fails, one failure report per failure, recovery on the next answer."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.session.gtpu_path import PathMonitor, PathSettings

GNB = ipaddress.ip_address("192.0.2.9")
GNB2 = ipaddress.ip_address("2001:db8::9")
S = PathSettings(interval=60.0, t3_response=2.0, n3_requests=3)


def test_first_echo_at_once_then_every_interval_when_answered() -> None:
    m = PathMonitor(S, first_seq=7)
    assert m.next_time() is None
    m.use(GNB, 1)
    assert m.next_time() == 0.0
    a = m.run(10.0)
    assert a.echoes == [(GNB, 7)] and not a.failed
    assert m.next_time() == 12.0  # T3
    assert not m.echo_response(GNB, 7, 10.5)
    assert m.next_time() == 70.0  # interval from the round's start, not from the answer
    assert not m.run(69.9)
    assert m.run(70.0).echoes == [(GNB, 8)]


def test_n3_attempts_same_sequence_then_one_failure() -> None:
    m = PathMonitor(S, first_seq=0xFFFF)
    m.use(GNB, 1)
    assert m.run(0.0).echoes == [(GNB, 0xFFFF)]
    assert m.run(2.0).echoes == [(GNB, 0xFFFF)]  # retransmission: same sequence number
    a = m.run(4.0)
    assert a.echoes == [(GNB, 0xFFFF)] and not a.failed  # the 3rd and last attempt
    a = m.run(6.0)  # unanswered for T3: failed, no 4th attempt
    assert a.failed == [GNB] and a.echoes == []
    assert m.peers() == {GNB: True}
    assert m.next_time() == 60.0  # probing goes on at the interval
    a = m.run(60.0)
    assert a.echoes == [(GNB, 0)]  # (wrapped)
    for t in (62.0, 64.0):
        assert m.run(t).echoes == [(GNB, 0)]
    assert m.run(66.0).failed == []  # reported once per failure
    assert m.failures == 1


def test_an_unsent_echo_is_no_attempt() -> None:
    """Echo Requests the datapath could not send (away) do not count: however long that
    lasts, the path fails only after N3 attempts that went out."""
    m = PathMonitor(S, first_seq=5)
    m.use(GNB, 1)
    t = 0.0
    for k in range(10):  # the datapath away for 10 x T3: each round dropped unsent
        a = m.run(t)
        assert a.echoes == [(GNB, 5 + k)] and not a.failed
        m.unsent(GNB, 5 + k)
        assert m.next_time() == t + 2.0
        t += 2.0
    assert m.peers() == {GNB: False}
    assert m.echoes_sent == 0 and m.unsent_echoes == 10
    start = t
    for _ in range(3):  # back: three attempts of one request
        assert m.run(t).echoes == [(GNB, 15)]
        t += 2.0
    assert m.run(t).failed == [GNB]
    assert m.echoes_sent == 3 and m.failures == 1
    assert m.next_time() == start + S.interval  # the round is timed from its first send
    m.unsent(GNB, 15)  # (nothing outstanding: no effect)
    assert m.unsent_echoes == 10
    # a retransmission not sent is tried again T3 later, the round kept
    m2 = PathMonitor(S, first_seq=1)
    m2.use(GNB, 1)
    assert m2.run(0.0).echoes == [(GNB, 1)]
    assert m2.run(2.0).echoes == [(GNB, 1)]
    m2.unsent(GNB, 1)
    assert m2.run(4.0).echoes == [(GNB, 1)]
    assert m2.run(6.0).echoes == [(GNB, 1)]
    assert m2.run(8.0).failed == [GNB]


def test_view_lists_the_paths_in_use() -> None:
    m = PathMonitor(S, first_seq=1)
    m.use(GNB, 2)
    m.use(GNB2, 1)
    m.run(0.0)
    m.echo_response(GNB2, 2, 0.5)
    assert m.view() == [
        {"peer": str(GNB), "state": "up", "fars": 2, "unanswered": 1},
        {"peer": str(GNB2), "state": "up", "fars": 1, "unanswered": 0},
    ]
    for t in (2.0, 4.0, 6.0):
        m.run(t)
    assert m.view()[0]["state"] == "failed"
    m.use(GNB2, -1)
    assert [v["peer"] for v in m.view()] == [str(GNB)]


def test_an_answer_to_a_retransmission_clears_and_a_late_answer_is_ignored() -> None:
    m = PathMonitor(S, first_seq=1)
    m.use(GNB, 1)
    m.run(0.0)
    m.run(2.0)  # 2nd attempt of seq 1
    assert not m.echo_response(GNB, 99, 2.5)  # not ours: ignored
    assert m.next_time() == 4.0
    m.echo_response(GNB, 1, 3.0)
    assert m.next_time() == 60.0
    assert m.run(59.0).failed == []
    assert not m.echo_response(GNB, 1, 59.5)  # nothing outstanding: ignored


def test_recovery_reported_once_when_allowed() -> None:
    for report in (True, False):
        m = PathMonitor(PathSettings(10.0, 1.0, 1, report_recovery=report), first_seq=0)
        m.use(GNB, 1)
        m.run(0.0)
        assert m.run(1.0).failed == [GNB]
        ((_, seq),) = m.run(10.0).echoes
        a = m.echo_response(GNB, seq, 10.2)
        assert a.recovered == ([GNB] if report else [])
        assert m.peers() == {GNB: False}
        ((_, seq),) = m.run(20.0).echoes
        assert not m.echo_response(GNB, seq, 20.1)  # healthy: nothing to report


def test_peers_counted_and_forgotten() -> None:
    m = PathMonitor(S)
    m.use(GNB, 1)
    m.use(GNB, 1)
    m.use(GNB2, 1)
    echoes = m.run(0.0).echoes
    assert sorted(str(p) for p, _ in echoes) == [str(GNB), str(GNB2)]
    m.use(GNB, -1)
    assert set(m.peers()) == {GNB, GNB2}
    m.use(GNB, -1)
    m.use(GNB2, -1)
    assert m.peers() == {}
    assert not m.run(100.0)  # no failure of a peer no longer in use: forgotten
    assert m.next_time() is None
    m.use(GNB, -1)  # (unknown: nothing)
    assert m.peers() == {}


def test_a_peer_taken_out_and_put_back_keeps_its_path() -> None:
    """A session's rules changing (its peers out, then back in) neither sends an Echo
    Request out of turn nor forgets a failure (which would be reported again)."""
    m = PathMonitor(S, first_seq=0)
    m.use(GNB, 1)
    m.run(0.0)
    m.run(2.0)
    m.run(4.0)
    assert m.run(6.0).failed == [GNB]
    m.use(GNB, -1)
    m.use(GNB, 1)
    assert m.next_time() == 60.0  # no new round before the interval
    for t in (60.0, 62.0, 64.0, 66.0):
        assert m.run(t).failed == []  # the failure is not reported again
    assert m.peers() == {GNB: True}


@pytest.mark.parametrize(
    "values", [(0.0, 1.0, 1), (1.0, 0.0, 1), (1.0, 1.0, 0), (float("nan"), 1.0, 1)]
)
def test_settings_out_of_range_refused(values: tuple[float, float, int]) -> None:
    with pytest.raises(ValueError):
        PathSettings(*values)

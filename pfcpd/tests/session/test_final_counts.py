"""A deletion's final counts per URR (`EngineState._detach`, `usage.final_counts`): the
URR's baseline plus what the datapath counted last, unless the URR is paused (INAM), with
the times of the first and last packets; the datapath's last reading lost, the baselines
alone. A session's one book (a `OneBook`) is read directly: its deletion answers, journals
and frees what the same session with the book in a dict of one does (the way any other
number of books is read), byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
from session_harness import Harness, cause, g, gtpu, standard_rules, ul_packet, up_seid, urr

from pfcpd.datapath.interface import DatapathError, Usage
from pfcpd.pfcp import IEType
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ies_traffic import VolumeMeasurement
from pfcpd.session.usage import ZERO, Counts, OneBook, PacketTimes, packet_times

T = IEType
UE = "10.45.0.1"  # (the pool's first address)
Final = dict[int, tuple[Counts, PacketTimes | None]]


def _establish(h: Harness, count: int, cp_seid: int) -> tuple[int, int]:
    """A session of the usual rules with ``count`` URRs (both PDRs name each; the third
    created paused, INAM); its UP SEID and UL TEID."""
    rules = standard_rules()
    for u in range(2, count + 1):
        for pdr in rules[:2]:
            pdr.ies.append(S.URRID(u))  # type: ignore[attr-defined]
        rules.append(urr(u, mi=F.MeasurementInformation.of("INAM", "MNOP")) if u == 3 else urr(u))
    seid = up_seid(h.establish(*rules, cp_seid=cp_seid))
    return seid, h.engine.sessions[seid].teids[0]


def _send(h: Harness, teid: int, packets: int, ue: str = UE) -> None:
    for _ in range(packets):
        h.dp.process_ul(gtpu(ul_packet(ue, 100), teid))


def _spy(h: Harness) -> tuple[list[dict[int, Usage]], list[Final]]:
    """What the datapath's removals read and what `_detach` made of it, as they happen."""
    engine = h.engine
    read: list[dict[int, Usage]] = []
    made: list[Final] = []
    remove, detach = engine._dp_remove, engine._detach

    def dp_remove(seid: int) -> dict[int, Usage]:
        read.append(remove(seid))
        return read[-1]

    def spied(*args: Any) -> Final:
        made.append(detach(*args))
        return made[-1]

    engine._dp_remove = dp_remove  # type: ignore[method-assign]
    engine._detach = spied  # type: ignore[method-assign]
    return read, made


@pytest.mark.parametrize("count", [1, 3])
def test_the_final_counts_are_the_baseline_and_the_datapaths(ht: Harness, count: int) -> None:
    seid, teid = _establish(ht, count, 0xA)
    ht.advance(1.0)
    _send(ht, teid, 2)
    # a Query URR the journal refuses: URR 1's counts read, kept as its baseline
    ht.journal.fail_next = 1
    assert cause(ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))) == 77
    books = dict(ht.engine.sessions[seid].urrs.items())
    assert books[1].baseline.values == (256, 256, 0, 2, 2, 0)
    ht.advance(2.0)
    _send(ht, teid, 3)
    ht.advance(1.0)
    read, made = _spy(ht)
    now_ntp, dp_now = ht.engine._ntp(), ht.dp.now_ns()
    answer = ht.delete(seid)
    assert cause(answer) == 1
    ((usage,),) = (read,)
    want: Final = {}
    for u, book in books.items():
        paused = book.inactive
        assert paused == (u == 3) and usage[u].packets_ul == (3 if u == 1 else 5)
        dp = ZERO if paused else Counts.of(usage[u])
        want[u] = book.baseline + dp, None if paused else packet_times(usage[u], dp_now, now_ntp)
    assert made == [want]
    assert want[1][0].values == (640, 640, 0, 5, 5, 0)
    assert want[1][1] == (ht.engine._ntp() - 1.0, ht.engine._ntp() - 1.0)
    reports = answer.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert [r.get(T.URR_ID).value for r in reports] == list(books)  # type: ignore[union-attr]
    for report, (counts, _) in zip(reports, want.values(), strict=True):
        vm = report.get(T.VOLUME_MEASUREMENT)  # type: ignore[union-attr]
        assert isinstance(vm, VolumeMeasurement)
        assert (vm.total, vm.ul, vm.dl, vm.total_packets) == tuple(counts.values[:4])


@pytest.mark.parametrize("count", [1, 3])
def test_a_lost_reading_leaves_the_baselines(ht: Harness, count: int) -> None:
    seid, teid = _establish(ht, count, 0xA)
    _send(ht, teid, 2)
    ht.journal.fail_next = 1
    assert cause(ht.modify(seid, g(T.QUERY_URR, S.URRID(1)))) == 77
    books = dict(ht.engine.sessions[seid].urrs.items())
    _send(ht, teid, 1)
    _, made = _spy(ht)
    remove = ht.dp.remove

    def lost(seid: int) -> dict[int, Usage]:
        remove(seid)
        raise DatapathError("lost")

    ht.dp.remove = lost  # type: ignore[method-assign]
    assert cause(ht.delete(seid)) == 1
    assert made == [{u: (book.baseline, None) for u, book in books.items()}]
    assert made[0][1][0].values == (256, 256, 0, 2, 2, 0)


def test_one_book_is_deleted_as_a_dict_of_one_is(ht: Harness) -> None:
    """Two sessions of one URR, the same traffic at the same times, one keeping its book as
    a `OneBook`, the other as a dict of one: their deletions' Usage Reports are the same
    octets, both records are erased, both programs and allocations freed."""
    one, teid_one = _establish(ht, 1, 0xA)
    other, teid_other = _establish(ht, 1, 0xB)
    kept = ht.engine.sessions[other].urrs
    assert type(kept) is OneBook and type(ht.engine.sessions[one].urrs) is OneBook
    ht.engine.sessions[other].urrs = {1: kept.book}
    ht.advance(1.0)
    ues = {teid_one: UE, teid_other: "10.45.0.2"}  # (the pool's first two addresses)
    for teid, ue in ues.items():
        _send(ht, teid, 2, ue)
    ht.advance(2.0)
    for teid, ue in ues.items():
        _send(ht, teid, 1, ue)
    ht.advance(1.0)
    sessions = [ht.engine.sessions[s] for s in (one, other)]
    read, made = _spy(ht)
    assert [cause(ht.delete(one)), cause(ht.delete(other))] == [1, 1]
    assert read[0] == read[1] and made[0] == made[1] and made[0][1][1] is not None
    # the answers' octets after their headers (16: with the SEID and sequence number)
    assert ht.sent[-2][16:] == ht.sent[-1][16:] and len(ht.sent[-1]) > 16 + 16
    ht.engine.commit()
    assert not ht.records and not ht.engine.sessions
    assert one not in ht.dp._programs and other not in ht.dp._programs
    assert ht.engine.teids.in_use == 0
    assert [len(s.urrs) for s in sessions] == [1, 1]

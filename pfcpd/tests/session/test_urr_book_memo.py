"""`UrrBook.created` makes a URR's book from its rule's memo (one constructor call): the book
equals the one made field by field (`UrrBook._created`), for rules of every kind, created
at any time and restored (time 0), and is written to the journal the same."""

from __future__ import annotations

import dataclasses

import pytest

from pfcpd.pfcp import Grouped, IEType, decode_ies, encode_ies
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import IE
from pfcpd.session import usage
from pfcpd.session.usage import UrrBook

T = IEType


def _urr(*ies: IE) -> Grouped:
    return Grouped(T.CREATE_URR, [S.URRID(1), *ies])


RULES = [
    _urr(F.MeasurementMethod.of("VOLUM"), F.ReportingTriggers.of("VOLTH")),
    _urr(
        F.MeasurementMethod.of("VOLUM", "DURAT"),
        F.ReportingTriggers.of(),
        F.MeasurementInformation.of("MNOP"),
    ),
    _urr(
        F.MeasurementMethod.of("VOLUM", "DURAT"),
        F.ReportingTriggers.of("PERIO", "TIMTH", "VOLQU"),
        F.MeasurementInformation.of("MNOP", "ISTM"),
        S.MeasurementPeriod(60),
        S.TimeThreshold(30),
        S.TimeQuota(100),
        S.QuotaHoldingTime(20),
        S.QuotaValidityTime(300),
        TR.VolumeQuota(total=10**9),
        S.LinkedURRID(2),
    ),
    _urr(
        F.MeasurementMethod.of("DURAT"),
        F.ReportingTriggers.of("TIMTH", "TIMQU"),
        F.MeasurementInformation.of("INAM"),
        S.InactivityDetectionTime(10),
        S.TimeThreshold(5),
        S.QuotaValidityTime(300),
    ),
    _urr(  # (a period without PERIO: no periodic report)
        F.MeasurementMethod.of("VOLUM"), F.ReportingTriggers.of("VOLTH"), S.MeasurementPeriod(5)
    ),
    _urr(F.MeasurementMethod.of("EVENT"), F.ReportingTriggers.of()),
]
TIMES = [(0.0, 0.0), (0.0, 12.5), (3950000000.25, 0.0), (3950000000.25, 12.5)]


def _decoded(rule: Grouped) -> Grouped:
    data = encode_ies([rule])
    (group,) = decode_ies(data, 0, len(data))
    assert isinstance(group, Grouped) and group.raw == data
    return group


def _same(a: UrrBook, b: UrrBook) -> None:
    """Equal field by field, of the same types; "no time" the one NO_TIME object in both (the
    journal's text takes it by identity)."""
    assert a == b
    for f in dataclasses.fields(UrrBook):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert type(x) is type(y), f.name
        assert (x is usage.NO_TIME) == (y is usage.NO_TIME), f.name
    start = a.period_start_ntp
    assert a.json_text(start, usage.json_value(start)) == b.json_text(start, repr(start))


@pytest.mark.parametrize("rule", RULES)
def test_a_book_from_the_memo_equals_one_made_field_by_field(rule: Grouped) -> None:
    usage.drop_rule_fields()
    for start, now in TIMES:
        general = UrrBook._created(rule, start, now)
        built = UrrBook.created(rule, start, now)  # (a built rule has no octets: no memo)
        first = UrrBook.created(_decoded(rule), start, now)  # (the memo's entry made)
        again = UrrBook.created(_decoded(rule), start, now)  # (from it)
        for book in (built, first, again):
            _same(book, general)
            assert book.period_start_ntp is start
        assert first is not again and first.linked == general.linked


def test_the_memo_shares_no_mutable_state_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usage.drop_rule_fields()
    rule = _decoded(RULES[2])
    a, b = UrrBook.created(rule, 1.0, 2.0), UrrBook.created(rule, 1.0, 2.0)
    a.seqn, a.baseline = 5, usage.Counts((1, 1, 0, 1, 1, 0))
    assert b.seqn == 0 and b.baseline is usage.ZERO
    assert UrrBook.created(rule, 1.0, 2.0) == b
    monkeypatch.setattr(usage, "RULE_FIELDS_ENTRIES", 2)
    for period in range(1, 10):
        rule = _decoded(
            _urr(
                F.MeasurementMethod.of("VOLUM"),
                F.ReportingTriggers.of(),
                S.MeasurementPeriod(period),
            )
        )
        UrrBook.created(rule, 0.0, 0.0)
        assert len(usage._NEW_BOOKS) <= 2


def test_the_engine_makes_its_books_from_the_memo() -> None:
    """(`SessionEngine._new_book` is `UrrBook.created`: the tests of establishment,
    modification and restore go through it.)"""
    from pfcpd.session.engine import SessionEngine

    usage.drop_rule_fields()
    rule = _decoded(RULES[2])
    book = SessionEngine._new_book(None, rule, 3950000000.25, 12.5)  # type: ignore[arg-type]
    _same(book, UrrBook._created(rule, 3950000000.25, 12.5))
    assert rule.raw in usage._NEW_BOOKS

"""`UrrBook.configure` takes what a URR's rule gives from its octets' memo: a book
configured from it equals one configured from the rule itself, for rules of every kind."""

from __future__ import annotations

from pfcpd.pfcp import Grouped, IEType, decode_ies, encode_ies
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
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
        F.ReportingTriggers.of("PERIO", "TIMTH"),
        F.MeasurementInformation.of("MNOP", "ISTM"),
        S.MeasurementPeriod(60),
        S.TimeThreshold(30),
        S.TimeQuota(100),
        S.QuotaHoldingTime(20),
        S.LinkedURRID(2),
        S.LinkedURRID(3),
    ),
    _urr(
        F.MeasurementMethod.of("DURAT"),
        F.ReportingTriggers.of("TIMTH", "TIMQU"),
        F.MeasurementInformation.of("INAM"),
        S.InactivityDetectionTime(10),
        S.TimeThreshold(5),
        S.QuotaValidityTime(300),
    ),
    _urr(F.MeasurementMethod.of("EVENT"), F.ReportingTriggers.of()),
]


def _decoded(rule: Grouped) -> Grouped:
    data = encode_ies([rule])
    (group,) = decode_ies(data, 0, len(data))
    assert isinstance(group, Grouped) and group.raw == data
    return group


def test_a_book_configured_from_the_memo_equals_one_configured_from_the_rule() -> None:
    usage._RULE_FIELDS.clear()
    for rule in RULES:
        for now in (0.0, 3950000000.0):
            fresh = UrrBook(volume=False)
            fresh.configure(rule, now)  # (built: no octets, no memo)
            first, again = UrrBook(volume=False), UrrBook(volume=False)
            first.configure(_decoded(rule), now)
            again.configure(_decoded(rule), now)  # (from the memo)
            assert fresh == first == again
    assert len(usage._RULE_FIELDS) == len(RULES)
    book = UrrBook()
    book.configure(RULES[1], 1.0)
    assert book.metering_ntp == 1.0 and book.linked == (2, 3) and book.own_time
    book.configure(RULES[2], 2.0)  # (metering already running: kept)
    assert book.metering_ntp == 1.0 and book.inam and book.validity == 300

"""Flag IEs built from names (FlagsIE.of: one shared instance per names and size, made
once) and read by name (FlagsIE.has)."""

from __future__ import annotations

import pytest

from pfcpd.pfcp import decode_ies, encode_ies
from pfcpd.pfcp.ies_flags import ApplyAction, ReportingTriggers, ReportType


def test_of_sets_the_named_bits_and_keeps_the_size() -> None:
    forw = ApplyAction.of("FORW")
    assert forw.flags == 0b10 and forw.encode() == b"\x02"
    assert ApplyAction.of("FORW") is forw  # (immutable: shared)
    assert ApplyAction.of("FORW", "NOCP").flags == 0b1010
    assert ApplyAction.of("NOCP", "FORW") == ApplyAction.of("FORW", "NOCP")
    wide = ReportingTriggers.of("PERIO", size=3)
    assert wide.encode() == b"\x01\x00\x00"
    assert ReportingTriggers.of("PERIO").encode() == b"\x01\x00"
    assert ReportType.of("USAR") == ReportType(0b10)
    assert ReportType.of() == ReportType(0)
    assert type(ReportType.of("USAR")) is ReportType  # (the class asked, never another's)
    assert ReportType.of("DLDR") != ApplyAction.of("DROP")
    with pytest.raises(ValueError):
        ApplyAction.of("FORW", "NO-SUCH-FLAG")


def test_has_reads_the_named_bit() -> None:
    both = ApplyAction.of("FORW", "BUFF")
    assert both.has("FORW") and both.has("BUFF")
    assert not both.has("DROP") and not both.has("NOCP")
    decoded = decode_ies(encode_ies([ReportingTriggers.of("VOLTH", "TIMTH")]), 0, 6)[0]
    assert isinstance(decoded, ReportingTriggers)
    assert decoded.has("VOLTH") and decoded.has("TIMTH") and not decoded.has("PERIO")
    with pytest.raises(ValueError):
        both.has("NO-SUCH-FLAG")

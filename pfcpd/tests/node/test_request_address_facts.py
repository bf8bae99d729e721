"""Choosing a report's destination parses no address it has parsed before: a CP F-SEID
address's facts are kept (`pfcpd.address.facts`, last 1024 texts), the association's own by
the association (`Association.facts`, made with it). Sans-IO."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from node.request_node import node_with, sent_to

from pfcpd import address
from pfcpd.address import IP, Facts, facts, parse

LO4 = "127.0.0.1:8805"
ANY6 = "[::]:8805"


@pytest.fixture
def fresh() -> Iterator[None]:
    facts.cache_clear()
    yield
    facts.cache_clear()


def test_each_address_is_parsed_once(fresh: None) -> None:
    """Three reports to a loopback F-SEID address from a CP on loopback (the check that
    reads the association's address): the F-SEID's text looked up each time, parsed once;
    the association's address not looked up at all (its facts made with the association)."""
    node = node_with(("127.0.0.1", 8805), LO4, "192.0.2.5:8805")
    made = facts.cache_info()
    for _ in range(3):
        assert sent_to(node, "127.0.0.2", None) == (("127.0.0.2", 8805), LO4)
    after = facts.cache_info()
    assert (after.misses - made.misses, after.hits - made.hits) == (1, 2)
    # link-local from a link-local association: the same
    ll = node_with(("fe80::2", 8805), ANY6)
    made = facts.cache_info()
    for _ in range(2):
        assert sent_to(ll, None, "fe80::9") == (("fe80::9", 8805), ANY6)
    after = facts.cache_info()
    assert (after.misses - made.misses, after.hits - made.hits) == (1, 1)


def test_no_address_is_parsed_per_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted where every parse goes (`address.parse`): after the association is made and
    the F-SEID's first report, none, however many reports follow."""
    parsed: list[str | None] = []

    def counted(text: str | None) -> IP | None:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(address, "parse", counted)
    node = node_with(("127.0.0.1", 8805), LO4, "192.0.2.5:8805")
    assert sent_to(node, "127.0.0.77", None) == (("127.0.0.77", 8805), LO4)
    parsed.clear()
    for _ in range(3):
        assert sent_to(node, "127.0.0.77", None) == (("127.0.0.77", 8805), LO4)
        assert sent_to(node, "192.0.2.9", None) == (("127.0.0.1", 8805), LO4)
    assert parsed == ["192.0.2.9"]  # (its first report only)


def test_an_association_keeps_its_address_s_facts() -> None:
    node = node_with(("::ffff:192.0.2.2", 8805), ANY6)
    (assoc,) = node.associations()
    assert assoc.facts is not None
    assert assoc.facts == facts("192.0.2.2")
    assert assoc.facts.text == "192.0.2.2" and assoc.facts.version == 4
    assert dataclasses.replace(assoc).facts == assoc.facts  # (a roll-back's copies)


@pytest.mark.parametrize(
    ("text", "version", "loopback", "link_local", "nowhere"),
    [
        ("192.0.2.1", 4, False, False, False),
        ("127.0.0.9", 4, True, False, False),
        ("::ffff:127.0.0.9", 4, True, False, False),
        ("::1", 6, True, False, False),
        ("169.254.0.9", 4, False, True, False),
        ("fe80::9", 6, False, True, False),
        ("0.0.0.0", 4, False, False, True),
        ("0.1.2.3", 4, False, False, True),
        ("::", 6, False, False, True),
        ("224.0.0.5", 4, False, False, True),
        ("ff02::1", 6, False, False, True),
        ("255.255.255.255", 4, False, False, True),
        ("::5", 6, False, False, False),  # (not in 0.0.0.0/8: another family)
    ],
)
def test_the_facts_of_an_address(
    text: str, version: int, loopback: bool, link_local: bool, nowhere: bool
) -> None:
    ip = parse(text)
    assert ip is not None
    assert facts(text) == Facts(ip, ip.compressed, version, loopback, link_local, nowhere)


def test_not_an_address_has_no_facts() -> None:
    assert facts("smf.example") is None
    assert facts("") is None

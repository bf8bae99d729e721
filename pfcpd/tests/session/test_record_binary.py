"""`Session.record` writes the usual session in binary (version 3, `session.record`), any
other as JSON text (`Session.json_record`): both read back (`read_record`) to the same
values, a binary record restores to the same session (usage books, allocations, rules),
journals of JSON records (main's) restore and are written again in binary, and a binary
record cut short or too long costs that record only."""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
from typing import Any

import pytest
from datapath.conftest import require_core
from session_harness import (
    Harness,
    dl_far,
    dl_pdr,
    qer,
    replaced,
    restarted,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)
from test_establishment_shapes import _Run, _script
from test_record_fast import _two_urrs
from test_record_text import _books

from pfcpd.pfcp import decode_ies
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_address import FQCSID, FSEID
from pfcpd.session import record as binary
from pfcpd.session.record import BINARY_RECORD_VERSION, read_record
from pfcpd.session.session import RECORD_VERSION, Session
from pfcpd.session.usage import Counts, UrrBook
from pfcpd.smfsim import rules as R


def _json_values(s: Session) -> dict[str, Any]:
    """What the JSON record of ``s`` holds, as `read_record` gives a binary one's."""
    d: dict[str, Any] = json.loads(s.json_record())
    assert d.pop("v") == RECORD_VERSION
    raw = bytes.fromhex(d["cp_fseid"])
    (d["cp_fseid"],) = decode_ies(raw, 0, len(raw))
    d["rz"] = base64.b64decode(d["rz"])
    return d


def _usual(s: Session) -> bool:
    """``s`` is of the shape written in binary (see `session.record`)."""
    return (
        len(s.teids) == 1
        and len(s.ue) == 1
        and s.bar_duration_s is None
        and s.group_id is None
        and not s.fq_csids
        and all(b.as_established(s.established_ntp) for b in s.urrs.values())
    )


def _check(s: Session) -> bytes:
    """``s``'s record: binary when it is of the usual shape, else its JSON record; read
    back, the values of its JSON record either way."""
    record = s.record()
    if _usual(s):
        assert record[0] == BINARY_RECORD_VERSION
        values = read_record(record)
        assert values.pop("v") == BINARY_RECORD_VERSION
        assert values == _json_values(s)
        assert len(record) < len(s.json_record()) // 2
    else:
        assert record == s.json_record()
    return record


def test_the_sessions_the_engine_makes_read_back_as_their_json_records() -> None:
    """Every shape of `test_establishment_shapes`, modified and not, and sessions of two
    URRs: the usual ones in binary (journaled so), the others as JSON."""
    require_core()
    run = _Run()
    times = itertools.cycle([3950000000.123456, 3.9e9, 4005305414.0432825, 2.0**32 - 2.0**-20])
    run.engine._ntp = lambda: next(times)
    try:
        run.pfds()
        for n in range(8):
            rules = _two_urrs(n)
            req = R.establishment_request("smf", "127.0.0.1", 900 + n, rules, seq=900 + n)  # type: ignore[arg-type]
            assert run.handle(req).get(R.T.CAUSE).value == 1  # type: ignore[union-attr]
        for req in _script():
            run.handle(req)
    finally:
        run.close()
    sessions = list(run.engine.sessions.values())
    records = {s.key: _check(s) for s in sessions}
    assert {k: run.journal.records[k] for k in records} == records
    kinds = [r[0] == BINARY_RECORD_VERSION for r in records.values()]
    assert kinds.count(True) > len(sessions) // 2 and not all(kinds)  # (most in binary)


def test_sessions_of_odd_values_are_binary_only_when_they_read_back_alike() -> None:
    """Values a binary record cannot hold (out of a field's range, text that is no UTF-8,
    types the JSON record writes as they are) leave the session to its JSON record."""
    base = Session(
        up_seid=5,
        cp_seid=6,
        cp_node_id='smf "ünï"',
        cp_fseid=FSEID(6, "127.0.0.2", "2001:db8::2"),
        rules_blob=bytes(range(100)),
        peers=(),
        teids=(9,),
        ue=(("internet", "10.45.0.9/32"),),
        established_ntp=3950000000.123456,
    )
    start: Any = base.established_ntp
    base.urrs = {1: UrrBook(period_start_ntp=start, seqn=4), 3: UrrBook(period_start_ntp=start)}
    assert _check(base)[0] == BINARY_RECORD_VERSION
    binary_ones = [
        {"cp_fseid": FSEID(2**64 - 1, None, "2001:db8::2")},
        {"up_seid": 2**64 - 1, "teids": (2**32 - 1,)},
        {"ue": (("ims", "2001:db8:1::/64"),)},
        {"urrs": {}},
        {"rules_blob": b""},
        {"established_ntp": float("inf"), "urrs": {}},  # (JSON writes Infinity)
    ]
    json_ones: list[dict[str, Any]] = [
        {"up_seid": 2**64},
        {"up_seid": -1},
        {"cp_seid": True},
        {"teids": (2**32,)},
        {"teids": (1, 2)},
        {"teids": ()},
        {"teids": (True,)},
        {"ue": ()},
        {"ue": (("internet", "\ud800"),)},  # (a lone surrogate: no UTF-8)
        {"ue": (("\udfff", "10.45.0.9/32"),)},
        {"ue": (("internet", "1" * 65536),)},
        {"cp_node_id": "x" * 65536},
        {"rules_blob": bytes(65536)},
        {"urrs": {1: UrrBook(period_start_ntp=start, seqn=2**64)}},
        {"urrs": {1: UrrBook(period_start_ntp=start, seqn=True)}},
        {"urrs": {2**32: UrrBook(period_start_ntp=start)}},
        {"urrs": {1: UrrBook(period_start_ntp=start, consumed=Counts((0,) * 6))}},
        {"urrs": {1: UrrBook(period_start_ntp=start * 1.0)}},  # (an equal start: not it)
        {"urrs": dict(enumerate(_books(), 1))},
        {"established_ntp": 3950000000},
        {"bar_duration_s": 30},
        {"group_id": "group-1"},
        {"fq_csids": (FQCSID(node_address="127.0.0.2", csids=(1, 2)),)},
    ]
    for change in binary_ones:
        assert _check(replaced(base, **change))[0] == BINARY_RECORD_VERSION, change
    for change in json_ones:
        odd = replaced(base, **change)
        assert odd.record() == odd.json_record(), change


def _establish(h: Harness, cp_seid: int = 0xC0FFEE) -> int:
    book = urr(
        1,
        "VOLTH",
        "PERIO",
        period=S.MeasurementPeriod(60),
        v=TR.VolumeThreshold(total=10**9),
    )
    return up_seid(
        h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), book, cp_seid=cp_seid)
    )


def test_a_binary_record_restores_the_same_session(h: Harness) -> None:
    first, second = _establish(h), _establish(h, 0xBEEF)
    h.modify(second, R.update_dl_far(2, 0x1234, "192.0.2.9"))
    fresh = {seid: h.engine.sessions[seid] for seid in (first, second)}
    for s in fresh.values():
        assert h.journal.records[s.key][0] == BINARY_RECORD_VERSION
    with restarted(h, 2) as engine:
        for seid, s in fresh.items():
            again = engine.sessions[seid]
            assert again.record() == s.record()
            assert again.json_record() == s.json_record()
            assert (again.cp_seid, again.cp_node_id, again.cp_fseid) == (
                s.cp_seid,
                s.cp_node_id,
                s.cp_fseid,
            )
            assert again.rules_blob == s.rules_blob and again.peers == s.peers
            assert again.teids == s.teids and again.ue == s.ue
            assert again.established_ntp == s.established_ntp
            assert {k: b.to_json() for k, b in again.urrs.items()} == {
                k: b.to_json() for k, b in s.urrs.items()
            }
        # The allocations are taken again: the TEIDs and UE addresses are in use.
        assert engine.teids.in_use == h.engine.teids.in_use == 2
        for s in fresh.values():
            for name, text in s.ue:
                assert not engine.ue_pools.reserve(name, ipaddress.ip_network(text))


def test_a_json_record_of_main_restores_and_is_written_again_in_binary(h: Harness) -> None:
    seid = _establish(h)
    s = h.engine.sessions[seid]
    binary_record = h.journal.records[s.key]
    h.journal.records[s.key] = s.json_record()  # (what main journaled)
    assert h.journal.records[s.key].startswith(b'{"v":2,')
    with restarted(h, 1) as engine:
        assert engine.sessions[seid].record() == binary_record


@pytest.mark.parametrize("cut", [1, 5, 30, -1, -5])
def test_a_binary_record_cut_short_or_too_long_costs_that_record(h: Harness, cut: int) -> None:
    seid = _establish(h)
    key = h.engine.sessions[seid].key
    record = h.journal.records[key]
    bad = record[:cut] if cut > 0 else record + bytes(-cut)
    with pytest.raises(Exception):  # noqa: B017  (struct.error or ValueError)
        read_record(bad)
    h.journal.records[key] = bad
    with restarted(h, 0) as engine:
        assert engine.metrics.restore_failures.get() == 1 and not engine.sessions


def test_the_octets_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binary, "FIXED_ENTRIES", 4)
    binary.FIXED_OCTETS.clear()
    for i in range(20):
        fseid = FSEID(i, f"192.0.2.{i % 10}", "2001:db8::1" if i % 3 else None)
        s = Session(
            i, i, f"smf{i % 7}", fseid, b"", (), teids=(i,), ue=((f"n{i % 9}", "10.0.0.1/32"),)
        )
        s.established_ntp = 3.9e9
        assert _check(s)[0] == BINARY_RECORD_VERSION
        assert _check(s)[0] == BINARY_RECORD_VERSION  # (from the memo)
        assert len(binary.FIXED_OCTETS) <= 4


def test_a_restored_book_is_as_established_only_when_its_values_are_the_same_doubles() -> None:
    """From the JSON record: zero counts are ZERO, a zero time NO_TIME, a period start
    equal to the establishment time its float object (`restored_at`): such a book is
    written in binary again; a -0.0 stays itself (another text, another double)."""
    established = 3950000000.5
    text = UrrBook(period_start_ntp=established).json_text()
    book = UrrBook.from_json(json.loads(text))
    assert not book.as_established(established)  # (an equal start, not the object)
    book.restored_at(established)
    assert book.as_established(established)
    for start, at in ((0.0, -0.0), (-0.0, 0.0)):
        book = UrrBook.from_json(json.loads(UrrBook(period_start_ntp=start).json_text()))
        book.restored_at(at)
        assert not book.as_established(at)
        assert json.loads(book.json_text())["start"] == start
    odd = UrrBook.from_json(json.loads(UrrBook(metering_ntp=-0.0, validity_ntp=-0.0).json_text()))
    assert str(odd.metering_ntp) == str(odd.validity_ntp) == "-0.0"
    assert not odd.as_established(odd.period_start_ntp)


def test_a_json_record_claiming_the_binary_version_costs_that_record(h: Harness) -> None:
    """Only a binary record is of version 3: a JSON one saying so is refused by
    `read_record` (not restored half as binary), and only it is lost."""
    seid = _establish(h)
    key = h.engine.sessions[seid].key
    d = json.loads(h.engine.sessions[seid].json_record())
    d["v"] = BINARY_RECORD_VERSION
    forged = json.dumps(d).encode()
    with pytest.raises(ValueError, match="JSON record of version 3"):
        read_record(forged)
    h.journal.records[key] = forged
    with restarted(h, 0) as engine:
        assert engine.metrics.restore_failures.get() == 1 and not engine.sessions

"""`Session.json_record` (the JSON record, `Session.record`'s when it is not binary)
writes the usual session in one piece (`record_peer_texts`), any other
as `Session._record_text` does: the same bytes either way, which are what ``json.dumps``
makes of the record's dict (`test_record_text`), for sessions of every shape the engine
establishes and modifies and for sessions holding odd values."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from datapath.conftest import require_core
from session_harness import replaced
from test_establishment_shapes import _Run, _script
from test_record_text import _books, _dumps, _record_dict

from pfcpd.pfcp import Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_address import FQCSID, FSEID
from pfcpd.session import usage
from pfcpd.session.engine import Session
from pfcpd.session.usage import Counts, UrrBook
from pfcpd.smfsim import rules as R


class _Spy:
    """Counts the sessions `Session.json_record` hands to `_record_text`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.general = 0
        text = Session._record_text

        def counted(session: Session) -> str:
            self.general += 1
            return text(session)

        counted.__wrapped__ = text  # type: ignore[attr-defined]

        monkeypatch.setattr(Session, "_record_text", counted)


def _check(s: Session) -> bytes:
    record = s.json_record()
    assert record == Session._record_text(s).encode()
    assert record == _dumps(_record_dict(s)).encode()
    return record


def _two_urrs(n: int) -> list[object]:
    """The usual session with a second URR whose book is not as established (a Quota
    Validity Time: its validity is a time of its own)."""
    rules = R.session_rules(gnb_teid=0x300 + n)
    second = R.group(
        R.T.CREATE_URR,
        S.URRID(2),
        R.F.MeasurementMethod.of("VOLUM"),
        R.F.ReportingTriggers.of("VOLQU"),
        TR.VolumeQuota(total=10**6),
        S.QuotaValidityTime(30),
    )
    for pdr in rules[:2]:
        pdr.ies.append(S.URRID(2))  # type: ignore[attr-defined]
    return [*rules, second]


def test_the_sessions_the_engine_makes_are_written_as_the_general_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every shape of `test_establishment_shapes` (IPv6, dual stack, two network
    instances, FQ-CSIDs and Group Id, a BAR, ...), modified and not, at establishment times
    of every kind of float text; and sessions of two URRs."""
    require_core()
    spy = _Spy(monkeypatch)
    run = _Run()
    times = itertools.cycle(
        [3950000000.123456, 3.9e9, 4005305414.0432825, 3950000000.5, 2.0**32 - 2.0**-20, 1e300]
    )
    # (the clock of each request: the next of ``times`` for an establishment, a time after
    # those of the sessions deleted, 1 to 4, for the others)
    clock = [0.0]
    run.engine._ntp = lambda: clock[0]

    def handle(req: Message) -> Message:
        establishment = req.msg_type == MessageType.SESSION_ESTABLISHMENT_REQUEST
        clock[0] = next(times) if establishment else 4.1e9
        return run.handle(req)

    try:
        run.pfds()
        for n in range(8):  # (first: the script runs the IPv4 pool out, deletes 1 to 4)
            rules = _two_urrs(n)
            req = R.establishment_request("smf", "127.0.0.1", 900 + n, rules, seq=900 + n)  # type: ignore[arg-type]
            assert handle(req).get(R.T.CAUSE).value == 1  # type: ignore[union-attr]
        for req in _script():
            handle(req)
    finally:
        run.close()
    sessions = list(run.engine.sessions.values())
    assert len(sessions) >= 40
    spy.general = 0
    records = {s.key: s.json_record() for s in sessions}
    # The fast way wrote most (the others: with FQ-CSIDs and Group Id), both ways some.
    assert 0 < spy.general < len(sessions) // 2
    assert records == {s.key: _check(s) for s in sessions}
    assert {k: run.journal.records[k] for k in records} == {s.key: s.record() for s in sessions}
    assert any(len(s.urrs) == 2 for s in sessions) and any(len(s.ue) == 2 for s in sessions)
    assert any(s.fq_csids for s in sessions) and any(s.group_id for s in sessions)


def test_sessions_of_odd_values_are_written_as_the_general_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _Spy(monkeypatch)
    usage.RECORD_PEERS.clear()  # (each peer's texts made here the first time)
    peers = [
        ("smf", FSEID(0xC0FFEE, "127.0.0.2")),
        ("smf", FSEID(0, None, "2001:db8::2")),
        ('smf "ünï"\n', FSEID(2**64 - 1, "127.0.0.2", "2001:db8::2")),
        ("smf.example", FSEID(7, None, None)),
    ]
    floats = [3950000000.123456, 0.0, -0.0, 1e300, 5e-324, float("nan"), float("inf"), 1.5]
    odd_times: list[object] = [*floats, 3950000000, True, None]
    ues = [(), (("internet", "10.45.0.1/32"),), (("internet", "10.45.0.1/32"), ("ims", 'a"b'))]
    sessions: list[Session] = []
    for i, ((node, fseid), established, ue) in enumerate(itertools.product(peers, odd_times, ues)):
        books: dict[int, UrrBook] = {}
        if i % 3 == 1:
            books = {1: UrrBook(period_start_ntp=established)}  # type: ignore[arg-type]
        elif i % 3 == 2:
            books = dict(enumerate(_books(), 1))
            start: Any = established
            books[3] = UrrBook(period_start_ntp=start, seqn=4)
            books[4] = UrrBook(period_start_ntp=start, inactivity=5)  # (pauses)
            books[5] = UrrBook(period_start_ntp=start, inactivity=5, duration=False)
            books[6] = UrrBook(period_start_ntp=start, seqn=False)
            books[7] = UrrBook(period_start_ntp=start, consumed=Counts((0,) * 6))
        s = Session(
            up_seid=i * 977,
            cp_seid=fseid.seid,
            cp_node_id=node,
            cp_fseid=fseid,
            rules_blob=bytes(range(i % 50)),
            peers=(),
            teids=((i,), (), (1, 2**32 - 1))[i % 3],
            ue=ue,
            urrs=books,
            established_ntp=established,  # type: ignore[arg-type]
        )
        sessions.append(s)
    # Values the fast way leaves to the general one.
    base = sessions[4]
    for change in (
        {"bar_duration_s": 30},
        {"bar_duration_s": 0},
        {"group_id": "group-1"},
        {"group_id": ""},
        {"fq_csids": (FQCSID(node_address="127.0.0.2", csids=(1, 2)),)},
        {"up_seid": True},
        {"cp_seid": False},
        {"cp_fseid": A.FSEID(-1, "127.0.0.2")},
        {"teids": (True,)},
    ):
        odd = replaced(base, **change)
        sessions.append(odd)
    general = Session._record_text.__wrapped__  # type: ignore[attr-defined]
    written = 0
    for s in sessions:
        try:
            expected = general(s).encode()
        except Exception as error:  # (an F-SEID out of range: both ways fail alike)
            with pytest.raises(type(error)):
                s.json_record()
            continue
        assert s.json_record() == expected
        assert s.json_record() == expected  # (the peer's texts from the memo)
        if all(type(v) is int for v in (s.up_seid, s.cp_seid, *s.teids)):  # (bools: as ints)
            assert expected == _dumps(_record_dict(s)).encode()
        written += 1
    assert written == len(sessions) - 1
    assert 0 < spy.general < written  # (some each way)


def test_the_peer_texts_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "FSEID_HEX_ENTRIES", 4)
    usage.RECORD_PEERS.clear()
    for i in range(20):
        fseid = FSEID(i, f"192.0.2.{i % 10}", "2001:db8::1" if i % 3 else None)
        s = Session(i, i, f"smf{i % 7}", fseid, b"", (), teids=(i,), established_ntp=3.9e9)
        assert s.json_record() == _dumps(_record_dict(s)).encode()
        assert len(usage.RECORD_PEERS) <= 4

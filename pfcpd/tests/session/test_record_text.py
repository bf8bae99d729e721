"""The journal's session record as JSON text (`Session.json_record`, `UrrBook.json_text`):
it is byte for byte what ``json.dumps`` makes of the record's dict, for every kind of
value a record holds, and the engine restores it."""

from __future__ import annotations

import base64
import json

import pytest

from pfcpd.pfcp import IE, encode_ies
from pfcpd.pfcp.ies_address import FQCSID, FSEID
from pfcpd.session import usage
from pfcpd.session.session import RECORD_VERSION, Session
from pfcpd.session.usage import ZERO, Counts, UrrBook, fseid_hex, json_ints, json_value


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize(
    "value",
    [0, 7, -3, 2**64 - 1, 0.0, 1.5, 3950000000.123456, -0.0, 1e300, float("nan"), float("inf"),
     float("-inf"), "", "smf.example", 'q"uo\\te', "ünï\u2028code\n", None, True, False,
     [1, 2], (3,)],
)  # fmt: skip
def test_values_are_written_as_json_writes_them(value: object) -> None:
    assert json_value(value) == _dumps(value)


def test_integer_lists_are_written_as_json_writes_them() -> None:
    for values in ((), (0,), (1, 2, 3, 4, 5, 6), (2**63, -1), (1.5, 2), (True, 0), (True,), (1.5,)):
        assert json_ints(values) == _dumps(list(values))


def _record_dict(s: Session) -> dict[str, object]:
    """The record as the journal wrote it before it was written as text (a dict for
    ``json.dumps``): the reference `Session.record` is checked against."""
    return {
        "v": RECORD_VERSION,
        "up_seid": s.up_seid,
        "cp_seid": s.cp_seid,
        "cp_node_id": s.cp_node_id,
        "cp_fseid": encode_ies([s.cp_fseid]).hex(),
        "rz": base64.b64encode(s.rules_blob).decode(),
        "teids": s.teids,
        "ue": [[name, net] for name, net in s.ue],
        "urrs": {str(k): b.to_json() for k, b in s.urrs.items()},
        "bar_duration": s.bar_duration_s,
        "established": s.established_ntp,
        "fq_csids": encode_ies(list[IE](s.fq_csids)).hex(),
        "group_id": s.group_id,
    }


def _books() -> list[UrrBook]:
    plain = UrrBook()
    busy = UrrBook(
        seqn=12,
        baseline=Counts((100, 60, 40, 3, 2, 1)),
        consumed=Counts((5, 4, 1, 1, 1, 0)),
        dp_seen=Counts((7, 0, 7, 1, 0, 1)),
        period_start_ntp=3950000000.25,
        metering_ntp=3950000001.5,
        metered_s=12.75,
        last_packet_ntp=3950000002.0,
        seen_ntp=3950000003.0,
        validity_ntp=3950000100.0,
        quota_expired=True,
        inactive=True,
        time_threshold_done=True,
        time_quota_used=30.5,
        time_quota_over=False,
        own_time=True,
        inactivity=10,  # (watches time)
    )
    assert busy.watches_time
    return [plain, busy]


def test_a_book_is_written_as_json_writes_its_dict() -> None:
    zeros = Counts((0, 0, 0, 0, 0, 0))  # (all zero, yet not the shared ZERO)
    assert zeros is not ZERO
    other_zero = float("0")  # (equal to NO_TIME, another object)
    assert other_zero is not usage.NO_TIME
    odd = [
        UrrBook(dp_seen=zeros, baseline=zeros, metering_ntp=-0.0),
        UrrBook(validity_ntp=-0.0),
        UrrBook(metering_ntp=other_zero, validity_ntp=other_zero),
        UrrBook(quota_expired=True),
        UrrBook(quota_held=True),
        UrrBook(inactive=True),
        UrrBook(seqn=2**40),
    ]
    for book in [*_books(), *odd]:
        assert book.json_text() == _dumps(book.to_json())
        # The text of a float written already is taken for the start only when the start is
        # that very object; else the start's own.
        start = book.period_start_ntp
        assert book.json_text(start, json_value(start)) == _dumps(book.to_json())
        assert book.json_text(start + 1.0, "1.0") == _dumps(book.to_json())
        assert book.json_text(None, "null") == _dumps(book.to_json())


@pytest.mark.parametrize(
    "fseid",
    [FSEID(0, "127.0.0.1"), FSEID(2**64 - 1, "127.0.0.1"), FSEID(0xC0FFEE, None, "2001:db8::2"),
     FSEID(7, "192.0.2.1", "2001:db8::2"), FSEID(7, "192.0.2.1"), FSEID(1, None, None)],
)  # fmt: skip
def test_an_fseid_is_written_as_the_codec_encodes_it(fseid: FSEID) -> None:
    for _ in range(2):  # (made the first time, from the memo the second)
        assert fseid_hex(fseid) == encode_ies([fseid]).hex()


def test_an_fseid_out_of_range_fails_as_the_codec_does() -> None:
    for seid in (-1, 2**64):
        with pytest.raises(Exception) as hex_error:
            fseid_hex(FSEID(seid, "127.0.0.1"))
        with pytest.raises(Exception) as codec_error:
            encode_ies([FSEID(seid, "127.0.0.1")])
        assert type(hex_error.value) is type(codec_error.value)


def test_the_fseid_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "FSEID_HEX_ENTRIES", 4)
    monkeypatch.setattr(usage, "_FSEID_HEX", {})
    for i in range(20):
        fseid = FSEID(i, f"192.0.2.{i % 10}", "2001:db8::1" if i % 3 else None)
        assert fseid_hex(fseid) == encode_ies([fseid]).hex()
        assert len(usage._FSEID_HEX) <= 4


def test_a_session_record_is_what_json_writes_of_its_dict() -> None:
    sessions = [
        Session(1, 2, "smf", FSEID(2, "127.0.0.2"), b"", ()),
        Session(
            up_seid=2**64 - 1,
            cp_seid=0xC0FFEE,
            cp_node_id='smf "ünï"',
            cp_fseid=FSEID(0xC0FFEE, "127.0.0.2", "2001:db8::2"),
            rules_blob=bytes(range(200)),
            peers=(),
            teids=(1, 2, 3),
            ue=(("internet", "10.45.0.1/32"), ("ims", "2001:db8:1::/64")),
            urrs=dict(enumerate(_books(), 1)),
            bar_duration_s=30,
            established_ntp=3950000000.5,
            fq_csids=(FQCSID(node_address="127.0.0.2", csids=(1, 2)),),
            group_id="group-1",
        ),
        Session(0, 0, "smf", FSEID(0, None, "2001:db8::2"), b"\xff", (), teids=(2**32 - 1,)),
    ]
    # A book whose period start is the establishment time (one float object, as the
    # engine makes them), one whose start is equal to it but another object, one other.
    established = 3950000000.123456
    books = [UrrBook(period_start_ntp=established), UrrBook(period_start_ntp=established * 1.0)]
    books.append(UrrBook(period_start_ntp=-0.0, seqn=3))
    assert books[1].period_start_ntp is not established
    sessions.append(
        Session(
            5, 6, "smf", FSEID(6, "127.0.0.2"), b"", (), teids=(9,),
            ue=(("internet", "10.45.0.9/32"),), urrs=dict(enumerate(books, 1)),
            established_ntp=established,
        )
    )  # fmt: skip
    sessions.append(Session(7, 8, "smf", FSEID(8, "127.0.0.2"), b"", (), established_ntp=-0.0))
    for book in books:  # (one book: written without a list)
        one = Session(9, 9, "smf", FSEID(9, "127.0.0.2"), b"", (), urrs={7: book})
        one.established_ntp = established
        sessions.append(one)
    for s in sessions:
        record = s.json_record()
        assert record == _dumps(_record_dict(s)).encode()
        assert json.loads(record)["v"] == RECORD_VERSION

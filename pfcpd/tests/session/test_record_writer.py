"""The C writer of the usual session's binary record (`_record.RecordWriter`, which
`Session.record` tries first) writes what `Session.python_record` writes, byte for byte,
and declines (None) every session whose record differs: each field of the session and of
its URR book changed, one at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pfcpd.pfcp.ies_address import FQCSID, FSEID
from pfcpd.session import session as session_module
from pfcpd.session._record import copy_slots
from pfcpd.session.record import BINARY_RECORD_VERSION
from pfcpd.session.session import Session
from pfcpd.session.usage import NO_DROPS, ZERO, Counts, OneBook, UrrBook

write = session_module._write_usual


def _usual() -> Session:
    s = Session(
        up_seid=0x1234,
        cp_seid=0xC0FFEE,
        cp_node_id="smf.example",
        cp_fseid=FSEID(0xC0FFEE, "127.0.0.2", None),
        rules_blob=bytes(range(200)),
        peers=(),
        teids=(77,),
        ue=(("internet", "10.45.0.9/32"),),
        established_ntp=3950000000.123456,
    )
    s.urrs = OneBook(3, UrrBook(period_start_ntp=s.established_ntp, seqn=5))
    return s


def _changes(value: object) -> list[object]:
    """Other values for a field holding ``value``: of its type, and of others."""
    out: list[object] = [None, "x", (1,), 2**64, -1]
    if type(value) is bool:
        out += [not value, int(value)]
    elif type(value) is int:
        out += [value + 1, bool(value), float(value)]
    elif type(value) is float:
        out += [value + 1.5, value * 1.0 + 0.0, -0.0, int(value)]  # (an equal float, not it)
    elif type(value) is tuple:
        out += [(*value, 0), (*value,)[:1], list(value)]
    elif value is ZERO:
        out += [Counts((0,) * 6), Counts((1,) + (0,) * 5)]
    return out


def _same(s: Session) -> None:
    """``s``'s record: the C writer's, when it writes one, is `python_record`'s (a record
    Python fails to write: the C writer declines it)."""
    try:
        python = s.python_record()
    except Exception:
        assert write(s) is None
        return
    written = write(s)
    assert written is None or written == python
    assert s.record() == python


def test_the_usual_session_is_written_in_c_as_in_python() -> None:
    s = _usual()
    s.python_record()  # (its CP's fixed octets made)
    written = write(s)
    assert written is not None and written[0] == BINARY_RECORD_VERSION
    assert written == s.python_record() == s.record()


def test_every_book_field_changed_is_written_as_python_writes_it() -> None:
    for field in dataclasses.fields(UrrBook):
        s = _usual()
        book = s.urrs.book  # type: ignore[union-attr]
        for value in _changes(getattr(book, field.name)):
            s = _usual()
            object.__setattr__(s.urrs.book, field.name, value)  # type: ignore[union-attr]
            _same(s)


def test_every_session_field_changed_is_written_as_python_writes_it() -> None:
    names = [n for n in Session.__slots__ if not n.startswith("__")]
    for name in names:
        for value in _changes(getattr(_usual(), name)):
            s = _usual()
            setattr(s, name, value)
            _same(s)


@pytest.mark.parametrize(
    "change",
    [
        {"ue_kept": ("internet", "10.45.0.9/32", "x")},
        {"ue_kept": ("ïnternet", "10.45.0.9/32")},
        {"ue_kept": ("internet", "1" * 65536)},
        {"ue_kept": ("internet", "ü")},
        {"cp_node_id": "smf ünï"},
        {"cp_ipv6": "2001:db8::2"},
        {"rules_blob": bytes(65536)},
        {"rules_blob": bytearray(3)},
        {"fq_csids": (FQCSID(node_address="127.0.0.2", csids=(1,)),)},
        {"urrs": {3: UrrBook()}},
        {"urrs": OneBook(2**32, UrrBook())},
    ],
)
def test_odd_values(change: dict[str, Any]) -> None:
    s = _usual()
    for name, value in change.items():
        setattr(s, name, value)
    if name == "urrs":  # (its book's period from the establishment)
        for book in s.urrs.values():
            book.period_start_ntp = s.established_ntp
    _same(s)


def test_a_book_dropped_base_equal_to_no_drops_is_left_to_python() -> None:
    s = _usual()
    s.urrs.book.dropped_base = (0, 0 * 1)  # type: ignore[union-attr]
    assert s.urrs.book.dropped_base is NO_DROPS or write(s) is None  # type: ignore[union-attr]
    _same(s)


def test_the_fixed_octets_come_from_the_python_memo_first() -> None:
    s = _usual()
    s.cp_node_id = "".join(["smf-", "fresh"])  # (not in FIXED_OCTETS yet: C declines)
    assert write(s) is None
    assert s.record() == s.python_record()
    assert write(s) == s.python_record()  # (now in the memo)


def test_copy_slots_copies_an_object_of_slots_and_refuses_others() -> None:
    """`_record.copy_slots` (`UrrBook.created`'s copy of its memo's book): a new object of
    the type holding the same values, an unset slot left unset; TypeError for an object of
    another kind of type."""
    book = UrrBook(period_start_ntp=3950000000.5, seqn=7, baseline=Counts((1, 2, 3, 4, 5, 6)))
    copy = copy_slots(book)
    assert type(copy) is UrrBook and copy is not book and copy == book
    for f in dataclasses.fields(UrrBook):
        assert getattr(copy, f.name) is getattr(book, f.name), f.name
    copy.seqn = 8
    assert book.seqn == 7
    half = OneBook.__new__(OneBook)
    half.urr_id = 3
    other = copy_slots(half)
    assert other.urr_id == 3 and not hasattr(other, "book")

    class WithDict:
        pass

    class Sub(UrrBook):
        __slots__ = ()

    for obj in (1, "text", (1, 2), object(), WithDict(), Sub(), FSEID(1, "127.0.0.1", None)):
        with pytest.raises(TypeError):
            copy_slots(obj)


def test_copy_untracked_is_copy_slots_untracked() -> None:
    """`_record.copy_untracked` (`UrrBook.created`'s copy of its memo's book): a copy as
    `copy_slots` makes it (the same values, an unset slot left unset) that the cyclic GC does
    not track, its slots set and freed as any; TypeError for what `copy_slots` refuses and
    for an object of a type the GC has no header for (an int, a str, a bare object)."""
    import gc

    from pfcpd.session._record import copy_untracked

    book = UrrBook(period_start_ntp=3950000000.5, seqn=7, baseline=Counts((1, 2, 3, 4, 5, 6)))
    copy = copy_untracked(book)
    assert type(copy) is UrrBook and copy is not book and copy == book
    assert gc.is_tracked(book) and not gc.is_tracked(copy)
    for f in dataclasses.fields(UrrBook):
        assert getattr(copy, f.name) is getattr(book, f.name), f.name
    copy.seqn = 8
    copy.held_times = (1.0, 2.0)
    gc.collect()
    assert book.seqn == 7 and copy.seqn == 8 and copy.held_times == (1.0, 2.0)
    assert not gc.is_tracked(copy)
    half = OneBook.__new__(OneBook)
    half.urr_id = 3
    other = copy_untracked(half)
    assert other.urr_id == 3 and not hasattr(other, "book")
    del copy, other  # (untracked objects freed)
    assert gc.is_tracked(copy_slots(book))

    class Sub(UrrBook):
        __slots__ = ()

    for obj in (1, "text", (1, 2), object(), Sub()):
        with pytest.raises(TypeError):
            copy_untracked(obj)
    with pytest.raises(TypeError, match="not a GC type"):
        copy_untracked(7)


def test_copy_slots_copies_a_kept_type_as_the_first_time() -> None:
    """`_record.copy_slots` keeps a type it found to be of slots alone (checked no more): the
    copies after the first hold the same values, an unset slot unset, each its own object;
    types it refused it refuses again."""

    class Three:
        __slots__ = ("a", "b", "c")

    one = Three()
    one.a, one.c = [1], "x"
    copies = [copy_slots(one) for _ in range(3)]
    for copy in copies:
        assert type(copy) is Three and copy is not one
        assert copy.a is one.a and copy.c is one.c and not hasattr(copy, "b")
    copies[0].b = 2
    assert not hasattr(one, "b") and not hasattr(copies[1], "b")
    del one.a
    assert not hasattr(copy_slots(one), "a")

    class WithDict:
        pass

    for _ in range(2):
        with pytest.raises(TypeError):
            copy_slots(WithDict())

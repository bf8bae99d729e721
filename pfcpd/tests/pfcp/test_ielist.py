"""IEList.get / get_all (in C, _walk.c): the first IE of a type and every IE of a type, in
order, in messages and grouped IEs, whatever kind of IE holds the type."""

from __future__ import annotations

import pytest

from pfcpd.pfcp import decode, encode
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import IE, Grouped, IEList, RawIE, VendorIE
from pfcpd.pfcp.ie_types import IEType as T
from pfcpd.pfcp.message_types import MessageType as M
from pfcpd.pfcp.messages import Message


def test_get_finds_the_first_of_a_type_and_get_all_every_one_in_order() -> None:
    first, second = Grouped(T.CREATE_PDR, [S.PDRID(1)]), Grouped(T.CREATE_PDR, [S.PDRID(2)])
    raw, vendor = RawIE(250, b"\x01"), VendorIE(0x8001, 18681, b"")
    msg = Message(M.SESSION_MODIFICATION_REQUEST, 1, [raw, first, vendor, second], seid=1)
    assert msg.get(T.CREATE_PDR) is first
    assert msg.get(250) is raw
    assert msg.get(0x8001) is vendor
    assert msg.get(T.CREATE_FAR) is None
    assert msg.get_all(T.CREATE_PDR) == [first, second]
    assert msg.get_all(T.CREATE_PDR)[1] is second
    assert msg.get_all(T.CREATE_FAR) == []
    assert second.get(T.PDR_ID) == S.PDRID(2)
    assert Grouped(T.PDI, []).get(T.PDR_ID) is None
    msg.ies.insert(0, third := Grouped(T.CREATE_PDR, []))  # (read at each call)
    assert msg.get(T.CREATE_PDR) is third
    assert msg.get_all(T.CREATE_PDR) == [third, first, second]


def test_decoded_messages_answer_as_they_were_built() -> None:
    built = Message(
        M.SESSION_MODIFICATION_REQUEST,
        7,
        [Grouped(T.REMOVE_PDR, [S.PDRID(3)]), Grouped(T.REMOVE_PDR, [S.PDRID(4)])],
        seid=9,
    )
    msg = decode(encode(built))
    assert [ie.get(T.PDR_ID) for ie in msg.get_all(T.REMOVE_PDR)] == [S.PDRID(3), S.PDRID(4)]
    assert msg.get(T.REMOVE_PDR) == built.ies[0]


def test_misuse_raises() -> None:
    msg = Message(M.HEARTBEAT_REQUEST, 1, [])
    with pytest.raises(TypeError):
        msg.get()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        msg.get_all(1, 2)  # type: ignore[call-arg]
    msg.ies = 5  # type: ignore[assignment]
    with pytest.raises(TypeError, match="ies must be a sequence"):
        msg.get(1)


class _ClassAttribute:
    """``type`` a class attribute of a class without instance dicts (as the typed IEs)."""

    __slots__ = ()
    type = 7


class _Property:
    __slots__ = ()

    @property
    def type(self) -> int:
        return 7


class _InstanceDict:
    """An instance attribute shadowing the class attribute."""

    type = 8

    def __init__(self) -> None:
        self.type = 7


class _Getattr:
    def __getattr__(self, name: str) -> int:
        if name == "type":
            return 7
        raise AttributeError(name)


class _Slot:
    __slots__ = ("type",)


def test_type_read_as_the_attribute_lookup_reads_it() -> None:
    """get / get_all read ``ie.type`` and ``self.ies`` without the attribute lookup where
    it is a plain slot or a plain class attribute (_walk.c attr_fast): every other kind of
    attribute is still what the lookup says."""
    ies: list[object] = [_ClassAttribute(), _Property(), _InstanceDict(), _Getattr()]
    g = Grouped(T.PDI, ies)  # type: ignore[arg-type]
    assert g.get_all(7) == ies
    assert g.get(8) is None  # (_InstanceDict's class attribute is shadowed)
    _ClassAttribute.type = 9  # (a class attribute changed: read anew)
    try:
        assert g.get(9) is ies[0]
        assert g.get_all(7) == ies[1:]
    finally:
        _ClassAttribute.type = 7
    unset = Grouped(T.PDI, [_Slot()])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        unset.get(7)
    s = _Slot()
    s.type = 7
    assert Grouped(T.PDI, [s]).get(7) is s  # type: ignore[list-item]
    half = Grouped(T.PDI, [])
    del half.ies
    with pytest.raises(AttributeError):
        half.get(7)


class _TupleIEs(IEList):
    """``ies`` a class attribute (a tuple), and a property in a subclass."""

    __slots__ = ()
    ies = (S.PDRID(1), S.FARID(2))  # type: ignore[assignment]


class _PropertyIEs(_TupleIEs):
    __slots__ = ()

    @property  # type: ignore[override]
    def ies(self) -> list[IE]:
        return [S.FARID(3)]


def test_ies_read_as_the_attribute_lookup_reads_them() -> None:
    assert _TupleIEs().get(T.FAR_ID) == S.FARID(2)
    assert _TupleIEs().get_all(T.PDR_ID) == [S.PDRID(1)]
    assert _PropertyIEs().get(T.FAR_ID) == S.FARID(3)
    assert _PropertyIEs().get(T.PDR_ID) is None


class _AlwaysEqual(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


def _typed(value: object) -> _Slot:
    ie = _Slot()
    ie.type = value
    return ie


def test_types_compared_as_equality_compares_them() -> None:
    """Two ints (int subclasses too, as IEType) are compared by value in C (_walk.c
    int_equal); anything else, an int subclass with its own __eq__ or ints beyond a C long,
    as == compares them."""
    big = 1 << 80
    ies = [_typed(v) for v in (7.0, big, -big, _AlwaysEqual(3), True, T.PDR_ID)]
    g = Grouped(T.PDI, ies)  # type: ignore[arg-type]
    assert g.get(7) is ies[0]
    assert g.get(big) is ies[1] and g.get(-big) is ies[2]
    assert g.get(big + 1) is ies[3]  # (_AlwaysEqual equals anything)
    assert g.get_all(1) == [ies[3], ies[4]]
    assert g.get_all(int(T.PDR_ID)) == [ies[3], ies[5]]
    nine = _typed(9)
    assert Grouped(T.PDI, [nine]).get(_AlwaysEqual(5)) is nine  # type: ignore[list-item]
    assert Grouped(T.PDI, [ies[1], ies[2]]).get(big - 1) is None  # type: ignore[list-item]

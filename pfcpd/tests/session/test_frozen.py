"""`session.frozen`: the datapath's PDRs, FARs and programs made without their frozen
dataclasses' constructors are the objects those constructors make; where they are not, the
constructors are used."""

from __future__ import annotations

import dataclasses
import ipaddress
import pickle

import pytest

from pfcpd.datapath.interface import Far, Interface, Pdr, SessionProgram
from pfcpd.session import frozen
from pfcpd.session.frozen import made_alike, new_far, new_pdr, new_program

A = ipaddress.ip_address("192.0.2.1")
NET = ipaddress.ip_network("10.45.0.7/32")


def _values(cls: type) -> list[object]:
    """A value of its own for each field of ``cls``."""
    return [object() for _ in dataclasses.fields(cls)]


@pytest.mark.parametrize(
    ("fast", "cls"), [(new_pdr, Pdr), (new_far, Far), (new_program, SessionProgram)]
)
def test_made_as_the_constructor_makes_them(fast: type, cls: type) -> None:
    assert fast is not cls  # (this Python: the fast way is in use)
    values = _values(cls)
    made = fast(*values)
    assert made_alike(made, cls(*values))
    assert [getattr(made, f.name) for f in dataclasses.fields(cls)] == values
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, 1)  # (frozen as theirs are)


def test_usual_values_compare_hash_and_pickle_alike() -> None:
    args = (1, 200, Interface.ACCESS, 1, (A, 7), NET, 1, 9, (), 0, (1,), (1,))
    pdr, ref = new_pdr(*args), Pdr(*args)
    assert made_alike(pdr, ref) and repr(pdr) == repr(ref)
    assert pickle.loads(pickle.dumps(pdr)) == ref and {pdr: 1}[ref] == 1
    far_args = (2, 2, Interface.ACCESS, 0, (A, 0x100), A, True, None, None, ())
    far = new_far(*far_args)
    assert made_alike(far, Far(*far_args))
    rules = ((pdr,), (far,), (), (), None)
    assert made_alike(new_program(*rules), SessionProgram(*rules))


def test_a_class_made_otherwise_gets_its_constructor() -> None:
    """`_checked` keeps the fast class only when it makes what the constructor makes."""

    class _Swapped(frozen._Pdr):  # (two fields the other way round)
        __slots__ = ()

        def __init__(self, *values: object) -> None:
            v = list(values)
            v[0], v[1] = v[1], v[0]
            super().__init__(*v)  # type: ignore[arg-type]

    assert frozen._checked(_Swapped, Pdr) is Pdr
    assert frozen._checked(frozen._Pdr, Pdr) is frozen._Pdr
    assert frozen._checked(frozen._Far, Pdr) is Pdr  # (another class's layout: refused)


def test_a_class_whose_init_does_more_gets_its_constructor() -> None:
    """A dataclass with a ``__post_init__`` (or an ``__init__`` of its own) is made by its
    constructor: what that does to a value is not seen by comparing made objects."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class _Normalised:
        pdr_id: int

        def __post_init__(self) -> None:
            if isinstance(self.pdr_id, str):
                object.__setattr__(self, "pdr_id", int(self.pdr_id))

    class _Fast:
        __slots__ = ("pdr_id",)

        def __init__(self, pdr_id: int) -> None:
            self.pdr_id = pdr_id
            self.__class__ = _Normalised  # type: ignore[assignment]

    assert frozen._checked(_Fast, _Normalised) is _Normalised

    @dataclasses.dataclass(frozen=True, slots=True, init=False)
    class _OwnInit:
        pdr_id: int

        def __init__(self, pdr_id: int) -> None:
            object.__setattr__(self, "pdr_id", pdr_id)

    assert frozen._checked(_Fast, _OwnInit) is _OwnInit

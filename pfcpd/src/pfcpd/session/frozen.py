"""The datapath's PDRs, FARs and programs, made for a fraction of their constructors' cost.

`Pdr`, `Far` and `SessionProgram` are frozen dataclasses: their ``__init__`` sets each field
through ``object.__setattr__``, some 1,500 instructions a field (CPython 3.11): a Pdr
costs ~19,000, and each Session Establishment makes two PDRs, a FAR and a program. Each
class here has the slots of one of them, sets the fields plainly, then becomes an instance
of it (``__class__`` assignment, which CPython allows between classes of one layout): the
object its constructor makes, for a quarter of the cost. Checked once at import, with a
value of its own for each field: where the object made is not the constructor's (another
Python, a field added), the constructor itself is used (tests/session/test_frozen.py).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, cast

from ..datapath.interface import (
    Bar,
    Far,
    Interface,
    IPAddress,
    IPNetwork,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)


def _slots(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class _Pdr:
    __slots__ = _slots(Pdr)

    def __init__(
        self,
        pdr_id: int,
        precedence: int,
        source_interface: Interface,
        far_id: int,
        local_fteid: tuple[IPAddress, int] | None,
        ue_ip: IPNetwork | None,
        network_instance: int,
        qfi: int | None,
        sdf_filters: tuple[SdfFilter, ...],
        outer_header_removal: int | None,
        qer_ids: tuple[int, ...],
        urr_ids: tuple[int, ...],
    ) -> None:
        self.pdr_id = pdr_id
        self.precedence = precedence
        self.source_interface = source_interface
        self.far_id = far_id
        self.local_fteid = local_fteid
        self.ue_ip = ue_ip
        self.network_instance = network_instance
        self.qfi = qfi
        self.sdf_filters = sdf_filters
        self.outer_header_removal = outer_header_removal
        self.qer_ids = qer_ids
        self.urr_ids = urr_ids
        self.__class__ = Pdr  # type: ignore[assignment]


class _Far:
    __slots__ = _slots(Far)

    def __init__(
        self,
        far_id: int,
        apply_action: Any,
        destination_interface: Interface,
        network_instance: int,
        outer_header_creation: tuple[IPAddress, int] | None,
        ohc_source: IPAddress | None,
        pdu_session_container: bool,
        dscp: int | None,
        redirect: tuple[int, IPAddress | str] | None,
        duplicating: tuple[Any, ...],
    ) -> None:
        self.far_id = far_id
        self.apply_action = apply_action
        self.destination_interface = destination_interface
        self.network_instance = network_instance
        self.outer_header_creation = outer_header_creation
        self.ohc_source = ohc_source
        self.pdu_session_container = pdu_session_container
        self.dscp = dscp
        self.redirect = redirect
        self.duplicating = duplicating
        self.__class__ = Far  # type: ignore[assignment]


class _SessionProgram:
    __slots__ = _slots(SessionProgram)

    def __init__(
        self,
        pdrs: tuple[Pdr, ...],
        fars: tuple[Far, ...],
        qers: tuple[Qer, ...],
        urrs: tuple[Urr, ...],
        bar: Bar | None,
        token: object = None,
    ) -> None:
        self.pdrs = pdrs
        self.fars = fars
        self.qers = qers
        self.urrs = urrs
        self.bar = bar
        self.token = token
        self.__class__ = SessionProgram  # type: ignore[assignment]


def made_alike(made: object, ref: object) -> bool:
    """``made`` is the object ``ref`` is: its class, its size, each field the same object."""
    names = _slots(type(ref))
    return (
        type(made) is type(ref)
        and made == ref
        and hash(made) == hash(ref)
        and sys.getsizeof(made) == sys.getsizeof(ref)
        and all(getattr(made, n) is getattr(ref, n) for n in names)
    )


def _checked(fast: type, cls: type) -> type:
    """``fast`` when ``cls``'s ``__init__`` is the one `dataclasses` wrote (it sets the
    fields and does nothing else: no ``__post_init__``) and ``fast`` makes what ``cls``
    makes of a value of its own for each field (all of them given by position), else
    ``cls``."""
    init = getattr(cls.__dict__.get("__init__"), "__code__", None)
    if init is None or init.co_filename != "<string>" or hasattr(cls, "__post_init__"):
        return cls  # (an __init__ of its own, or one that calls __post_init__)
    values = [object() for _ in _slots(cls)]
    try:
        ok = made_alike(fast(*values), cls(*values))
    except (TypeError, AttributeError):
        ok = False
    return fast if ok else cls


# Call them as the classes, every field given by position.
new_pdr = cast(type[Pdr], _checked(_Pdr, Pdr))
new_far = cast(type[Far], _checked(_Far, Far))
new_program = cast(type[SessionProgram], _checked(_SessionProgram, SessionProgram))

"""The IE model: the base class of typed IEs, opaque and vendor IEs, grouped IEs, the registry.

A typed IE class decodes its value octets (TLV header already stripped) with ``decode`` and
encodes them back with ``encode``. Classes register with :func:`register`; IE types without a
class decode to :class:`RawIE`, which re-encodes byte for byte.

Leaf IEs of cacheable types are immutable values (frozen dataclasses): the decoder may hand
out one shared instance for equal octets (see ``CACHEABLE``), so such an IE is never changed
in place; build a new one instead (``dataclasses.replace``). The few multi-field IE types that
carry per-session values (F-SEID, F-TEID, UE IP Address, Outer Header Creation, Volume
Measurement) are plain dataclasses, which build faster, never shared between decodes.
Grouped IEs are mutable lists of children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Self, TypeVar

from . import _walk
from .ie_types import ie_type_name


class IE:
    """Base of every IE. ``type`` is the IE type number: a class attribute for typed IEs
    (from ``TYPE``), an instance field for raw, vendor and grouped IEs."""

    __slots__ = ()
    TYPE: ClassVar[int] = 0
    # Values of this IE type repeat across messages (IDs, flags, interfaces, filters): the
    # decoder keeps a bounded cache of decoded instances keyed by their octets.
    CACHEABLE: ClassVar[bool] = True
    type: int

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            cls.type = cls.TYPE

    @property
    def name(self) -> str:
        return ie_type_name(self.type)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode the value octets; raise ValueError (bad content) or struct.error/IndexError
        (too short). The codec turns those into a CodecError with the right cause; any other
        exception is a bug and escapes the codec as it is."""
        raise NotImplementedError

    def encode(self) -> bytes:
        raise NotImplementedError


@dataclass(slots=True, frozen=True)
class RawIE(IE):
    """An IE the codec does not interpret; kept and re-encoded byte for byte."""

    type: int
    data: bytes

    def encode(self) -> bytes:
        return self.data


@dataclass(slots=True, frozen=True)
class VendorIE(IE):
    """A vendor-specific IE (type >= 32768): enterprise ID and opaque value."""

    type: int
    enterprise_id: int
    data: bytes

    def encode(self) -> bytes:
        return self.enterprise_id.to_bytes(2, "big") + self.data


class IEList:
    """Lookups over ``self.ies``, shared by messages and grouped IEs: ``get(ie_type)``, the
    first IE of that type or None, and ``get_all(ie_type)``, every IE of that type in order
    (in C, _walk.c: the session engine looks IEs up some fifteen times per request)."""

    __slots__ = ()
    ies: list[IE]

    if TYPE_CHECKING:

        def get(self, ie_type: int) -> IE | None: ...

        def get_all(self, ie_type: int) -> list[IE]: ...

    else:
        get = _walk.ielist_get
        get_all = _walk.ielist_get_all

    def __iter__(self) -> Iterator[IE]:
        return iter(self.ies)


@dataclass(slots=True)
class Grouped(IE, IEList):
    """A grouped IE: an ordered list of child IEs.

    ``raw``: the group's TLV octets as decoded (None for a group built here, or one whose
    decoding set IEs aside): `codec.encode_groups` reuses them instead of encoding the
    children again. Whoever changes a decoded group's children sets it to None (the octets
    no longer say what the group holds); `codec.encode_ies` never reads it.
    """

    type: int
    ies: list[IE]
    raw: bytes | None = field(default=None, compare=False, repr=False)


DECODERS: dict[int, Callable[[bytes], IE]] = {}
CACHEABLE_TYPES: set[int] = set()

_IEClass = TypeVar("_IEClass", bound=type[IE])


def register(cls: _IEClass) -> _IEClass:
    """Class decorator: make ``cls`` the decoder of IE type ``cls.TYPE``."""
    if cls.TYPE in DECODERS:
        raise RuntimeError(f"IE type {cls.TYPE} registered twice")
    DECODERS[cls.TYPE] = cls.decode
    if cls.CACHEABLE:
        CACHEABLE_TYPES.add(cls.TYPE)
    return cls

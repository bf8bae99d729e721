"""A message whose IEs come as their octets (`EncodedMessage`): what the session engine
answers a Session Establishment Request of a known shape with (`session.answers`), its
IEs' TLVs made from a template without an IE object built."""

from __future__ import annotations

from typing import Any

from . import _walk
from .ie import IE, IEList
from .messages import Message

# The slot of Message.ies, which `EncodedMessage.ies` fills when first read.
_IES: Any = Message.__dict__["ies"]


class EncodedMessage(Message):
    """A `Message` whose IEs are ``body``, their TLV octets: `codec.encode` writes its header
    and ``body`` as they are. ``ies`` are decoded from ``body`` when first read; from then
    on (``body`` None) they are what it holds and is encoded from, as any message's.
    ``head``: its first IEs as objects, which `get` finds without decoding the rest (the
    Cause a node labels its answers by)."""

    __slots__ = ("body", "head")

    def __init__(
        self, msg_type: int, seq: int, seid: int | None, body: bytes, head: tuple[IE, ...]
    ) -> None:
        self.msg_type = msg_type
        self.seq = seq
        self.seid = seid
        self.priority = None
        self.ignored = []
        self.body: bytes | None = body
        self.head = head

    @property
    def ies(self) -> list[IE]:
        body = self.body
        if body is not None:
            _IES.__set__(self, _walk.walk(body, 0, len(body), -1, []))
            self.body = None
        ies: list[IE] = _IES.__get__(self, EncodedMessage)
        return ies

    @ies.setter
    def ies(self, value: list[IE]) -> None:
        _IES.__set__(self, value)
        self.body = None

    def get(self, ie_type: int) -> IE | None:
        for ie in self.head:
            if ie.type == ie_type:
                return ie
        return IEList.get(self, ie_type)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.msg_type, self.seq, self.ies, self.seid, self.priority) == (
            other.msg_type,
            other.seq,
            other.ies,
            other.seid,
            other.priority,
        )

    __hash__ = None  # type: ignore[assignment]

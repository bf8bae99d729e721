"""The one error type the PFCP codec raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cause import Cause

if TYPE_CHECKING:
    from .header import Header
    from .messages import Message


class CodecError(Exception):
    """A PFCP message (or part of it) could not be decoded or encoded.

    ``cause`` is the PFCP Cause a response to the offending request carries, or ``None`` when
    the datagram cannot be answered at all (no usable header: drop and count it).
    ``offending_ie`` is the IE type for the Offending IE, when one is to blame.
    ``header`` is the decoded header when decoding got that far: it lets the receiver answer
    with the right sequence number, message type and SEID.
    ``path`` names where the error is, outermost first (e.g. ``create_pdr/pdi/f_teid``).
    ``decoded_before`` (from ``decode_datagram``) holds the messages of the datagram that
    decoded before the one that failed.
    """

    def __init__(
        self,
        reason: str,
        *,
        cause: int | None = Cause.REQUEST_REJECTED,
        offending_ie: int | None = None,
        header: Header | None = None,
        path: tuple[str, ...] = (),
    ) -> None:
        self.reason = reason
        self.cause = cause
        self.offending_ie = offending_ie
        self.header = header
        self.path = path
        self.decoded_before: list[Message] = []
        super().__init__(reason)

    def __str__(self) -> str:
        where = "/".join(self.path)
        parts = [self.reason]
        if where:
            parts.append(f"at {where}")
        if self.cause is not None:
            try:
                parts.append(f"cause {Cause(self.cause).name.lower()} ({self.cause})")
            except ValueError:
                parts.append(f"cause {self.cause}")
        if self.header is not None:
            parts.append(f"in message type {self.header.msg_type} seq {self.header.seq}")
        return ", ".join(parts)

    @property
    def version_not_supported(self) -> bool:
        """True when the header carries a version other than 1 (answer: Version Not Supported)."""
        return self.header is not None and self.header.version != 1

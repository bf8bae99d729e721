"""IEs that carry names: Network Instance, APN/DNN, Application ID, predefined rules,
framed routes, UE IP address pool identity.

Network Instance, APN/DNN and FQDNs are DNS labels per the specification, but plain text
is common in the wild (and some tools write labels, others text). Both decode; the form that
arrived is kept (``dns_labels``) so the IE encodes back the same way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from .ie import IE, register
from .ie_types import IEType

_U16 = struct.Struct("!H")


def _labels(data: bytes) -> list[bytes] | None:
    """Split DNS labels; None when ``data`` is not a clean label sequence."""
    out = []
    off, end = 0, len(data)
    while off < end:
        ln = data[off]
        if ln == 0 or ln > 63 or off + 1 + ln > end:
            return None
        label = data[off + 1 : off + 1 + ln]
        if b"." in label:
            return None
        out.append(label)
        off += 1 + ln
    return out or None


def decode_dns_name(data: bytes) -> tuple[str, bool]:
    """Decode a name sent as DNS labels or as text: returns (name, sent_as_labels)."""
    labels = _labels(data)
    if labels is not None:
        return b".".join(labels).decode("utf-8", "surrogateescape"), True
    return data.decode("utf-8", "surrogateescape"), False


def encode_dns_name(name: str, dns_labels: bool) -> bytes:
    raw = name.encode("utf-8", "surrogateescape")
    if not dns_labels:
        return raw
    out = bytearray()
    for label in raw.split(b"."):
        if not 0 < len(label) <= 63:
            raise ValueError(f"name {name!r} has an empty or over-long DNS label")
        out.append(len(label))
        out += label
    return bytes(out)


@dataclass(slots=True, frozen=True)
class DnsNameIE(IE):
    name: str
    dns_labels: bool = True

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if not data:
            raise ValueError("empty name")
        return cls(*decode_dns_name(data))

    def encode(self) -> bytes:
        return encode_dns_name(self.name, self.dns_labels)


@register
class NetworkInstance(DnsNameIE):
    TYPE = IEType.NETWORK_INSTANCE


@register
class APNDNN(DnsNameIE):
    TYPE = IEType.APN_DNN


@dataclass(slots=True, frozen=True)
class TextIE(IE):
    """An octet string that is text (kept losslessly through surrogate escapes)."""

    text: str

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(data.decode("utf-8", "surrogateescape"))

    def encode(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")


@register
class ApplicationID(TextIE):
    TYPE = IEType.APPLICATION_ID


@register
class ActivatePredefinedRules(TextIE):
    TYPE = IEType.ACTIVATE_PREDEFINED_RULES


@register
class DeactivatePredefinedRules(TextIE):
    TYPE = IEType.DEACTIVATE_PREDEFINED_RULES


@register
class FramedRoute(TextIE):
    TYPE = IEType.FRAMED_ROUTE


@register
class FramedIPv6Route(TextIE):
    TYPE = IEType.FRAMED_IPV6_ROUTE


@register
@dataclass(slots=True, frozen=True)
class UEIPAddressPoolIdentity(IE):
    """Clause 8.2.128: a two-octet length, then the identity."""

    TYPE = IEType.UE_IP_ADDRESS_POOL_IDENTITY
    identity: str

    @classmethod
    def decode(cls, data: bytes) -> Self:
        (ln,) = _U16.unpack_from(data)
        if len(data) < 2 + ln:
            raise IndexError("pool identity truncated")
        return cls(data[2 : 2 + ln].decode("utf-8", "surrogateescape"))

    def encode(self) -> bytes:
        raw = self.identity.encode("utf-8", "surrogateescape")
        return _U16.pack(len(raw)) + raw


@register
class GroupID(TextIE):
    """Clause 8.2.198: a globally unique group identifier (an octet string)."""

    TYPE = IEType.GROUP_ID


@register
@dataclass(slots=True, frozen=True)
class SMFSetID(IE):
    """Clause 8.2.131: a spare octet, then the FQDN of the SMF set."""

    TYPE = IEType.SMF_SET_ID
    name: str
    dns_labels: bool = True

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 2:
            raise ValueError("empty SMF set FQDN")
        return cls(*decode_dns_name(data[1:]))

    def encode(self) -> bytes:
        return b"\x00" + encode_dns_name(self.name, self.dns_labels)

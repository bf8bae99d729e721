"""The address of a PFCP peer as pfcpd handles it, and the one rule for naming an IP address
as text: an IPv4-mapped IPv6 address is the IPv4 one, an IPv6 address is compressed, without
a scope. The socket layer names each datagram's source so (`normalize`), the sans-IO node the
addresses it sends requests to (`parse`, then ``.compressed``): the two names of one address
are the same text, so a request's answer is recognised as coming from where it went."""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, NamedTuple

Address = tuple[str, int]  # (IP address as text, IPv4-mapped IPv6 made IPv4; UDP port)
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPv4Address = ipaddress.IPv4Address
_IPv6Address = ipaddress.IPv6Address


def normalize(addr: tuple[Any, ...]) -> Address:
    """(host, port[, flow, scope]) -> (host, port), the host named by the rule above. (On
    the receive path, for the 4-tuples of IPv6 sockets: kept to one parse.)"""
    host = addr[0]
    if ":" in host:
        ip = _IPv6Address(host.split("%", 1)[0])
        mapped = ip.ipv4_mapped
        host = ip.compressed if mapped is None else str(mapped)
    return host, int(addr[1])


def parse(text: str | None) -> IP | None:
    """``text`` parsed, an IPv4-mapped IPv6 address as the IPv4 one (its ``.compressed``:
    the text `normalize` gives); None: no address."""
    if text is None:
        return None
    try:
        if ":" not in text:
            return _IPv4Address(text)
        ip = _IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = ip.ipv4_mapped
    return ip if mapped is None else mapped


def is_loopback(text: str) -> bool:
    """``text`` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)."""
    ip = parse(text)
    return ip is not None and ip.is_loopback


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # ("this network": never a destination)
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class Facts(NamedTuple):
    """What the node asks of an address before it sends a request there (`facts`)."""

    ip: IP  # `parse`d: an IPv4-mapped IPv6 address as the IPv4 one
    text: str  # its name (``ip.compressed``: the text `normalize` gives its datagrams' source)
    version: int  # 4 or 6
    loopback: bool
    link_local: bool
    nowhere: bool  # never a destination: unspecified, 0.0.0.0/8, multicast, 255.255.255.255


@functools.lru_cache(maxsize=1024)
def facts(text: str) -> Facts | None:
    """`Facts` of the address ``text``; None: not an address. Kept for the last 1024 texts
    asked: a session's reports go to the same few CP F-SEID addresses, each parsed once (and
    an association keeps its own address's, `Association.facts`)."""
    ip = parse(text)
    if ip is None:
        return None
    return Facts(
        ip,
        ip.compressed,
        ip.version,
        ip.is_loopback,
        ip.is_link_local,
        ip.is_unspecified or ip.is_multicast or ip == _BROADCAST or ip in _THIS_NETWORK,
    )

"""Address objects shared between the rules of a session and across sessions.

``ipaddress`` objects are large (an IPv4Network caches its derived addresses in a dict), and
the same address recurs: the N3 address and the gNBs' addresses in every program, a UE's
address in the PDRs of both directions and in its allocation. These caches hand out one
object per text while it is in recent use."""

from __future__ import annotations

import functools
import ipaddress

from ..datapath.interface import IPAddress, IPNetwork


@functools.lru_cache(maxsize=65536)
def shared_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@functools.lru_cache(maxsize=4096)
def shared_network(text: str, prefixlen: int) -> IPNetwork:
    """The network of ``text``/``prefixlen`` (host bits cleared)."""
    return ipaddress.ip_network((text, prefixlen), strict=False)

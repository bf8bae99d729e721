"""Address objects shared between the rules of a session and across sessions.

``ipaddress`` objects are large (an IPv4Network caches its derived addresses in a dict), and
the same address recurs: the N3 address and the gNBs' addresses in every program, a UE's
address in the PDRs of both directions and in its allocation. These caches hand out one
object per text while it is in recent use."""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections import OrderedDict

from ..datapath.interface import IPAddress, IPNetwork


@functools.lru_cache(maxsize=65536)
def shared_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


# (text, prefix length) -> network, the oldest dropped when full. An allocation puts the
# network it took here (`remember_network`): the PDRs that name it then find it, not parse
# its text. Every UE address is a new entry, so the cache is full after NETWORK_ENTRIES
# sessions and stays full: emptied at once instead, it freed 4,096 networks (their cached
# addresses and dicts) inside one establishment, 2-5 ms (bench/session_rate.py's paced
# phase, 2026-12-05); one entry dropped per entry added spreads that over the requests.
_NETWORKS: OrderedDict[tuple[str, int], IPNetwork] = OrderedDict()
NETWORK_ENTRIES = 4096
SHARED_NETWORKS = _NETWORKS  # (`filling.Filling._fill` puts its UE networks here inline)


def shared_network(text: str, prefixlen: int) -> IPNetwork:
    """The network of ``text``/``prefixlen`` (host bits cleared)."""
    key = (text, prefixlen)
    net = _NETWORKS.get(key)
    if net is None:
        try:  # (from the integer: parsing the text costs twice as much)
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
            net = ipaddress.IPv4Network((value, prefixlen), strict=False)
        except OSError:  # not IPv4 text
            net = ipaddress.ip_network(key, strict=False)
        remember_network(text, net)
    return net


def remember_network(text: str, net: IPNetwork, prefixlen: int | None = None) -> None:
    """``net`` is the network of ``text``/its prefix length (``prefixlen``, when the caller
    knows it)."""
    _NETWORKS[(text, net.prefixlen if prefixlen is None else prefixlen)] = net
    if len(_NETWORKS) > NETWORK_ENTRIES:
        _NETWORKS.popitem(last=False)


def drop_shared() -> None:
    """Empty both caches (they refill as addresses are used again)."""
    shared_address.cache_clear()
    _NETWORKS.clear()

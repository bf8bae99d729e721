"""What the UP function allocates: local TEIDs (F-TEID CH=1) and UE addresses (CHV4/CHV6).

Allocators hand out the lowest never-used value first, then values freed earlier (oldest
first), so a value just freed is not reused at once (a late packet of the old session must
not reach the new one). ``reserve`` takes a specific value (restoring after a restart).
"""

from __future__ import annotations

import socket
from collections import deque
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import islice

from ..datapath.interface import IPAddress, IPNetwork


class Exhausted(Exception):
    """No value left."""


class _Space:
    """Integers lo..hi: next never-used, then a FIFO of freed ones."""

    __slots__ = ("_freed", "_next", "_used", "hi", "lo")

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self._next = lo
        self._freed: deque[int] = deque()
        self._used: set[int] = set()

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    @property
    def in_use(self) -> int:
        return len(self._used)

    def take(self) -> int:
        used, value, hi = self._used, self._next, self.hi
        while value <= hi:  # (the next never-used one, past those reserved)
            if value not in used:
                self._next = value + 1
                used.add(value)
                return value
            value += 1
        self._next = value
        while self._freed:
            value = self._freed.popleft()
            if value not in self._used:
                self._used.add(value)
                return value
        raise Exhausted

    def reserve(self, value: int) -> bool:
        if not self.lo <= value <= self.hi or value in self._used:
            return False
        self._used.add(value)
        return True

    def free(self, value: int) -> None:
        if value in self._used:
            self._used.discard(value)
            self._freed.append(value)

    def contains(self, value: int) -> bool:
        return self.lo <= value <= self.hi


class TeidAllocator(_Space):
    """Local TEIDs (1 .. 2^32-1; 0 is never a data TEID): a `_Space` (``take``, ``reserve``,
    ``free``, ``in_use`` without a call in between)."""

    def __init__(self, lo: int = 1, hi: int = 0xFFFFFFFF) -> None:
        super().__init__(lo, hi)


class UePool:
    """One configured UE prefix. IPv4: host addresses (without the network and broadcast
    addresses when the prefix is /30 or shorter). IPv6: /64 prefixes when the pool is /64 or
    shorter, single addresses otherwise."""

    def __init__(self, network: IPNetwork) -> None:
        self.network = network
        base = int(network.network_address)
        if network.version == 4:
            self.prefixlen = 32
            lo, hi = base, int(network.broadcast_address)
            if network.prefixlen <= 30:
                lo, hi = lo + 1, hi - 1
            self._shift = 0
        else:
            self.prefixlen = 64 if network.prefixlen <= 64 else 128
            self._shift = 128 - self.prefixlen
            lo = base >> self._shift
            hi = int(network.broadcast_address) >> self._shift
            if self.prefixlen == 128 and network.prefixlen < 128:
                lo += 1  # not the subnet-router anycast address
        self._space = _Space(lo, hi)
        self._v4 = network.version == 4
        # (the netmask object ipaddress shares between the networks of a prefix length)
        cls = IPv4Network if self._v4 else IPv6Network
        self._netmask = cls((0, self.prefixlen)).netmask
        self._suffix = f"/{self.prefixlen}"
        self._head: tuple[int, str] = (-1, "")  # (value >> 8, text of its first 3 octets + ".")

    @property
    def label(self) -> str:
        return str(self.network)

    @property
    def in_use(self) -> int:
        return self._space.in_use

    def take_text(self) -> tuple[IPNetwork, str, str, int, bytes]:
        """The next network (`_Space.take`'s order), the text of its address, str() of it,
        its prefix length and its address's octets (network byte order)."""
        value = self._space.take()
        if self._v4:
            net: IPNetwork = v4_host_network(value, self._netmask)  # type: ignore[arg-type]
            key, head = self._head
            if value >> 8 != key:  # (formatting 3 octets once per 256 addresses)
                key = value >> 8
                head = socket.inet_ntoa((key << 8).to_bytes(4, "big"))[:-1]
                self._head = (key, head)
            text = head + _OCTETS[value & 0xFF]
            return net, text, text + self._suffix, 32, value.to_bytes(4, "big")
        value <<= self._shift
        net = v6_network(value, self._netmask, self.prefixlen)  # type: ignore[arg-type]
        text = str(net.network_address)
        return net, text, text + self._suffix, self.prefixlen, value.to_bytes(16, "big")

    def owns(self, net: IPNetwork) -> bool:
        return (
            net.version == self.network.version
            and net.prefixlen == self.prefixlen
            and (self._space.contains(int(net.network_address) >> self._shift))
        )

    def reserve(self, net: IPNetwork) -> bool:
        return self.owns(net) and self._space.reserve(int(net.network_address) >> self._shift)

    def free(self, net: IPNetwork) -> None:
        if self.owns(net):
            self._space.free(int(net.network_address) >> self._shift)


_OCTETS = tuple(str(i) for i in range(256))
_new = object.__new__


# The networks a pool hands out, made as ipaddress's constructors make them from an integer
# (``IPv4Network((value, 32))``: the same attributes, set in the same order, the netmask
# object they share) without parsing their argument again: a quarter of the cost
# (tests/session/test_allocation.py compares them).
def v4_host_network(value: int, netmask: IPv4Address) -> IPv4Network:
    """``IPv4Network((value, 32))``."""
    address = _new(IPv4Address)
    address._ip = value  # type: ignore[attr-defined]
    net = _new(IPv4Network)
    net.network_address = address
    net.netmask = netmask
    net._prefixlen = 32  # type: ignore[attr-defined]
    net.hosts = lambda: [IPv4Address(value)]  # type: ignore[method-assign,assignment,return-value]
    return net


def v6_network(value: int, netmask: IPv6Address, prefixlen: int) -> IPv6Network:
    """``IPv6Network((value, prefixlen))``, ``netmask`` the one of ``prefixlen``."""
    address = _new(IPv6Address)
    address._ip = value  # type: ignore[attr-defined]
    address._scope_id = None  # type: ignore[attr-defined]
    net = _new(IPv6Network)
    net.network_address = address
    net.netmask = netmask
    net._prefixlen = prefixlen  # type: ignore[attr-defined]
    if prefixlen == 127:
        net.hosts = net.__iter__  # type: ignore[method-assign]
    elif prefixlen == 128:
        net.hosts = lambda: [IPv6Address(value)]  # type: ignore[method-assign,assignment,return-value]
    return net


def _slot_values(address: IPv4Address | IPv6Address) -> list[object]:
    return [
        getattr(address, name, None)
        for cls in type(address).__mro__
        for name in getattr(cls, "__slots__", ())
    ]


def _like_constructed(fast: IPNetwork, made: IPNetwork) -> bool:
    """``fast`` is what ipaddress's constructor ``made``: equal, the same attributes in the
    same order (the address's too), the same netmask object, the same hosts (the first
    few: a /64 has 2^64)."""
    fast_hosts, made_hosts = fast.hosts(), made.hosts()
    return (
        fast == made
        and list(vars(fast)) == list(vars(made))
        and _slot_values(fast.network_address) == _slot_values(made.network_address)
        and fast.netmask is made.netmask
        and type(fast_hosts) is type(made_hosts)
        and list(islice(fast_hosts, 3)) == list(islice(made_hosts, 3))
    )


def _constructed_v4(value: int, netmask: IPv4Address) -> IPv4Network:
    return IPv4Network((value, 32))


def _constructed_v6(value: int, netmask: IPv6Address, prefixlen: int) -> IPv6Network:
    return IPv6Network((value, prefixlen))


# Checked once: a Python whose ipaddress builds its networks otherwise (another attribute, a
# hosts() of another type: CPython changes these) gets networks from its constructors.
_MASK32 = IPv4Network((0, 32)).netmask
if not _like_constructed(v4_host_network(0x0A000001, _MASK32), IPv4Network((0x0A000001, 32))):
    v4_host_network = _constructed_v4
if not all(
    _like_constructed(
        v6_network(1 << 120 | 5 << (128 - plen), IPv6Network((0, plen)).netmask, plen),
        IPv6Network((1 << 120 | 5 << (128 - plen), plen)),
    )
    for plen in (64, 127, 128)
):
    v6_network = _constructed_v6


class UeAddressPools:
    """The UE pools of every network instance, by family, tried in configuration order."""

    def __init__(self, pools: dict[str, tuple[IPNetwork, ...]]) -> None:
        self.pools: dict[tuple[str, int], list[UePool]] = {}
        for name, nets in pools.items():
            for net in nets:
                self.pools.setdefault((name, net.version), []).append(UePool(net))

    def take_text(
        self, instance: str, version: int
    ) -> tuple[IPNetwork, str, str, int, bytes] | None:
        """`UePool.take_text` of the instance's first pool of ``version`` with one left
        (Exhausted: none has); None when the instance has no pool of ``version``."""
        pools = self.pools.get((instance, version))
        if pools is None:
            return None
        for pool in pools:
            try:
                return pool.take_text()
            except Exhausted:
                continue
        raise Exhausted

    def reserve(self, instance: str, net: IPNetwork) -> bool:
        return any(p.reserve(net) for p in self.pools.get((instance, net.version), []))

    def owned(self, instance: str, net: IPNetwork) -> bool:
        """``net`` belongs to one of the instance's pools (taken or not)."""
        return any(p.owns(net) for p in self.pools.get((instance, net.version), []))

    def free(self, instance: str, net: IPNetwork) -> None:
        for pool in self.pools.get((instance, net.version), []):
            pool.free(net)

    def usage(self) -> dict[str, int]:
        """Allocations in use per pool label (``<instance>:<prefix>``)."""
        return {
            f"{name}:{pool.label}": pool.in_use
            for (name, _), pools in self.pools.items()
            for pool in pools
        }


def host_address(net: IPNetwork) -> IPAddress:
    return net.network_address

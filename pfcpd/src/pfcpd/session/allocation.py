"""What the UP function allocates: local TEIDs (F-TEID CH=1) and UE addresses (CHV4/CHV6).

Allocators hand out the lowest never-used value first, then values freed earlier (oldest
first), so a value just freed is not reused at once (a late packet of the old session must
not reach the new one). ``reserve`` takes a specific value (restoring after a restart).
"""

from __future__ import annotations

import ipaddress
from collections import deque

from ..datapath.interface import IPAddress, IPNetwork


class Exhausted(Exception):
    """No value left."""


class _Space:
    """Integers lo..hi: next never-used, then a FIFO of freed ones."""

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
        while self._next <= self.hi:
            value = self._next
            self._next += 1
            if value not in self._used:
                self._used.add(value)
                return value
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


class TeidAllocator:
    """Local TEIDs (1 .. 2^32-1; 0 is never a data TEID)."""

    def __init__(self, lo: int = 1, hi: int = 0xFFFFFFFF) -> None:
        self._space = _Space(lo, hi)

    @property
    def in_use(self) -> int:
        return self._space.in_use

    def take(self) -> int:
        return self._space.take()

    def reserve(self, teid: int) -> bool:
        return self._space.reserve(teid)

    def free(self, teid: int) -> None:
        self._space.free(teid)


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

    @property
    def label(self) -> str:
        return str(self.network)

    @property
    def in_use(self) -> int:
        return self._space.in_use

    def _net(self, value: int) -> IPNetwork:
        # From the integer: parsing text cost 5x as much (the session keeps the text).
        cls = ipaddress.IPv4Network if self.network.version == 4 else ipaddress.IPv6Network
        return cls((value << self._shift, self.prefixlen))

    def take(self) -> IPNetwork:
        return self._net(self._space.take())

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


class UeAddressPools:
    """The UE pools of every network instance, by family, tried in configuration order."""

    def __init__(self, pools: dict[str, tuple[IPNetwork, ...]]) -> None:
        self.pools: dict[tuple[str, int], list[UePool]] = {}
        for name, nets in pools.items():
            for net in nets:
                self.pools.setdefault((name, net.version), []).append(UePool(net))

    def has(self, instance: str, version: int) -> bool:
        return (instance, version) in self.pools

    def take(self, instance: str, version: int) -> IPNetwork:
        for pool in self.pools.get((instance, version), []):
            try:
                return pool.take()
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

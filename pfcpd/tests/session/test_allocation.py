"""The allocators (`session.allocation`): lowest never-used value first, then freed ones
oldest first, ``reserve``, ``owns``, exhaustion; and the networks a UE pool hands out,
which it builds without ipaddress's constructors: they must be what those constructors
give, for every use the code makes of them."""

from __future__ import annotations

import copy
import ipaddress
import pickle
import random
import sys
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from pfcpd.session import allocation
from pfcpd.session.allocation import (
    Exhausted,
    TeidAllocator,
    UeAddressPools,
    UePool,
    v4_host_network,
    v6_network,
)


def _v4_values() -> list[int]:
    rng = random.Random(14)
    edges = [0, 1, 255, 256, 0x0A2D0001, 0x64400000, 0x7F000001, 0xC0A8FFFF, 0xFFFFFFFE]
    return edges + [0xFFFFFFFF] + [rng.getrandbits(32) for _ in range(3000)]


def _same(fast: ipaddress._BaseNetwork, ref: ipaddress._BaseNetwork) -> None:
    """``fast`` behaves as ``ref`` does, for what the code (and the datapaths) reads."""
    assert type(fast) is type(ref)
    assert fast == ref and (fast != ref) is False and hash(fast) == hash(ref)
    assert str(fast) == str(ref) and repr(fast) == repr(ref)
    assert fast.version == ref.version and fast.prefixlen == ref.prefixlen
    a, b = fast.network_address, ref.network_address
    assert type(a) is type(b) and a == b and hash(a) == hash(b)
    assert str(a) == str(b) and int(a) == int(b) and a.packed == b.packed
    assert a.compressed == b.compressed and a.exploded == b.exploded
    assert fast.netmask is ref.netmask  # (the object ipaddress shares per prefix length)
    assert fast.hostmask == ref.hostmask and fast.broadcast_address == ref.broadcast_address
    assert fast.num_addresses == ref.num_addresses
    assert fast.with_prefixlen == ref.with_prefixlen and fast.exploded == ref.exploded
    assert fast.is_private == ref.is_private and fast.is_global == ref.is_global
    assert fast.is_multicast == ref.is_multicast and fast.is_loopback == ref.is_loopback
    if fast.num_addresses <= 256:  # (a /64's are too many to list)
        assert list(fast.hosts()) == list(ref.hosts()) and list(fast) == list(ref)
    else:
        assert next(iter(fast.hosts())) == next(iter(ref.hosts()))
    assert b in fast and a in ref
    assert fast.overlaps(ref) and fast.subnet_of(ref) and ref.supernet_of(fast)
    assert fast.supernet() == ref.supernet()
    assert not fast < ref and not ref < fast and fast <= ref and ref >= fast
    assert fast.compare_networks(ref) == 0
    assert {fast: 1}[ref] == 1 and {ref: 1}[fast] == 1
    assert pickle.loads(pickle.dumps(fast)) == ref
    assert copy.copy(fast) == ref and copy.deepcopy(fast) == ref
    assert ipaddress.ip_network(str(fast)) == fast
    # The same attributes (``hosts`` is a closure of each: compared by what it gives).
    mine, theirs = dict(vars(fast)), dict(vars(ref))
    assert mine.keys() == theirs.keys()
    assert list(mine) == list(theirs)  # (set in the same order)
    mine.pop("hosts", None), theirs.pop("hosts", None)
    assert mine == theirs
    assert sys.getsizeof(fast) == sys.getsizeof(ref)
    assert sys.getsizeof(vars(fast)) == sys.getsizeof(vars(ref))


def test_v4_networks_are_ipaddress_ones() -> None:
    netmask = IPv4Network((0, 32)).netmask
    for value in _v4_values():
        fast, ref = v4_host_network(value, netmask), IPv4Network((value, 32))
        _same(fast, ref)
        assert fast == IPv4Network(str(IPv4Address(value))) == ipaddress.ip_network(value)
        assert list(fast.hosts()) == [IPv4Address(value)] == list(ref.hosts())
        assert type(fast.hosts()) is type(ref.hosts())
    # ordering against others, as ipaddress's own
    a = v4_host_network(5, netmask)
    assert a < IPv4Network((6, 32)) and IPv4Network((4, 32)) < a
    assert sorted([v4_host_network(v, netmask) for v in (9, 3, 7)]) == [
        IPv4Network((v, 32)) for v in (3, 7, 9)
    ]


def test_networks_unlike_ipaddress_ones_are_refused() -> None:
    """The check made at import (`_like_constructed`): a Python whose ipaddress builds its
    networks otherwise (hosts() of another type, another attribute) gets them from its
    constructors instead."""
    netmask = IPv4Network((0, 32)).netmask
    ref = IPv4Network((0x0A000001, 32))
    assert allocation._like_constructed(v4_host_network(0x0A000001, netmask), ref)
    other_hosts = v4_host_network(0x0A000001, netmask)
    other_hosts.hosts = lambda: iter((IPv4Address(0x0A000001),))  # type: ignore[method-assign]
    assert not allocation._like_constructed(other_hosts, ref)
    more = v4_host_network(0x0A000001, netmask)
    more.extra = 1  # type: ignore[attr-defined]
    assert not allocation._like_constructed(more, ref)
    own_mask = v4_host_network(0x0A000001, IPv4Address("255.255.255.255"))
    assert not allocation._like_constructed(own_mask, ref)
    assert allocation._like_constructed(allocation._constructed_v4(0x0A000001, netmask), ref)


@pytest.mark.parametrize("prefixlen", [64, 128])
def test_v6_networks_are_ipaddress_ones(prefixlen: int) -> None:
    rng = random.Random(prefixlen)
    netmask = IPv6Network((0, prefixlen)).netmask
    shift = 128 - prefixlen
    values = [0, 1, 0x20010DB8 << 96, (1 << 128) - 1] + [rng.getrandbits(128) for _ in range(1000)]
    for value in values:
        value = (value >> shift) << shift
        fast, ref = v6_network(value, netmask, prefixlen), IPv6Network((value, prefixlen))
        _same(fast, ref)
        assert fast.network_address.scope_id is None
        if prefixlen == 128:
            assert list(fast.hosts()) == [IPv6Address(value)] == list(ref.hosts())
            assert type(fast.hosts()) is type(ref.hosts())


def _constructed(pool: UePool) -> ipaddress._BaseNetwork:
    """The network ipaddress's constructor makes of the value ``pool`` takes next."""
    value = pool._space.take()
    return ipaddress.ip_network((value << pool._shift, pool.prefixlen))


def test_pool_networks_and_texts() -> None:
    """`UePool.take_text` gives the network ipaddress's constructor makes of the value it
    takes, with str() of its address and of it, its prefix length and its address's
    octets; across /24 boundaries and for freed values (in any order)."""
    for prefix in (
        "10.45.0.0/22",
        "100.64.0.0/10",
        "192.0.2.8/29",
        "2001:db8::/56",
        "2001:db8::/120",
    ):
        pool = UePool(ipaddress.ip_network(prefix))
        twin = UePool(ipaddress.ip_network(prefix))
        taken = []
        for _ in range(700):
            try:
                net, text, net_text, prefixlen, octets = pool.take_text()
            except Exhausted:
                break
            ref = _constructed(twin)
            _same(net, ref)
            assert text == str(ref.network_address) and net_text == str(ref)
            assert prefixlen == ref.prefixlen and octets == ref.network_address.packed
            taken.append(net)
        random.Random(1).shuffle(taken)
        for net in taken:
            pool.free(net)
            twin.free(net)
        for _ in taken:
            net, text, net_text, _, octets = pool.take_text()
            ref = _constructed(twin)
            assert net == ref and text == str(ref.network_address) and net_text == str(ref)
            assert octets == ref.network_address.packed


def test_lowest_never_used_first_then_freed_oldest_first() -> None:
    pool = UePool(ipaddress.ip_network("10.0.0.0/29"))  # hosts .1 - .6
    assert pool.reserve(IPv4Network("10.0.0.2/32"))
    assert not pool.reserve(IPv4Network("10.0.0.2/32"))  # (taken)
    assert not pool.reserve(IPv4Network("10.0.0.7/32"))  # (broadcast: not a host)
    got = [str(pool.take_text()[0]) for _ in range(3)]
    assert got == ["10.0.0.1/32", "10.0.0.3/32", "10.0.0.4/32"]
    pool.free(IPv4Network("10.0.0.3/32"))
    pool.free(IPv4Network("10.0.0.1/32"))
    pool.free(IPv4Network("10.0.0.1/32"))  # (twice: once in the queue)
    pool.free(IPv4Network("10.0.0.5/32"))  # (never taken: nothing)
    assert pool.in_use == 2
    assert pool.reserve(IPv4Network("10.0.0.6/32"))  # (ahead of the next never-used)
    got = [pool.take_text()[1] for _ in range(3)]
    assert got == ["10.0.0.5", "10.0.0.3", "10.0.0.1"]  # (never used, then freed in order)
    with pytest.raises(Exhausted):
        pool.take_text()
    assert pool.in_use == 6
    assert pool.owns(IPv4Network("10.0.0.6/32")) and not pool.owns(IPv4Network("10.0.1.1/32"))
    assert not pool.owns(IPv4Network("10.0.0.0/31")) and not pool.owns(IPv6Network("::1/128"))


def test_small_and_v6_pools() -> None:
    assert str(UePool(IPv4Network("192.0.2.8/31")).take_text()[0]) == "192.0.2.8/32"
    p31 = UePool(IPv4Network("192.0.2.8/31"))
    assert [p31.take_text()[1] for _ in range(2)] == ["192.0.2.8", "192.0.2.9"]
    p32 = UePool(IPv4Network("192.0.2.8/32"))
    assert p32.take_text()[2] == "192.0.2.8/32"
    with pytest.raises(Exhausted):
        p32.take_text()
    p64 = UePool(IPv6Network("2001:db8::/62"))
    want = ["2001:db8::/64", "2001:db8:0:1::/64", "2001:db8:0:2::/64", "2001:db8:0:3::/64"]
    assert [p64.take_text()[2] for _ in range(4)] == want
    with pytest.raises(Exhausted):
        p64.take_text()
    p128 = UePool(IPv6Network("2001:db8::/126"))  # (not the subnet-router anycast address)
    assert [p128.take_text()[1] for _ in range(3)] == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]


def test_pools_of_an_instance_in_order() -> None:
    pools = UeAddressPools(
        {
            "a": (IPv4Network("10.0.0.0/31"), IPv4Network("10.0.1.0/31")),
            "b": (IPv6Network("2001:db8::/64"),),
        }
    )
    assert pools.take_text("a", 6) is None and pools.take_text("c", 4) is None
    texts = []
    for _ in range(4):
        got = pools.take_text("a", 4)
        assert got is not None
        texts.append(got[1])
    assert texts == ["10.0.0.0", "10.0.0.1", "10.0.1.0", "10.0.1.1"]
    with pytest.raises(Exhausted):
        pools.take_text("a", 4)
    pools.free("a", IPv4Network("10.0.1.0/32"))
    got = pools.take_text("a", 4)
    assert got is not None and got[1] == "10.0.1.0"
    assert pools.usage() == {"a:10.0.0.0/31": 2, "a:10.0.1.0/31": 2, "b:2001:db8::/64": 0}


def test_teids() -> None:
    teids = TeidAllocator(1, 4)
    assert teids.reserve(2) and not teids.reserve(2) and not teids.reserve(5)
    assert [teids.take() for _ in range(3)] == [1, 3, 4]
    teids.free(3)
    teids.free(1)
    assert teids.in_use == 2
    assert [teids.take(), teids.take()] == [3, 1]
    with pytest.raises(Exhausted):
        teids.take()

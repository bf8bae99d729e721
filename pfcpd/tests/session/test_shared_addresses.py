"""The address objects shared between rules and sessions (pfcpd.session.addresses)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from pfcpd.session import addresses
from pfcpd.session.addresses import (
    NETWORK_ENTRIES,
    drop_shared,
    remember_network,
    shared_network,
)


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    drop_shared()
    yield
    drop_shared()


def _host(i: int) -> tuple[str, ipaddress.IPv4Network]:
    address = ipaddress.IPv4Address(0x64400000 + i)
    return str(address), ipaddress.IPv4Network((int(address), 32))


def test_a_remembered_network_is_the_one_the_pdrs_get() -> None:
    text, net = _host(1)
    remember_network(text, net, 32)
    assert shared_network(text, 32) is net


def test_a_full_cache_drops_its_oldest_entry_not_all_of_them() -> None:
    nets = [_host(i) for i in range(NETWORK_ENTRIES + 10)]
    for text, net in nets:
        remember_network(text, net, 32)
    assert len(addresses._NETWORKS) == NETWORK_ENTRIES
    # the ten oldest went, one per entry added; every later one is still shared
    for text, net in nets[10:]:
        assert shared_network(text, 32) is net
    for text, net in nets[:10]:
        found = shared_network(text, 32)  # (parsed again, and remembered: an older one goes)
        assert found == net and found is not net


def test_parsed_networks_are_shared_and_bounded_too() -> None:
    first = shared_network("100.64.0.1", 32)
    assert shared_network("100.64.0.1", 32) is first
    assert shared_network("2001:db8::1", 64) == ipaddress.IPv6Network("2001:db8::/64")
    for i in range(NETWORK_ENTRIES):
        shared_network(_host(1000 + i)[0], 32)
    assert len(addresses._NETWORKS) == NETWORK_ENTRIES

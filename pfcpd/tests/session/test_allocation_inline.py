"""`UePool.take_text` makes its IPv4 networks inline: as `v4_host_network` does."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.session import allocation
from pfcpd.session.allocation import UePool


@pytest.mark.parametrize("inline", [True, False])
def test_take_text_networks_as_v4_host_network(
    inline: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert allocation._V4_INLINE  # (this Python's ipaddress: the inline copy is the one used)
    monkeypatch.setattr(allocation, "_V4_INLINE", inline)
    pool = UePool(ipaddress.ip_network("10.45.0.0/22"))
    netmask = ipaddress.IPv4Network((0, 32)).netmask
    for _ in range(300):
        net, text, _, _, _ = pool.take_text()
        value = int(ipaddress.IPv4Address(text))
        ref = allocation.v4_host_network(value, netmask)
        assert allocation._like_constructed(net, ref)
        assert list(vars(net)) == list(vars(ref)) and net.netmask is ref.netmask

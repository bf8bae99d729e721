"""`pfcpd.gnbsim.dnping`: echo requests from the DN's side over raw sockets, answered here by
the kernel's own ICMP and ICMPv6 (which drops a request with a wrong checksum). Needs
CAP_NET_RAW (root); skips otherwise."""

from __future__ import annotations

import os
import socket

import pytest

from pfcpd.gnbsim.dnping import ping


@pytest.fixture(autouse=True)
def raw_sockets() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: raw ICMP sockets need CAP_NET_RAW")
    if not socket.has_ipv6:
        pytest.skip("Python without IPv6")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_the_kernel_answers_every_echo_request(address: str) -> None:
    result = ping(address, 3, interval=0.01)
    assert (result.sent, result.received) == (3, 3)
    assert all(rtt >= 0 for rtt in result.rtts_ms)

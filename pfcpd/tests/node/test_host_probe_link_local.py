"""The host-address probe of an IPv6 link-local address (`daemon.host_addresses`): connect()
refuses one without a scope (EINVAL), so the probe binds a socket to it on each of the
host's interfaces: bound on one, the host's (was: EINVAL, "not the host's", and a report
to pfcpd's own link-local address sent to pfcpd). Sans-IO: the socket module's ``socket``
and ``if_nameindex`` are replaced (tests/node/test_host_probe_routes.py asks the kernel)."""

from __future__ import annotations

import errno
import socket
from typing import Any, ClassVar

import pytest

from pfcpd.daemon import host_addresses
from pfcpd.daemon.host_addresses import HostAddresses, is_host_address

INTERFACES = [(1, "lo"), (2, "eth0"), (3, "eth1")]


class Interfaces:
    """A host whose fe80::1 is on eth1 (index 3): a bind there succeeds, elsewhere
    EADDRNOTAVAIL; each bind and connect kept in ``calls``."""

    calls: ClassVar[list[tuple[str, tuple[Any, ...]]]] = []

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        assert family == socket.AF_INET6

    def __enter__(self) -> Interfaces:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, address: tuple[Any, ...]) -> None:
        Interfaces.calls.append(("bind", address))
        if address[0] != "fe80::1" or address[3] != 3:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    def connect(self, address: tuple[Any, ...]) -> None:
        Interfaces.calls.append(("connect", address))
        raise OSError(errno.EINVAL, "Invalid argument")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    Interfaces.calls = []
    monkeypatch.setattr(host_addresses.socket, "socket", Interfaces)
    monkeypatch.setattr(host_addresses.socket, "if_nameindex", lambda: INTERFACES)
    return Interfaces.calls


def test_a_link_local_address_bound_on_an_interface_is_the_host_s(
    host: list[tuple[str, tuple[Any, ...]]],
) -> None:
    assert is_host_address("fe80::1") is True
    assert host == [
        ("bind", ("fe80::1", 0, 0, 1)),
        ("bind", ("fe80::1", 0, 0, 2)),
        ("bind", ("fe80::1", 0, 0, 3)),
    ]
    host.clear()
    assert is_host_address("fe80::9") is False
    assert [address[3] for _, address in host] == [1, 2, 3]


def test_its_verdict_is_kept(host: list[tuple[str, tuple[Any, ...]]]) -> None:
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert [check("fe80::1"), check("fe80::1"), check("fe80::9"), check("fe80::9")] == [
        True,
        True,
        False,
        False,
    ]
    assert len(host) == 6  # one probe each


def test_a_probe_that_cannot_tell_refuses_and_is_not_kept(
    host: list[tuple[str, tuple[Any, ...]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_list() -> list[tuple[int, str]]:
        raise OSError(errno.ENOBUFS, "No buffer space available")

    monkeypatch.setattr(host_addresses.socket, "if_nameindex", no_list)
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check("fe80::9") is True
    monkeypatch.setattr(host_addresses.socket, "if_nameindex", lambda: INTERFACES)
    assert check("fe80::9") is False  # asked again: not kept


def test_ipv4_link_local_is_probed_by_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """(169.254.0.0/16 needs no scope: connect() answers as for any IPv4 address.)"""
    asked: list[tuple[Any, ...]] = []

    class Connected:
        def __init__(self, *args: Any) -> None:
            pass

        def __enter__(self) -> Connected:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def connect(self, address: tuple[Any, ...]) -> None:
            asked.append(address)

        def getsockname(self) -> tuple[str, int]:
            return ("169.254.0.1", 40000)

    monkeypatch.setattr(host_addresses.socket, "socket", Connected)
    assert is_host_address("169.254.0.1") is True
    assert is_host_address("169.254.0.9") is False
    assert asked == [("169.254.0.1", 8805), ("169.254.0.9", 8805)]

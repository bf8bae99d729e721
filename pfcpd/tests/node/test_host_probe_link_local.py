"""The host-address probe of an IPv6 link-local address (`daemon.host_addresses`): connect()
refuses one without a scope (EINVAL), so the probe connect()s a socket to it with each of
the host's interfaces as its scope: the socket's own address is the address on one, the
host's (was: EINVAL, "not the host's", and a report to pfcpd's own link-local address
sent to pfcpd). Sans-IO: the socket module's ``socket`` and ``if_nameindex`` are replaced
(tests/node/test_host_probe_routes.py asks the kernel, with net.ipv6.ip_nonlocal_bind)."""

from __future__ import annotations

import errno
import socket
from typing import Any, ClassVar

import pytest

from pfcpd.daemon import host_addresses
from pfcpd.daemon.host_addresses import HostAddresses, is_host_address

INTERFACES = [(1, "lo"), (2, "eth0"), (3, "eth1")]


class Interfaces:
    """A host whose fe80::1 is on eth1 (index 3): a socket connect()ed to it with that scope
    gets it as its own address, with eth0's its own fe80::2; lo has no link-local route
    (ENETUNREACH); each connect kept in ``calls``."""

    calls: ClassVar[list[tuple[str, tuple[Any, ...]]]] = []

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        assert family == socket.AF_INET6
        self.own = "::"

    def __enter__(self) -> Interfaces:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, address: tuple[Any, ...]) -> None:
        Interfaces.calls.append(("connect", address))
        ip, _, _, index = address
        if index == 1:
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        self.own = "fe80::1%eth1" if (ip, index) == ("fe80::1", 3) else f"fe80::{index}%eth"

    def getsockname(self) -> tuple[Any, ...]:
        return (self.own, 40000, 0, 0)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    Interfaces.calls = []
    monkeypatch.setattr(host_addresses.socket, "socket", Interfaces)
    monkeypatch.setattr(host_addresses.socket, "if_nameindex", lambda: INTERFACES)
    return Interfaces.calls


def test_a_link_local_address_a_scoped_connect_gets_as_its_own_is_the_host_s(
    host: list[tuple[str, tuple[Any, ...]]],
) -> None:
    assert is_host_address("fe80::1") is True
    assert host == [
        ("connect", ("fe80::1", 8805, 0, 1)),
        ("connect", ("fe80::1", 8805, 0, 2)),
        ("connect", ("fe80::1", 8805, 0, 3)),
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


def test_a_connect_that_fails_otherwise_cannot_tell(
    host: list[tuple[str, tuple[Any, ...]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Not a missing route on one interface: out of buffers. Refused, not kept.)"""

    def no_buffers(self: Interfaces, address: tuple[Any, ...]) -> None:
        raise OSError(errno.ENOBUFS, "No buffer space available")

    monkeypatch.setattr(Interfaces, "connect", no_buffers)
    check = HostAddresses(ttl=30.0, clock=lambda: 100.0)
    assert check("fe80::9") is True
    monkeypatch.undo()
    monkeypatch.setattr(host_addresses.socket, "socket", Interfaces)
    monkeypatch.setattr(host_addresses.socket, "if_nameindex", lambda: INTERFACES)
    assert check("fe80::9") is False  # asked again: not kept


@pytest.mark.parametrize("error", [errno.EACCES, errno.EPERM], ids=["EACCES", "EPERM"])
def test_a_scoped_connect_the_kernel_refuses_is_refused_and_kept(
    host: list[tuple[str, tuple[Any, ...]]], monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    """(A prohibit route on eth0: the kernel sends nothing there, as for any address a
    route refuses: refused like the host's, and kept for the ttl, not asked per report.)"""
    real = Interfaces.connect

    def prohibited(self: Interfaces, address: tuple[Any, ...]) -> None:
        if address[3] == 2:
            Interfaces.calls.append(("connect", address))
            raise OSError(error, errno.errorcode[error])
        real(self, address)

    monkeypatch.setattr(Interfaces, "connect", prohibited)
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check("fe80::9") is True
    assert check("fe80::9") is True
    assert [address[3] for _, address in host] == [1, 2]  # one probe: kept
    now[0] = 130.0
    monkeypatch.setattr(Interfaces, "connect", real)
    assert check("fe80::9") is False  # the ttl over: asked again, the route gone

"""The host-address probe when the kernel refuses its socket (`daemon.host_addresses`): a
kernel booted with ipv6.disable=1 has no AF_INET6 socket (EAFNOSUPPORT), a process out of
file descriptors none at all (EMFILE). The probe then cannot tell: the address is taken for
the host's (a report goes to the association's address, never where pfcpd might answer it
itself), and that verdict is not kept (the next report asks again). A route the kernel does
not have is an answer: not the host's, kept. The node asks about as few addresses as it can
(`PfcpNode._request_address`): none no listen endpoint reaches, and not the second of a CP
F-SEID's two once the first is usable. Sans-IO: the socket module is replaced."""

from __future__ import annotations

import errno
import socket
from typing import Any, ClassVar

import pytest
from node.request_node import node_with, sent_to

from pfcpd.daemon import host_addresses
from pfcpd.daemon.host_addresses import HostAddresses, is_host_address

ANY4 = "0.0.0.0:8805"
ANY6 = "[::]:8805"


class Refused:
    """The socket module's ``socket`` on a kernel that gives none: AF_INET6 refused
    (EAFNOSUPPORT, no IPv6), AF_INET too (EMFILE); each family asked kept in ``asked``."""

    asked: ClassVar[list[int]] = []

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        Refused.asked.append(family)
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        raise OSError(errno.EMFILE, "Too many open files")


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """No socket for the probe: the families it asked for."""
    Refused.asked = []
    monkeypatch.setattr(host_addresses.socket, "socket", Refused)
    return Refused.asked


class Probed:
    """The socket module's ``socket`` on a host whose address is 192.0.2.2: a probe's
    connect() is answered, its source that address; each family asked kept in ``asked``."""

    asked: ClassVar[list[int]] = []

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        Probed.asked.append(family)

    def __enter__(self) -> Probed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, address: tuple[str, int]) -> None:
        pass

    def getsockname(self) -> tuple[str, int]:
        return ("192.0.2.2", 40000)


class NoIPv6(Probed):
    """`Probed` on a kernel without IPv6: AF_INET6 refused (EAFNOSUPPORT)."""

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        super().__init__(family)
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")


class Unrouted(Probed):
    """`Probed` without a route to the address: connect() fails (ENETUNREACH)."""

    def connect(self, address: tuple[str, int]) -> None:
        raise OSError(errno.ENETUNREACH, "Network is unreachable")


def test_an_address_the_probe_gets_no_socket_for_is_taken_for_the_host_s(
    refused: list[int],
) -> None:
    assert is_host_address("2001:db8::1") is True
    assert is_host_address("192.0.2.1") is True
    assert refused == [socket.AF_INET6, socket.AF_INET]
    # loopback needs no probe
    assert is_host_address("::1") is True
    assert is_host_address("127.0.0.9") is True
    assert refused == [socket.AF_INET6, socket.AF_INET]


def test_an_address_no_route_leads_to_is_not_the_host_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """connect() failing for want of a route is the kernel's answer, not a failed probe."""
    Probed.asked = []
    monkeypatch.setattr(host_addresses.socket, "socket", Unrouted)
    assert is_host_address("192.0.2.9") is False
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check("192.0.2.9") is False
    assert check("192.0.2.9") is False
    assert Probed.asked == [socket.AF_INET, socket.AF_INET]  # kept after the first


def test_the_verdict_of_a_refused_probe_is_not_kept(
    refused: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check("192.0.2.9") is True
    assert check("192.0.2.9") is True
    assert refused == [socket.AF_INET, socket.AF_INET]  # asked each time
    # the probe works again: its verdict, kept
    Probed.asked = []
    monkeypatch.setattr(host_addresses.socket, "socket", Probed)
    assert check("192.0.2.9") is False
    monkeypatch.setattr(host_addresses.socket, "socket", Refused)
    now[0] = 129.9
    assert check("192.0.2.9") is False
    assert (refused, Probed.asked) == ([socket.AF_INET, socket.AF_INET], [socket.AF_INET])


def test_a_report_goes_to_the_association_while_the_probe_gets_no_socket(
    refused: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of file descriptors (EMFILE): an F-SEID address that might be the host's is not
    used, each report to it going to the association's address, until a probe says."""
    node = node_with(("192.0.2.2", 8805), ANY4, is_host_address=HostAddresses())
    assert sent_to(node, "192.0.2.10", None) == (("192.0.2.2", 8805), ANY4)
    assert sent_to(node, "192.0.2.10", None) == (("192.0.2.2", 8805), ANY4)
    assert refused == [socket.AF_INET, socket.AF_INET]
    Probed.asked = []
    monkeypatch.setattr(host_addresses.socket, "socket", Probed)
    assert sent_to(node, "192.0.2.10", None) == (("192.0.2.10", 8805), ANY4)


def test_a_report_leaves_on_a_host_without_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's check on a host without IPv6: a report to a CP F-SEID with both
    families goes to the IPv4 one, the association's family, and IPv6 is not probed (no
    IPv6 endpoint reaches it; its probe would fail)."""
    Probed.asked = []
    monkeypatch.setattr(host_addresses.socket, "socket", NoIPv6)
    node = node_with(("192.0.2.2", 8805), ANY4, is_host_address=HostAddresses())
    assert sent_to(node, "192.0.2.10", "2001:db8::10") == (("192.0.2.10", 8805), ANY4)
    assert Probed.asked == [socket.AF_INET]


def test_only_addresses_an_endpoint_reaches_are_checked_and_the_first_usable_ends_it() -> None:
    asked: list[str] = []

    def is_host_address(ip: str) -> bool:
        asked.append(ip)
        return ip in ("192.0.2.77", "2001:db8::77")

    both = node_with(("192.0.2.2", 8805), ANY4, ANY6, is_host_address=is_host_address)
    # the association's family usable: the other not checked
    assert sent_to(both, "192.0.2.9", "2001:db8::9") == (("192.0.2.9", 8805), ANY4)
    assert asked == ["192.0.2.9"]
    # the association's family the host's: the other checked, and used
    asked.clear()
    assert sent_to(both, "192.0.2.77", "2001:db8::9") == (("2001:db8::9", 8805), ANY6)
    assert asked == ["192.0.2.77", "2001:db8::9"]
    # no IPv6 endpoint: the IPv6 address not checked (it could not be used)
    v4_only = node_with(("192.0.2.2", 8805), ANY4, is_host_address=is_host_address)
    asked.clear()
    assert sent_to(v4_only, "192.0.2.77", "2001:db8::9") == (("192.0.2.2", 8805), ANY4)
    assert asked == ["192.0.2.77"]
    # an IPv6 association: its family first
    v6 = node_with(("2001:db8::2", 8805), ANY6, is_host_address=is_host_address)
    asked.clear()
    assert sent_to(v6, "192.0.2.9", "2001:db8::9") == (("2001:db8::9", 8805), ANY6)
    assert asked == ["2001:db8::9"]

"""The source-address probe's answers and which are kept (`daemon.host_addresses`): a
connect()ed socket's own address, named as the socket layer names addresses (compressed,
no scope); none for an error of connect(), kept as the host-address verdict of the same
error is (no route, a refused destination: kept; a probe that cannot tell: not); one probe
answers both questions; a loopback or IPv6 link-local address is not asked; an IPv4-mapped
address is the IPv4 one (`address.parse`). Sans-IO: the socket module's ``socket`` is
replaced. (Against the kernel's routes:
test_source_address_routes.py.)"""

from __future__ import annotations

import errno
import socket
from typing import Any, ClassVar

import pytest

from pfcpd.daemon import host_addresses
from pfcpd.daemon.host_addresses import HostAddresses, source_address


class Routed:
    """A socket whose connect() fails with ``error`` (0: succeeds, its own address
    ``own``); each one made counted in ``made``, its family and the address connect()ed
    to kept in ``asked``."""

    error: ClassVar[int] = 0
    own: ClassVar[str] = ""
    made: ClassVar[int] = 0
    asked: ClassVar[list[tuple[int, str]]] = []

    def __init__(self, family: int, *args: Any, **kwargs: Any) -> None:
        Routed.made += 1
        self.family = family

    def __enter__(self) -> Routed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, address: tuple[Any, ...]) -> None:
        Routed.asked.append((self.family, address[0]))
        if Routed.error:
            raise OSError(Routed.error, errno.errorcode[Routed.error])

    def getsockname(self) -> tuple[Any, ...]:
        return (Routed.own, 40000, 0, 0) if ":" in Routed.own else (Routed.own, 40000)


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> type[Routed]:
    monkeypatch.setattr(host_addresses.socket, "socket", Routed)
    Routed.error, Routed.own, Routed.made, Routed.asked = 0, "", 0, []
    return Routed


@pytest.mark.parametrize(
    ("ip", "own", "source"),
    [
        ("203.0.113.9", "198.51.100.5", "198.51.100.5"),
        ("2001:db8:9::9", "2001:db8:4:0::5", "2001:db8:4::5"),
        ("2001:db8:9::9", "2001:db8:4::5%n4", "2001:db8:4::5"),
    ],
)
def test_the_source_is_the_connected_socket_s_own_address(
    routed: type[Routed], ip: str, own: str, source: str
) -> None:
    routed.own = own
    assert source_address(ip) == source
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check.source_address(ip) == source
    assert check(ip) is False  # (the same probe's other answer)
    now[0] = 129.9
    assert check.source_address(ip) == source
    assert routed.made == 2
    now[0] = 130.0  # the ttl over: asked again
    routed.own = "192.0.2.5" if "." in own else "2001:db8:1::5"
    assert check.source_address(ip) == routed.own
    assert routed.made == 3


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        pytest.param(errno.ENETUNREACH, True, id="ENETUNREACH"),
        pytest.param(errno.EHOSTUNREACH, True, id="EHOSTUNREACH"),
        pytest.param(errno.EINVAL, True, id="EINVAL"),
        pytest.param(errno.EACCES, True, id="EACCES"),
        pytest.param(errno.EPERM, True, id="EPERM"),
        pytest.param(errno.EMFILE, False, id="EMFILE"),
        pytest.param(errno.ENOBUFS, False, id="ENOBUFS"),
    ],
)
def test_no_source_on_an_error_kept_as_its_verdict_is(
    routed: type[Routed], error: int, kept: bool
) -> None:
    routed.error = error
    assert source_address("192.0.2.9") is None
    check = HostAddresses(ttl=30.0, clock=lambda: 100.0)
    assert check.source_address("192.0.2.9") is None
    assert check.source_address("192.0.2.9") is None
    check("192.0.2.9")
    assert routed.made == (2 if kept else 4)


def test_loopback_and_link_local_are_not_asked(
    routed: type[Routed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No socket for their source (a link-local address's probe asks only whether it is
    the host's, on each interface: none here)."""
    monkeypatch.setattr(host_addresses.socket, "if_nameindex", lambda: [])
    routed.own = "2001:db8:4::5"
    for ip in ("127.0.0.1", "::1", "fe80::5", "not an address"):
        assert source_address(ip) is None
        assert HostAddresses().source_address(ip) is None
    assert routed.made == 0


def test_one_probe_answers_both_questions(routed: type[Routed]) -> None:
    """The host's own address: its source is itself; asked either way first, one probe."""
    routed.own = "198.51.100.5"
    check = HostAddresses(ttl=30.0, clock=lambda: 100.0)
    assert check("198.51.100.5") is True
    assert check.source_address("198.51.100.5") == "198.51.100.5"
    assert check.source_address("203.0.113.9") == "198.51.100.5"
    assert check("203.0.113.9") is False
    assert routed.made == 2


def test_an_ipv4_mapped_address_is_the_ipv4_one(routed: type[Routed]) -> None:
    """`address.parse`'s rule: a mapped loopback address is loopback, not asked (was: probed,
    its source '::ffff:7f00:1'); another is asked over IPv4 about the IPv4 address, its
    source named as IPv4, and it is the host's when that is its own source."""
    routed.own = "198.51.100.5"
    assert source_address("::ffff:127.0.0.1") is None
    assert host_addresses.is_host_address("::ffff:127.0.0.1") is True
    assert HostAddresses().source_address("::ffff:127.0.0.1") is None
    assert routed.made == 0
    assert source_address("::ffff:203.0.113.9") == "198.51.100.5"
    assert host_addresses.is_host_address("::ffff:198.51.100.5") is True
    assert host_addresses.is_host_address("::FFFF:203.0.113.9") is False
    assert routed.asked == [
        (socket.AF_INET, "203.0.113.9"),
        (socket.AF_INET, "198.51.100.5"),
        (socket.AF_INET, "203.0.113.9"),
    ]
    # an IPv6 socket's own address named by the same rule (IPv4-mapped as IPv4)
    routed.own = "::ffff:198.51.100.5"
    assert source_address("2001:db8:9::9") == "198.51.100.5"

"""What each error of the host-address probe's connect() means (`daemon.host_addresses`), and
which verdicts are kept: no route (ENETUNREACH), an unreachable route (EHOSTUNREACH), a
blackhole route (EINVAL): not the host's, kept (an IPv6 link-local address is probed by
bind() instead: test_host_probe_link_local.py); a route or
policy that refuses sending (EACCES, EPERM): refused like the host's, kept (it lasts; one
probe per report otherwise); a probe that cannot tell (EMFILE, ENOBUFS, ...): refused, not
kept. Sans-IO: the socket module's ``socket`` is replaced by one whose connect() fails."""

from __future__ import annotations

import errno
import socket
from typing import Any, ClassVar

import pytest

from pfcpd.daemon import host_addresses
from pfcpd.daemon.host_addresses import HostAddresses, is_host_address


class Failing:
    """A socket whose connect() fails with ``error``; each one made counted in ``made``."""

    error: ClassVar[int] = 0
    made: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Failing.made += 1

    def __enter__(self) -> Failing:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, address: tuple[str, int]) -> None:
        raise OSError(Failing.error, errno.errorcode[Failing.error])

    def getsockname(self) -> tuple[str, int]:
        raise AssertionError("not connected")


@pytest.mark.parametrize(
    ("error", "host_s", "kept"),
    [
        pytest.param(errno.ENETUNREACH, False, True, id="ENETUNREACH"),
        pytest.param(errno.EHOSTUNREACH, False, True, id="EHOSTUNREACH"),
        pytest.param(errno.EINVAL, False, True, id="EINVAL"),
        pytest.param(errno.EACCES, True, True, id="EACCES"),
        pytest.param(errno.EPERM, True, True, id="EPERM"),
        pytest.param(errno.EMFILE, True, False, id="EMFILE"),
        pytest.param(errno.ENFILE, True, False, id="ENFILE"),
        pytest.param(errno.ENOBUFS, True, False, id="ENOBUFS"),
        pytest.param(errno.ENOMEM, True, False, id="ENOMEM"),
    ],
)
@pytest.mark.parametrize("ip", ["192.0.2.9", "2001:db8::9"])
def test_each_probe_error_s_verdict_and_whether_it_is_kept(
    monkeypatch: pytest.MonkeyPatch, ip: str, error: int, host_s: bool, kept: bool
) -> None:
    monkeypatch.setattr(host_addresses.socket, "socket", Failing)
    Failing.error, Failing.made = error, 0
    assert is_host_address(ip) is host_s
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check(ip) is host_s
    now[0] = 129.9
    assert check(ip) is host_s
    assert Failing.made == (2 if kept else 3)
    now[0] = 130.0  # the ttl over: asked again
    assert check(ip) is host_s
    assert Failing.made == (3 if kept else 4)


def test_a_refused_address_s_kept_verdict_ends_with_its_ttl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prohibit route removed: the address is the host's no longer once the ttl is over."""
    monkeypatch.setattr(host_addresses.socket, "socket", Failing)
    Failing.error, Failing.made = errno.EACCES, 0
    now = [100.0]
    check = HostAddresses(ttl=30.0, clock=lambda: now[0])
    assert check("192.0.2.9") is True
    Failing.error = errno.ENETUNREACH
    assert check("192.0.2.9") is True
    now[0] = 130.0
    assert check("192.0.2.9") is False
    assert Failing.made == 2


def test_the_family_s_socket_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    families: list[int] = []

    class Recorded(Failing):
        def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
            super().__init__()
            families.append(family)

    monkeypatch.setattr(host_addresses.socket, "socket", Recorded)
    Failing.error = errno.ENETUNREACH
    assert is_host_address("2001:db8::9") is False
    assert is_host_address("192.0.2.9") is False
    assert families == [socket.AF_INET6, socket.AF_INET]

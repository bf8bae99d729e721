"""Whether an IP address is one of this host's own: what the sans-IO node cannot tell by
itself when pfcpd listens on a wildcard address (`PfcpNode.is_host_address`), and a request
sent there would come back to pfcpd.

The probe is a UDP socket connect()ed to the address (nothing is sent): the kernel's route
lookup answers. What each answer means (checked against the kernel in
tests/node/test_host_probe_routes.py):

- connected, the socket's own address is the address: the host's (a local route);
- ENETUNREACH (no route), EHOSTUNREACH (an ``unreachable`` route), EINVAL (a ``blackhole``
  route): not the host's (the kernel routes each of its own addresses), kept;
- EACCES (a ``prohibit`` route; a subnet broadcast address, which needs SO_BROADCAST),
  EPERM (a security policy on connect()): the kernel refuses to send there, so no request
  can go there: refused like the host's own, and kept like the others (it lasts as long as
  the route or the policy; the ttl covers changes as for the other verdicts). Not kept, each
  report to such an address would cost a probe, for the same answer;
- any other error (no socket of the family: EAFNOSUPPORT, a kernel booted with
  ipv6.disable=1; out of file descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM): the
  probe cannot tell; the address is taken for the host's (no request goes where pfcpd might
  answer it itself), and not kept (it may pass).

An IPv6 link-local address has no scope here, and connect() refuses it (EINVAL): it is
probed by connect() with each of the host's interfaces as its scope instead (the socket's
own address is the address on one: the host's). It matters: the node sends to a
link-local F-SEID address of a CP associated over link-local, and a wildcard listen
socket's sendto() does reach one without a scope (the kernel takes the route of
fe80::/64), pfcpd's own included.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import time
from collections.abc import Callable

from ..config import PFCP_PORT


def is_host_address(ip: str) -> bool:
    """``ip`` is one of this host's addresses: a loopback one (127.0.0.0/8 and ::1, each
    delivered locally by the kernel), or one the kernel picks as its own source to reach
    itself (a UDP socket connect()ed to it, which sends nothing, gets it as its local
    address; an IPv6 link-local one, the same with one of the host's interfaces as its
    scope). Not an address no route leads to (ENETUNREACH, EHOSTUNREACH, EINVAL: the
    kernel routes each of its own). One the kernel refuses to send to (EACCES, EPERM), or
    that the probe cannot ask about (any other OSError), is taken for the host's: no
    request goes there (see the module's docstring)."""
    return _probe(ip) is not False


_NOT_LOCAL = frozenset((errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL))
_REFUSED = frozenset((errno.EACCES, errno.EPERM))  # (the kernel sends nothing there)


def _probe(ip: str) -> bool | None:
    """`is_host_address`; None: the probe cannot tell (a verdict not to keep)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.is_loopback:
        return True
    if addr.version == 6 and addr.is_link_local:
        return _link_local_probe(addr.compressed)
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((addr.compressed, PFCP_PORT))
            own = probe.getsockname()[0]
    except OSError as e:
        if e.errno in _NOT_LOCAL:
            return False
        return True if e.errno in _REFUSED else None
    return ipaddress.ip_address(own.split("%", 1)[0]) == addr


# connect() with an interface's scope: the address is not on that interface's link (lo has
# no fe80::/64 route; an interface gone meanwhile)
_NOT_ON_LINK = _NOT_LOCAL | {errno.EADDRNOTAVAIL, errno.ENODEV}


def _link_local_probe(ip: str) -> bool | None:
    """`_probe` of an IPv6 link-local address: the host's when a UDP socket connect()ed to
    it with one of the host's interfaces as its scope gets it as its own address (connect()
    without a scope cannot ask: EINVAL; bind() would succeed for any address with
    net.ipv6.ip_nonlocal_bind set). A socket per interface (one whose connect() failed
    refuses the next). None: the probe cannot tell (no socket, no interface list)."""
    try:
        for index, _name in socket.if_nameindex():
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect((ip, PFCP_PORT, 0, index))
                except OSError as e:
                    if e.errno in _NOT_ON_LINK:
                        continue
                    raise
                if probe.getsockname()[0].split("%", 1)[0] == ip:
                    return True
    except OSError:
        return None
    return False


class HostAddresses:
    """`is_host_address` with its verdicts kept ``ttl`` seconds (addresses come and go with
    interfaces), at most ``limit`` of them (beyond, all are forgotten): the node asks once
    per Session Report Request to an F-SEID address, and two system calls each time would
    be most of the cost. A probe that cannot tell (an OSError that may pass: out of file
    descriptors) is not kept: the address is taken for the host's this once, and asked
    about again next time; one the kernel refuses to send to (EACCES, EPERM) is kept,
    refused like the host's own."""

    def __init__(
        self, ttl: float = 30.0, limit: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self._clock = clock
        self._verdicts: dict[str, tuple[float, bool]] = {}  # ip -> (kept until, verdict)

    def __call__(self, ip: str) -> bool:
        now = self._clock()
        kept = self._verdicts.get(ip)
        if kept is not None and now < kept[0]:
            return kept[1]
        if len(self._verdicts) >= self.limit:
            self._verdicts.clear()
        verdict = _probe(ip)
        if verdict is None:
            return True
        self._verdicts[ip] = (now + self.ttl, verdict)
        return verdict

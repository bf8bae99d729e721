"""What the kernel's routes say of an IP address, asked without sending anything: whether it
is one of this host's own (`is_host_address`: what the sans-IO node cannot tell by itself
when pfcpd listens on a wildcard address, `PfcpNode.is_host_address`, and a request sent
there would come back to pfcpd), and which of the host's addresses a datagram to it leaves
from (`source_address`: the listen endpoint a request of pfcpd's own leaves from,
`PfcpNode.source_address`).

The probe is a UDP socket connect()ed to the address (nothing is sent): the kernel's route
lookup answers, and the socket's own address (getsockname()) is the source it picked. What
each answer means (checked against the kernel in tests/node/test_host_probe_routes.py and
tests/node/test_source_address_routes.py):

- connected: the socket's own address is the source; the address is the host's when it is
  that source (a local route);
- ENETUNREACH (no route), EHOSTUNREACH (an ``unreachable`` route), EINVAL (a ``blackhole``
  route): not the host's (the kernel routes each of its own addresses), no source; kept;
- EACCES (a ``prohibit`` route; a subnet broadcast address, which needs SO_BROADCAST),
  EPERM (a security policy on connect()): the kernel refuses to send there, so no request
  can go there: refused like the host's own, no source, and kept like the others (it lasts
  as long as the route or the policy; the ttl covers changes as for the other verdicts).
  Not kept, each report to such an address would cost a probe, for the same answer;
- any other error (no socket of the family: EAFNOSUPPORT, a kernel booted with
  ipv6.disable=1; out of file descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM): the
  probe cannot tell; the address is taken for the host's (no request goes where pfcpd might
  answer it itself), no source is known, and neither is kept (it may pass).

The route is looked up for port 8805 from no address in particular: an ``ip rule`` that
selects by destination port or by source address does not take part in the answer.

An IPv6 link-local address has no scope here, and connect() refuses it (EINVAL): it is
probed by connect() with each of the host's interfaces as its scope instead (the socket's
own address is the address on one: the host's). It matters: the node sends to a
link-local F-SEID address of a CP associated over link-local, and a wildcard listen
socket's sendto() does reach one without a scope (the kernel takes the route of
fe80::/64), pfcpd's own included. Its source is not known (which interface's, the address
alone does not say). A loopback address is the host's, not probed: its source is not asked
(the node keeps its own rule for loopback).

Addresses are read and named by `pfcpd.address`'s one rule (`parse`, `normalize`): an
IPv4-mapped IPv6 address is the IPv4 one (::ffff:127.0.0.1 is loopback, not probed; any
other is probed over IPv4), and the source is named compressed, without a scope, an
IPv4-mapped one as IPv4: the text the node names its addresses by.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable

from ..address import normalize, parse
from ..config import PFCP_PORT


def is_host_address(ip: str) -> bool:
    """``ip`` is one of this host's addresses: a loopback one (127.0.0.0/8 and ::1, each
    delivered locally by the kernel), or one the kernel picks as its own source to reach
    itself (a UDP socket connect()ed to it, which sends nothing, gets it as its local
    address; an IPv6 link-local one, the same with one of the host's interfaces as its
    scope; an IPv4-mapped address is the IPv4 one). Not an address no route leads to
    (ENETUNREACH, EHOSTUNREACH, EINVAL: the kernel routes each of its own). One the
    kernel refuses to send to (EACCES, EPERM), or that the probe cannot ask about (any
    other OSError), is taken for the host's: no request goes there (see the module's
    docstring)."""
    return _ask(ip)[0]


def source_address(ip: str) -> str | None:
    """The address of this host a datagram to ``ip`` leaves from: the local address the
    kernel gives a UDP socket connect()ed to it (nothing is sent), named as the socket
    layer names addresses (`address.normalize`: compressed, no scope, IPv4-mapped as
    IPv4). An IPv4-mapped ``ip`` is the IPv4 address (`address.parse`), asked over IPv4.
    None: not known: no route (ENETUNREACH, EHOSTUNREACH, EINVAL), a destination the
    kernel refuses (EACCES, EPERM), a probe that cannot ask (any other OSError), a
    loopback (IPv4-mapped too) or an IPv6 link-local address (not asked), not an address
    (see the module's docstring)."""
    return _ask(ip)[1]


_NOT_LOCAL = frozenset((errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL))
_REFUSED = frozenset((errno.EACCES, errno.EPERM))  # (the kernel sends nothing there)

_Answer = tuple[bool, str | None]  # (the host's: `is_host_address`; `source_address`)
_NOWHERE: _Answer = (False, None)  # (no route; not an address)
_HOST_S: _Answer = (True, None)  # (loopback; refused: EACCES, EPERM)


def _ask(ip: str) -> _Answer:
    """`_probe`, a probe that cannot tell taken for the host's, without a source."""
    answer = _probe(ip)
    return _HOST_S if answer is None else answer


def _probe(ip: str) -> _Answer | None:
    """What the kernel's route lookup says of ``ip``: whether it is the host's
    (`is_host_address`) and the source a datagram to it leaves from (`source_address`).
    None: the probe cannot tell (an answer not to keep). ``ip`` is taken as `address.parse`
    takes it (an IPv4-mapped IPv6 address is the IPv4 one: loopback for ::ffff:127.0.0.1,
    else probed over IPv4; a scope dropped), the source named by the same module's rule
    (`address.normalize`: compressed, no scope, IPv4-mapped as IPv4)."""
    addr = parse(ip)
    if addr is None:
        return _NOWHERE
    if addr.is_loopback:
        return _HOST_S
    if addr.version == 6 and addr.is_link_local:
        verdict = _link_local_probe(addr.compressed)
        return None if verdict is None else (verdict, None)
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((addr.compressed, PFCP_PORT))
            source = normalize(probe.getsockname())[0]
    except OSError as e:
        if e.errno in _NOT_LOCAL:
            return _NOWHERE
        return _HOST_S if e.errno in _REFUSED else None
    return source == addr.compressed, source


# connect() with an interface's scope: the address is not on that interface's link (lo has
# no fe80::/64 route; an interface gone meanwhile)
_NOT_ON_LINK = _NOT_LOCAL | {errno.EADDRNOTAVAIL, errno.ENODEV}


def _link_local_probe(ip: str) -> bool | None:
    """`_probe`'s verdict on an IPv6 link-local address ``ip`` (compressed, no scope: as
    `address.normalize` names the socket's own): the host's when a UDP socket connect()ed
    to it with one of the host's interfaces as its scope gets it as its own address
    (connect() without a scope cannot ask: EINVAL; bind() would succeed for any address
    with net.ipv6.ip_nonlocal_bind set). A socket per interface (one whose connect()
    failed refuses the next). One the kernel refuses to send to on an interface (EACCES,
    EPERM: a prohibit route) is refused like the host's, as `_probe` refuses any address,
    and kept. None: the probe cannot tell (no socket, no interface list, any other
    error)."""
    try:
        for index, _name in socket.if_nameindex():
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect((ip, PFCP_PORT, 0, index))
                except OSError as e:
                    if e.errno in _NOT_ON_LINK:
                        continue
                    if e.errno in _REFUSED:
                        return True
                    raise
                if normalize(probe.getsockname())[0] == ip:
                    return True
    except OSError:
        return None
    return False


class HostAddresses:
    """`is_host_address` (a call) and `source_address`, each address's answers kept ``ttl``
    seconds (addresses and routes come and go with interfaces), at most ``limit`` of them
    (beyond, all are forgotten): one probe answers both. The node asks whether an address
    is the host's once per Session Report Request to an F-SEID address, and two system
    calls each time would be most of the cost; which source an address is reached from at
    each association setup attempt of pfcpd's own. A probe that cannot tell (an OSError
    that may pass: out of file descriptors) is not kept: the address is taken for the
    host's, without a known source, this once, and asked about again next time; one the
    kernel refuses to send to (EACCES, EPERM) is kept, refused like the host's own."""

    def __init__(
        self, ttl: float = 30.0, limit: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self._clock = clock
        # ip -> (kept until, the host's, source address)
        self._answers: dict[str, tuple[float, bool, str | None]] = {}

    def __call__(self, ip: str) -> bool:
        """`is_host_address`, kept."""
        now = self._clock()
        kept = self._answers.get(ip)
        if kept is None or now >= kept[0]:
            kept = self._fresh(ip, now)
        return kept[1]

    def source_address(self, ip: str) -> str | None:
        """`source_address`, kept."""
        now = self._clock()
        kept = self._answers.get(ip)
        if kept is None or now >= kept[0]:
            kept = self._fresh(ip, now)
        return kept[2]

    def _fresh(self, ip: str, now: float) -> tuple[float, bool, str | None]:
        """`_probe`'s answer for ``ip``, kept unless the probe could not tell."""
        answer = _probe(ip)
        if answer is None:
            return (now, *_HOST_S)
        if len(self._answers) >= self.limit:
            self._answers.clear()
        kept = self._answers[ip] = (now + self.ttl, *answer)
        return kept

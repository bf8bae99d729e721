"""The host-address probe against the kernel's routes (`daemon.host_addresses`), in a network
namespace of its own: an ``unreachable`` route (EHOSTUNREACH) and a ``blackhole`` one
(EINVAL) say "not the host's", a ``prohibit`` route and a subnet broadcast address (EACCES)
"refused" (taken for the host's: no request can leave for it), and each of those verdicts
is kept (one probe for several asks); the interface's own addresses, its IPv6 link-local
one included (probed by bind(), see the module's docstring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_tools import netns_missing, run

NS = f"pfcpd-hostroutes-{os.getpid()}"
SRC = str(Path(__file__).resolve().parents[2] / "src")

# Run inside NS: each address asked three times of one HostAddresses, the probes it made
# (sockets opened) counted.
SCRIPT = """
import json, sys
from pfcpd.daemon import host_addresses
made = []
real = host_addresses.socket.socket
def counted(*args, **kwargs):
    made.append(1)
    return real(*args, **kwargs)
host_addresses.socket.socket = counted
check = host_addresses.HostAddresses()
out = {}
for ip in sys.argv[1:]:
    made.clear()
    verdicts = {check(ip) for _ in range(3)}
    out[ip] = [verdicts.pop() if len(verdicts) == 1 else None, len(made)]
print(json.dumps(out))
"""

EXPECTED = {  # address: [verdict, probes made for three asks]
    "10.99.0.1": [True, 1],  # the interface's address
    "10.99.0.2": [False, 1],  # on its subnet
    "192.0.2.50": [True, 1],  # prohibit: EACCES, refused
    "192.0.2.60": [False, 1],  # unreachable: EHOSTUNREACH
    "192.0.2.70": [False, 1],  # blackhole: EINVAL
    "192.0.2.80": [False, 1],  # no route: ENETUNREACH
    "10.99.0.255": [True, 1],  # the subnet's broadcast: EACCES, refused
    "2001:db8:99::1": [True, 1],
    "2001:db8:50::1": [True, 1],  # prohibit
    "2001:db8:60::1": [False, 1],  # unreachable
    "2001:db8:70::1": [False, 1],  # blackhole
    "fe80::99:1": [True, 1],  # the interface's link-local address (bound on it)
    "fe80::5": [False, 1],  # another on its link
}


@pytest.fixture
def namespace() -> Iterator[str]:
    why = netns_missing()
    if why is not None:
        pytest.skip(why)
    run("ip", "netns", "add", NS)
    try:
        run("ip", "link", "set", "lo", "up", ns=NS)
        run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1", ns=NS)
        run("ip", "addr", "add", "10.99.0.1/24", "brd", "+", "dev", "d0", ns=NS)
        run("ip", "-6", "addr", "add", "2001:db8:99::1/64", "dev", "d0", "nodad", ns=NS)
        run("ip", "-6", "addr", "add", "fe80::99:1/64", "dev", "d0", "nodad", ns=NS)
        run("ip", "link", "set", "d0", "up", ns=NS)
        run("ip", "link", "set", "d1", "up", ns=NS)
        for kind, v4, v6 in (
            ("prohibit", "192.0.2.50/32", "2001:db8:50::/64"),
            ("unreachable", "192.0.2.60/32", "2001:db8:60::/64"),
            ("blackhole", "192.0.2.70/32", "2001:db8:70::/64"),
        ):
            run("ip", "route", "add", kind, v4, ns=NS)
            run("ip", "-6", "route", "add", kind, v6, ns=NS)
        yield NS
    finally:
        run("ip", "netns", "del", NS)


def test_the_kernel_s_route_verdicts_and_which_are_kept(namespace: str) -> None:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT, *EXPECTED],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=SRC),
    )
    assert json.loads(result.stdout) == EXPECTED

"""The source-address probe against the kernel's routes (`daemon.host_addresses`), in a
network namespace of its own with two interfaces of one address each: d0 (10.99.0.1/24,
2001:db8:99::1/64, `probe_namespace`'s) and e0 (10.98.0.1/24, 2001:db8:98::1/64), a route to
a test SMF's network through a gateway on each. The probe names the address of the
interface the route leaves by (e0's for 203.0.113.0/24, though d0 comes first), the
address itself for one of the host's; no route, a prohibit route, an IPv6 link-local
address (not asked): none. One probe answers both questions (`HostAddresses.__call__`,
`HostAddresses.source_address`) and is kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_namespace import COUNTED_PROBES, probe_namespace, run_script

# Run inside NS: each address asked three times for its source and once whether it is the
# host's, of one HostAddresses, the probes it made counted; and once of the module's
# uncached source_address.
SCRIPT = (
    COUNTED_PROBES
    + """
for ip in sys.argv[1:]:
    made.clear()
    sources = {check.source_address(ip) for _ in range(3)}
    host_s = check(ip)
    probes = len(made)
    uncached = host_addresses.source_address(ip)
    out[ip] = [sources.pop() if len(sources) == 1 else "differ", host_s, probes, uncached]
print(json.dumps(out))
"""
)

EXPECTED = {  # address: [source, the host's, probes made for four asks, uncached source]
    "203.0.113.9": ["10.98.0.1", False, 1, "10.98.0.1"],  # the route via e0
    "198.51.100.9": ["10.99.0.1", False, 1, "10.99.0.1"],  # the route via d0
    "10.98.0.7": ["10.98.0.1", False, 1, "10.98.0.1"],  # on e0's subnet
    "2001:db8:77::9": ["2001:db8:98::1", False, 1, "2001:db8:98::1"],  # via e0
    "2001:db8:66::9": ["2001:db8:99::1", False, 1, "2001:db8:99::1"],  # via d0
    "10.98.0.1": ["10.98.0.1", True, 1, "10.98.0.1"],  # the host's own: itself
    "192.0.2.80": [None, False, 1, None],  # no route: ENETUNREACH
    "2001:db8:1::1": [None, False, 1, None],
    "192.0.2.50": [None, True, 1, None],  # prohibit: EACCES, refused
    "fe80::5": [None, False, 1, None],  # link-local: the host's? asked; its source: not
    "127.0.0.1": [None, True, 1, None],  # loopback: the host's; its source not asked
}


@pytest.fixture
def namespace() -> Iterator[str]:
    second = [
        ("link", "add", "e0", "type", "veth", "peer", "name", "e1"),
        ("addr", "add", "10.98.0.1/24", "dev", "e0"),
        ("-6", "addr", "add", "2001:db8:98::1/64", "dev", "e0", "nodad"),
        ("link", "set", "e0", "up"),
        ("link", "set", "e1", "up"),
        ("route", "add", "203.0.113.0/24", "via", "10.98.0.2", "dev", "e0"),
        ("-6", "route", "add", "2001:db8:77::/64", "via", "2001:db8:98::2", "dev", "e0"),
        ("route", "add", "198.51.100.0/24", "via", "10.99.0.2", "dev", "d0"),
        ("-6", "route", "add", "2001:db8:66::/64", "via", "2001:db8:99::2", "dev", "d0"),
        ("route", "add", "prohibit", "192.0.2.50/32"),
    ]
    with probe_namespace("pfcpd-srcroutes", *second) as ns:
        yield ns


def test_the_source_is_the_address_of_the_route_s_interface(namespace: str) -> None:
    assert run_script(namespace, SCRIPT, *EXPECTED) == EXPECTED

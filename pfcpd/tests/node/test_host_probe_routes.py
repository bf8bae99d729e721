"""The host-address probe against the kernel's routes (`daemon.host_addresses`), in a network
namespace of its own: an ``unreachable`` route (EHOSTUNREACH) and a ``blackhole`` one
(EINVAL) say "not the host's", a ``prohibit`` route and a subnet broadcast address (EACCES)
"refused" (taken for the host's: no request can leave for it), and each of those verdicts
is kept (one probe for several asks); the interface's own addresses, its IPv6 link-local
one included (probed by connect() with each interface as its scope, see the module's
docstring; net.ipv6.ip_nonlocal_bind set, which makes bind() succeed for any address)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_namespace import COUNTED_PROBES, probe_namespace, run_script

# Run inside NS: each address asked three times of one HostAddresses, the probes it made
# counted.
SCRIPT = (
    """
with open("/proc/sys/net/ipv6/ip_nonlocal_bind", "w") as knob:  # (this namespace's)
    knob.write("1")
"""
    + COUNTED_PROBES
    + """
for ip in sys.argv[1:]:
    made.clear()
    verdicts = {check(ip) for _ in range(3)}
    out[ip] = [verdicts.pop() if len(verdicts) == 1 else None, len(made)]
print(json.dumps(out))
"""
)

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
    "fe80::99:1": [True, 1],  # the interface's link-local address
    "fe80::5": [False, 1],  # another on its link
}


@pytest.fixture
def namespace() -> Iterator[str]:
    routes = [
        ("-6", "addr", "add", "fe80::99:1/64", "dev", "d0", "nodad"),
        *(
            command
            for kind, v4, v6 in (
                ("prohibit", "192.0.2.50/32", "2001:db8:50::/64"),
                ("unreachable", "192.0.2.60/32", "2001:db8:60::/64"),
                ("blackhole", "192.0.2.70/32", "2001:db8:70::/64"),
            )
            for command in (("route", "add", kind, v4), ("-6", "route", "add", kind, v6))
        ),
    ]
    with probe_namespace("pfcpd-hostroutes", *routes) as ns:
        yield ns


def test_the_kernel_s_route_verdicts_and_which_are_kept(namespace: str) -> None:
    assert run_script(namespace, SCRIPT, *EXPECTED) == EXPECTED

"""The daemon's check of the host's own addresses (`daemon.host_addresses`), which the node
asks with a wildcard listen address: run in a network namespace of its own, whose
addresses the test sets (one end of a veth pair), so the verdicts do not depend on this host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_namespace import probe_namespace, run_script

# Run inside NS: every verdict of is_host_address, then a HostAddresses whose clock the
# script moves, asked before and after an address is added to the interface.
SCRIPT = """
import json, subprocess, sys
from pfcpd.daemon.host_addresses import HostAddresses, is_host_address
verdicts = {ip: is_host_address(ip) for ip in sys.argv[1:]}
now = [100.0]
cache = HostAddresses(ttl=30.0, clock=lambda: now[0])
answers = [cache("10.99.0.3")]
subprocess.run(["ip", "addr", "add", "10.99.0.3/32", "dev", "d0"], check=True)
answers.append(cache("10.99.0.3"))  # kept: the address is new since
now[0] = 129.9
answers.append(cache("10.99.0.3"))
now[0] = 130.0
answers.append(cache("10.99.0.3"))  # asked again after ttl
print(json.dumps({"verdicts": verdicts, "cache": answers}))
"""

EXPECTED = {
    "10.99.0.1": True,  # the interface's address
    "10.99.0.2": False,  # on its subnet, not the host's
    "2001:db8:99::1": True,
    "2001:db8:99::2": False,
    "127.0.0.1": True,
    "127.0.0.9": True,  # loopback: all of 127.0.0.0/8 is delivered locally
    "::1": True,
    "192.0.2.1": False,  # no route there
    "2001:db8:1::1": False,
    "not an address": False,
}


@pytest.fixture
def namespace() -> Iterator[str]:
    with probe_namespace("pfcpd-hostaddr") as ns:
        yield ns


def test_the_host_s_addresses_and_the_kept_verdicts(namespace: str) -> None:
    out = run_script(namespace, SCRIPT, *EXPECTED)
    assert out["verdicts"] == EXPECTED
    assert out["cache"] == [False, False, False, True]

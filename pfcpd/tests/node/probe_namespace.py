"""A network namespace for the host-address probe's tests (`daemon.host_addresses`), so that
the verdicts depend on addresses and routes the test sets, not on this host's: loopback up,
one end of a veth pair (d0) with 10.99.0.1/24 (its subnet's broadcast set) and
2001:db8:99::1/64, and whatever else a test adds; and a script run inside it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_tools import netns_missing, run

SRC = str(Path(__file__).resolve().parents[2] / "src")

# The start of a script for `run_script` that counts the probes: ``host_addresses`` with its
# ``_probe`` wrapped so that each probe appends to ``made``, ``check`` one HostAddresses,
# ``out`` an empty dict for the script's results, ``json`` and ``sys`` imported.
COUNTED_PROBES = """
import json, sys
from pfcpd.daemon import host_addresses
made = []
real = host_addresses._probe
def counted(ip):
    made.append(1)
    return real(ip)
host_addresses._probe = counted
check = host_addresses.HostAddresses()
out = {}
"""


@contextlib.contextmanager
def probe_namespace(name: str, *more: tuple[str, ...]) -> Iterator[str]:
    """The namespace ``name`` (its pid appended), with ``more`` `ip` commands run in it
    after the usual set-up; deleted after. Skips the test when namespaces are missing."""
    why = netns_missing()
    if why is not None:
        pytest.skip(why)
    ns = f"{name}-{os.getpid()}"
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "set", "lo", "up", ns=ns)
        run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1", ns=ns)
        run("ip", "addr", "add", "10.99.0.1/24", "brd", "+", "dev", "d0", ns=ns)
        run("ip", "-6", "addr", "add", "2001:db8:99::1/64", "dev", "d0", "nodad", ns=ns)
        run("ip", "link", "set", "d0", "up", ns=ns)
        run("ip", "link", "set", "d1", "up", ns=ns)
        for command in more:
            run("ip", *command, ns=ns)
        yield ns
    finally:
        run("ip", "netns", "del", ns)


def run_script(namespace: str, script: str, *args: str) -> Any:
    """``script`` run by this Python inside ``namespace`` (pfcpd's sources importable) with
    ``args``: what it printed, as JSON."""
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", script, *args],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=SRC),
    )
    return json.loads(result.stdout)

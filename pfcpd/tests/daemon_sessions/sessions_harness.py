"""A real pfcpd with the local datapath and network instances (root: TUN devices), and SMF
simulators (`pfcpd.smfsim`) whose received datagrams tshark checks at teardown."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_harness import Pfcpd
from oracles import tshark_checked

from pfcpd.smfsim.client import SmfClient

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for the local datapath's TUN devices"
)


def unique_tun() -> str:
    return f"c2t{random.randint(0, 999999)}"


def session_overrides(
    pool: str | None = None, pool6: str | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One network instance `internet` on a TUN of its own with a test-only UE pool."""
    pools = [pool or f"198.18.{random.randint(0, 255)}.0/24"]
    pools.append(pool6 or f"fd00:c2:{random.randint(0, 0xFFFF):x}::/64")
    over: dict[str, Any] = {
        # The SMF simulator answers pfcpd's heartbeats only while it waits for an answer:
        # room for a test's pauses before pfcpd declares it lost (8 s).
        "pfcp": {"t1": 2, "n1": 3},
        "datapath": {"kind": "local", "n6_tun": {"internet": unique_tun()}},
        "network_instances": {"internet": {"ue_pools": pools}},
    }
    for key, value in (extra or {}).items():
        over[key] = value
    return over


@pytest.fixture
def smf() -> Iterator[Callable[..., SmfClient]]:
    """SMF simulators; at teardown every datagram pfcpd sent them must pass tshark."""
    with tshark_checked(lambda daemon, **kwargs: SmfClient(daemon.addr, **kwargs)) as make:
        yield make


def state_path(daemon: Pfcpd) -> Path:
    return daemon.tmp / "state"

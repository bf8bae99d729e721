"""PfcpServer gives the node the kernel's source address (`HostAddresses.source_address`) at
construction, not after it: an association restored from a state-file record that names no
listen endpoint is named one inside `PfcpNode.__init__` (`_name_endpoint`), by the address
the kernel sends to its CP from; an answer wired to the node afterwards would come too late
for it (the restored association would keep the first endpoint, whatever the route).

`PfcpServer.__init__` binds no socket (`start` does: `open_sockets` is made to fail here to
show it), so the listen addresses are documentation ones and nothing is sent; the kernel's
probe is faked (`host_addresses._probe`), the rest is the daemon's own: `HostAddresses` and
its cache, the server's wiring, the node's choice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from node_harness import server_config

from pfcpd.daemon import host_addresses
from pfcpd.daemon import server as server_module
from pfcpd.daemon.host_addresses import HostAddresses
from pfcpd.daemon.server import PfcpServer
from pfcpd.daemon.state_store import NodeState
from pfcpd.node.node_metrics import NodeMetrics

MGMT = "192.0.2.5:8805"  # listed first: the choice without the kernel's source
N4 = "198.51.100.5:8805"  # the address the kernel's route to the CP leaves from
CP = "203.0.113.9"


def test_a_restored_association_without_an_endpoint_is_named_by_the_kernel_s_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails with the wiring moved after construction (``server.node.source_address =
    host_addresses.source_address`` once the node is made): MGMT, the probe not asked."""
    asked: list[str] = []

    def probe(ip: str) -> tuple[bool, str | None]:
        asked.append(ip)
        return (False, "198.51.100.5") if ip == CP else (False, None)

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("PfcpServer.__init__ opened a listen socket")

    monkeypatch.setattr(host_addresses, "_probe", probe)
    monkeypatch.setattr(server_module, "open_sockets", no_socket)
    config = server_config(tmp_path / "state", listen=[MGMT, N4])
    record: dict[str, object] = {  # (written before pfcpd kept the endpoint: no "local")
        "node_id": "smf",
        "address": CP,
        "port": 8805,
        "cp_recovery_time_stamp": 1,
        "initiator": "cp",
        "established_at": 0.0,
    }
    state = NodeState("127.0.0.1", 3_950_000_000, [record], restored=True)

    async def main() -> str | None:
        server = PfcpServer(config, state, NodeMetrics(), host_addresses=HostAddresses())
        try:
            (assoc,) = server.node.associations()
            return assoc.local
        finally:
            server.close()

    assert asyncio.run(main()) == N4
    assert asked == [CP]

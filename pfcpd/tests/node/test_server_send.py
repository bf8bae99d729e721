"""The server sends a datagram through its endpoint's `PfcpSocket.send` (`PfcpServer._send_all`):
from the endpoint's socket; a datagram that cannot be sent (a closed endpoint, a send the
kernel refuses) is counted as dropped, send_failed, as when `sendto` says False."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from node_harness import server_config

from pfcpd.daemon.server import PfcpServer
from pfcpd.daemon.state_store import NodeState
from pfcpd.node.events import Transmit
from pfcpd.node.node_metrics import NodeMetrics


def test_send_as_the_socket_sends_and_counts_what_it_cannot(tmp_path: Path) -> None:
    metrics = NodeMetrics()

    async def main() -> tuple[bytes, list[float]]:
        server = PfcpServer(
            server_config(tmp_path / "state", heartbeat_interval=60),
            NodeState("127.0.0.1", 3_950_000_000),
            metrics,
        )
        await server.start()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        try:
            dest = peer.getsockname()
            [endpoint] = server.endpoints.values()
            failed = []
            server._send_all([Transmit(b"sent", dest, None)])
            data, source = peer.recvfrom(100)
            assert source[:2] == endpoint.sockname[:2]  # (from the endpoint's socket)
            failed.append(metrics.dropped.get("send_failed"))
            # The kernel refuses it (a UDP datagram over 65,507 octets: EMSGSIZE).
            assert endpoint.send([(b"x" * 70_000, dest)]) == 1
            server._send_all([Transmit(b"x" * 70_000, dest, None)])
            failed.append(metrics.dropped.get("send_failed"))
            endpoint.close()
            assert endpoint.send([(b"late", dest)]) == 1
            server._send_all([Transmit(b"late", dest, None)])
            failed.append(metrics.dropped.get("send_failed"))
            return data, failed
        finally:
            peer.close()
            server.close()

    data, failed = asyncio.run(main())
    assert data == b"sent"
    assert failed == [0.0, 1.0, 2.0]

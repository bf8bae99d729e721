"""The local datapath's packet loop counts, as metrics (names: see docs/pfcpd.md).

The loop runs in its own thread and keeps plain integers (``PacketLoop.counters()``); the
metrics read them when rendered. Whoever starts the loop calls :func:`register_packet_loop`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..metrics import ReadCounter, Registry

PACKET_LOOP_COUNTERS = {
    "errors": (
        "pfcpd_packet_loop_errors_total",
        "Packets the local datapath's loop could not receive, forward or send (a socket "
        "error, a network instance without a TUN device, a duplicate to the other family)",
    ),
    "duplicates_sent": (
        "pfcpd_packet_loop_duplicates_sent_total",
        "Packets the local datapath's loop sent as duplicates (FAR duplicating parameters)",
    ),
}


def register_packet_loop(registry: Registry, counters: Callable[[], Mapping[str, int]]) -> None:
    """Export the loop's counts: ``counters`` is the loop's ``counters`` method."""
    for key, (name, help_text) in PACKET_LOOP_COUNTERS.items():

        def read(key: str = key) -> float:
            return float(counters().get(key, 0))

        registry.add(ReadCounter(name, help_text, read))

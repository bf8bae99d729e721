"""The local datapath's counts, as metrics (names: see docs/pfcpd.md): its packet loop's and
its C core's.

The loop runs in its own thread and keeps plain integers (``PacketLoop.counters()``); the core
counts packets received and dropped per reason (``foreach_upf_drop_reason`` and
``foreach_upf_malformed`` of upf_plugin/core/upf_pipeline.h, named by their text). The metrics
read both when collected. Whoever starts the datapath calls :func:`register_packet_loop` and
:func:`register_core_counters`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..datapath.interface import SessionCounters
from ..metrics import LabelledCounters, ReadCounter, Registry

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


def register_core_counters(
    registry: Registry,
    counters: Callable[[], SessionCounters],
    drop_reasons: Sequence[str],
    malformed_reasons: Sequence[str],
) -> None:
    """Export the core's counts: ``counters`` is the datapath's ``counters`` method; every
    reason gets a series (0 until counted). The reasons' first entry ("none") is left out."""

    def received() -> dict[tuple[str, ...], float]:
        got = counters()
        return {("uplink",): got.rx_ul, ("downlink",): got.rx_dl}

    def by_reason(
        reasons: Sequence[str], pick: Callable[[SessionCounters], Mapping[str, int]]
    ) -> Callable[[], dict[tuple[str, ...], float]]:
        def read() -> dict[tuple[str, ...], float]:
            got = pick(counters())
            return {(reason,): got.get(reason, 0) for reason in reasons[1:]}

        return read

    registry.add(
        LabelledCounters(
            "pfcpd_datapath_packets_received_total",
            "Packets the local datapath's core received, by direction (uplink: GTP-U on N3; "
            "downlink: from N6)",
            ("direction",),
            received,
        )
    )
    registry.add(
        LabelledCounters(
            "pfcpd_datapath_packets_dropped_total",
            "Packets the local datapath's core dropped, by reason (the core's drop reasons)",
            ("reason",),
            by_reason(drop_reasons, lambda c: c.drops),
        )
    )
    registry.add(
        LabelledCounters(
            "pfcpd_datapath_packets_malformed_total",
            "Packets the local datapath's core found malformed, by what was wrong",
            ("reason",),
            by_reason(malformed_reasons, lambda c: c.malformed),
        )
    )

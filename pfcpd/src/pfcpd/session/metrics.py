"""The session engine's metrics (Prometheus names documented in docs/pfcpd.md)."""

from __future__ import annotations

from collections.abc import Callable

from ..metrics import Counter, Gauge, LabelledGauge, ReadCounter, Registry
from .gtpu_path import PathMonitor


class SessionMetrics:
    def __init__(
        self,
        registry: Registry,
        active: Callable[[], float],
    ) -> None:
        add = registry.add
        self.established = add(
            Counter("pfcpd_sessions_established_total", "PFCP sessions established")
        )
        self.deleted = add(
            Counter(
                "pfcpd_sessions_deleted_total",
                "PFCP sessions deleted, by reason (cp, peer_released, peer_lost,"
                " peer_restarted, report_response_65, session_set)",
                ("reason",),
            )
        )
        add(Gauge("pfcpd_sessions_active", "PFCP sessions held", active))
        self.requests = add(
            Counter(
                "pfcpd_session_requests_total",
                "Session requests answered by the engine, by message type and cause",
                ("type", "cause"),
            )
        )
        self.reports = add(
            Counter(
                "pfcpd_session_reports_sent_total",
                "Session Report Requests sent, by trigger (USAR trigger names, DLDR, ERIR)",
                ("trigger",),
            )
        )
        self.allocations = add(
            Counter(
                "pfcpd_allocation_failures_total",
                "Allocations refused, by kind (teid, ue_ipv4, ue_ipv6)",
                ("kind",),
            )
        )
        self.journal_failures = add(
            Counter(
                "pfcpd_session_journal_failures_total",
                "Session changes not confirmed because they could not be made durable",
            )
        )
        self.restore_failures = add(
            Counter(
                "pfcpd_session_restore_failures_total",
                "Journaled sessions that could not be restored at start-up",
            )
        )
        self.errors = add(
            Counter(
                "pfcpd_session_engine_errors_total",
                "Unexpected exceptions in the session engine (bugs), by where",
                ("where",),
            )
        )


def register_path_metrics(
    registry: Registry, monitor: PathMonitor, running: Callable[[], bool]
) -> None:
    """GTP-U path management's metrics, read from ``monitor`` (its paths while ``running``:
    none once the engine turned path management off)."""

    def paths() -> dict[str, float]:
        states = {"up": 0.0, "failed": 0.0}
        if running():
            for failed in monitor.peers().values():
                states["failed" if failed else "up"] += 1
        return states

    add = registry.add
    add(
        LabelledGauge(
            "pfcpd_gtpu_paths",
            "GTP-U paths in use (peers the sessions' FARs send to), by state: up, failed",
            "state",
            paths,
        )
    )
    for name, help_text, read in (
        (
            "pfcpd_gtpu_echo_requests_sent_total",
            "GTP-U Echo Requests sent (path management), retransmissions included",
            lambda: monitor.echoes_sent,
        ),
        (
            "pfcpd_gtpu_echo_requests_unsent_total",
            "GTP-U Echo Requests the datapath could not send (away, or refusing them): not"
            " counted against their paths",
            lambda: monitor.unsent_echoes,
        ),
        (
            "pfcpd_gtpu_path_failures_total",
            "GTP-U paths found failed (Echo Requests unanswered), each reported (UPFR)",
            lambda: monitor.failures,
        ),
        (
            "pfcpd_gtpu_path_recoveries_total",
            "Failed GTP-U paths that answered again",
            lambda: monitor.recoveries,
        ),
    ):
        add(ReadCounter(name, help_text, read))

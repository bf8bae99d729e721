"""The session engine's metrics (Prometheus names documented in docs/pfcpd.md)."""

from __future__ import annotations

from collections.abc import Callable

from ..metrics import Counter, Gauge, Registry


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

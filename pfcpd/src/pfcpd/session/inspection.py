"""What ``pfcpd show sessions`` and ``pfcpd show paths`` show (`Inspection.sessions_view`,
`Inspection.paths_view`)."""

from __future__ import annotations

from ..datapath.interface import DatapathError, Far
from .errors import RuleError
from .session import Session
from .state import EngineState


class Inspection(EngineState):
    def paths_view(self) -> dict[str, object]:
        """What ``pfcpd show paths`` shows: whether GTP-U path management runs, with its
        settings, and the paths in use (`PathMonitor.view`)."""
        paths = self._paths
        settings = self.settings.gtpu_path
        return {
            "enabled": paths is not None,
            "interval": settings.interval if settings is not None else 0,
            "t3_response": settings.t3_response if settings is not None else None,
            "n3_requests": settings.n3_requests if settings is not None else None,
            "paths": paths.view() if paths is not None else [],
        }

    def sessions_view(self, seid: int | None = None) -> list[dict[str, object]]:
        """What ``pfcpd show sessions`` shows: JSON-ready dicts, one per session."""
        chosen = (
            ([self.sessions[seid]] if seid is not None and seid in self.sessions else [])
            if seid is not None
            else list(self.sessions.values())
        )
        out: list[dict[str, object]] = []
        for s in chosen:
            rules = s.rules
            urrs: dict[str, object] = {}
            for urr_id, book in s.urrs.items():
                entry: dict[str, object] = {
                    "ur_seqn": book.seqn,
                    "baseline": list(book.baseline.values),
                }
                try:
                    u = self.datapath.read_usage(s.up_seid, urr_id)
                    entry["bytes"] = [u.bytes_total, u.bytes_ul, u.bytes_dl]
                    entry["packets"] = [u.packets_total, u.packets_ul, u.packets_dl]
                except DatapathError:
                    pass
                urrs[str(urr_id)] = entry
            out.append(
                {
                    "up_seid": s.up_seid,
                    "cp_seid": s.cp_seid,
                    "cp_node_id": s.cp_node_id,
                    "established_ntp": int(s.established_ntp),
                    "pdrs": sorted(rules.pdr),
                    "fars": {
                        str(f.far_id): {
                            "apply_action": int(f.apply_action),
                            "outer_header_creation": None
                            if f.outer_header_creation is None
                            else [str(f.outer_header_creation[0]), f.outer_header_creation[1]],
                        }
                        for f in self._fars(s)
                    },
                    "qers": sorted(rules.qer),
                    "urrs": urrs,
                    "teids": list(s.teids),
                    "ue_addresses": [n for _, n in s.ue],
                }
            )
        return out

    def _fars(self, session: Session) -> tuple[Far, ...]:
        try:
            return self._program(session).fars
        except RuleError:
            return ()

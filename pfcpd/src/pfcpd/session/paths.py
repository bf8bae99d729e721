"""GTP-U path management in the engine (`gtpu_path.PathMonitor` does the timing): the
Echo Requests it asks for go out through the datapath (`Datapath.send_echo`), the Echo
Responses come back among the datapath's events (`EventType.ECHO_RESPONSE`), and a path
that fails (or answers again) is reported to every associated CP with a session whose FARs
send to that peer: one PFCP Node Report Request per CP (TS 29.244 6.2.9, 7.4.5.1) with the
Node Report Type UPFR and one User Plane Path Failure Report holding a Remote GTP-U Peer IE
per failed peer (UPRR and a User Plane Path Recovery Report for those that answer again).

A datapath that sends no Echo Request (`Datapath.send_echo` UNSUPPORTED: a vpp plugin
without the message) turns path management off at the first one, with an error logged; an
Echo Request the datapath could not send now (NOT_SENT: VPP away, or refusing it) does not
count against its path (`PathMonitor.unsent`): an outage of the datapath is not a failure of
every path. The peers
in use are counted as the sessions' FARs are indexed (`EngineState._index`); the CPs of a
failed peer are found by a pass over the sessions, made only when a path fails or
recovers.
"""

from __future__ import annotations

import logging

from ..datapath.interface import DatapathEvent, EchoSent, IPAddress
from ..pfcp import IE, Grouped, IEType, Message, MessageType
from ..pfcp.ies_address import NodeID, RemoteGTPUPeer
from ..pfcp.ies_flags import NodeReportType
from .gtpu_path import PathActions
from .session import peers_of
from .state import EngineState

log = logging.getLogger("pfcpd.session")
T = IEType


class PathReporting(EngineState):
    def _paths_timer(self) -> float | None:
        """When the path monitor needs `_paths_run` next (None: off, or no peer in use)."""
        return None if self._paths is None else self._paths.next_time()

    def _paths_run(self, now: float) -> None:
        if self._paths is not None:
            self._path_actions(self._paths.run(now), now)

    def _echo_response(self, ev: DatapathEvent, now: float) -> None:
        if self._paths is not None and ev.peer is not None:
            self._path_actions(self._paths.echo_response(ev.peer, ev.value, now), now)

    def _path_actions(self, actions: PathActions, now: float) -> None:
        monitor = self._paths
        assert monitor is not None  # (its actions)
        for peer, seq in actions.echoes:
            sent = self.datapath.send_echo(self.settings.n3_address, peer, seq)
            if sent is EchoSent.UNSUPPORTED:
                # A datapath that sends no Echo Request would have every path found failed:
                # path management stops.
                log.error("the datapath sends no GTP-U Echo Request: path management is off")
                self._paths = None
                return
            if sent is EchoSent.NOT_SENT:
                monitor.unsent(peer, seq)
        for peer in actions.failed:
            log.warning("GTP-U path to %s failed (Echo Requests unanswered)", peer)
        for peer in actions.recovered:
            log.info("GTP-U path to %s answers again", peer)
        if actions.failed or actions.recovered:
            self._node_reports(actions.failed, actions.recovered, now)

    def _node_reports(
        self, failed: list[IPAddress], recovered: list[IPAddress], now: float
    ) -> None:
        """A Node Report Request to each CP with sessions sending to a peer of ``failed``
        or ``recovered``, naming those of its sessions' peers."""
        wanted = set(failed) | set(recovered)
        by_cp: dict[str, set[IPAddress]] = {}
        for session in self.sessions.values():
            for peer, _ in peers_of(session.peers_kept):
                if peer in wanted:
                    by_cp.setdefault(session.cp_node_id, set()).add(peer)
        node_id = NodeID.from_text(self.settings.node_id or str(self.settings.pfcp_address))
        for cp, peers in sorted(by_cp.items()):
            down = [p for p in failed if p in peers]
            up = [p for p in recovered if p in peers]
            request = node_report(node_id, down, up)
            if self._sender is None:
                log.error("session engine not attached: node report dropped")
                return
            if self._sender.send_request(cp, request, now) is None:
                log.warning("no association with CP %s: its node report is not sent", cp)


def node_report(node_id: NodeID, failed: list[IPAddress], recovered: list[IPAddress]) -> Message:
    """The PFCP Node Report Request for paths ``failed`` (UPFR) and ``recovered`` (UPRR)."""
    flags = [name for name, peers in (("UPFR", failed), ("UPRR", recovered)) if peers]
    ies: list[IE] = [node_id, NodeReportType.of(*flags)]
    if failed:
        ies.append(Grouped(T.USER_PLANE_PATH_FAILURE_REPORT, [_remote(p) for p in failed]))
    if recovered:
        ies.append(Grouped(T.USER_PLANE_PATH_RECOVERY_REPORT, [_remote(p) for p in recovered]))
    return Message(MessageType.NODE_REPORT_REQUEST, 0, ies)


def _remote(peer: IPAddress) -> RemoteGTPUPeer:
    text = str(peer)
    return RemoteGTPUPeer(text if peer.version == 4 else None, text if peer.version == 6 else None)

"""The sans-IO PFCP node of the UPF: associations, heartbeats, transactions (no I/O here)."""

from .association import Association, AssociationState
from .events import Event, Transmit
from .node import PfcpNode
from .node_metrics import NodeMetrics
from .session_handler import NoSessionEngine, Peer, PeerGone, SessionHandler

__all__ = [
    "Association",
    "AssociationState",
    "Event",
    "NoSessionEngine",
    "NodeMetrics",
    "Peer",
    "PeerGone",
    "PfcpNode",
    "SessionHandler",
    "Transmit",
]

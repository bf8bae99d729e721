"""One PFCP association with a CP peer, as the node keeps it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..address import Address


class AssociationState(enum.Enum):
    ESTABLISHED = "established"
    LOST = "lost"  # N1 heartbeats unanswered; kept for the graceful release period
    RELEASING = "releasing"  # this node asked the CP to release it (SARR)


@dataclass(slots=True)
class Association:
    node_id: str  # the CP's Node ID as text (address literal or FQDN)
    addr: Address  # the CP's address: its requests come from there, ours go there
    local: str | None  # the listen endpoint that talks to it (None: any of its family)
    cp_recovery_time_stamp: int  # NTP-era seconds, as received
    initiator: str  # "cp" or "up"
    established_at: float  # node clock (monotonic seconds)
    state: AssociationState = AssociationState.ESTABLISHED
    cp_features: int = 0  # CP Function Features flags as received (0: none)
    next_heartbeat_at: float = 0.0
    heartbeat_in_flight: bool = False
    last_heartbeat_ok_at: float | None = None
    lost_at: float | None = None
    release_at: float | None = None  # LOST: when the graceful release period ends

    def to_record(self, unix_offset: float) -> dict[str, object]:
        """A JSON-able record (times in Unix seconds, ``unix_offset`` = unix - node clock)."""
        return {
            "node_id": self.node_id,
            "address": self.addr[0],
            "port": self.addr[1],
            "local": self.local,
            "cp_recovery_time_stamp": self.cp_recovery_time_stamp,
            "initiator": self.initiator,
            "established_at": round(self.established_at + unix_offset, 3),
            "state": self.state.value,
            "cp_features": self.cp_features,
            "last_heartbeat_ok_at": None
            if self.last_heartbeat_ok_at is None
            else round(self.last_heartbeat_ok_at + unix_offset, 3),
        }

    @classmethod
    def from_record(cls, record: dict[str, object], unix_offset: float, now: float) -> Association:
        """Rebuild a saved association; it starts ESTABLISHED and is probed at once."""
        established = float(record["established_at"]) - unix_offset  # type: ignore[arg-type]
        return cls(
            node_id=str(record["node_id"]),
            addr=(str(record["address"]), int(record["port"])),  # type: ignore[call-overload]
            local=None if record.get("local") is None else str(record["local"]),
            cp_recovery_time_stamp=int(record["cp_recovery_time_stamp"]),  # type: ignore[call-overload]
            initiator=str(record["initiator"]),
            established_at=established,
            cp_features=int(record.get("cp_features", 0)),  # type: ignore[call-overload]
            next_heartbeat_at=now,
        )

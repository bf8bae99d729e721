"""One PFCP association with a CP peer, as the node keeps it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..address import Address
from ..pfcp import IEType, Message
from ..pfcp.ies_address import AlternativeSMFIPAddress
from ..pfcp.ies_text import SMFSetID


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
    smf_set_id: str | None = None  # the SMF Set ID it gave (MPAS, TS 29.244 5.22.3)
    alternative_addresses: tuple[str, ...] = ()  # its Alternative SMF IP Addresses
    next_heartbeat_at: float = 0.0
    heartbeat_in_flight: bool = False
    last_heartbeat_ok_at: float | None = None
    lost_at: float | None = None
    release_at: float | None = None  # LOST: when the graceful release period ends

    def set_smf_set(self, msg: Message) -> None:
        """Take the SMF Set ID and Alternative SMF IP Addresses ``msg`` carries (an
        Association Setup/Update Request or Setup Response); absent ones stay as they are."""
        set_id = msg.get(IEType.SMF_SET_ID)
        if isinstance(set_id, SMFSetID):
            self.smf_set_id = set_id.name
        alternatives = [
            a
            for ie in msg.get_all(IEType.ALTERNATIVE_SMF_IP_ADDRESS)
            if isinstance(ie, AlternativeSMFIPAddress)
            for a in (ie.ipv4, ie.ipv6)
            if a is not None
        ]
        if alternatives:
            self.alternative_addresses = tuple(alternatives)

    def reached_at(self, address: str) -> bool:
        """The CP is at ``address``: its association's address, its Node ID, or one of its
        Alternative SMF IP Addresses."""
        return address in (self.addr[0], self.node_id) or address in self.alternative_addresses

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
            "smf_set_id": self.smf_set_id,
            "alternative_addresses": list(self.alternative_addresses),
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
            smf_set_id=None if record.get("smf_set_id") is None else str(record["smf_set_id"]),
            alternative_addresses=tuple(
                str(a)
                for a in record.get("alternative_addresses", ())  # type: ignore[attr-defined]
            ),
            next_heartbeat_at=now,
        )

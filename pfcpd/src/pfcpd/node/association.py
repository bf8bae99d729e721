"""One PFCP association with a CP peer, as the node keeps it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..address import Address, Facts, facts
from ..pfcp import IEType, Message
from ..pfcp.ies_address import AlternativeSMFIPAddress
from ..pfcp.ies_text import SMFSetID
from .session_handler import Peer


class AssociationState(enum.Enum):
    ESTABLISHED = "established"
    LOST = "lost"  # N1 heartbeats unanswered; kept for the graceful release period
    RELEASING = "releasing"  # this node asked the CP to release it (SARR)


@dataclass(slots=True)
class Association:
    node_id: str  # the CP's Node ID as text (address literal or FQDN)
    addr: Address  # the CP's address: its requests come from there, ours go there
    # The listen endpoint that talks to it (None: any of its family): the one the CP's setup
    # arrived on, or the one pfcpd's own setup request left from; for one that names none (a
    # record of an older state file, a setup datagram that named no endpoint) the node
    # derives it (`PfcpNode._name_endpoint`).
    local: str | None
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
    # The session handler's view of it, and what the node asks of its address when it
    # picks a request's destination (`PfcpNode._answerable`; None: not an IP address). Made
    # once: an association's Node ID and address never change; a new one is another object.
    peer: Peer = field(init=False, repr=False, compare=False)
    facts: Facts | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.peer = Peer(self.node_id, self.addr)
        self.facts = facts(self.addr[0])

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


# At most this many source addresses keep their association in an `AssociationsAt` (only
# associated CPs' addresses are kept, a few ports each; past it, it starts again).
_KNOWN_ADDRESSES = 1024


class AssociationsAt(dict[Address, "Association | None"]):
    """``at[addr]``: the association of the peer at ``addr``, or None. The same address and
    port, else the only association at that IP address (a CP may send from another port
    than it set the association up from). With several at that IP the port decides, or
    there is none: a guess could take another CP's heartbeat for a restart and purge the
    wrong sessions.

    An association found is kept (up to _KNOWN_ADDRESSES addresses), so that the request
    path pays a dict subscript (no Python frame) and not a scan of the associations; None is
    not kept (``__missing__`` scans again). Made anew whenever the associations change: its
    answers hold only for the associations it was made for."""

    def __init__(self, associations: dict[str, Association]) -> None:
        super().__init__()
        self._associations = associations

    def __missing__(self, addr: Address) -> Association | None:
        by_ip = None
        several = False
        found: Association | None = None
        for assoc in self._associations.values():
            if assoc.addr == addr:
                found = assoc
                break
            if assoc.addr[0] == addr[0]:
                several = by_ip is not None
                by_ip = by_ip or assoc
        else:
            found = None if several else by_ip
        if found is not None:
            if len(self) >= _KNOWN_ADDRESSES:  # (ports of the associated CPs' addresses)
                self.clear()
            self[addr] = found
        return found

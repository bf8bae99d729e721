"""The datapath interface: what the session engine hands a datapath and gets back.

The session engine compiles PFCP IEs into one `SessionProgram` per session (rules with the
3GPP names of TS 29.244, already resolved to plain values) and calls `Datapath.install`,
which builds the whole program and swaps it in atomically (create or replace). Counters are
read with `read_usage`; events (usage threshold/quota, DL data report, buffer expiry, GTP-U
error indication, GTP-U echo response) are drained with `poll_events`; `send_echo` sends a
GTP-U Echo Request (path management).

Conventions shared with the C core (``upf_plugin/core/upf_rules.h``):
- IP addresses are `ipaddress` objects; prefixes are `ipaddress` networks.
- SDF filters are in flow-description orientation ("permit out ... from <remote> to <ue>"):
  `remote` is the far end, `ue` the UE side; uplink packets match them swapped.
- `precedence`: lower value wins. Volumes are bytes, rates bit/s, times nanoseconds.
- Interfaces use TS 29.244 values: ACCESS=0, CORE=1, SGI_LAN=2, CP_FUNCTION=3.
"""

from __future__ import annotations

import abc
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DatapathError(Exception):
    """A program the datapath cannot accept (unknown reference, conflict, limits).
    ``failed_rule``: (rule type as in Failed Rule ID, TS 29.244 8.2.80: 0 PDR, 1 FAR, 2 QER,
    3 URR, 4 BAR; rule ID) of the rule refused, when it is one rule's."""

    def __init__(self, message: str, failed_rule: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.failed_rule = failed_rule


class Interface(enum.IntEnum):
    ACCESS = 0
    CORE = 1
    SGI_LAN = 2
    CP_FUNCTION = 3
    VN_INTERNAL = 4


class ApplyAction(enum.IntFlag):
    """TS 29.244 8.2.26, octet 5."""

    DROP = 0x01
    FORW = 0x02
    BUFF = 0x04
    NOCP = 0x08
    DUPL = 0x10


class EventType(enum.IntEnum):
    USAGE_THRESHOLD = 1
    USAGE_QUOTA = 2
    TIME_THRESHOLD = 3
    TIME_QUOTA = 4
    DL_DATA_REPORT = 5
    BUFFER_EXPIRED = 6
    ERROR_INDICATION = 7
    ECHO_RESPONSE = 8  # a GTP-U Echo Response: value = its sequence number, peer = sender


# A DL_DATA_REPORT's value: the packet's QFI (bits 0-7, 0 = none) and, with this bit set,
# the DSCP of its ToS / Traffic Class (bits 8-13): the Paging Policy Indication
# (TS 29.244 8.2.27; the core's UPF_EV_DLDR_DSCP)
DLDR_DSCP = 1 << 14


class EchoSent(enum.Enum):
    """What became of a GTP-U Echo Request `Datapath.send_echo` was asked for."""

    SENT = "sent"  # on its way (it may still be lost)
    NOT_SENT = "not sent"  # the datapath could not send it now (away, refused): logged
    UNSUPPORTED = "unsupported"  # this datapath sends none


@dataclass(frozen=True, slots=True)
class SdfFilter:
    """One SDF filter. None = any. Port ranges are inclusive (lo, hi)."""

    protocol: int | None = None
    remote: IPNetwork | None = None
    ue: IPNetwork | None = None
    remote_ports: tuple[int, int] | None = None
    ue_ports: tuple[int, int] | None = None
    tos: tuple[int, int] | None = None  # (value, mask)
    spi: int | None = None
    flow_label: int | None = None


@dataclass(frozen=True, slots=True)
class Pdr:
    pdr_id: int
    precedence: int
    source_interface: Interface
    far_id: int
    local_fteid: tuple[IPAddress, int] | None = None  # (address, TEID)
    ue_ip: IPNetwork | None = None  # source in UL, destination in DL
    network_instance: int = 0  # index of the network instance name, chosen by pfcpd
    qfi: int | None = None
    sdf_filters: tuple[SdfFilter, ...] = ()
    outer_header_removal: int | None = None  # TS 29.244 8.2.64 value, None = keep
    qer_ids: tuple[int, ...] = ()  # at most 2
    urr_ids: tuple[int, ...] = ()  # at most 4


class DuplicateEncap(enum.IntEnum):
    """Outer header creation of a duplicating parameter (TS 29.244 8.2.56, simplified)."""

    NONE = 0  # the copy as is (plain IP)
    GTPU = 1  # GTP-U/UDP/IPv4|IPv6 to (peer, 2152) with teid
    UDP = 2  # UDP/IPv4|IPv6 to (peer, port), the copy as payload
    IP = 3  # IPv4|IPv6 header to peer (IP-in-IP)


@dataclass(frozen=True, slots=True)
class DuplicatingParameters:
    """One Duplicating Parameters IE of a FAR with apply action DUPL (TS 29.244 7.5.2.3-3).

    Forwarded packets of the FAR are copied (the user packet as received: UL the T-PDU, DL
    the N6 packet) and each copy is sent to `destination_interface` with `encap` in front.
    At most 2 per FAR (`upf_rules.h` UPF_MAX_DUPL_PER_FAR). `forwarding_policy` is an index
    chosen by pfcpd (as network_instance; 0 = none), reported, not applied."""

    destination_interface: Interface
    encap: DuplicateEncap = DuplicateEncap.NONE
    peer: IPAddress | None = None  # required unless encap is NONE
    source: IPAddress | None = None  # our address, outer source (peer's family)
    teid: int = 0  # GTPU
    port: int = 0  # UDP destination port
    pdu_session_container: bool = False  # GTPU: add a PDU Session Container with the QFI
    dscp: int | None = None  # transport level marking of the copy
    forwarding_policy: int = 0


@dataclass(frozen=True, slots=True)
class Far:
    far_id: int
    apply_action: ApplyAction
    destination_interface: Interface = Interface.CORE
    network_instance: int = 0
    # Outer header creation: GTP-U towards (peer address, TEID), from our local address.
    outer_header_creation: tuple[IPAddress, int] | None = None
    ohc_source: IPAddress | None = None
    pdu_session_container: bool = True  # add the PDU Session Container with the QFI (N3/N9)
    dscp: int | None = None  # transport level marking
    # Redirect Information (TS 29.244 8.2.87): (address type, server address). Types 0/1
    # (IPv4/IPv6, an IPAddress): UL packets get their destination rewritten to it (local
    # datapath). Types 2/3 (URL/SIP URI, a str) need an HTTP/SIP proxy: reported only.
    redirect: tuple[int, IPAddress | str] | None = None
    duplicating: tuple[DuplicatingParameters, ...] = ()  # used with ApplyAction.DUPL


@dataclass(frozen=True, slots=True)
class Qer:
    qer_id: int
    gate_ul_open: bool = True
    gate_dl_open: bool = True
    qfi: int | None = None
    rqi: bool = False
    # Paging Policy Indicator (TS 29.244 8.2.116, 0..7) the DL PDU Session Container of the
    # PDRs' packets carries (PPP = 1, TS 38.415 5.5.2.1); None = none (PPP = 0)
    ppi: int | None = None
    mbr_ul: int = 0  # bit/s, 0 = not policed
    mbr_dl: int = 0
    gbr_ul: int = 0
    gbr_dl: int = 0
    burst_bytes: int = 0  # 0 = max(MBR x 100 ms, 16 KiB)


@dataclass(frozen=True, slots=True)
class Urr:
    urr_id: int
    volume_threshold: tuple[int, int, int] | None = None  # (total, ul, dl) bytes, 0 = unset
    volume_quota: tuple[int, int, int] | None = None
    time_threshold_ns: int = 0
    time_quota_ns: int = 0
    # The Time Quota's grant: changed at each grant, whatever the quota's value (a Time Quota
    # in an Update URR is a new quota, TS 29.244 5.2.2.2.1); a program of another grant than
    # the quota's re-arms it (a quota used up too), but for the grant before it (the grant
    # undone: the program before a refused change), whose quota goes on as it was. A program
    # without the Time Quota (a pause, INAM) holds it, one of the same grant resumes it with
    # the time left.
    time_quota_grant: int = 0
    drop_on_quota: bool = True
    # Measurement before QoS enforcement (Measurement Information MBQE, TS 29.244 8.2.68):
    # the URR also counts the packets its PDRs' QERs drop (gate closed, MBR exceeded).
    before_qos: bool = False


@dataclass(frozen=True, slots=True)
class Bar:
    bar_id: int
    max_packets: int = 0  # suggested buffering packets count, 0 = 32
    max_bytes: int = 0  # 0 = 64 KiB
    duration_ns: int = 0  # DL buffering duration, 0 = until the FAR changes
    # The DL Buffering Duration's grant: changed each time the CP gives the duration (an
    # Update BAR of a Session Report Response), whatever its value; a program of another
    # grant than the installed one's counts the duration of what is buffered from then
    # (TS 29.244 8.2.29: the duration the UP function is requested to buffer from then).
    duration_grant: int = 0


@dataclass(frozen=True, slots=True)
class SessionProgram:
    pdrs: tuple[Pdr, ...]
    fars: tuple[Far, ...]
    qers: tuple[Qer, ...] = ()
    urrs: tuple[Urr, ...] = ()
    bar: Bar | None = None
    # What the session engine names the program's shape by, or None: an object of its own
    # per shape of the requests it fills in (`session.shapes.EstablishmentShape`) and of
    # the FAR updates it makes from stored rules (`SessionEngine._modified_shape`), handed
    # with every program of that shape, whose rules are then the same but for the
    # sessions' own values (each PDR's local F-TEID and UE address, each FAR's outer
    # header peer, TEID and source, the BAR). A datapath may key what it keeps per shape
    # by it (the local one does); no part of the program's value (not compared).
    token: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Usage:
    urr_id: int
    bytes_total: int
    bytes_ul: int
    bytes_dl: int
    packets_total: int
    packets_ul: int
    packets_dl: int
    dropped_dl_packets: int
    dropped_dl_bytes: int
    first_packet_ns: int
    last_packet_ns: int


@dataclass(frozen=True, slots=True)
class DatapathEvent:
    type: EventType
    seid: int
    id: int  # URR id (usage events), PDR id (DL data report), 0 otherwise
    value: int  # event specific (see upf_pipeline.h)
    # The datapath's clock (`Datapath.now_ns`) when it raised the event; 0: not told (the
    # local datapath, whose events reach the engine at its next poll).
    time_ns: int = 0
    # ERROR_INDICATION: the GTP-U Peer Address it came with (TS 29.281 7.3.1: the peer that
    # sent it), IPv4 or IPv6; None without one. ECHO_RESPONSE: the address it came from.
    # None for the other event types.
    peer: IPAddress | None = None


class Datapath(abc.ABC):
    """What the session engine needs from a datapath. Calls come from one thread (the
    writer); implementations own their packet threads."""

    @abc.abstractmethod
    def install(
        self, seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        """Create or replace the session's program, atomically (a datapath that pipelines:
        once `settle` confirms it). Counters of URRs whose id stays are kept.
        end_markers: the FARs whose Update Forwarding Parameters ask for End Markers
        (PFCPSMReq-Flags SNDEM, TS 29.244 8.2.58): each of them whose outer header creation
        switches to another GTP-U tunnel sends a GTP-U End Marker to its old peer and TEID.
        Raises DatapathError (and changes nothing) when refused."""

    @abc.abstractmethod
    def remove(self, seid: int) -> dict[int, Usage]:
        """Delete the session; returns its final usage per URR id."""

    @abc.abstractmethod
    def read_usage(self, seid: int, urr_id: int, reset: bool = False) -> Usage:
        """Counters of one URR; reset starts a new measurement period (after a report)."""

    @abc.abstractmethod
    def poll_events(self) -> list[DatapathEvent]:
        """Events since the last call (datapath-originated and time-driven)."""

    @abc.abstractmethod
    def drop_buffered(self, seid: int) -> int:
        """Discard the session's buffered DL packets (PFCPSMReq-Flags DROBU), after the
        installs made before it and before those made after it (a datapath that pipelines
        applies those queued first): the engine drops before it installs the program of
        the request that asked for it (TS 29.244 8.2.58)."""

    def rearm_dl_data_report(self, seid: int, pdr_id: int, qfi: int) -> bool:
        """Re-arm the DL data report (`EventType.DL_DATA_REPORT`) of PDR ``pdr_id`` (the
        event's id) and QFI ``qfi`` (0: none) of session ``seid``: a report the CP never got
        (its Session Report Request unanswered, or not sent) is raised again by the pair's
        next packet buffered under a FAR that notifies the CP (TS 29.244 5.2.3.1). Whether
        the pair was reported (else nothing changed). False: a datapath that raises its
        reports once per buffering episode without this (the default)."""
        return False

    def held_buffers(self) -> dict[int, int]:
        """At restore: the sessions this datapath held across pfcpd's restart that hold
        buffered DL packets, as it found them at start (SEID -> packets): their reported
        DL data marks were kept with them (`Reporting` tells the CP of the data it was
        never told about). None held (the default): a datapath whose sessions, buffers and
        marks go with pfcpd."""
        return {}

    def buffered(self, seid: int) -> int | None:
        """The DL packets session ``seid`` has buffered now (0: none, or no such session);
        None: this datapath cannot tell (the default)."""
        return None

    @abc.abstractmethod
    def now_ns(self) -> int:
        """The datapath's clock (nanoseconds), the one of ``Usage.first_packet_ns`` and
        ``Usage.last_packet_ns``: the engine turns those into wall-clock times with it."""

    def settle(self) -> dict[int, DatapathError]:
        """The barrier of a group commit: wait until the datapath has taken or refused
        every `install` made since the last call; the sessions whose change it refused,
        each with its error (the engine undoes those changes, answers their requests 77
        System failure and confirms the others). A datapath whose `install` takes effect
        (or raises) before it returns has nothing to wait for: the default."""
        return {}

    def events_lost(self) -> bool:
        """Whether the datapath lost events it raised since the last call (a queue of them
        overflowed): the engine then checks every session's volume thresholds and quotas
        against its counts (`Reporting._lost_limits`), as after a restart. False: a
        datapath that loses none (the default)."""
        return False

    def usage_cached(self) -> bool:
        """Whether `read_usage` (without reset) answers from what the datapath holds at
        once: the engine's check of the counts waits for it (`Reporting._lost_limits`).
        True: a datapath whose reads never wait (the default)."""
        return True

    def keeps_counts(self, seid: int) -> bool:
        """At restore: whether this datapath held session ``seid`` across pfcpd's restart,
        its URR counters going on meanwhile (then nothing they counted is in the
        journal's baseline). False: a restored session's counters start from zero."""
        return False

    def sessions_with_traffic(self) -> set[int] | None:
        """The SEIDs whose counters may have changed since the last call (packets counted
        for them), and start collecting anew; None when the datapath cannot tell (the
        engine then reads every session's counters at its checkpoints)."""
        return None

    def send_echo(self, source: IPAddress, peer: IPAddress, seq: int) -> EchoSent:
        """Send a GTP-U Echo Request (TS 29.281 7.2.1) with sequence number ``seq`` from
        ``source`` (the N3 address) port 2152 to ``peer`` port 2152; its Echo Response comes
        back as an `EventType.ECHO_RESPONSE` event. UNSUPPORTED: this datapath sends none
        (the default; the session engine then turns path management off, with an error
        logged). NOT_SENT: this one could not leave now (the datapath away, or refusing it;
        logged): the attempt does not count against the path."""
        return EchoSent.UNSUPPORTED

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop packet I/O and free resources."""

    def shaped(self) -> ShapedInstall | None:
        """This datapath's `ShapedInstall`, when it has one (the engine asks once)."""
        return None


class ShapedInstall(abc.ABC):
    """An optional capability of a datapath (`Datapath.shaped`): installing a program of a
    shape it keeps (a `SessionProgram.token` it was handed with programs to `install`)
    from the session's own values alone, with no program made. The programs handed with
    one token share their rules but those values (the FARs' outer header sources among
    those rules: the session engine's N3 address)."""

    @abc.abstractmethod
    def install_shaped(
        self,
        seid: int,
        token: object,
        local_fteids: Sequence[tuple[IPAddress, int] | None],
        ue_ips: Sequence[IPNetwork | None],
        peers: Sequence[tuple[IPAddress, int]],
        bar: Bar | None,
    ) -> bool:
        """`install`, with no End Markers (the session engine installs establishments so),
        of the program of ``token``'s shape whose own values are these: each PDR's local
        F-TEID and UE IP (in the program's order), each FAR with outer header creation's
        (peer, TEID) (in order), its BAR; its other rules, the FARs' sources among them,
        those of the programs handed with ``token``. False, having done nothing: this
        datapath keeps no shape by ``token`` (then the caller installs the program).
        Raises as `install` does; ValueError for values not of the shape's numbers or BAR
        (a caller's bug)."""


@dataclass
class SessionCounters:
    """Datapath-wide drop/malformed counters by reason name."""

    rx_ul: int = 0
    rx_dl: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)

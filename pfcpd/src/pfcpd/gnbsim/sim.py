"""`GnbSimulator`: the N3 side of N sessions on one GTP-U socket.

Each session is a UE address (IPv4 or IPv6; a dual-stack session has one of each), the UPF's
F-TEID (address, TEID) for uplink and the gNB's TEID the SMF gave the UPF for downlink. A
packet goes out from the session's address of the destination's IP version. Uplink packets
go out as G-PDUs with a PDU Session Container carrying the session's QFI; `echo` asks a UPF
for a GTP-U Echo Response. A receiving thread answers the UPF's Echo Requests, sorts
downlink G-PDUs to their session by TEID and measures:

- every downlink packet and its octets (the inner IP packet's length, as a UPF's usage
  report counts them), the QFIs seen in the downlink PDU Session Containers;
- ICMP (ICMPv6) echo replies to the session's pings and UDP datagrams echoed back to the UE
  (the payload carries the sequence number and the send time): round-trip times, loss;
- echo requests to a UE from the network, answered by the UE (an echo reply sent uplink, as
  a UE's IP stack does): counted in ``pings_from_dn``;
- throughput: octets over the time between the first and the last packet each way.

Every packet the simulator sends (uplink, the UEs' echo replies included) is counted before it
leaves, so whoever receives it (the DN pinging a UE) sees the counts include it. What arrives
is counted by the receiving thread just after it arrives: `wait_until` waits for an expected
count, `wait_quiet` for the downlink to fall silent.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import gtpu, packets
from .receiver import Receiver

MAGIC = b"GNBS"
STAMP = struct.Struct("!4sIQ")  # magic, sequence number, send time (ns, monotonic)
UE_PORT = 7000
PING_DATA = 56  # octets of ICMP echo data, as ping(8) sends


def ping_octets(dst: str) -> int:
    """The IP length of one of our pings to ``dst`` (IPv4 84 octets, IPv6 104)."""
    return packets.header_octets(dst) + packets.ICMP_HEADER + PING_DATA


PING_OCTETS = ping_octets("0.0.0.0")  # an IPv4 ping


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, poll: float = 0.01) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed; whether it holds.
    For counts the receiving thread keeps (``pings_answered``, ``udp_echoed``): a packet is
    counted a moment after it arrives, so a check of an expected count waits for it, up to a
    deadline, and still fails when a packet is lost."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


@dataclass(frozen=True)
class Session:
    name: str
    ue: str  # the UE's address (IPv4, or IPv6)
    upf: str  # the UPF's N3 address (of its F-TEID)
    upf_teid: int
    gnb_teid: int  # downlink TEID (the SMF's Outer Header Creation towards this gNB)
    qfi: int | None = 9  # None: G-PDUs without a PDU Session Container
    ue6: str | None = None  # a dual-stack session's IPv6 address (``ue`` is then IPv4)

    def __post_init__(self) -> None:
        # Addresses as the parser writes them (compressed), so downlink packets match.
        for name in ("ue", "ue6"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ipaddress.ip_address(value).compressed)
        if self.ue6 is not None and (":" in self.ue or ":" not in self.ue6):
            raise ValueError(f"session {self.name}: ue6 is the IPv6 address beside an IPv4 ue")

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.ue,) if self.ue6 is None else (self.ue, self.ue6)

    def source_for(self, dst: str) -> str:
        """The session's address of ``dst``'s IP version (ValueError when it has none)."""
        for address in self.addresses:
            if (":" in address) == (":" in dst):
                return address
        raise ValueError(f"session {self.name} has no address of {dst}'s IP version")


@dataclass
class Direction:
    packets: int = 0
    octets: int = 0
    first: float = 0.0
    last: float = 0.0

    def add(self, octets: int, now: float) -> None:
        if not self.packets:
            self.first = now
        self.packets += 1
        self.octets += octets
        self.last = now

    def bits_per_second(self) -> float:
        span = self.last - self.first
        return self.octets * 8 / span if span > 0 else 0.0


@dataclass
class SessionStats:
    ul: Direction = field(default_factory=Direction)  # G-PDUs sent (inner octets)
    dl: Direction = field(default_factory=Direction)  # G-PDUs received (inner octets)
    pings_sent: int = 0
    pings_answered: int = 0
    udp_sent: int = 0
    udp_echoed: int = 0
    pings_from_dn: int = 0  # echo requests to the UE, answered
    rtts_ms: list[float] = field(default_factory=list)
    dl_qfis: set[int] = field(default_factory=set)

    def loss(self) -> float:
        """Fraction of the pings and UDP datagrams sent that did not come back."""
        sent = self.pings_sent + self.udp_sent
        return (sent - self.pings_answered - self.udp_echoed) / sent if sent else 0.0

    def rtt_ms(self, fraction: float) -> float:
        values = sorted(self.rtts_ms)
        if not values:
            return 0.0
        return values[min(len(values) - 1, max(0, round(fraction * len(values)) - 1))]

    def summary(self) -> dict[str, Any]:
        return {
            "ul_packets": self.ul.packets,
            "ul_octets": self.ul.octets,
            "dl_packets": self.dl.packets,
            "dl_octets": self.dl.octets,
            "pings": f"{self.pings_answered}/{self.pings_sent}",
            "udp_echoed": f"{self.udp_echoed}/{self.udp_sent}",
            "pings_from_dn": self.pings_from_dn,
            "loss": round(self.loss(), 4),
            "rtt_p50_ms": round(self.rtt_ms(0.5), 3),
            "rtt_p99_ms": round(self.rtt_ms(0.99), 3),
            "ul_bps": round(self.ul.bits_per_second()),
            "dl_bps": round(self.dl.bits_per_second()),
            "dl_qfis": sorted(self.dl_qfis),
        }


class GnbSimulator:
    def __init__(self, address: str, sessions: Sequence[Session], port: int = gtpu.PORT) -> None:
        self.sessions = list(sessions)
        self.by_teid = {s.gnb_teid: s for s in self.sessions}
        self.stats = {s.name: SessionStats() for s in self.sessions}
        self.echo_requests_answered = 0
        self.echo_responses: dict[int, float] = {}  # sequence number -> round trip (ms)
        self._echo_sent: dict[int, int] = {}  # sequence number -> send time (ns)
        self.unmatched = 0  # G-PDUs for no session's TEID, messages we do not read
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self._seq = 0
        self._ul_lock = threading.Lock()
        self._receiver = Receiver(self.sock, self.handle, "gnbsim-rx")

    def add(self, session: Session) -> None:
        """One more session (a PDU session set up while the simulator runs)."""
        if session.gnb_teid in self.by_teid or session.name in self.stats:
            raise ValueError(f"session {session.name}: its name or downlink TEID is taken")
        self.stats[session.name] = SessionStats()
        self.sessions.append(session)
        self.by_teid[session.gnb_teid] = session

    def close(self) -> None:
        self._receiver.stop()
        self.sock.close()

    def __enter__(self) -> GnbSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- uplink ----------------------------------------------------------------------------

    def send(self, session: Session, inner: bytes) -> None:
        """One uplink IP packet of ``session`` in a G-PDU to the UPF, counted before it
        leaves (whoever receives it or its answer sees it counted)."""
        with self._ul_lock:  # the receiving thread sends too (echo replies of the UEs)
            self.stats[session.name].ul.add(len(inner), time.monotonic())
        self.sock.sendto(gtpu.g_pdu(session.upf_teid, inner, session.qfi), (session.upf, gtpu.PORT))

    def echo(self, peer: str) -> int:
        """Send a GTP-U Echo Request to ``peer`` (a UPF's N3 address); its sequence number.
        The answer's round trip lands in ``echo_responses``."""
        self._seq += 1
        seq = self._seq & 0xFFFF
        self._echo_sent[seq] = time.monotonic_ns()
        self.sock.sendto(gtpu.echo_request(seq), (peer, gtpu.PORT))
        return seq

    def ping(self, session: Session, dst: str, count: int, interval: float = 0.05) -> None:
        """``count`` ICMP (to an IPv6 ``dst``: ICMPv6) echo requests from the UE to ``dst``
        (PING_DATA octets of data)."""
        ident = (session.gnb_teid ^ (session.gnb_teid >> 16)) & 0xFFFF
        src = session.source_for(dst)
        for seq in range(count):
            stamp = STAMP.pack(MAGIC, seq, time.monotonic_ns()) + bytes(PING_DATA - STAMP.size)
            self.stats[session.name].pings_sent += 1
            self.send(session, packets.icmp_echo(src, dst, ident, seq, stamp))
            time.sleep(interval)

    def udp_stream(
        self,
        session: Session,
        dst: tuple[str, int],
        size: int,
        rate_bps: float,
        count: int | None = None,
        duration: float | None = None,
    ) -> int:
        """UDP datagrams of ``size`` IP octets from the UE to ``dst`` at ``rate_bps``, for
        ``count`` packets or ``duration`` seconds; returns how many were sent."""
        src = session.source_for(dst[0])
        headers = packets.header_octets(dst[0]) + packets.UDP_HEADER
        if size < headers + STAMP.size:
            raise ValueError(f"size {size} is below {headers + STAMP.size} octets")
        padding = bytes(size - headers - STAMP.size)
        interval = size * 8 / rate_bps
        start = time.monotonic()
        sent = 0
        stats = self.stats[session.name]
        while (count is None or sent < count) and (
            duration is None or time.monotonic() - start < duration
        ):
            self._seq += 1
            payload = STAMP.pack(MAGIC, self._seq, time.monotonic_ns()) + padding
            stats.udp_sent += 1
            self.send(session, packets.udp(src, UE_PORT, dst[0], dst[1], payload, sent))
            sent += 1
            ahead = start + sent * interval - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        return sent

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 5.0) -> None:
        """Return once no downlink packet came for ``quiet`` seconds (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = max((s.dl.last for s in self.stats.values()), default=0.0)
            if time.monotonic() - max(last, deadline - timeout) >= quiet:
                return
            time.sleep(0.05)

    # -- downlink --------------------------------------------------------------------------

    def handle(self, data: bytes, peer: tuple[str, int]) -> None:
        msg = gtpu.parse(data)
        if msg is None:
            self.unmatched += 1
            return
        if msg.msg_type == gtpu.ECHO_REQUEST:
            self.sock.sendto(gtpu.echo_response(msg.seq or 0), peer)
            self.echo_requests_answered += 1
            return
        if msg.msg_type == gtpu.ECHO_RESPONSE and msg.seq in self._echo_sent:
            sent = self._echo_sent.pop(msg.seq)
            self.echo_responses[msg.seq] = (time.monotonic_ns() - sent) / 1e6
            return
        session = self.by_teid.get(msg.teid) if msg.msg_type == gtpu.G_PDU else None
        if session is None:
            self.unmatched += 1
            return
        now = time.monotonic()
        stats = self.stats[session.name]
        stats.dl.add(len(msg.payload), now)
        if msg.qfi is not None:
            stats.dl_qfis.add(msg.qfi)
        inner = packets.parse(msg.payload)
        if inner is None or inner.dst not in session.addresses:
            return
        if inner.echo_request:
            reply = packets.icmp_echo(
                inner.dst, inner.src, inner.icmp_id, inner.icmp_seq, inner.payload, reply=True
            )
            # Counted before the reply leaves: once the pinging host has the reply, the
            # count includes it (counted after, the host could read the count first).
            stats.pings_from_dn += 1
            self.send(session, reply)
            return
        if len(inner.payload) < STAMP.size:
            return
        magic, _seq, sent_ns = STAMP.unpack_from(inner.payload)
        if magic != MAGIC:
            return
        if inner.echo_reply:
            stats.pings_answered += 1
        elif inner.proto == packets.PROTO_UDP and inner.dport == UE_PORT:
            stats.udp_echoed += 1
        else:
            return
        stats.rtts_ms.append((time.monotonic_ns() - sent_ns) / 1e6)

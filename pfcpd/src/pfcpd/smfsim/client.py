"""`SmfClient`: one SMF (CP) endpoint talking PFCP to a UPF, one request at a time.

Requests are retransmitted after ``t1`` up to ``n1`` times. While it waits for an answer,
the client answers the UPF's own requests: Heartbeat (with its Recovery Time Stamp),
Session Report (cause 1 "Request accepted", or ``report_cause``) and Node Report (cause 1:
GTP-U path failures and recoveries); the reports are kept in ``reports`` and
``node_reports``. Every datagram from the UPF is kept in ``received`` (for external decoders).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..pfcp import Cause, IEType, Message, MessageType, decode, encode
from ..pfcp import ies_address as A
from ..pfcp import ies_scalar as S
from ..pfcp.ie import IE, Grouped
from ..pfcp.message_types import RESPONSE_TO
from .rules import deletion_request, establishment_request, modification_request

T = IEType
M = MessageType
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NTP_UNIX_OFFSET = 2208988800


class SmfError(Exception):
    """No answer, or an answer that is not what the caller needed."""


@dataclass
class Established:
    """What a Session Establishment Response handed back."""

    up_seid: int
    response: Message
    teids: dict[int, tuple[str, int]] = field(default_factory=dict)  # PDR ID -> (addr, TEID)
    ue_addresses: list[str] = field(default_factory=list)  # as the Created PDRs carry them
    ue_networks: list[IPNetwork] = field(default_factory=list)  # IPv4 /32, IPv6 prefix

    def ue_address(self, version: int) -> str | None:
        """The UE's own address of IP ``version``: the allocated IPv4 address; in an
        allocated IPv6 prefix (a /64 unless the UE IP Address says otherwise) the address
        of interface identifier 1, the one an SMF would give the UE (TS 23.501 5.8.2.2:
        the UE builds its address from the prefix and that identifier); a /128 itself."""
        for net in self.ue_networks:
            if net.version == version:
                return str(net.network_address + (1 if net.num_addresses > 1 else 0))
        return None


def ue_networks_of(ue: A.UEIPAddress) -> list[IPNetwork]:
    """The IPv4 address (/32) and the IPv6 prefix (IPv6 Prefix Length, else /64) of a UE IP
    Address IE (TS 29.244 8.2.62)."""
    nets: list[IPNetwork] = []
    if ue.ipv4:
        nets.append(ipaddress.ip_network(ue.ipv4))
    if ue.ipv6:
        plen = ue.ipv6_prefix_length if ue.ipv6_prefix_length is not None else 64
        nets.append(ipaddress.ip_network((ue.ipv6, plen), strict=False))
    return nets


def cause_of(msg: Message) -> int:
    ie = msg.get(T.CAUSE)
    return ie.value if isinstance(ie, S.Cause) else -1


class SmfClient:
    def __init__(
        self,
        upf: tuple[str, int],
        local: tuple[str, int] = ("127.0.0.1", 0),
        node_id: str = "smf.test",
        t1: float = 1.0,
        n1: int = 3,
    ) -> None:
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(local)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.upf = upf
        self.node_id = node_id
        self.t1, self.n1 = t1, n1
        self.recovery_time_stamp = int(time.time()) + NTP_UNIX_OFFSET
        self.seq = 0
        self.cp_seid = 0
        self.received: list[bytes] = []
        self.reports: list[Message] = []
        self.node_reports: list[Message] = []
        self.sessions: dict[int, int] = {}  # CP SEID -> UP SEID
        self.report_cause = int(Cause.REQUEST_ACCEPTED)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SmfClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------

    def request(self, msg: Message, timeout: float | None = None) -> Message:
        """Send ``msg`` (a fresh sequence number), wait for its response."""
        self.seq = self.seq % 0xFFFFFF + 1
        msg.seq = self.seq
        data = encode(msg)
        want = RESPONSE_TO[msg.msg_type]
        for _ in range(self.n1 + 1):
            self.sock.sendto(data, self.upf)
            answer = self._wait(want, msg.seq, timeout or self.t1)
            if answer is not None:
                return answer
        raise SmfError(f"no answer to {msg.name} seq {msg.seq} from {self.upf}")

    def _wait(self, msg_type: int, seq: int, timeout: float) -> Message | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.receive(left)
            if msg is not None and msg.msg_type == msg_type and msg.seq == seq:
                return msg
        return None

    def receive(self, timeout: float) -> Message | None:
        """The next message from the UPF (answering its requests), None on timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        self.received.append(data)
        msg = decode(data)
        self._serve(msg)
        return msg

    def poll(self, duration: float) -> None:
        """Serve the UPF's requests for ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self.receive(left)

    def wait_report(self, timeout: float = 5.0, count: int = 1) -> list[Message]:
        """Wait until ``count`` Session Report Requests have come in all; returns them."""
        deadline = time.monotonic() + timeout
        while len(self.reports) < count and (left := deadline - time.monotonic()) > 0:
            self.receive(left)
        if len(self.reports) < count:
            raise SmfError(f"{len(self.reports)} session report(s) within {timeout} s")
        return self.reports[:count]

    def _serve(self, msg: Message) -> None:
        if msg.msg_type == M.HEARTBEAT_REQUEST:
            self._answer(msg, [S.RecoveryTimeStamp(self.recovery_time_stamp)])
        elif msg.msg_type == M.SESSION_REPORT_REQUEST:
            self.reports.append(msg)
            # The response's header carries the UPF's SEID of the session (0 if unknown).
            up_seid = self.sessions.get(msg.seid or 0, 0)
            self._answer(msg, [S.Cause(self.report_cause)], seid=up_seid)
        elif msg.msg_type == M.NODE_REPORT_REQUEST:
            if all(msg.seq != r.seq for r in self.node_reports):  # (not a retransmission)
                self.node_reports.append(msg)
            self._answer(msg, [A.NodeID.from_text(self.node_id), S.Cause(Cause.REQUEST_ACCEPTED)])

    def _answer(self, request: Message, ies: list[IE], seid: int | None = None) -> None:
        response = Message(RESPONSE_TO[request.msg_type], request.seq, ies, seid)
        self.sock.sendto(encode(response), self.upf)

    # -- procedures ------------------------------------------------------------------------

    def associate(self) -> Message:
        answer = self.request(
            Message(
                M.ASSOCIATION_SETUP_REQUEST,
                0,
                [A.NodeID.from_text(self.node_id), S.RecoveryTimeStamp(self.recovery_time_stamp)],
            )
        )
        if cause_of(answer) != Cause.REQUEST_ACCEPTED:
            raise SmfError(f"association refused: cause {cause_of(answer)}")
        return answer

    def release(self) -> Message:
        return self.request(
            Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [A.NodeID.from_text(self.node_id)])
        )

    def establish(self, rules: Sequence[IE], cp_seid: int | None = None) -> Established:
        """Establish a session; SmfError unless accepted."""
        if cp_seid is None:
            self.cp_seid += 1
            cp_seid = self.cp_seid
        answer = self.establish_raw(rules, cp_seid)
        if cause_of(answer) != Cause.REQUEST_ACCEPTED:
            raise SmfError(f"establishment refused: cause {cause_of(answer)}: {answer}")
        fseid = answer.get(T.F_SEID)
        assert isinstance(fseid, A.FSEID)
        self.sessions[cp_seid] = fseid.seid
        out = Established(fseid.seid, answer)
        for created in answer.get_all(T.CREATED_PDR):
            assert isinstance(created, Grouped)
            pdr = created.get(T.PDR_ID)
            fteid = created.get(T.F_TEID)
            if isinstance(pdr, S.PDRID) and isinstance(fteid, A.FTEID) and fteid.teid:
                out.teids[pdr.value] = (str(fteid.ipv4 or fteid.ipv6), fteid.teid)
            for ue in created.get_all(T.UE_IP_ADDRESS):
                assert isinstance(ue, A.UEIPAddress)
                out.ue_addresses += [
                    a for a in (ue.ipv4, ue.ipv6) if a and a not in out.ue_addresses
                ]
                for net in ue_networks_of(ue):
                    if net not in out.ue_networks:
                        out.ue_networks.append(net)
        return out

    def establish_raw(self, rules: Sequence[IE], cp_seid: int | None = None) -> Message:
        if cp_seid is None:
            self.cp_seid += 1
            cp_seid = self.cp_seid
        return self.request(establishment_request(self.node_id, self.address[0], cp_seid, rules))

    def modify(self, up_seid: int, ies: Sequence[IE]) -> Message:
        return self.request(modification_request(up_seid, ies))

    def delete(self, up_seid: int) -> Message:
        return self.request(deletion_request(up_seid))

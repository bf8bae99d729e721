"""Where Session Report Requests go: to the session's CP F-SEID address (TS 29.244 5.6.2,
7.5.2, 7.5.4.1), on its CP's association (T1/N1 retransmission, response matching). Over
real UDP sockets on loopback: pfcpd's node and engine (sans-IO, the session harness) send
what they queue from a socket on 127.0.0.1; the CP's association is at 127.0.0.2, its
F-SEIDs at other 127.0.0.x addresses, each with a socket on the association's port. Where a
datagram arrived is read up to a marker sent after it (loopback keeps one sender's order):
no waiting for what does not come. Also: the address a Session Modification's new CP F-SEID
gives, the same after a restart, the owner it gives within an SMF Set (5.22), and the
family the node picks from an F-SEID (8.2.37)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from datapath.conftest import require_core
from node.request_node import node_with, sent_to
from oracles import tshark_fields
from session_harness import (
    Harness,
    cause,
    created,
    gtpu,
    restarted,
    standard_rules,
    ul_packet,
    up_seid,
    urr,
)

from pfcpd.address import Address
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal
from pfcpd.smfsim import rules

M = MessageType
T = IEType
ASSOCIATION = "127.0.0.2"  # where the CP "smf" sets its association up from
FSEID_AT = "127.0.0.9"  # its F-SEID's address at establishment
MOVED_TO = "127.0.0.10"  # a Session Modification's new CP F-SEID's
SET_PEER = "127.0.0.11"  # "smf-b": another SMF of smf's SMF Set
OUTSIDER = "127.0.0.12"  # "smf-c": an SMF of no set
CP_ADDRESSES = (ASSOCIATION, FSEID_AT, MOVED_TO, SET_PEER, OUTSIDER)
MARK = b"\xff-mark"  # (not PFCP: ends a read of what arrived at a CP socket)
SET_ID = "set1.example"


def cp_sockets() -> tuple[int, dict[str, socket.socket]]:
    """A UDP socket on each of CP_ADDRESSES, all on one port (free on each)."""
    for _ in range(50):
        first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        first.bind((CP_ADDRESSES[0], 0))
        port = first.getsockname()[1]
        socks = {CP_ADDRESSES[0]: first}
        try:
            for ip in CP_ADDRESSES[1:]:
                s = socks[ip] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((ip, port))
        except OSError:
            for s in socks.values():
                s.close()
            continue
        for s in socks.values():
            s.settimeout(5.0)
        return port, socks
    raise AssertionError("no port free on every CP address")


class Wire(Harness):
    """The session harness whose node's datagrams leave through a real socket (UP, at
    127.0.0.1) for the address the node gave them; the CP "smf" is associated from
    (ASSOCIATION, port)."""

    def __init__(
        self,
        dp: LocalDatapath,
        cps: tuple[int, dict[str, socket.socket]],
        journal: MemoryJournal | None = None,
    ) -> None:
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.bind(("127.0.0.1", 0))
        self.up.settimeout(5.0)
        self.port, self.cps = cps
        self.cp = (ASSOCIATION, self.port)
        self.went: list[tuple[Message, Address]] = []  # what the node sent, and where
        super().__init__(dp, journal)
        # Requests to an address other than the association's go to the CPs' port, not
        # 8805 (29.244 4.2.2; `PfcpNode.request_port`): the one port free on every CP address.
        self.node.request_port = self.port

    def exchange(self, msg: Message, frm: str = ASSOCIATION) -> list[Message]:
        self.node.datagram_received(encode(msg), (frm, self.port), self.now)
        return self._collect()

    def _collect(self) -> list[Message]:
        out = []
        for t in self.node.datagrams_to_send():
            self.sent.append(t.data)
            self.up.sendto(t.data, t.addr)
            msg = decode(t.data)
            self.went.append((msg, t.addr))
            out.append(msg)
        return out

    def arrived(self, ip: str) -> list[bytes]:
        """The datagrams that reached the CP socket at ``ip`` since the last read."""
        self.up.sendto(MARK, (ip, self.port))
        out = []
        while (data := self.cps[ip].recv(65535)) != MARK:
            out.append(data)
        return out

    def reports_at(self, ip: str) -> list[bytes]:
        return [d for d in self.arrived(ip) if d[1] == M.SESSION_REPORT_REQUEST]

    def nothing_but_answers_at(self, *ips: str) -> None:
        for ip in ips:
            assert self.reports_at(ip) == []

    def reply(self, ip: str, report: bytes, cause_value: int = 1) -> None:
        """The CP at ``ip`` answers ``report`` from there; pfcpd's socket reads the answer
        and the node takes it from the address it came from."""
        req = decode(report)
        seid = next(
            s.up_seid
            for s in self.engine.sessions.values()
            if s.cp_seid == req.seid and ip in (s.cp_ipv4, s.cp_ipv6)
        )
        answer = Message(M.SESSION_REPORT_RESPONSE, req.seq, [S.Cause(cause_value)], seid)
        self.cps[ip].sendto(encode(answer), self.up.getsockname())
        data, src = self.up.recvfrom(65535)
        assert src == (ip, self.port)
        self.node.datagram_received(data, src, self.now)
        self._collect()

    def close(self) -> None:
        self.up.close()


@pytest.fixture
def cps() -> Iterator[tuple[int, dict[str, socket.socket]]]:
    port, socks = cp_sockets()
    yield port, socks
    for s in socks.values():
        s.close()


@pytest.fixture
def w(datapath: LocalDatapath, cps: tuple[int, dict[str, socket.socket]]) -> Iterator[Wire]:
    wire = Wire(datapath, cps)
    yield wire
    wire.close()
    wire.check_sent_with_tshark()
    errors = wire.engine.metrics.errors
    assert [errors.get(x) for x in ("request", "timer", "response", "undo", "commit")] == [0] * 5


VOLTH = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=1000))


def establish(w: Wire, cp_seid: int, fseid_at: str = FSEID_AT) -> tuple[int, int, str]:
    """A session of "smf" whose CP F-SEID is (cp_seid, fseid_at), reporting every 1000
    octets: (UP SEID, its uplink TEID, its UE address)."""
    req = rules.establishment_request("smf", fseid_at, cp_seid, [*standard_rules()[:-1], VOLTH])
    resp = w.request(req)
    assert cause(resp) == 1
    seid = up_seid(resp)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    ((_, ue),) = w.engine.sessions[seid].ue
    return seid, teid, ue.partition("/")[0]


def usage_report(w: Wire, teid: int, ue: str) -> None:
    """1024 octets uplink: over the threshold; the report is sent (timers run)."""
    for _ in range(8):
        assert w.dp.process_ul(gtpu(ul_packet(ue, 100), teid)).verdict == Verdict.FORWARD
    before = len(w.went)
    for _ in range(4):
        w.advance(0.25)
        if any(m.msg_type == M.SESSION_REPORT_REQUEST for m, _ in w.went[before:]):
            return
    raise AssertionError("no Session Report Request")


def seid_and_type(data: bytes) -> tuple[list[str], list[str]]:
    """The message type and SEID tshark reads in ``data``."""
    (row,) = tshark_fields([data], ["pfcp.msg_type", "pfcp.seid"])
    return row["pfcp.msg_type"], row["pfcp.seid"]


def test_reports_go_to_the_cp_fseid_address_and_are_retransmitted_there(w: Wire) -> None:
    """The F-SEID's address, not the association's: the report, its retransmissions (the
    same octets, T1 apart), and the answer from there ends the transaction."""
    seid, teid, ue = establish(w, 0xA1)
    usage_report(w, teid, ue)
    (report,) = w.reports_at(FSEID_AT)
    assert seid_and_type(report) == (["56"], ["0x00000000000000a1"])
    w.nothing_but_answers_at(ASSOCIATION)
    w.advance(1.0)  # T1
    assert w.reports_at(FSEID_AT) == [report]
    w.nothing_but_answers_at(ASSOCIATION)
    assert w.node.metrics.retransmissions.get("session_report_request") == 1
    w.reply(FSEID_AT, report)
    assert w.engine._pending == {}
    assert w.node.metrics.transactions_completed.get("session_report_request") == 1
    assert w.node.metrics.dropped.get("unmatched_response") == 0
    w.advance(10.0)  # no more retransmissions: answered
    w.nothing_but_answers_at(FSEID_AT, ASSOCIATION)
    assert w.engine.sessions[seid].cp_node_id == "smf"


def test_one_cp_seid_at_two_addresses_reports_to_each_session_s(w: Wire) -> None:
    """TS 29.244 5.6.2: a SEID names a session at an IP address of the CP, so (0xA7 at
    FSEID_AT) and (0xA7 at MOVED_TO) are two sessions of "smf" (5.8.1: a CP of an FQDN Node
    ID may use several addresses). Each one's Session Report Requests carry SEID 0xA7 to
    its own F-SEID's address, and the answer from there is its own."""
    first, _, _ = establish(w, 0xA7)
    second, teid, ue = establish(w, 0xA7, MOVED_TO)
    assert first != second
    usage_report(w, teid, ue)
    (report,) = w.reports_at(MOVED_TO)
    assert seid_and_type(report) == (["56"], ["0x00000000000000a7"])
    w.nothing_but_answers_at(FSEID_AT, ASSOCIATION)
    w.reply(MOVED_TO, report, 65)  # (the second's answer: it goes, the first stays)
    assert second not in w.engine.sessions and first in w.engine.sessions


def test_an_answer_65_from_the_fseid_address_removes_the_session(w: Wire) -> None:
    """The answer from the F-SEID's address is the report's: its cause 65 is acted on."""
    seid, teid, ue = establish(w, 0xA2)
    usage_report(w, teid, ue)
    (report,) = w.reports_at(FSEID_AT)
    w.reply(FSEID_AT, report, 65)
    assert seid not in w.engine.sessions


def test_after_a_new_cp_fseid_reports_go_to_its_address(w: Wire) -> None:
    """A Session Modification's CP F-SEID (7.5.4.1): the reports after it go to its
    address with its SEID; the answer from there is matched; the owner is still "smf"
    (no CP is associated at that address)."""
    seid, teid, ue = establish(w, 0xB1)
    answer = w.modify(seid, A.FSEID(0xB2, MOVED_TO))
    assert cause(answer) == 1 and answer.seid == 0xB2
    usage_report(w, teid, ue)
    (report,) = w.reports_at(MOVED_TO)
    assert seid_and_type(report) == (["56"], ["0x00000000000000b2"])
    w.nothing_but_answers_at(FSEID_AT, ASSOCIATION)
    w.reply(MOVED_TO, report)
    assert w.engine._pending == {}
    assert w.engine.sessions[seid].cp_node_id == "smf"


def test_after_a_restart_reports_go_to_the_journaled_address(
    w: Wire, cps: tuple[int, dict[str, socket.socket]]
) -> None:
    """pfcpd restarted (a new engine and datapath on the journal; the CP associates
    again): the session's reports go to the CP F-SEID address it was given last."""
    seid, teid, ue = establish(w, 0xC1)
    assert cause(w.modify(seid, A.FSEID(0xC2, MOVED_TO))) == 1
    journal = MemoryJournal()
    journal.records = dict(w.journal.records)
    require_core()
    dp = LocalDatapath(expected_sessions=16)
    again = Wire(dp, cps, journal)
    try:
        assert again.engine.restore(journal.items(), again.now) == 1
        usage_report(again, teid, ue)
        (report,) = again.reports_at(MOVED_TO)
        assert seid_and_type(report) == (["56"], ["0x00000000000000c2"])
        again.nothing_but_answers_at(FSEID_AT, ASSOCIATION)
        again.reply(MOVED_TO, report)
        assert again.engine._pending == {}
        again.check_sent_with_tshark()
    finally:
        again.close()
        dp.close()


def associate(w: Wire, ip: str, node_id: str, *ies: IE) -> None:
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST, 1, [A.NodeID.from_text(node_id), S.RecoveryTimeStamp(1), *ies]
    )
    (answer,) = w.exchange(setup, frm=ip)
    assert cause(answer) == 1


def release(node_id: str) -> Message:
    return Message(M.ASSOCIATION_RELEASE_REQUEST, 7, [A.NodeID.from_text(node_id)])


def join_set(w: Wire) -> None:
    """ "smf" gives its SMF Set ID; "smf-b" associates in that set, "smf-c" in none."""
    update = Message(
        M.ASSOCIATION_UPDATE_REQUEST, 0, [A.NodeID.from_text("smf"), X.SMFSetID(SET_ID)]
    )
    assert cause(w.request(update)) == 1
    associate(w, SET_PEER, "smf-b", X.SMFSetID(SET_ID))
    associate(w, OUTSIDER, "smf-c")


def test_a_cp_fseid_of_another_smf_of_the_set_makes_the_session_its(w: Wire) -> None:
    """5.22: an SMF of the set at the new CP F-SEID's address takes the session over, as
    a Session Set Modification moves it: it is that SMF's (its requests are answered, the
    old owner's are 65; its association's release deletes it, the old owner's does not),
    journaled so, and its reports go there."""
    join_set(w)
    seid, teid, ue = establish(w, 0xD1)
    answer = w.modify(seid, A.FSEID(0xD2, SET_PEER))
    assert cause(answer) == 1 and answer.seid == 0xD2
    session = w.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid) == ("smf-b", 0xD2)
    assert w.engine._by_cp.get("smf-b") == {0xD2: seid}
    with restarted(w, 1) as engine:  # (journaled)
        assert engine.sessions[seid].cp_node_id == "smf-b"
    usage_report(w, teid, ue)
    (report,) = w.reports_at(SET_PEER)
    assert seid_and_type(report) == (["56"], ["0x00000000000000d2"])
    w.nothing_but_answers_at(FSEID_AT, ASSOCIATION, OUTSIDER)
    w.reply(SET_PEER, report)
    assert w.engine._pending == {}
    w.seq += 1
    old = Message(M.SESSION_MODIFICATION_REQUEST, w.seq, [], seid)
    (refused,) = w.exchange(old)
    assert cause(refused) == 65
    w.seq += 1
    new = Message(M.SESSION_MODIFICATION_REQUEST, w.seq, [], seid)
    (accepted,) = w.exchange(new, frm=SET_PEER)
    assert cause(accepted) == 1 and accepted.seid == 0xD2
    # The session goes with its new owner's association, not the old one's.
    assert cause(w.request(release("smf"))) == 1
    assert seid in w.engine.sessions
    (released,) = w.exchange(release("smf-b"), frm=SET_PEER)
    assert cause(released) == 1 and seid not in w.engine.sessions


def test_a_cp_fseid_of_a_cp_outside_the_set_keeps_the_owner(w: Wire) -> None:
    """An associated CP of no set at the new address: the session stays "smf"'s (its
    requests, its loss), and its reports go to that address (7.5.4.1)."""
    join_set(w)
    seid, teid, ue = establish(w, 0xE1)
    assert cause(w.modify(seid, A.FSEID(0xE2, OUTSIDER))) == 1
    assert w.engine.sessions[seid].cp_node_id == "smf"
    usage_report(w, teid, ue)
    (report,) = w.reports_at(OUTSIDER)
    assert seid_and_type(report) == (["56"], ["0x00000000000000e2"])
    w.nothing_but_answers_at(FSEID_AT, ASSOCIATION, SET_PEER)
    w.reply(OUTSIDER, report)
    assert w.engine._pending == {}


def test_an_undone_move_to_another_smf_of_the_set_gives_the_session_back(w: Wire) -> None:
    """The journal refuses the modification: 77, and the session is "smf"'s again, at its
    old CP F-SEID (its reports too)."""
    join_set(w)
    seid, teid, ue = establish(w, 0xF1)
    records = dict(w.journal.records)
    w.journal.fail_next = 1
    assert cause(w.modify(seid, A.FSEID(0xF2, SET_PEER))) == 77
    session = w.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_ipv4) == ("smf", 0xF1, FSEID_AT)
    assert w.engine._by_cp.get("smf") == {0xF1: seid} and "smf-b" not in w.engine._by_cp
    assert w.journal.records == records
    usage_report(w, teid, ue)
    (report,) = w.reports_at(FSEID_AT)
    w.nothing_but_answers_at(SET_PEER)
    w.reply(FSEID_AT, report)


# -- the family the node picks (sans-IO: where the node queues the request) -------------------


UPF_ID = "127.0.0.1"  # (the node's Node ID: its own address, never a destination)
V4 = "127.0.0.1:8805"
V6 = "[::1]:8805"
ANY6 = "[::]:8805"
SAME = "the association's endpoint"


@pytest.mark.parametrize(
    ("association", "listen", "ipv4", "ipv6", "expected"),
    [
        # both families in the F-SEID: the association's, from its endpoint
        (ASSOCIATION, (V4, V6), FSEID_AT, "2001:db8::9", ((FSEID_AT, 8805), SAME)),
        ("::1", (V6, V4), FSEID_AT, "::1", (("::1", 8805), SAME)),
        # ... but not an address off loopback from a loopback-bound endpoint (the kernel
        # refuses that source there): the other family, from an endpoint of it
        ("::1", (V6, V4), FSEID_AT, "2001:db8::9", ((FSEID_AT, 8805), V4)),
        # the other family alone: there when an endpoint reaches it (IPv6: the first IPv6
        # one; IPv4: the first IPv4 one, else the IPv6 wildcard; off loopback, not one
        # bound to loopback), from that endpoint
        (ASSOCIATION, (V4, V6, ANY6), None, "2001:db8::9", (("2001:db8::9", 8805), ANY6)),
        ("::1", (ANY6,), FSEID_AT, None, ((FSEID_AT, 8805), SAME)),
        # ... else to the association's address
        (ASSOCIATION, (V4,), None, "2001:db8::9", ((ASSOCIATION, 8805), SAME)),
        ("::1", (V6,), FSEID_AT, None, (("::1", 8805), SAME)),
        # an unspecified address: the association's
        (ASSOCIATION, (V4,), "0.0.0.0", None, ((ASSOCIATION, 8805), SAME)),
        # no F-SEID address given (a node-level request): the association's
        (ASSOCIATION, (V4,), None, None, ((ASSOCIATION, 8805), SAME)),
        # an IPv4-mapped IPv6 address is the IPv4 one (answers come from it as IPv4)
        (ASSOCIATION, (V4,), None, f"::ffff:{FSEID_AT}", ((FSEID_AT, 8805), SAME)),
        # this node's own address (listen or Node ID): it would answer its own request
        (ASSOCIATION, (V4,), "127.0.0.1", None, ((ASSOCIATION, 8805), SAME)),
        (ASSOCIATION, ("127.0.0.7:8805",), "127.0.0.7", None, ((ASSOCIATION, 8805), SAME)),
        # multicast, broadcast, link-local: nobody answers from there
        (ASSOCIATION, (V4,), "224.0.0.9", None, ((ASSOCIATION, 8805), SAME)),
        (ASSOCIATION, (V4,), "255.255.255.255", None, ((ASSOCIATION, 8805), SAME)),
        (ASSOCIATION, (V4,), "169.254.0.9", None, ((ASSOCIATION, 8805), SAME)),
        # loopback only for a CP on loopback
        ("192.0.2.2", ("192.0.2.1:8805",), FSEID_AT, None, (("192.0.2.2", 8805), SAME)),
        ("192.0.2.2", ("192.0.2.1:8805",), "192.0.2.9", None, (("192.0.2.9", 8805), SAME)),
    ],
)
def test_the_family_of_the_cp_fseid_address(
    association: str,
    listen: tuple[str, ...],
    ipv4: str | None,
    ipv6: str | None,
    expected: tuple[Address, str | None],
) -> None:
    node = node_with((association, 8805), *listen, node_id=UPF_ID)
    addr, local = sent_to(node, ipv4, ipv6)
    assert (addr, SAME if local == listen[0] else local) == expected


def test_a_cp_fseid_address_the_allow_list_leaves_out_is_not_used() -> None:
    """Its answers would be dropped unread (not_allowed), and the report retransmitted until
    it fails: the association's address instead; an admitted one is used."""
    node = node_with(
        (ASSOCIATION, 8805),
        V4,
        ANY6,
        node_id=UPF_ID,
        allowed=(f"{ASSOCIATION}/32", "2001:db8::9/128"),
    )
    assert sent_to(node, FSEID_AT, None) == ((ASSOCIATION, 8805), V4)
    assert sent_to(node, FSEID_AT, "2001:db8::9") == (("2001:db8::9", 8805), ANY6)
    admitting = node_with(
        (ASSOCIATION, 8805), V4, node_id=UPF_ID, allowed=(f"{ASSOCIATION}/32", f"{FSEID_AT}/32")
    )
    assert sent_to(admitting, FSEID_AT, None) == ((FSEID_AT, 8805), V4)


def test_requests_to_the_cp_fseid_address_share_the_association_s_numbers() -> None:
    """A sequence number is unique among the outstanding requests from one endpoint
    (29.244 6.4): a report to the CP's F-SEID address and a request to its association's
    address (a heartbeat) are numbered in one series, not one each from the same first."""
    node = node_with((ASSOCIATION, 8805), V4, node_id=UPF_ID)
    to_fseid = Message(M.SESSION_REPORT_REQUEST, 0, [], 0x1)
    to_association = Message(M.SESSION_REPORT_REQUEST, 0, [], 0x2)
    first = node.send_request("smf", to_fseid, 1.0, FSEID_AT, None)
    second = node.send_request("smf", to_association, 1.0)
    assert first is not None and second is not None and first != second
    assert {tx.addr for tx in node.datagrams_to_send()} == {(FSEID_AT, 8805), (ASSOCIATION, 8805)}


def test_a_cp_seid_the_new_owner_already_has_is_refused(w: Wire) -> None:
    """The new owner's SEID of another of its sessions: 64, the session stays "smf"'s."""
    join_set(w)
    seid, _, _ = establish(w, 0x71)
    w.seq += 1
    req = rules.establishment_request("smf-b", SET_PEER, 0x72, standard_rules(), w.seq)
    (theirs,) = w.exchange(req, frm=SET_PEER)
    assert cause(theirs) == 1
    refused = w.modify(seid, A.FSEID(0x72, SET_PEER))
    assert cause(refused) == 64 and refused.seid == 0x71
    session = w.engine.sessions[seid]
    assert (session.cp_node_id, session.cp_seid, session.cp_ipv4) == ("smf", 0x71, FSEID_AT)
    assert w.engine._by_cp["smf-b"] == {0x72: up_seid(theirs)}

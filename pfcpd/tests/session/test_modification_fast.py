"""Modifications that only update FARs (`SessionEngine._modify_fars`): the stored rules change
at those FARs' octets and the program is what the session's rules compiled to with those
FARs compiled again. The bar: every datagram sent (answers, reports), journal record,
installed program (with its End Marker flag), buffered packets dropped, packets flushed or
forwarded and End Marker is what the long way (`_modify_fars` never taking a request) makes
of the same script, for sessions of every kind of PDR (IPv4, IPv6, dual stack, two downlink
FARs, a buffering BAR, an Application ID, URRs with a used quota, an expired quota, MBQE,
QERs differing only in their MBR's value) and Update FARs of every kind (a new gNB tunnel
with or without End Marker, DROBU, QAURR, Query URR, FQ-CSID and Group Id, another network
instance, a transport level marking, buffering, dropping, two FARs, one FAR twice) and their
refusals (no such FAR or BAR, duplicating, forwarding policy, an IPv6-only peer, an unknown
network instance, an incorrect IE, an unsupported IE, the datapath refusing, the journal
failing); then after the caches are dropped, after a restart (restored from the journal),
and at deletion (the usage reported)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from datapath.conftest import require_core
from session_harness import (
    NTP_NOW,
    Harness,
    cause,
    created,
    dl_packet,
    g,
    gtpu,
    ohc,
    ul_packet,
    up_seid,
    urr,
)

from pfcpd.datapath.interface import DatapathError, SessionProgram
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import RawIE
from pfcpd.session import MemoryJournal, SessionEngine
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
M = MessageType
POOLS: dict[str, Any] = {
    "internet": (
        ipaddress.ip_network("10.45.0.0/24"),
        ipaddress.ip_network("2001:db8:45::/60"),
    ),
    "ims": (ipaddress.ip_network("10.46.0.0/24"),),
}


class _Run:
    """A harness (the node clock drives the datapath's and the engine's clocks) on the
    local datapath, with what it installed, journaled and dropped, and how often
    `_modify_fars` answered a request."""

    def __init__(self) -> None:
        clock: dict[str, Harness | None] = {"h": None}
        self.dp = LocalDatapath(
            expected_sessions=64,
            clock=lambda: int(h.now * 1e9) + 1 if (h := clock["h"]) else 1,
        )
        self.h = Harness(self.dp, pools=POOLS)
        clock["h"] = self.h
        self.h.engine._ntp = lambda: NTP_NOW + self.h.now  # type: ignore[method-assign]
        self.log: list[object] = []
        self.fast = 0
        self.refuse_next_install = False
        self._record(self.dp)

    def _record(self, dp: LocalDatapath) -> None:
        install, drop = dp.install, dp.drop_buffered

        def installed(
            seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
        ) -> None:
            if self.refuse_next_install:
                self.refuse_next_install = False
                raise DatapathError("refused (test)")
            self.log.append(("install", seid, program, end_markers))
            install(seid, program, end_markers)

        def dropped(seid: int) -> int:
            n = drop(seid)
            self.log.append(("drop_buffered", seid, n))
            return n

        dp.install = installed  # type: ignore[method-assign]
        dp.drop_buffered = dropped  # type: ignore[method-assign]

    def send(self, msg: Message) -> Message:
        answer = self.h.request(msg)
        self.log.append(("answer", encode(answer)))
        self.log.append(("journal", dict(self.h.journal.records)))
        # (buffered packets flushed, End Markers)
        self.log.append(("pending", self.dp.take_pending()))
        return answer

    def modify(self, seid: int, *ies: IE) -> Message:
        return self.send(Message(M.SESSION_MODIFICATION_REQUEST, 0, list(ies), seid))

    def packet(self, result: object) -> None:
        self.log.append(("packet", result))

    def advance(self, seconds: float, *answer: IE) -> None:
        """Time passes; each Session Report Request is accepted, with ``answer``'s IEs."""
        for m in self.h.advance(seconds):
            if m.msg_type == M.SESSION_REPORT_REQUEST:
                self.h.answer(m, 1, *answer)
        self.log.append(("journal", dict(self.h.journal.records)))
        self.log.append(("pending", self.dp.take_pending()))


def _far(far_id: int, *ies: IE, fp: list[IE] | None = None) -> Grouped:
    """An Update FAR with ``ies``, and Update Forwarding Parameters ``fp`` when given."""
    children = [S.FARID(far_id), *ies]
    if fp is not None:
        children.append(g(T.UPDATE_FORWARDING_PARAMETERS, *fp))
    return g(T.UPDATE_FAR, *children)


def _tunnel(teid: int, gnb: str = "192.0.2.10", *more: IE) -> list[IE]:
    return [S.DestinationInterface(0), ohc(teid, gnb), *more]


def _buffering(n: int) -> list[IE]:
    """The usual rules, the downlink FAR buffering with BAR 1 (idle mode)."""
    rules = R.session_rules(gnb=None, gnb_teid=0x100 + n)
    far = rules[3]
    assert isinstance(far, Grouped)
    far.ies = [S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1)]
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(4))
    return [*rules, bar]


def _two_dl_fars(n: int) -> list[IE]:
    """A second downlink PDR (an SDF filter, precedence 100) with a FAR of its own."""
    rules = R.session_rules(gnb_teid=0x200 + n)
    extra = R.dl_pdr(pdr_id=3, far_id=3)
    pdi = extra.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(TR.SDFFilter(flow_description="permit out 17 from any to assigned 5000"))
    extra.ies = [S.Precedence(100) if c.type == T.PRECEDENCE else c for c in extra.ies]
    return [*rules, extra, R.dl_far(3, 0x300 + n, "192.0.2.9")]


def _quota(n: int) -> list[IE]:
    """A URR with a volume threshold and quota (their offsets once counts are read)."""
    rules = R.session_rules(gnb_teid=0x400 + n)
    rule = urr(
        1,
        "VOLTH",
        "VOLQU",
        vt=TR.VolumeThreshold(total=1_000_000),
        vq=TR.VolumeQuota(total=2_000_000),
    )
    return [*rules[:5], rule]


def _validity(n: int) -> list[IE]:
    """A quota valid for 3 s (then the URR's traffic is dropped: `compile._blocked`)."""
    rules = R.session_rules(gnb_teid=0x500 + n)
    rule = urr(1, "QUVTI", "VOLQU", vq=TR.VolumeQuota(total=1_000_000), q=S.QuotaValidityTime(3))
    return [*rules[:5], rule]


def _mbqe(n: int) -> list[IE]:
    """A URR measuring before QoS enforcement, its QER's gates open and no MBR."""
    rules = R.session_rules(gnb_teid=0x600 + n)
    rule = urr(1, "VOLTH", mi=F.MeasurementInformation.of("MBQE"), vt=TR.VolumeThreshold(total=9))
    return [*rules[:5], rule]


def _application(n: int) -> list[IE]:
    return [*R.session_rules(gnb_teid=0x700 + n), R.application_dl_pdr(4, 2, "app1")]


# Session kind -> the rules of its n-th establishment
KINDS: dict[str, Callable[[int], list[IE]]] = {
    "usual": lambda n: R.session_rules(gnb_teid=0x100 + n),
    "v6": lambda n: R.session_rules(v6=True, gnb_teid=0x100 + n),
    "dual_stack": lambda n: R.session_rules(dual_stack=True, gnb_teid=0x100 + n),
    "mbr": lambda n: R.session_rules(mbr_kbps=(1000, 2000), gnb_teid=0x100 + n),
    # (stored rules of the same length as the previous kind's: another layout)
    "mbr_other": lambda n: R.session_rules(mbr_kbps=(3000, 4000), gnb_teid=0x100 + n),
    "buffering": _buffering,
    "two_dl_fars": _two_dl_fars,
    "quota": _quota,
    "validity": _validity,
    "mbqe": _mbqe,
    "application": _application,
}
ROUNDS = 3  # sessions of each kind (the layout and compiled rules of a kind are reused)


Sessions = dict[str, list[tuple[int, int, str]]]


def _script(run: _Run) -> Sessions:
    """Sessions of each kind and their modifications; the sessions (SEID, UL TEID, UE)."""
    pfds = R.pfd_management_request("app1", ["permit out 6 from any to any 443"])
    run.log.append(("pfd", encode(run.h.request(pfds))))
    sessions: dict[str, list[tuple[int, int, str]]] = {kind: [] for kind in KINDS}
    cp_seid = 0
    for n in range(ROUNDS):
        for kind, make in KINDS.items():
            cp_seid += 1
            answer = run.send(R.establishment_request("smf", "127.0.0.2", cp_seid, make(n)))
            assert cause(answer) == 1, kind
            pdr = created(answer)[1]
            fteid, ue = pdr[T.F_TEID], pdr[T.UE_IP_ADDRESS]
            assert isinstance(fteid, A.FTEID) and isinstance(ue, A.UEIPAddress)
            address = ue.ipv4 or ue.ipv6
            assert fteid.teid is not None and address is not None
            sessions[kind].append((up_seid(answer), fteid.teid, address))
    # Traffic both ways for the quota sessions, a report read (Query URR: the long way), so
    # their URR has counts outside the datapath (`urr_offsets`).
    for seid, teid, ue in sessions["quota"]:
        run.packet(run.dp.process_ul(gtpu(ul_packet(ue, 300), teid)))
        run.packet(run.dp.process_dl(dl_packet(ue, 200)))
        run.modify(seid, g(T.QUERY_URR, S.URRID(1)), R.update_dl_far(2, 0x4444, "192.0.2.9"))
    run.advance(3.5)  # (the validity sessions' quota expires: their traffic is dropped)

    teid = 0x9000
    for n in range(ROUNDS):
        # Back from idle: forward what the BAR buffered (DROBU: drop it), idle again
        buffering, _, ue = sessions["buffering"][n]
        for _ in range(2):
            teid += 1
            run.packet(run.dp.process_dl(dl_packet(ue, 100, ident=7)))
            # (the Downlink Data Report's answer sets a buffering duration: the BAR's)
            duration = S.DLBufferingDuration(0, 1 + n)
            run.advance(0.2, g(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, S.BARID(1), duration))
            flags = [F.PFCPSMReqFlags.of("DROBU")] if n == 1 else []
            run.modify(buffering, _far(2, F.ApplyAction.of("FORW"), fp=_tunnel(teid)), *flags)
            run.modify(buffering, _far(2, F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1)))
    for n in range(ROUNDS):
        for of_kind in sessions.values():
            seid, _, ue = of_kind[n]
            for end_marker in (True, False, False):  # (a handover, then two more)
                teid += 1
                run.modify(seid, R.update_dl_far(2, teid, "192.0.2.10", end_marker=end_marker))
            if "." in ue:
                run.packet(run.dp.process_dl(dl_packet(ue, 100, ident=n)))
    for n in range(ROUNDS):
        usual = sessions["usual"][n][0]
        teid += 10
        requests: list[list[IE]] = [
            [_far(9, fp=_tunnel(teid))],  # no such FAR: 73, Failed Rule ID FAR 9
            [_far(2, F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1))],  # no such BAR: 73
            [_far(2, F.ApplyAction.of("FORW", "DUPL"))],  # duplicating: 73
            [_far(2, fp=_tunnel(teid, "2001:db8::9"))],  # IPv6 peer, IPv4 N3: 73
            [_far(2, fp=[X.NetworkInstance("nope")])],  # unknown network instance: 73
            [_far(2, fp=[RawIE(T.FORWARDING_POLICY, b"\x02p1")])],  # forwarding policy
            [_far(2, fp=[RawIE(T.OUTER_HEADER_CREATION, b"\x01")])],  # incorrect: 69
            [_far(2, fp=_tunnel(teid)), g(T.UPDATE_TRAFFIC_ENDPOINT, S.TrafficEndpointID(1))],
            [_far(2, fp=_tunnel(teid + 1)), F.PFCPSMReqFlags.of("DROBU")],
            [_far(2, fp=_tunnel(teid + 2)), F.PFCPSMReqFlags.of("QAURR")],
            [_far(2, fp=_tunnel(teid + 3)), g(T.QUERY_URR, S.URRID(1))],
            [
                _far(2, fp=_tunnel(teid + 4)),
                A.FQCSID(node_address="192.0.2.1", csids=(7,), node_type=0),
                X.GroupID(f"group{n}"),
            ],
            [_far(1, fp=[X.NetworkInstance("ims")])],
            [_far(2, fp=[TR.TransportLevelMarking(0xB8FC)])],
            [_far(2, F.ApplyAction.of("DROP"))],
            [_far(2, F.ApplyAction.of("FORW"), fp=_tunnel(teid + 5))],
            [_far(1, fp=[X.NetworkInstance("internet")]), _far(2, fp=_tunnel(teid + 6))],
            [_far(2, fp=_tunnel(teid + 7)), _far(2, fp=_tunnel(teid + 8, "192.0.2.11"))],
            [_far(2, fp=[S.DestinationInterface(0)]), _far(2, fp=[ohc(teid + 9)])],
        ]
        for ies in requests:
            run.modify(usual, *ies)
        two, _, _ = sessions["two_dl_fars"][n]
        run.modify(two, _far(3, fp=_tunnel(teid + 12)), _far(2, fp=_tunnel(teid + 13)))
        # Refused by the datapath (73), then the journal fails (77: undone, reinstalled).
        run.refuse_next_install = True
        run.modify(usual, _far(2, fp=_tunnel(teid + 14)))
        run.h.journal.fail_next = 1
        run.modify(sessions["v6"][n][0], _far(2, fp=_tunnel(teid + 15)))
    run.modify(0xDEAD, _far(2, fp=_tunnel(teid + 20)))  # no such session: 65
    # The compiled rules and layouts dropped: the long way once, then the layouts again
    run.h.engine.drop_caches()
    for of_kind in sessions.values():
        for seid, _, _ in of_kind:
            teid += 1
            run.modify(seid, R.update_dl_far(2, teid, "192.0.2.12"))
    return sessions


def _deletions(run: _Run, sessions: Sessions) -> None:
    for of_kind in sessions.values():
        for seid, _, _ in of_kind:
            run.send(R.deletion_request(seid))
    run.log.append(("sent", run.h.sent))
    run.log.append(("in use", run.h.engine._allocations_in_use()))


def _restarted(run: _Run) -> list[object]:
    """A new engine restored from ``run``'s journal: what it does of a handover of each
    session, twice."""
    dp = LocalDatapath(expected_sessions=64)
    try:
        journal = MemoryJournal()
        journal.records = dict(run.h.journal.records)
        engine = SessionEngine(run.h.settings, dp, journal, ntp_clock=lambda: NTP_NOW)
        engine.restore(journal.items(), 0.0)
        installed: list[object] = []
        install = dp.install

        def recorded(
            seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
        ) -> None:
            installed.append((seid, program, end_markers))
            install(seid, program, end_markers)

        dp.install = recorded  # type: ignore[method-assign]
        peer, node = Peer("smf", ("127.0.0.2", 8805)), A.NodeID.from_text("127.0.0.1")
        out: list[object] = []
        for round_ in range(2):
            for seid in sorted(engine.sessions):
                far = R.update_dl_far(2, 0xA000 + 2 * seid + round_, "192.0.2.13")
                req = decode(encode(R.modification_request(seid, [far], seq=seid)))
                out.append(encode(engine.handle_request(req, peer, node, 0.0)))
                engine.commit()
        out += [installed, dict(journal.records)]
        return out
    finally:
        dp.close()


def _run(fast: bool) -> tuple[_Run, list[object]]:
    """The script, the long way only unless ``fast``; what the restored engine does."""
    with pytest.MonkeyPatch.context() as m:
        real = SessionEngine._modify_fars
        counts = {"fast": 0}

        def counted(self: SessionEngine, *args: Any) -> Message | None:
            answer = real(self, *args) if fast else None
            counts["fast"] += answer is not None
            return answer

        m.setattr(SessionEngine, "_modify_fars", counted)
        run = _Run()
        try:
            sessions = _script(run)
            restored = _restarted(run)
            _deletions(run, sessions)
        finally:
            run.dp.close()
        run.fast = counts["fast"]
    return run, restored


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[tuple[_Run, list[object]], tuple[_Run, list[object]]]]:
    require_core()
    yield _run(fast=False), _run(fast=True)


Both = tuple[tuple[_Run, list[object]], tuple[_Run, list[object]]]


def test_update_far_modifications_do_what_the_long_way_does(both: Both) -> None:
    (long_way, _), (fast, _) = both
    assert long_way.fast == 0
    assert fast.fast > 100  # (most of them: not the first of each kind, nor the long way's)
    assert len(fast.log) == len(long_way.log)
    for i, (a, b) in enumerate(zip(fast.log, long_way.log, strict=True)):
        assert a == b, (i, a, b)
    # The script covers what it says: refusals of each kind and accepted changes.
    causes = [ie_value(decode(e[1]), T.CAUSE) for e in fast.log if e[0] == "answer"]  # type: ignore[index]
    assert {1, 65, 69, 73, 76, 77}.issubset(causes)
    assert any(e[0] == "drop_buffered" for e in fast.log)  # type: ignore[index]
    assert any(e[0] == "install" and e[3] for e in fast.log)  # type: ignore[index]


def test_a_restored_session_is_modified_as_the_long_way_does(both: Both) -> None:
    (_, long_way), (_, fast) = both
    assert fast == long_way
    answers = [a for a in fast if isinstance(a, bytes)]
    assert len(answers) > 40 and all(ie_value(decode(a), T.CAUSE) == 1 for a in answers)

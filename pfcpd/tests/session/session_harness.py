"""A sans-IO node with the session engine on a real LocalDatapath, an associated CP, and
builders for the session requests the tests send. Every datagram the node sends is kept so
the test's teardown has tshark check it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw

from pfcpd.config import PfcpConfig
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node import PfcpNode
from pfcpd.node.node_metrics import NodeMetrics
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import IE
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine
from pfcpd.session.gtpu_path import PathSettings
from pfcpd.session.marks import MARKS_KEY
from pfcpd.session.session import Session
from pfcpd.smfsim import rules

T = IEType
M = MessageType
CP = ("127.0.0.2", 8805)
N3 = ipaddress.ip_address("192.0.2.1")
GNB = "192.0.2.9"
DN = "198.51.100.1"
POOL = "10.45.0.0/29"  # 6 host addresses
NTP_NOW = 3_950_000_000.0
_NEVER_REACHED = TR.VolumeThreshold(total=10**15)


g = rules.group


def ohc(teid: int, peer: str = GNB) -> A.OuterHeaderCreation:
    return rules.gnb_tunnel(teid, peer)


qer = rules.qer
ul_far = rules.ul_far


def _with_pdi(pdr: Grouped, *replace: IE) -> Grouped:
    """``pdr`` with PDI children of the types in ``replace`` replaced (appended if absent)."""
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    types = {ie.type for ie in replace}
    pdi.ies = [ie for ie in pdi.ies if ie.type not in types] + list(replace)
    return pdr


def ul_pdr(
    pdr_id: int = 1,
    far_id: int = 1,
    urr: int | None = 1,
    qer: int | None = 1,
    fteid: IE | None = None,
    ue: IE | None = None,
    sdf: str | None = None,
) -> Grouped:
    """The simulator's uplink PDR, with the F-TEID, UE IP Address or an SDF filter given."""
    pdr = rules.ul_pdr(pdr_id, far_id, qer_id=qer, urr_id=urr)
    extra = [ie for ie in (fteid, ue) if ie is not None]
    if sdf is not None:
        extra.append(TR.SDFFilter(flow_description=sdf))
    return _with_pdi(pdr, *extra)


def dl_pdr(pdr_id: int = 2, far_id: int = 2, urr: int | None = 1, qer: int | None = 1) -> Grouped:
    return rules.dl_pdr(pdr_id, far_id, qer_id=qer, urr_id=urr)


def dl_far(
    far_id: int = 2, teid: int = 0x100, action: str = "FORW", bar: int | None = None
) -> Grouped:
    """To the gNB (FORW), or another apply action (``"BUFF+NOCP"``), naming ``bar``."""
    if action == "FORW":
        far = rules.dl_far(far_id, teid, GNB)
    else:
        far = g(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of(*action.split("+")))
    if bar is not None:
        far.ies.append(S.BARID(bar))
    return far


def to_forw(far_id: int = 2, teid: int = 0x100) -> Grouped:
    """Update FAR ``far_id``: forward to the gNB's ``teid`` (a buffering FAR's data resumes)."""
    fp = g(T.UPDATE_FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(teid))
    return g(T.UPDATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), fp)


def urr(urr_id: int = 1, *triggers: str, **values: IE) -> Grouped:
    """Volume (octets and packets: MNOP) and duration measured, the reporting ``triggers``
    and IEs ``values`` (a Measurement Information among them replaces the default one)."""
    info = (
        []
        if any(v.type == T.MEASUREMENT_INFORMATION for v in values.values())
        else [F.MeasurementInformation.of("MNOP")]
    )
    return g(
        T.CREATE_URR,
        S.URRID(urr_id),
        F.MeasurementMethod.of("VOLUM", "DURAT"),
        F.ReportingTriggers.of(*triggers),
        *info,
        *values.values(),
    )


def many_flows() -> list[IE]:
    """Eight uplink flows with SDF filters and eight downlink PDRs, each pair with a FAR, a
    QER and a URR of its own: ~1.5 KiB of rules."""
    out: list[IE] = []
    for i in range(1, 9):
        sdf = f"permit out 17 from 198.51.100.{i} {1000 + i} to assigned"
        out += [
            ul_pdr(2 * i - 1, 2 * i - 1, urr=i, qer=i, sdf=sdf),
            dl_pdr(2 * i, 2 * i, urr=i, qer=i),
            ul_far(2 * i - 1),
            dl_far(2 * i, teid=0x500 + i),
            qer(i, mbr_kbps=(1000 * i, 2000 * i)),
            urr(i, "VOLTH", volume=TR.VolumeThreshold(total=10**6 * i)),
        ]
    return out


def establishment(*rules_: IE, seq: int = 1, cp_seid: int = 0xC0FFEE) -> Message:
    return rules.establishment_request("smf", CP[0], cp_seid, rules_, seq)


def standard_rules() -> list[IE]:
    # (a threshold no test reaches: VOLTH needs its Volume Threshold, TS 29.244 7.5.2.4)
    return [ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "VOLTH", v=_NEVER_REACHED)]


def dual_stack(datapath: LocalDatapath) -> tuple[Harness, list[IE]]:
    """A harness whose network instance has an IPv4 and an IPv6 pool, and rules whose UE
    takes an address of each (CHV4 and CHV6 on both PDRs)."""
    pools = {
        "internet": (ipaddress.ip_network("10.45.0.0/29"), ipaddress.ip_network("2001:db8:45::/48"))
    }
    both = A.UEIPAddress(source=True, choose_v4=True, choose_v6=True)
    dl = dl_pdr()
    pdi = dl.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [ie for ie in pdi.ies if ie.type != T.UE_IP_ADDRESS]
    pdi.ies.append(A.UEIPAddress(choose_v4=True, choose_v6=True))
    return Harness(datapath, pools=pools), [ul_pdr(ue=both), dl, ul_far(), dl_far(), qer(), urr(1)]


class Harness:
    def __init__(
        self,
        datapath: LocalDatapath,
        journal: MemoryJournal | None = None,
        pools: dict[str, Any] | None = None,
        n3: str | None = None,
        gtpu_path: PathSettings | None = None,
        accept_cp_fteids: bool = False,
    ) -> None:
        self.dp = datapath
        self.journal = journal or MemoryJournal()
        self.settings = EngineSettings(
            n3_address=ipaddress.ip_address(n3) if n3 else N3,
            pfcp_address=ipaddress.ip_address("127.0.0.1"),
            ue_pools=pools or {"internet": (ipaddress.ip_network(POOL),)},
            gtpu_path=gtpu_path,
            accept_cp_fteids=accept_cp_fteids,
        )
        self.ntp = NTP_NOW
        metrics = NodeMetrics()
        self.engine = SessionEngine(
            self.settings,
            datapath,
            self.journal,
            registry=metrics.registry,
            ntp_clock=lambda: self.ntp,
        )
        self.node = PfcpNode(
            node_id="127.0.0.1",
            config=PfcpConfig(
                listen=(), allowed_peers=None, heartbeat_interval=1000.0, t1=1.0, n1=2
            ),
            recovery_time_stamp=3_950_000_000,
            session_handler=self.engine,
            metrics=metrics,
        )
        self.node.start(0.0)
        self.sent: list[bytes] = []
        self.seq = 100
        self.now = 0.0
        setup = Message(
            M.ASSOCIATION_SETUP_REQUEST,
            1,
            [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(3_900_000_000)],
        )
        (resp,) = self.exchange(setup)
        assert resp.get(T.CAUSE).value == 1  # type: ignore[union-attr]

    @property
    def records(self) -> dict[str, bytes]:
        """The journal's records of the sessions and the PFDs: not the allocators' marks'
        (`MARKS_KEY`), which move ahead of the values handed out and stay ahead."""
        return {k: v for k, v in self.journal.records.items() if k != MARKS_KEY}

    def exchange(self, msg: Message) -> list[Message]:
        self.node.datagram_received(encode(msg), CP, self.now)
        return self._collect()

    def request(self, msg: Message) -> Message:
        self.seq += 1
        msg.seq = self.seq
        out = self.exchange(msg)
        assert len(out) == 1, out
        return out[0]

    def send(self, msg: Message, seq: int, addr: tuple[str, int] = CP) -> Message:
        """One request of a batch, numbered ``seq``, from ``addr``: handled, its answer left
        to be collected with the others' (`batch`, `_collect`, as the daemon answers what
        one read of its socket gave). The request."""
        msg.seq = seq
        self.node.datagram_received(encode(msg), addr, self.now)
        return msg

    def batch(
        self, *requests: Message | tuple[Message, tuple[str, int]], seq: int = 300
    ) -> list[Message]:
        """``requests`` in one batch, numbered from ``seq`` on, each from CP or from the
        address it comes with; the answers to them all, collected after the last (when the
        node commits the batch's changes), in the order sent."""
        for n, request in enumerate(requests, seq):
            msg, addr = request if isinstance(request, tuple) else (request, CP)
            self.send(msg, n, addr)
        return self._collect()

    def _collect(self) -> list[Message]:
        out = []
        for t in self.node.datagrams_to_send():
            self.sent.append(t.data)
            out.append(decode(t.data))
        return out

    def advance(self, seconds: float) -> list[Message]:
        """Run the node's timers up to now + seconds; what it sent meanwhile."""
        until = self.now + seconds
        out: list[Message] = []
        while (t := self.node.get_timer()) is not None and t <= until:
            self.now = max(self.now, t)
            self.node.handle_timer(self.now)
            out += self._collect()
        self.now = until
        return out

    def establish(self, *rules: IE, cp_seid: int = 0xC0FFEE) -> Message:
        return self.request(establishment(*(rules or standard_rules()), cp_seid=cp_seid))

    def modify(self, up_seid: int, *ies: IE) -> Message:
        return self.request(Message(M.SESSION_MODIFICATION_REQUEST, 0, list(ies), up_seid))

    def delete(self, up_seid: int) -> Message:
        return self.request(Message(M.SESSION_DELETION_REQUEST, 0, [], up_seid))

    def answer(self, report: Message, cause: int = 1, *ies: IE) -> None:
        resp = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(cause), *ies], 0xC0FFEE)
        self.node.datagram_received(encode(resp), CP, self.now)
        self._collect()

    def answer_all(self, sent: list[Message]) -> None:
        """Accept every Session Report Request of ``sent``."""
        for m in sent:
            if m.msg_type == M.SESSION_REPORT_REQUEST:
                self.answer(m)

    def check_sent_with_tshark(self) -> None:
        """tshark's PFCP dissector and pycrate both read every message sent cleanly (pycrate
        those of the types it implements)."""
        from oracles import PYCRATE_UNKNOWN_TYPES, pycrate_error, tshark_problems

        if self.sent:
            assert tshark_problems(self.sent) == []
            known = [d for d in self.sent if d[1] not in PYCRATE_UNKNOWN_TYPES]
            assert [e for e in map(pycrate_error, known) if e is not None] == []


@contextmanager
def restarted(h: Harness, sessions: int) -> Iterator[SessionEngine]:
    """pfcpd after a restart: a new engine on a new datapath, with ``h``'s journal restored
    (``sessions`` sessions come back)."""
    dp = LocalDatapath(expected_sessions=16)
    try:
        journal = MemoryJournal()
        journal.records = dict(h.journal.records)
        engine = SessionEngine(h.settings, dp, journal)
        assert engine.restore(journal.items(), 0.0) == sessions
        yield engine
    finally:
        dp.close()


def usage_reports(sent: list[Message]) -> list[Grouped]:
    """The Usage Reports of the Session Report Requests in ``sent`` (retransmissions left
    out)."""
    out: list[Grouped] = []
    seen: set[int] = set()
    for m in sent:
        if m.msg_type == M.SESSION_REPORT_REQUEST and m.seq not in seen:
            seen.add(m.seq)
            out += [r for r in m.get_all(T.USAGE_REPORT_REPORT_REQUEST) if isinstance(r, Grouped)]
    return out


def report_octets(report: Message) -> int:
    """The total octets of a Session Report Request's one Usage Report."""
    (usage,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert isinstance(usage, Grouped)
    volume = usage.get(T.VOLUME_MEASUREMENT)
    assert isinstance(volume, TR.VolumeMeasurement) and volume.total is not None
    return volume.total


def up_seid(resp: Message) -> int:
    fseid = resp.get(T.F_SEID)
    assert isinstance(fseid, A.FSEID)
    return fseid.seid


def created(resp: Message) -> dict[int, dict[int, IE]]:
    """Created PDR IEs: PDR ID -> {IE type: IE}."""
    out: dict[int, dict[int, IE]] = {}
    for c in resp.get_all(T.CREATED_PDR):
        assert isinstance(c, Grouped)
        out[c.get(T.PDR_ID).value] = {ie.type: ie for ie in c.ies}  # type: ignore[union-attr]
    return out


def cause(msg: Message) -> int:
    return msg.get(T.CAUSE).value  # type: ignore[union-attr]


def gtpu(inner: bytes, teid: int, src: str = GNB) -> bytes:
    gtp = GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=9)
    return raw(IP(src=src, dst=str(N3)) / UDP(sport=2152, dport=2152) / gtp / Raw(inner))


def ul_packet(ue: str, size: int = 100) -> bytes:
    return raw(IP(src=ue, dst=DN) / UDP(sport=1000, dport=2000) / Raw(b"u" * size))


def dl_packet(ue: str, size: int = 100, ident: int = 0) -> bytes:
    return raw(IP(src=DN, dst=ue, id=ident) / UDP(sport=2000, dport=1000) / Raw(b"d" * size))


def replaced(session: Session, **changes: Any) -> Session:
    """A copy of ``session`` with ``changes`` set (as `dataclasses.replace` would, by the
    names `Session` takes: ``cp_fseid``, ``peers``, ``teids``, ``ue`` as tuples)."""
    copy = Session(
        session.up_seid,
        session.cp_seid,
        session.cp_node_id,
        session.cp_fseid,
        session.rules_blob,
        session.peers,
        session.teids,
        session.ue,
        session.urrs,
        session.bar_duration_s,
        session.established_ntp,
        session.fq_csids,
        session.group_id,
        session.apps,
        session.ddn_delay,
    )
    for name, value in changes.items():
        if not hasattr(copy, name):
            raise AttributeError(name)
        setattr(copy, name, value)
    return copy

"""``pfcpd replay FILE --config CONFIG``: a CP's session requests from a capture, replayed
into pfcpd's session engine, each answer set beside the one the capture's UP function gave.

An SMF vendor or an operator checks with it, before anything is deployed, how pfcpd answers
the N4 traffic of an SMF: a capture of that SMF with any UP function (pcap, pcapng, or hex
lines, as `pfcpd decode` reads them). The Session Establishment, Modification and Deletion
Requests in it go octet for octet into a sans-IO node with the session engine, in this
process, on the local datapath's rule engine (libupfcore: no packet is sent, no socket
opened, nothing stored), with the configuration's N3 address and UE pools. Each request's
CP is associated first (an Association Setup Request with the Node ID of its first
establishment). A Modification or Deletion Request goes with its header's SEID replaced by
the UP SEID pfcpd allocated for that session; one for a session established before the
capture began, or refused here (its UP SEID is nobody's), is left out. A capture may hold
several CPs and UP functions (an SGW-C and a PGW-C, each with its user plane): a request is
known by its CP's address and port, its UP function's address, its type and sequence
number, and a session by its UP function's address and SEID. An answer agrees with the
capture's when their causes are equal and, for an establishment, their Created PDRs
allocated the same (an F-TEID, a UE address the request asked for with CH, CHV4 or CHV6: TS
29.244 7.5.3.2 has a Created PDR only for those; some UP functions list every PDR, or give
back what the CP gave), for a deletion their Usage Reports are of the same URRs; one the
capture has no answer to is listed, not compared. Exit 0 when no answer differs, 1 when one
does, 2 when the capture or the configuration cannot be read, or the capture has no session
request.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from .capture import CaptureError, Datagram, read_datagrams
from .config import PfcpConfig
from .node import PfcpNode
from .pfcp import CodecError, Grouped, IEType, Message, MessageType, decode, encode
from .pfcp import ies_address as A
from .pfcp import ies_scalar as S

T = IEType
M = MessageType
# A session request's answer, by request type
ANSWER: dict[int, int] = {
    M.SESSION_ESTABLISHMENT_REQUEST: M.SESSION_ESTABLISHMENT_RESPONSE,
    M.SESSION_MODIFICATION_REQUEST: M.SESSION_MODIFICATION_RESPONSE,
    M.SESSION_DELETION_REQUEST: M.SESSION_DELETION_RESPONSE,
}
RECOVERY_TIME_STAMP = 3_900_000_000  # (the replayed CP's, in its Association Setup Request)


@dataclass(frozen=True, slots=True)
class Replayed:
    """A request of the capture (``frame``), pfcpd's answer (and its octets) and the
    capture's UP function's answer (None: the capture has none)."""

    frame: int
    request: Message
    ours: Message
    ours_octets: bytes
    theirs: Message | None
    # Why the codec could not read the request (then ``request`` holds its header's message
    # type, sequence number and SEID alone, and pfcpd's answer is the node's to that error).
    undecodable: str = ""

    def differences(self) -> list[str]:
        """What of pfcpd's answer differs from the capture's (empty: it agrees, or the
        capture has no answer to compare with)."""
        if self.theirs is None:
            return []
        ours, theirs = _cause(self.ours), _cause(self.theirs)
        if ours != theirs:
            return [f"cause {ours} where the capture has {theirs}"]
        out = []
        if self.request.msg_type == M.SESSION_ESTABLISHMENT_REQUEST:
            wanted = asked(self.request)
            mine, its = allocated(self.ours, wanted), allocated(self.theirs, wanted)
            if mine != its:
                out.append(f"Created PDR allocations {mine} where the capture has {its}")
        if self.request.msg_type == M.SESSION_DELETION_REQUEST:
            mine_urrs, its_urrs = usage_urrs(self.ours), usage_urrs(self.theirs)
            if mine_urrs != its_urrs:
                out.append(f"Usage Reports of URRs {mine_urrs} where the capture has {its_urrs}")
        return out


def _cause(msg: Message) -> int | None:
    cause = msg.get(T.CAUSE)
    return cause.value if isinstance(cause, S.Cause) else None


def asked(request: Message) -> dict[int, set[int]]:
    """What an establishment asks the UP function to allocate: PDR ID -> the IE types (an
    F-TEID with CH, a UE IP Address with CHV4 or CHV6)."""
    out: dict[int, set[int]] = {}
    for pdr in request.get_all(T.CREATE_PDR):
        pdr_id = pdr.get(T.PDR_ID) if isinstance(pdr, Grouped) else None
        pdi = pdr.get(T.PDI) if isinstance(pdr, Grouped) else None
        if not isinstance(pdr_id, S.PDRID) or not isinstance(pdi, Grouped):
            continue
        for ie in pdi.ies:
            if (isinstance(ie, A.FTEID) and ie.choose) or (
                isinstance(ie, A.UEIPAddress) and (ie.choose_v4 or ie.choose_v6)
            ):
                out.setdefault(pdr_id.value, set()).add(ie.type)
    return out


def allocated(msg: Message, wanted: dict[int, set[int]]) -> dict[int, list[int]]:
    """The Created PDRs of ``msg`` carrying what the UP function allocated: PDR ID -> the IE
    types allocated (F-TEID, UE IP Address) among those ``wanted`` (`asked`: some UP
    functions also give back what the CP gave)."""
    out: dict[int, list[int]] = {}
    for created in msg.get_all(T.CREATED_PDR):
        if not isinstance(created, Grouped):
            continue
        pdr_id = created.get(T.PDR_ID)
        if not isinstance(pdr_id, S.PDRID):
            continue
        want = wanted.get(pdr_id.value, set())
        kinds = sorted(ie.type for ie in created.ies if ie.type in want)
        if kinds:
            out[pdr_id.value] = kinds
    return out


def usage_urrs(msg: Message) -> list[int]:
    """The URR IDs of a Session Deletion Response's Usage Reports, sorted."""
    out = []
    for report in msg.get_all(T.USAGE_REPORT_DELETION_RESPONSE):
        urr_id = report.get(T.URR_ID) if isinstance(report, Grouped) else None
        if isinstance(urr_id, S.URRID):
            out.append(urr_id.value)
    return sorted(out)


def replay(
    datagrams: Iterable[Datagram], node: PfcpNode, now: float = 0.0, step: float = 0.001
) -> Iterator[Replayed]:
    """The session requests of ``datagrams`` handed to ``node`` (which has the session
    engine), as the module says, ``step`` seconds apart from ``now`` on (the node's rate
    limit, 1,000 a second by default, refills as fast as they come); what ``node`` sends
    besides their answers (Session Report Requests, ...) is dropped, its timers are not run.
    A session request the codec cannot read (a mandatory IE missing, ...) goes to ``node``
    all the same, which answers it with the error's cause; other datagrams the codec cannot
    read are skipped."""
    # each datagram, its message and the codec's error ("" when it decoded: an undecodable
    # session request stands in as a message of its header alone)
    messages: list[tuple[Datagram, Message, str]] = []
    for dgram in datagrams:
        try:
            messages.append((dgram, decode(dgram.payload), ""))
        except CodecError as exc:
            head = exc.header
            if head is not None and head.msg_type in ANSWER:
                stand_in = Message(head.msg_type, head.seq, [], seid=head.seid)
                messages.append((dgram, stand_in, str(exc)))
    # (the CP's address and port, the UP function's address, the message type, its sequence)
    answers = {
        (d.dst, d.dport, d.src, m.msg_type, m.seq): m
        for d, m, _ in messages
        if m.msg_type in ANSWER.values()
    }
    seids: dict[tuple[str, int], int] = {}  # the UP function's address and SEID -> pfcpd's
    associated: set[str] = set()
    seen: set[tuple[str, int, str, int, int]] = set()  # (a capture of two interfaces...)
    for dgram, msg, undecodable in messages:
        key = (dgram.src, dgram.sport, dgram.dst, msg.msg_type, msg.seq)
        if msg.msg_type not in ANSWER or key in seen:
            continue
        seen.add(key)
        now += step
        source = (dgram.src or "127.0.0.2", dgram.sport or 8805)
        data = bytearray(dgram.payload)
        if msg.msg_type == M.SESSION_ESTABLISHMENT_REQUEST:
            node_id = msg.get(T.NODE_ID)
            if isinstance(node_id, A.NodeID) and node_id.value not in associated:
                associated.add(node_id.value)
                setup = Message(
                    M.ASSOCIATION_SETUP_REQUEST,
                    0x7FFFFF - len(associated),
                    [node_id, S.RecoveryTimeStamp(RECOVERY_TIME_STAMP)],
                )
                node.datagram_received(encode(setup), source, now)
                node.datagrams_to_send()
        else:
            ours_seid = None if msg.seid is None else seids.get((dgram.dst, msg.seid))
            if ours_seid is None:
                continue  # (a session established before the capture began, or refused)
            data[4:12] = struct.pack("!Q", ours_seid)
        node.datagram_received(bytes(data), source, now)
        want = (ANSWER[msg.msg_type], msg.seq)
        ours = [
            (t.data, answer)
            for t in node.datagrams_to_send()
            if (answer := decode(t.data)).msg_type == want[0] and answer.seq == msg.seq
        ]
        if not ours:
            continue  # (a request the node drops: nothing to set beside the capture's)
        octets, answer = ours[0]
        theirs = answers.get((dgram.src, dgram.sport, dgram.dst, *want))
        if msg.msg_type == M.SESSION_ESTABLISHMENT_REQUEST and theirs is not None:
            up, their_up = answer.get(T.F_SEID), theirs.get(T.F_SEID)
            if isinstance(up, A.FSEID) and isinstance(their_up, A.FSEID):
                seids[(dgram.dst, their_up.seid)] = up.seid
        yield Replayed(dgram.frame, msg, answer, octets, theirs, undecodable)


def run_replay(path: str, config_path: str, *, port: int, out: TextIO, err: TextIO) -> int:
    """The command: one line per request replayed (under it, indented, what the engine
    logged handling it: a refusal's reason), then a summary (exit status: above)."""
    from .config import ConfigError, load_config
    from .config.datapath import LocalDatapathConfig
    from .datapath.local.corelib import CoreLibNotFound
    from .datapath.local.engine import LocalDatapath
    from .node import NodeMetrics
    from .session import EngineSettings, MemoryJournal, SessionEngine

    try:
        cfg = load_config(config_path)
        datagrams = list(read_datagrams(path, port))
        local = cfg.datapath if isinstance(cfg.datapath, LocalDatapathConfig) else None
        datapath = LocalDatapath(local.core_lib if local else None, expected_sessions=1024)
    except (OSError, CaptureError, ConfigError, CoreLibNotFound) as exc:
        err.write(f"pfcpd replay: {exc}\n")
        return 2
    reasons = _Collected()
    session_log = logging.getLogger("pfcpd.session")
    session_log.addHandler(reasons)
    level = session_log.level
    session_log.setLevel(logging.INFO)
    try:
        metrics = NodeMetrics()
        engine = SessionEngine(
            EngineSettings.from_config(cfg), datapath, MemoryJournal(), metrics.registry
        )
        node = PfcpNode(
            node_id=cfg.node_id,
            config=PfcpConfig(listen=(), allowed_peers=None),
            recovery_time_stamp=RECOVERY_TIME_STAMP + 1,
            session_handler=engine,
            metrics=metrics,
        )
        node.start(0.0)
        agreed = differed = unanswered = 0
        for r in replay(datagrams, node):
            name = MessageType(r.request.msg_type).name.lower()
            diffs = r.differences()
            if r.theirs is None:
                verdict = "the capture has no answer to compare with"
            else:
                verdict = "agrees" if not diffs else "differs: " + "; ".join(diffs)
            out.write(
                f"frame {r.frame} {name} seq {r.request.seq}: cause {_cause(r.ours)}, {verdict}\n"
            )
            if r.undecodable:
                out.write(f"  not decoded: {r.undecodable}\n")
            out.writelines(f"  {line}\n" for line in reasons.lines)
            reasons.lines.clear()
            unanswered += r.theirs is None
            agreed += r.theirs is not None and not diffs
            differed += bool(diffs)
    finally:
        session_log.removeHandler(reasons)
        session_log.setLevel(level)
        datapath.close()
    total = agreed + differed + unanswered
    if not total:
        err.write(f"pfcpd replay: {path}: no session request to replay\n")
        return 2
    out.write(f"{total} request(s) replayed: {agreed} agree, {differed} differ")
    out.write(f", {unanswered} without an answer in the capture\n" if unanswered else "\n")
    return 1 if differed else 0


class _Collected(logging.Handler):
    """The engine's log lines since the last request replayed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

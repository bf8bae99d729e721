"""Restore equivalence: after every step of a random, seeded run of session requests, a fresh
engine restored from the journal's records (as pfcpd's start-up does) holds what the live
engine holds.

The run (`World`) drives the engine through the sans-IO node on the real local datapath,
whose clock, like the engine's NTP clock, follows the node's, behind a pipeline as the vpp
datapath is (`Pipelined`: installs applied at the group commit's barrier; one seed of the
test runs on the local datapath itself, whose establishments install by their shapes'
values). Its steps: batches of 1-5 requests (`World.batch`), often several about one
session, with answers to Session Report Requests and checkpoints of the engine's timer
among them, the journal's commit of a quarter of them failing (every request answered 77,
nothing of the batch kept), and in a sixth of them (some of those too) the datapath
refusing at the barrier an install of a session the pipeline holds one for: the engine
undoes every request of the batch that handed the datapath that session, and in turn every
one handing it a session of those (`unprogrammed`: an establishment, a modification or a
deletion of it, a PFD Management reinstalling it, a Session Set Modification moving it
after an earlier request of the batch gave it another CP), answered 77; packets of
some sessions through the datapath, most times followed by a checkpoint of the datapath's
counters as the engine's timer makes (`World.traffic`); time passing, the node's timers
running (`World.advance`: periodic, threshold, quota and validity reports, checkpoints),
each Session Report Request answered 1, 64 or 65, left unanswered (retransmitted, then
given up), or answered 1 or 64 in a later batch. The requests: establishments of varied
shapes (CH F-TEIDs shared by CHOOSE ID or each its own, CHV4, CHV6,
dual stack, a second network instance, SDF filters, an application's PDR, FARs forwarding,
buffering with or without NOCP and a BAR, dropping, QERs, 1-3 URRs with volume thresholds,
quotas, validity times, periods, INAM, linked URRs, FQ-CSIDs and Group Ids, from either
SMF), modifications (`Modifying`: Create, Update and Remove of PDRs, FARs, QERs, URRs and
BARs; Update FAR to new forwarding parameters with SNDEM, to BUFF or BUFF+NOCP and back to
FORW; a new F-TEID; quotas granted with a Query URR or without; QAURR, DROBU, Query URR;
new FQ-CSIDs and Group Ids; a new CP F-SEID, of another address, or the other SMF's: it
takes the session over, as a modification from the other SMF with one does), deletions,
Session Set Modifications moving a Group Id's sessions between the SMFs, PFD Management of
the application (new PFDs, or none), and about one request in eight flawed (one of them
refused only once compiled, after its Query URR read the counts): each gets its cause and
changes nothing but where its counts are (`Sent`).

Checked after every step (`World.check_restored`): no step of the engine failed (its error
metrics), the pipeline applied every install, the live engine's allocators hold
exactly its sessions' TEIDs and UE addresses, its indexes are its sessions', what each URR
book holds of the datapath's counts at the last checkpoint is no more than the datapath
counts (`check_checkpoints`: else a restart counts it twice), and the program last
installed for each session gives its quotas what its books now say (`check_installed`).
The restored engine
has the live one's sessions (`held`), each with its CP, CP F-SEID, local F-TEIDs, UE
addresses, rules (as encoded), FARs' peers, BAR, FQ-CSIDs, Group Id and URR books (the
fields journaled or configured from the rules; usage and quota consumption as a restart
keeps them: the baseline and what the last checkpoint saw), the same ``pfcpd show
sessions --json`` (`Inspection.sessions_view`), indexes, PFDs, allocations in use and
installed programs (`LocalDatapath._programs`, and the verdicts of an uplink packet on each
local F-TEID and a downlink packet to each UE address of every session, once the live
datapath's counts are checkpointed, as a restart keeps them). After a failed batch the
engine holds what it held before it, but for usage the datapath counted meanwhile
(`check_rolled_back`); the counts a rollback puts back are journaled at the next commit.
After a batch some of whose requests the datapath's refusal undid, each session those
handed the datapath is as before the batch but for its usage and the CP a Session Set
Modification kept gave it, the other requests' sessions are as the batch left them
(`check_kept`), and the PFDs are the last kept PFD Management's.
The checks are part of the run: their probe packets are counted by the live datapath and
followed by a checkpoint, so a change to the checks changes what a seed covers.

The next value each allocator hands out is not compared: a restored allocator hands out
never-used values from the mark the journal holds (marks.py), at or past where the live one
does (`check_marks`), and then what was freed before the restart lowest first, not in the
order it was freed. The verdicts of a session with a used-up volume quota are compared too, and the
restored engine's drop what the quota's PDRs forward (`_used_up_pdrs`).
"""

from __future__ import annotations

import functools
import ipaddress
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from datapath.conftest import require_core
from pipelined_datapath import Pipelined
from scapy.compat import raw
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from session_harness import CP, N3, NTP_NOW, Harness, cause, g

from pfcpd.datapath.interface import IPNetwork, SessionProgram, Usage
from pfcpd.datapath.local.engine import LocalDatapath, PacketResult, Verdict, with_slots
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, decode, encode, encode_groups
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import MemoryJournal, SessionEngine
from pfcpd.session.allocation import _Bits, _Space
from pfcpd.session.compile import DUAL_STACK_BIT
from pfcpd.session.session import Session, ue_network
from pfcpd.session.usage import Counts, UrrBook, report_counts

T = IEType
M = MessageType
SMF2 = ("127.0.0.3", 8805)  # "smf2": the other SMF of smf's SMF Set
OWNERS = {"smf": CP, "smf2": SMF2}
OTHER_CP_ADDRESS = "127.0.0.9"  # a CP F-SEID address of no associated CP
SET_ID = "set1.example"
GNBS = ("192.0.2.9", "192.0.2.10")
DN4, DN6 = "198.51.100.1", "2001:db8:ff::1"
POOLS: dict[str, tuple[IPNetwork, ...]] = {
    "internet": (
        ipaddress.ip_network("10.45.0.0/28"),  # 14 addresses
        ipaddress.ip_network("2001:db8:45::/61"),  # 8 /64 prefixes
    ),
    "ims": (ipaddress.ip_network("10.46.0.0/29"),),  # 6 addresses
}
FQ_CSID_NODE = "192.0.2.77"
GROUPS = ("g1", "g2")
APP = "web"
ACCESS, CORE = 0, 1
FIXED_TEIDS = 0x7000_0000  # F-TEIDs the CP gives (refused, 71): far above the UP function's


# -- rules --------------------------------------------------------------------------------


def _pdr(
    pdr_id: int,
    far_id: int,
    pdi: list[IE],
    qers: list[int],
    urrs: list[int],
    precedence: int = 200,
    uplink: bool = True,
) -> Grouped:
    ies: list[IE] = [S.PDRID(pdr_id), S.Precedence(precedence), g(T.PDI, *pdi)]
    if uplink:
        ies.append(TR.OuterHeaderRemoval(0))
    ies.append(S.FARID(far_id))
    ies += [S.QERID(q) for q in qers]
    ies += [S.URRID(u) for u in urrs]
    return g(T.CREATE_PDR, *ies)


def _ohc(teid: int, peer: str) -> A.OuterHeaderCreation:
    return A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV4, teid=teid, ipv4=peer)


def _ul_far(far_id: int, instance: str) -> Grouped:
    params = g(T.FORWARDING_PARAMETERS, S.DestinationInterface(CORE), X.NetworkInstance(instance))
    return g(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("FORW"), params)


def _dl_far(far_id: int, action: str, teid: int, peer: str, bar: int | None) -> Grouped:
    """To the gNB (``action`` FORW), or buffering (BUFF, BUFF+NOCP, naming ``bar``), or
    dropping (DROP)."""
    ies: list[IE] = [S.FARID(far_id), F.ApplyAction.of(*action.split("+"))]
    if action == "FORW":
        ies.append(g(T.FORWARDING_PARAMETERS, S.DestinationInterface(ACCESS), _ohc(teid, peer)))
    elif "BUFF" in action and bar is not None:
        ies.append(S.BARID(bar))
    return g(T.CREATE_FAR, *ies)


def _qer(qer_id: int, open_: bool) -> Grouped:
    gate = 0 if open_ else 1
    return g(T.CREATE_QER, S.QERID(qer_id), TR.GateStatus(gate, gate), S.QFI(9))


def _urr(rng: random.Random, urr_id: int, others: list[int]) -> Grouped:
    """A URR measuring volume and duration, of a random kind: a volume threshold, a volume
    quota (with a validity time), periodic, paused (INAM), linked to one of ``others``, or
    none of these."""
    kind = rng.choice(["volth", "volqu", "perio", "plain", "inam", "linked", "quvti"])
    triggers: list[str] = []
    extra: list[IE] = []
    info = ["MNOP"]
    if kind == "volth":
        triggers.append("VOLTH")
        extra.append(TR.VolumeThreshold(total=rng.choice([300, 1000, 5000])))
    elif kind in ("volqu", "quvti"):
        triggers.append("VOLQU")
        extra.append(TR.VolumeQuota(total=rng.choice([1000, 20000, 200000])))
        if kind == "quvti":
            triggers.append("QUVTI")
            extra.append(S.QuotaValidityTime(rng.choice([2, 5, 30])))
    elif kind == "perio":
        triggers.append("PERIO")
        extra.append(S.MeasurementPeriod(rng.choice([2, 4, 10])))
    elif kind == "inam":
        info.append("INAM")
    elif kind == "linked" and others:
        triggers.append("LIUSA")
        extra.append(S.LinkedURRID(rng.choice(others)))
    return g(
        T.CREATE_URR,
        S.URRID(urr_id),
        F.MeasurementMethod.of("VOLUM", "DURAT"),
        F.ReportingTriggers.of(*triggers),
        F.MeasurementInformation.of(*info),
        *extra,
    )


def _bar(rng: random.Random, bar_id: int) -> Grouped:
    return g(
        T.CREATE_BAR,
        S.BARID(bar_id),
        S.DownlinkDataNotificationDelay(rng.choice([0, 1, 4])),
        S.SuggestedBufferingPacketsCount(rng.choice([2, 10])),
    )


def _ids(group: Grouped, ie_type: int) -> list[int]:
    return [int(ie.value) for ie in group.get_all(ie_type)]  # type: ignore[attr-defined]


def _id(group: Grouped, ie_type: int) -> int | None:
    ie = group.get(ie_type)
    return None if ie is None else int(ie.value)  # type: ignore[attr-defined]


def _pdi(pdr: Grouped) -> Grouped:
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    return pdi


# -- what an engine holds -----------------------------------------------------------------

# UrrBook fields the journal keeps or the rules give (what a restored book has again); the
# others are runtime (the next periodic report, traffic activity, the dropped-DL base,
# ``dp_seen``: its counts are compared as usage, `_usage`).
_RULE_FIELDS = (
    "triggers",
    "period",
    "holding_time",
    "inactivity",
    "quota",
    "linked",
    "volume",
    "duration",
    "packets",
    "inam",
    "own_time",
    "time_threshold",
    "time_quota",
    "validity",
    "dropped_threshold",
)
_JOURNALED_FIELDS = (
    "seqn",
    "period_start_ntp",
    "metering_ntp",
    "metered_s",
    "validity_ntp",
    "quota_expired",
    "quota_held",
    "inactive",
)


def _dp_counts(dp: LocalDatapath, seid: int, urr_id: int) -> Counts:
    return Counts.of(dp.read_usage(seid, urr_id))


def _usage(book: UrrBook) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The URR's usage not reported yet and its quota consumption as a restart keeps them:
    the book's, and what the datapath had counted at the last checkpoint (``dp_seen``: the
    local datapath's counts do not outlive the process; a restored book has none)."""
    return (book.baseline + book.dp_seen).values, (book.consumed + book.dp_seen).values


def _book(book: UrrBook) -> dict[str, object]:
    """What a restart keeps of a URR's book (`_RULE_FIELDS`, `_JOURNALED_FIELDS`, the times
    journaled when its time metering pauses or the engine meters it, and `_usage`)."""
    out: dict[str, object] = {name: getattr(book, name) for name in _RULE_FIELDS}
    out.update({name: getattr(book, name) for name in _JOURNALED_FIELDS})
    if book.watches_time:
        out["last_packet_ntp"], out["seen_ntp"] = book.last_packet_ntp, book.seen_ntp
    if book.own_time:
        out["time"] = (book.time_threshold_done, book.time_quota_used, book.time_quota_over)
    out["usage"] = _usage(book)
    return out


def _installed(kept: tuple[object, ...]) -> tuple[object, ...]:
    """What the local datapath keeps of an installed program: its tunnels, but for the QFI
    each takes from its PDRs' QERs (a FAR whose PDRs drop their traffic for a used-up quota
    has none left in a program compiled with the counts, `compile._blocked`), its URR IDs
    and its BAR."""
    tunnels, *rest = kept
    assert isinstance(tunnels, tuple)
    return (tuple(t[:5] + t[6:] for t in tunnels), *rest)


def _session(dp: LocalDatapath, s: Session) -> dict[str, object]:
    """What a restart keeps of session ``s`` (installed on ``dp``)."""
    rules = s.rules
    kept = dp._programs.get(s.up_seid)
    return {
        "cp": (s.cp_node_id, s.cp_seid, s.cp_ipv4, s.cp_ipv6),
        "established": s.established_ntp,
        "teids": s.teids,
        "ue": s.ue,
        "peers": s.peers,
        "apps": s.apps,
        "ddn_delay": s.ddn_delay,
        "bar_duration": s.bar_duration_s,
        "sets": (s.fq_csids, s.group_id),
        "rules": {
            kind: {rid: encode_groups([grp]) for rid, grp in rules.of(kind).items()}
            for kind in ("pdr", "far", "qer", "urr", "bar")
        },
        "books": {urr_id: _book(book) for urr_id, book in s.urrs.items()},
        "installed": None if kept is None else _installed(kept._program()),
    }


def _show(engine: SessionEngine, dp: LocalDatapath) -> list[dict[str, object]]:
    """``pfcpd show sessions --json`` (`sessions_view`) by UP SEID; of each URR, its usage
    as a restart keeps it (`_usage`) in place of its baseline and the datapath's counts;
    of its FARs, the session's own (not the one that drops what the PDRs of a URR with a
    used-up quota forward, `compile._blocked`: a program compiled with the checkpointed
    counts in its offsets, as a restored one is, has it; the live one not, until the
    session changes)."""
    out = []
    for entry in sorted(engine.sessions_view(), key=lambda e: int(str(e["up_seid"]))):
        seid = entry["up_seid"]
        assert isinstance(seid, int)
        fars = entry["fars"]
        assert isinstance(fars, dict)
        rules = engine.sessions[seid].rules.far
        entry["fars"] = {far_id: far for far_id, far in fars.items() if int(far_id) in rules}
        urrs = entry["urrs"]
        assert isinstance(urrs, dict)
        for urr_id, shown in urrs.items():
            book = engine.sessions[seid].urrs[int(urr_id)]
            counted = Counts(tuple(shown.pop("bytes") + shown.pop("packets")))
            assert counted.values == _dp_counts(dp, seid, int(urr_id)).values
            assert list(book.baseline.values) == shown["baseline"]
            shown["baseline"] = list(_usage(book)[0])
        out.append(entry)
    return out


def _in_use(space: _Space) -> set[int]:
    """The values an allocator holds (its bitmap's chunks read as integers)."""
    bits: _Bits = space._used
    out = set()
    for key, chunk in bits.chunks.items():
        n = int.from_bytes(chunk, "little")
        while n:
            low = n & -n
            out.add((key << 15) + low.bit_length() - 1 + space.lo)
            n ^= low
    return out


def _pools(engine: SessionEngine) -> dict[tuple[str, str], set[int]]:
    return {
        (name, pool.label): _in_use(pool._space)
        for (name, _), pools in engine.ue_pools.pools.items()
        for pool in pools
    }


def _by_peer_teid(engine: SessionEngine) -> dict[int, tuple[int, ...]]:
    return {
        teid: tuple(sorted((seids,) if isinstance(seids, int) else seids))
        for teid, seids in engine._by_peer_teid.items()
    }


def held(engine: SessionEngine, dp: LocalDatapath) -> dict[str, object]:
    """Everything of ``engine`` (on ``dp``) a restart is to keep, comparable."""
    return {
        "sessions": {seid: _session(dp, s) for seid, s in sorted(engine.sessions.items())},
        "show": _show(engine, dp),
        "by_cp": {node: dict(sorted(d.items())) for node, d in sorted(engine._by_cp.items())},
        "by_peer_teid": dict(sorted(_by_peer_teid(engine).items())),
        "timed": sorted(engine._timed_seids),
        "pfds": dict(sorted(engine.pfds.apps.items())),
        "teids": _in_use(engine.teids),
        "pools": _pools(engine),
        "installed": sorted(dp._programs),
    }


def state(engine: SessionEngine, dp: LocalDatapath, programs: bool = True) -> dict[str, object]:
    """What a request may change (less than `held`, quicker): each session's rules, CP,
    allocations, FARs' peers, FQ-CSIDs, Group Id, BAR duration, installed program (not
    without ``programs``) and URR books (their usage with what the datapath counts now: a
    request refused after it read the counts puts them into the baseline), the indexes,
    the allocators and the PFDs. (``dp`` behind a pipeline, `Pipelined`: a session or URR
    whose install it has not applied yet has no counts; a request that reads the counts
    applies the installs of the requests before it, whose programs then change.)"""
    sessions: dict[int, object] = {}
    for seid, s in engine.sessions.items():
        books = {}
        kept = dp._programs.get(seid)
        for urr_id, book in s.urrs.items():
            applied = kept is not None and urr_id in kept.urr_ids
            counted = _dp_counts(dp, seid, urr_id) if applied and not book.inactive else Counts()
            fields = _book(book)
            fields["usage"] = ((book.baseline + counted).values, (book.consumed + counted).values)
            books[urr_id] = fields
        sessions[seid] = (
            s.rules_blob,
            (s.cp_node_id, s.cp_seid, s.cp_ipv4, s.cp_ipv6),
            s.teids,
            s.ue,
            s.peers,
            (s.fq_csids, s.group_id, s.bar_duration_s),
            books,
            None if kept is None or not programs else _installed(kept._program()),
        )
    return {
        "sessions": sessions,
        "by_cp": {node: dict(d) for node, d in engine._by_cp.items()},
        "by_peer_teid": _by_peer_teid(engine),
        "pfds": dict(engine.pfds.apps),
        "teids": _in_use(engine.teids),
        "pools": _pools(engine),
        # (changes answered: not the steps a read's counts need after a rollback's undos)
        "staged": sum(1 for c in engine._staged if c.request is not None),
    }


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (paths into nested dicts, and the two values)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(a.keys() | b.keys(), key=repr):
            where = f"{path}/{key}"
            if key not in a or key not in b:
                out.append(f"{where}: only in {'live' if key in a else 'restored'}")
            else:
                out += differences(a[key], b[key], where)
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def check_checkpoints(engine: SessionEngine, dp: LocalDatapath, exact: bool = False) -> None:
    """What each URR book holds of the datapath's counts at the last checkpoint (``dp_seen``,
    which a restart adds to its baseline) is no more than the datapath counts now (they only
    grow until a read resets them, which resets ``dp_seen``), and nothing while its
    measurement is paused; ``exact``: just after a checkpoint, what the datapath counts."""
    for seid, s in engine.sessions.items():
        for urr_id, book in s.urrs.items():
            counted = _dp_counts(dp, seid, urr_id).values
            seen = book.dp_seen.values
            if book.inactive:
                assert not book.dp_seen, (seid, urr_id, seen)
            elif exact:
                assert seen == counted, (seid, urr_id, seen, counted)
            else:
                assert all(a <= b for a, b in zip(seen, counted, strict=True)), (
                    seid,
                    urr_id,
                    seen,
                    counted,
                )


def check_rolled_back(before: dict[str, object], after: dict[str, object]) -> None:
    """``after`` (what the engine held after a batch whose commit failed) is ``before``, but
    for the usage of URRs whose packets the datapath sent meanwhile (a FAR of the batch
    that stopped buffering sent the buffered ones: their counts are kept)."""
    grew: list[str] = []
    for where in differences(before, after):
        path = where.partition(":")[0]
        if path.endswith("/usage") or path == "/show":
            grew.append(path)
        else:
            raise AssertionError(f"a failed batch left changes: {where}")
    for path in grew:
        if path == "/show":
            continue  # (its baselines: the usage)
        _, _, seid, _, urr_id, _ = path.split("/")
        sessions = before["sessions"], after["sessions"]
        assert isinstance(sessions[0], dict) and isinstance(sessions[1], dict)
        was, now = (s[int(seid)]["books"][int(urr_id)]["usage"] for s in sessions)  # type: ignore[index]
        assert all(
            a <= b for old, new in zip(was, now, strict=True) for a, b in zip(old, new, strict=True)
        ), (path, was, now)


def _decisions(program: SessionProgram) -> tuple[object, ...]:
    """Which FAR each PDR of ``program`` uses and each URR's volume quota: what the datapath
    decides from a URR's counts (a quota, what is left of it, or its PDRs' traffic dropped
    for it, `compile._blocked`)."""
    return (
        sorted((p.pdr_id, p.far_id) for p in program.pdrs),
        sorted((u.urr_id, u.volume_quota) for u in program.urrs),
    )


def check_installed(engine: SessionEngine, installed: dict[int, SessionProgram]) -> None:
    """The datapath decides from each session's URR counts what the engine's books say:
    the last program installed for it gives its quotas what the program compiled from its
    rules and books now gives them (a change of what was counted towards a quota installs
    the program again)."""
    assert installed.keys() == engine.sessions.keys()
    for seid, s in engine.sessions.items():
        assert _decisions(installed[seid]) == _decisions(engine._program(s)), seid


def check_usage_kept(
    before: dict[str, object],
    after: dict[str, object],
    back: dict[tuple[int, int], Counts],
    unsure: set[int],
) -> None:
    """After a batch whose commit failed, each URR's usage (its baseline and what the
    datapath counts: `state`) is what it was before the batch, with the counts of the
    reports the CP refused in the batch (``back``, by session and URR) added to the
    baseline: none lost, none counted twice (when the datapath sent no buffered packet
    meanwhile; but for the sessions ``unsure``)."""
    was, now = before["sessions"], after["sessions"]
    assert isinstance(was, dict) and isinstance(now, dict)
    for seid, session in was.items():
        if seid not in now or seid in unsure:
            continue  # (a report's 65: removed at once, durable or not)
        for urr_id, book in session[6].items():
            base, used = book["usage"]
            more = back.get((seid, urr_id), Counts()).values
            want = (tuple(a + b for a, b in zip(base, more, strict=True)), used)
            got = now[seid][6][urr_id]["usage"]
            assert got == want, (seid, urr_id, book["usage"], want, got)


def check_allocations(engine: SessionEngine) -> None:
    """The allocators hold exactly the sessions' allocations; the CP index and the peer TEID
    index are the sessions'."""
    teids = [t for s in engine.sessions.values() for t in s.teids]
    assert len(teids) == len(set(teids)), teids
    assert _in_use(engine.teids) == set(teids)
    want: dict[tuple[str, str], set[int]] = {key: set() for key in _pools(engine)}
    for s in engine.sessions.values():
        for name, text in s.ue:
            net = ue_network(text)
            (pool,) = [p for p in engine.ue_pools.pools[name, net.version] if p.owns(net)]
            value = int(net.network_address) >> pool._shift
            key = (name, pool.label)
            assert value not in want[key], (s.up_seid, text)
            want[key].add(value)
    assert _pools(engine) == want
    index = {
        (node, cp_seid): seid for node, d in engine._by_cp.items() for cp_seid, seid in d.items()
    }
    assert index == {(s.cp_node_id, s.cp_seid): seid for seid, s in engine.sessions.items()}
    peers: dict[int, list[int]] = {}
    for seid, s in engine.sessions.items():
        for teid in sorted({t for _, t in s.peers}):
            peers.setdefault(teid, []).append(seid)
    assert _by_peer_teid(engine) == {t: tuple(sorted(v)) for t, v in peers.items()}


def _cp_seids_at(engine: SessionEngine, node: str, address: str, but: int = 0) -> list[int]:
    """The CP SEIDs CP ``node``'s sessions (but session ``but``) have at ``address``."""
    return sorted(
        s.cp_seid
        for s in engine.sessions.values()
        if s.cp_node_id == node and s.up_seid != but and address in (s.cp_ipv4, s.cp_ipv6)
    )


def check_marks(live: SessionEngine, restored: SessionEngine) -> None:
    """The restored allocators hand out never-used values from the live ones' marks (the
    journal holds them as the live engine does once its last commit wrote them: not when
    it failed, `_journal_again`), at or past the live ones' next never-used value: no
    value the live engine handed out is handed out again before those never used."""
    if live._marks_dirty:
        return
    spaces = [(live.teids, restored.teids)] + [
        (mine._space, theirs._space)
        for key, pools in live.ue_pools.pools.items()
        for mine, theirs in zip(pools, restored.ue_pools.pools[key], strict=True)
    ]
    for mine, theirs in spaces:
        assert theirs.mark == min(mine.mark, mine.hi + 1) and theirs._next >= mine._next
    assert restored._seid_mark == live._seid_mark
    assert restored._next_seid >= live._next_seid


# -- packets ------------------------------------------------------------------------------


@functools.cache
def _inner(ue: str, size: int, uplink: bool) -> bytes:
    payload = Raw(b"p" * size)
    if ":" in ue:
        src, dst = (ue, DN6) if uplink else (DN6, ue)
        return raw(IPv6(src=src, dst=dst) / UDP(sport=1000, dport=2000) / payload)
    src, dst = (ue, DN4) if uplink else (DN4, ue)
    return raw(IP(src=src, dst=dst, id=7) / UDP(sport=1000, dport=2000) / payload)


@functools.cache
def _gtpu(inner: bytes, teid: int) -> bytes:
    gtp = GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=9)
    return raw(IP(src=GNBS[0], dst=str(N3)) / UDP(sport=2152, dport=2152) / gtp / Raw(inner))


def _ue_addresses(s: Session) -> list[str]:
    """An address of each of the session's UE addresses (of an IPv6 prefix: ::5 in it)."""
    out = []
    for _, text in s.ue:
        net = ue_network(text)
        out.append(str(net.network_address + (5 if net.version == 6 else 0)))
    return out


def _local_teids(s: Session) -> list[int]:
    """The local TEIDs of the session's uplink PDRs."""
    out = []
    for pdr in s.rules.pdr.values():
        fteid = _pdi(pdr).get(T.F_TEID)
        if isinstance(fteid, A.FTEID) and fteid.teid is not None and fteid.teid not in out:
            out.append(fteid.teid)
    return out


# A URR's used-up volume quota drops its PDRs' packets in the datapath that counted it, and
# through a FAR that drops in a program compiled with what was counted (`compile._blocked`).
_QUOTA_DROPS = frozenset({"usage quota exhausted", "FAR apply action DROP"})


def _verdict(result: PacketResult) -> tuple[object, ...]:
    """What the datapath decided of a packet; a full DL buffer counts as buffering (the
    packets it holds are the datapath's, not journaled), a quota's drop as a FAR's (and a
    dropped packet's FAR is not compared)."""
    buffered = result.drop_reason == "DL buffer full"
    dropped = result.drop_reason in _QUOTA_DROPS
    verdict = Verdict.BUFFER if buffered else result.verdict
    return (
        verdict,
        "none" if buffered else "dropped" if dropped else result.drop_reason,
        result.seid,
        result.pdr_id,
        None if verdict == Verdict.DROP else result.far_id,
        result.qfi,
        result.teid,
        result.destination_interface,
        result.output,
    )


def _used_up_urrs(s: Session) -> set[int]:
    """The URRs of ``s`` whose volume quota what they counted (consumed, and counted by
    the datapath at the last checkpoint) reaches."""
    used_up = set()
    for urr_id, urr in s.rules.urr.items():
        quota = urr.get(T.VOLUME_QUOTA)
        info = urr.get(T.MEASUREMENT_INFORMATION)
        if not isinstance(quota, TR.VolumeQuota) or (
            isinstance(info, F.MeasurementInformation) and info.has("INAM")
        ):
            continue
        book = s.urrs[urr_id]
        used = (book.consumed + book.dp_seen).values
        limits = (quota.total or 0, quota.ul or 0, quota.dl or 0)
        if any(v and u >= v for v, u in zip(limits, used[:3], strict=True)):
            used_up.add(urr_id)
    return used_up


def _used_up_pdrs(s: Session) -> set[int] | None:
    """The datapath PDR IDs of the PDRs of ``s`` measured by a URR whose volume quota is
    used up (`_used_up_urrs`), None when there is none. Restored, the session drops what
    they forward (`compile._blocked`), as the live datapath does once its counts reached
    the quota (a drop for the quota or the FAR's are alike, `_verdict`)."""
    used_up = _used_up_urrs(s)
    if not used_up:
        return None
    pdrs = {p for p, pdr in s.rules.pdr.items() if used_up.intersection(_ids(pdr, T.URR_ID))}
    return pdrs | {p | DUAL_STACK_BIT for p in pdrs}


def probe(dp: LocalDatapath, s: Session, size: int) -> list[tuple[object, ...]]:
    """The verdicts of an uplink packet on each local TEID from each UE address and of a
    downlink packet to each UE address of ``s``."""
    out = []
    ues = _ue_addresses(s)
    for teid in _local_teids(s):
        for ue in ues:
            out.append(_verdict(dp.process_ul(_gtpu(_inner(ue, size, True), teid))))
    for ue in ues:
        out.append(_verdict(dp.process_dl(_inner(ue, size, False))))
    return out


# -- the run ------------------------------------------------------------------------------


@dataclass
class Sent:
    """A request of a batch: what the engine held just before and after it was handled,
    the causes its answer may have (None: accepted), and, accepted, the sessions it hands
    the datapath (`unprogrammed`)."""

    msg: Message
    expect: frozenset[int] | None
    before: dict[str, object]
    after: dict[str, object] = field(default_factory=dict)
    # (an establishment's: its new session; a modification's and a deletion's: theirs; a
    # PFD Management's: the sessions of its application, reinstalled; a Session Set
    # Modification's: those it moves, when a change before it rewrote the CP of one)
    sessions: frozenset[int] = frozenset()
    moves: bool = False  # (a Session Set Modification: it moves ``sessions``)
    rewrites: bool = False  # (it gives ``sessions`` another CP F-SEID)


def unprogrammed(sent: list[Sent], causes: list[int], refused: int) -> tuple[set[int], set[int]]:
    """What the engine undoes when the datapath refuses an install of session ``refused``
    at the commit of a batch whose requests ``sent`` it answered ``causes`` (before the
    commit; `GroupCommit._unprogrammed`): every accepted request that handed the datapath
    one of the refused sessions, and then every one handing it a session of those (the
    refused sessions grow with the sessions of each). A Session Set Modification hands
    the datapath nothing, but for a session an earlier request of the batch moved or gave
    another CP F-SEID: its undo puts the session back as it was before that request
    (`SetModification._set_modify`), and then each session it moves is the move's.
    Returns the indexes of the requests undone (answered 77) and the refused sessions."""
    staged: list[tuple[int, frozenset[int]]] = []
    rewritten: set[int] = set()  # (the engine's `_cp_rewritten`)
    for i, (one, got) in enumerate(zip(sent, causes, strict=True)):
        if got not in (1, 77):
            continue  # (refused when handled: nothing staged)
        seids = one.sessions
        if one.moves and rewritten.isdisjoint(seids):
            seids = frozenset()
        if one.rewrites:
            rewritten |= one.sessions
        staged.append((i, seids))
    bad = {refused}
    undone: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i, seids in staged:
            if i not in undone and not bad.isdisjoint(seids):
                undone.add(i)
                bad |= seids
                grew = True
    return undone, bad


def _only(held_: dict[str, object], seids: set[int]) -> dict[int, Any]:
    """The sessions ``seids`` of what an engine holds (`held`)."""
    sessions = held_["sessions"]
    assert isinstance(sessions, dict)
    return {seid: sessions[seid] for seid in seids if seid in sessions}


def check_kept(before: dict[str, object], after: dict[str, object], undone: set[int]) -> None:
    """After a batch some of whose requests the engine undid for the datapath's refusal,
    each session but those ``undone`` (`state` before the commit, ``before``, and after
    it) is as the batch left it: its rules, CP, allocations, FARs' peers, FQ-CSIDs, Group
    Id, BAR duration, and its URRs with what their rules configure (their usage and what
    the commit's done steps change, a measurement paused or resumed, are not compared)."""
    was, now = before["sessions"], after["sessions"]
    assert isinstance(was, dict) and isinstance(now, dict)
    for seid in (was.keys() | now.keys()) - undone:
        assert (seid in was) == (seid in now), (seid, seid in was)
        if seid not in was:
            continue
        assert was[seid][:6] == now[seid][:6], seid
        books = [
            {u: [b[f] for f in _RULE_FIELDS] for u, b in s[6].items()}
            for s in (was[seid], now[seid])
        ]
        assert books[0] == books[1], seid


class World:
    """The node and engine on a local datapath whose clock, like the engine's NTP clock,
    follows the node's; "smf" and "smf2", associated in one SMF Set; random requests.
    ``pipelined``: the engine's datapath is the local one behind a pipeline (`Pipelined`:
    installs applied at the commit's barrier, where it refuses one now and then), as the
    vpp datapath is; else the local one itself (establishments installed by their shapes'
    values, `ShapedInstall`)."""

    def __init__(self, seed: int, pipelined: bool = True) -> None:
        require_core()
        self.rng = random.Random(seed)
        clock: dict[str, Harness | None] = {"h": None}

        def now_ns() -> int:
            h = clock["h"]
            return int(h.now * 1e9) + 1 if h is not None else 1

        self.now_ns = now_ns
        self.dp = LocalDatapath(expected_sessions=64, clock=now_ns)
        # the program each session's last install gave the datapath (applied: of the
        # pipeline's, those not refused)
        self.installed: dict[int, SessionProgram] = {}
        install, install_shaped, remove = (
            self.dp.install,
            self.dp.install_shaped,
            self.dp.remove,
        )

        def recorded(
            seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
        ) -> None:
            install(seid, program, end_markers)
            self.installed[seid] = program

        def recorded_shaped(seid: int, token: object, *values: Any) -> bool:
            shape = self.dp._shapes.get(token)
            if not install_shaped(seid, token, *values):
                return False
            assert shape is not None
            self.installed[seid] = with_slots(shape.program, *values)
            return True

        def removed(seid: int) -> dict[int, Usage]:
            self.installed.pop(seid, None)
            return remove(seid)

        self.dp.install = recorded  # type: ignore[method-assign]
        self.dp.install_shaped = recorded_shaped  # type: ignore[method-assign]
        self.dp.remove = removed  # type: ignore[method-assign]
        self.pipeline = Pipelined(self.dp) if pipelined else None
        engine_dp = self.dp if self.pipeline is None else self.pipeline
        self.h = h = Harness(engine_dp, pools=POOLS)  # type: ignore[arg-type]
        clock["h"] = h
        h.engine._ntp = self.ntp
        self.seq = 1000
        self.cp_seid = 0x100
        self.fixed_teid = FIXED_TEIDS
        self.unanswered: set[tuple[str, int]] = set()  # reports left without an answer
        # reports a later batch answers (1 or 64), and where they went
        # (and its session, and when it went: the node gives up on it after 3 s)
        self.awaiting: list[tuple[Message, tuple[str, int], int, float]] = []
        self.in_batch: list[int] = []  # (the sessions the requests of a batch name)
        self.counts = dict.fromkeys(
            (
                "accepted",
                "refused",
                "failed",
                "unprogrammed",
                "undone",
                "restored",
                "reports",
                "answered",
                "used_up",
            ),
            0,
        )
        update = Message(
            M.ASSOCIATION_UPDATE_REQUEST, 0, [A.NodeID.from_text("smf"), X.SMFSetID(SET_ID)]
        )
        assert cause(h.request(update)) == 1
        setup = Message(
            M.ASSOCIATION_SETUP_REQUEST,
            0,
            [A.NodeID.from_text("smf2"), S.RecoveryTimeStamp(1), X.SMFSetID(SET_ID)],
        )
        (answer,) = h.batch((setup, SMF2), seq=self.next_seq())
        assert cause(answer) == 1
        pfd = self.pfd_request([443])
        (answer,) = h.batch(pfd, seq=self.next_seq())
        assert cause(answer) == 1

    def ntp(self) -> float:
        return NTP_NOW + self.h.now

    def close(self) -> None:
        self.dp.close()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def new_cp_seid(self) -> int:
        self.cp_seid += 1
        return self.cp_seid

    def held(self) -> dict[str, object]:
        return held(self.h.engine, self.dp)

    def state(self) -> dict[str, object]:
        """`state` (but for the programs installed, on the pipelined datapath)."""
        return state(self.h.engine, self.dp, programs=self.pipeline is None)

    # -- requests ---------------------------------------------------------------------

    def establishment(self) -> tuple[Message, tuple[str, int], frozenset[int] | None]:
        rng = self.rng
        family = rng.choice(["v4", "v4", "v6", "dual", "ims"])
        instance = "ims" if family == "ims" else "internet"
        v4, v6 = family in ("v4", "dual", "ims"), family in ("v6", "dual")
        urr_ids = rng.sample(range(1, 9), rng.randint(1, 3))
        qer_ids = rng.sample(range(1, 5), rng.randint(0, 2))
        rules: list[IE] = []
        bar = rng.random() < 0.3
        # uplink PDRs: CH F-TEIDs shared by CHOOSE ID, or each its own (an F-TEID the CP
        # gives is refused: the "cp_fteid" flaw)
        mode = rng.choice(["chid", "chid", "own", "own"])
        uplinks = rng.randint(1, 2)
        for n in range(uplinks):
            fteid: A.FTEID
            if mode == "own":
                fteid = A.FTEID(choose=True, choose_v4=True)
            else:
                fteid = A.FTEID(choose=True, choose_v4=True, choose_id=1)
            pdi: list[IE] = [S.SourceInterface(ACCESS), fteid, X.NetworkInstance(instance)]
            pdi.append(A.UEIPAddress(source=True, choose_v4=v4, choose_v6=v6))
            if n:
                pdi.append(TR.SDFFilter(flow_description="permit out 17 from any 53 to assigned"))
            rules.append(
                _pdr(
                    1 + n,
                    1,
                    pdi,
                    rng.sample(qer_ids, min(len(qer_ids), rng.randint(0, 2))),
                    rng.sample(urr_ids, rng.randint(0, len(urr_ids))),
                    precedence=200 - n,
                )
            )
        downlinks = rng.randint(1, 2)
        for n in range(downlinks):
            pdi = [S.SourceInterface(CORE), X.NetworkInstance(instance)]
            pdi.append(A.UEIPAddress(choose_v4=v4, choose_v6=v6))
            if n:
                pdi.append(TR.SDFFilter(flow_description="permit out 6 from any 80 to assigned"))
            rules.append(
                _pdr(
                    10 + n,
                    2,
                    pdi,
                    rng.sample(qer_ids, min(len(qer_ids), rng.randint(0, 2))),
                    rng.sample(urr_ids, rng.randint(0, len(urr_ids))),
                    precedence=300 - n,
                    uplink=False,
                )
            )
        if instance == "internet" and rng.random() < 0.2:  # an application's downlink
            pdi = [S.SourceInterface(CORE), X.NetworkInstance(instance)]
            pdi += [A.UEIPAddress(choose_v4=v4, choose_v6=v6), X.ApplicationID(APP)]
            rules.append(_pdr(20, 3, pdi, [], urr_ids[:1], precedence=10, uplink=False))
            rules.append(_dl_far(3, "FORW", rng.randrange(1, 1 << 16), GNBS[1], None))
        rules.append(_ul_far(1, instance))
        action = rng.choice(["FORW", "FORW", "FORW", "BUFF+NOCP", "BUFF", "DROP"])
        rules.append(
            _dl_far(2, action, rng.randrange(1, 1 << 16), rng.choice(GNBS), 1 if bar else None)
        )
        rules += [_qer(q, rng.random() < 0.85) for q in qer_ids]
        rules += [_urr(rng, u, [o for o in urr_ids if o != u]) for u in urr_ids]
        if bar:
            rules.append(_bar(rng, 1))
        owner = rng.choice(["smf", "smf", "smf2"])
        cp_seid = self.new_cp_seid()
        extra: list[IE] = []
        if rng.random() < 0.4:
            extra.append(A.FQCSID(A.FQ_CSID_IPV4, FQ_CSID_NODE, (rng.randint(1, 3),), 2))
        if rng.random() < 0.5:
            extra.append(X.GroupID(rng.choice(GROUPS)))
        expect: frozenset[int] | None = None
        flaw = rng.random()
        if flaw < 0.12:  # refused: what is wrong with it
            expect, rules, cp_seid = self._flawed_establishment(rules, owner, cp_seid)
        address = OWNERS[owner][0]
        fseid = A.FSEID(cp_seid, address)
        msg = Message(
            M.SESSION_ESTABLISHMENT_REQUEST,
            0,
            [A.NodeID.from_text(owner), fseid, *rules, *extra],
            seid=0,
        )
        return msg, OWNERS[owner], expect

    def _flawed_establishment(
        self, rules: list[IE], owner: str, cp_seid: int
    ) -> tuple[frozenset[int], list[IE], int]:
        rng = self.rng
        engine = self.h.engine
        flaw = rng.choice(
            ["far", "bar", "duplicate", "cp_seid", "sdf", "app", "v6_fteid", "cp_fteid"]
        )
        # (a SEID a session of the owner has at the address the request gives: TS 29.244
        # 5.6.2, the same SEID at another address is another session's)
        held = _cp_seids_at(engine, owner, OWNERS[owner][0])
        if flaw == "cp_seid" and held:
            return frozenset({64}), rules, rng.choice(held)
        if flaw == "far":  # a PDR naming a FAR the request does not create
            pdr = rules[0]
            assert isinstance(pdr, Grouped)
            pdr.ies = [S.FARID(99) if ie.type == T.FAR_ID else ie for ie in pdr.ies]
            return frozenset({73}), rules, cp_seid
        if flaw == "bar":
            far = next(r for r in rules if r.type == T.CREATE_FAR and _id(r, T.FAR_ID) == 2)  # type: ignore[arg-type]
            assert isinstance(far, Grouped)
            far.ies = [ie for ie in far.ies if ie.type != T.BAR_ID] + [S.BARID(9)]
            return frozenset({73}), rules, cp_seid
        if flaw == "sdf":
            pdi = _pdi(rules[0])  # type: ignore[arg-type]
            pdi.ies.append(TR.SDFFilter(flow_description="permit out 6 from nowhere to assigned"))
            return frozenset({69}), rules, cp_seid
        if flaw == "app":
            app: list[IE] = [S.SourceInterface(CORE), X.NetworkInstance("internet")]
            app += [A.UEIPAddress(choose_v4=True), X.ApplicationID("video")]
            rules = [*rules, _pdr(30, 2, app, [], [], precedence=5, uplink=False)]
            return frozenset({81}), rules, cp_seid
        if flaw == "v6_fteid":
            pdi = _pdi(rules[0])  # type: ignore[arg-type]
            pdi.ies = [
                A.FTEID(choose=True, choose_v6=True) if ie.type == T.F_TEID else ie
                for ie in pdi.ies
            ]
            return frozenset({71}), rules, cp_seid
        if flaw == "cp_fteid":  # an F-TEID the CP allocated (TS 29.244 5.5.1: 71)
            self.fixed_teid += 1
            pdi = _pdi(rules[0])  # type: ignore[arg-type]
            given = A.FTEID(teid=self.fixed_teid, ipv4=str(N3))
            pdi.ies = [given if ie.type == T.F_TEID else ie for ie in pdi.ies]
            return frozenset({71}), rules, cp_seid
        # two PDRs of one ID
        first = rules[0]
        assert isinstance(first, Grouped)
        return frozenset({73}), [*rules, Grouped(first.type, list(first.ies))], cp_seid

    def pick(self) -> Session | None:
        """A session: often one the batch changed already (its rollback undoes both)."""
        sessions = self.h.engine.sessions
        again = [sessions[seid] for seid in self.in_batch if seid in sessions]
        if again and self.rng.random() < 0.5:
            return self.rng.choice(again)
        chosen = self.rng.choice(list(sessions.values())) if sessions else None
        if chosen is not None:
            self.in_batch.append(chosen.up_seid)
        return chosen

    def deletion(self) -> tuple[Message, tuple[str, int], frozenset[int] | None]:
        s = self.pick()
        if s is None or self.rng.random() < 0.1:
            seid = s.up_seid + 0x10000 if s is not None else 0x999
            return Message(M.SESSION_DELETION_REQUEST, 0, [], seid), CP, frozenset({65})
        return Message(M.SESSION_DELETION_REQUEST, 0, [], s.up_seid), OWNERS[s.cp_node_id], None

    def modification(self) -> tuple[Message, tuple[str, int], frozenset[int] | None]:
        s = self.pick()
        if s is None:
            return self.establishment()
        ies, expect = Modifying(self, s).request()
        msg = Message(M.SESSION_MODIFICATION_REQUEST, 0, ies, s.up_seid)
        if expect is None and self.rng.random() < 0.08:
            # from the other SMF of the set: with a CP F-SEID it takes the session over,
            # without one the session is not its own
            other = "smf2" if s.cp_node_id == "smf" else "smf"
            takes = any(ie.type == T.F_SEID for ie in ies)
            return msg, OWNERS[other], None if takes else frozenset({65})
        return msg, OWNERS[s.cp_node_id], expect

    def set_modification(self) -> tuple[Message, tuple[str, int], frozenset[int] | None]:
        rng = self.rng
        node = rng.choice(["smf", "smf2"])
        target = OWNERS["smf2" if node == "smf" else "smf"][0]
        expect: frozenset[int] | None = None
        if rng.random() < 0.15:
            target, expect = OTHER_CP_ADDRESS, frozenset({64, 1})  # (64 when it names one)
        info = g(
            T.PFCP_SESSION_CHANGE_INFO,
            X.GroupID(rng.choice(GROUPS)),
            A.AlternativeSMFIPAddress(ipv4=target),
        )
        msg = Message(M.SESSION_SET_MODIFICATION_REQUEST, 0, [A.NodeID.from_text(node), info])
        return msg, OWNERS[node], expect

    def pfd_request(self, ports: list[int]) -> Message:
        contexts = [
            g(T.PFD_CONTEXT, TR.PFDContents(fd=f"permit out 6 from any {p} to assigned".encode()))
            for p in ports
        ]
        return Message(
            M.PFD_MANAGEMENT_REQUEST,
            0,
            [g(T.APPLICATION_IDS_PFDS, X.ApplicationID(APP), *contexts)],
        )

    def pfd_management(self) -> tuple[Message, tuple[str, int], frozenset[int] | None]:
        rng = self.rng
        if rng.random() < 0.15:
            bad = g(T.PFD_CONTEXT, TR.PFDContents(dn=b"example.com"))
            msg = Message(
                M.PFD_MANAGEMENT_REQUEST,
                0,
                [g(T.APPLICATION_IDS_PFDS, X.ApplicationID(APP), bad)],
            )
            return msg, CP, frozenset({76})
        ports = rng.sample([443, 8443, 8080, 9000], rng.randint(0, 2))  # (none: removed)
        return self.pfd_request(ports), CP, None

    # -- steps ------------------------------------------------------------------------

    def batch(self) -> None:
        """A batch of 1-5 requests, answers to Session Report Requests and checkpoints (of
        the engine's timer, committed with the batch); its commit fails now and then, and,
        on the pipelined datapath, the datapath refuses an install of one of its sessions
        at the commit's barrier now and then (`refuse`)."""
        rng = self.rng
        h = self.h
        fails = rng.random() < 0.25
        refuses = self.pipeline is not None and rng.random() < 1 / 6
        start, start_state = self.held(), self.state()
        sent: list[Sent] = []
        self.in_batch = []
        back: dict[tuple[int, int], Counts] = {}  # counts the CP refused (64), per URR
        unsure: set[int] = set()  # (sessions of an answer the node may have given up on)
        for _ in range(rng.randint(1, 5)):
            kind = rng.choices(
                ["establish", "modify", "delete", "set", "pfd", "answer", "checkpoint"],
                weights=[30, 45, 12, 6, 4, self.answer_weight(), 4],
            )[0]
            if kind == "checkpoint":  # (the engine's timer: its records in this commit)
                h.engine.checkpoint(h.now)
                continue
            if kind == "answer":  # (a Session Report Response: no answer to it)
                # (of a session of the batch, when there is one)
                mine = [i for i, a in enumerate(self.awaiting) if a[2] in self.in_batch]
                report, to, seid, sent_at = self.awaiting.pop(mine[0] if mine else 0)
                value = rng.choice([1, 64])
                if h.now - sent_at > 2.5:  # (given up on, its counts back already: maybe)
                    unsure.add(seid)
                for usage in report.get_all(T.USAGE_REPORT_REPORT_REQUEST) if value == 64 else ():
                    assert isinstance(usage, Grouped)
                    key = (seid, _id(usage, T.URR_ID) or 0)
                    back[key] = back.get(key, Counts()) + report_counts(usage)
                response = Message(M.SESSION_REPORT_RESPONSE, report.seq, [S.Cause(value)])
                response.seid = report.seid
                h.node.datagram_received(encode(response), to, h.now)
                self.counts["answered"] += 1
                continue
            make: Callable[[], tuple[Message, tuple[str, int], frozenset[int] | None]] = {
                "establish": self.establishment,
                "modify": self.modification,
                "delete": self.deletion,
                "set": self.set_modification,
                "pfd": self.pfd_management,
            }[kind]
            msg, addr, expect = make()
            one = Sent(msg, expect, self.state())
            self.handed(one)
            h.send(msg, self.next_seq(), addr)
            one.after = self.state()
            if msg.msg_type == M.SESSION_ESTABLISHMENT_REQUEST:
                before, after = one.before["sessions"], one.after["sessions"]
                assert isinstance(before, dict) and isinstance(after, dict)
                one.sessions = frozenset(after.keys() - before.keys())
            sent.append(one)
        if fails:
            h.journal.fail_next = 1
        refused = self.refuse() if refuses else None
        pre_commit = self.state()
        answers = h._collect()
        if self.pipeline is not None:
            self.pipeline.refuse = lambda seid, program: False
        # (a batch that changed nothing durable, a move of no session, writes nothing)
        fails, h.journal.fail_next = fails and not h.journal.fail_next, 0
        assert len(answers) == len(sent), answers
        causes = [cause(answer) for answer in answers]
        undone, bad = unprogrammed(sent, causes, refused) if refused is not None else (set(), set())
        for i, (one, answer, got) in enumerate(zip(sent, answers, causes, strict=True)):
            assert answer.seq == one.msg.seq
            if got == 1:
                assert one.expect is None or 1 in one.expect, (one.msg, one.expect)
                assert not fails, ("accepted in a failed batch", one.msg)
                assert i not in undone, ("accepted, its session's install refused", one.msg)
                self.counts["accepted"] += 1
            elif got == 77:
                assert fails or i in undone, (one.msg, refused, bad)
                self.counts["failed" if fails else "undone"] += 1
            else:
                # refused: it changed nothing
                assert (one.expect is not None and got in one.expect) or got in (75, 79), (
                    got,
                    one.expect,
                    one.msg,
                )
                assert differences(one.before, one.after) == [], one.msg
                self.counts["refused"] += 1
        flushed = self.dp.take_pending()  # (what the datapath sent of its buffers meanwhile)
        if fails:
            check_rolled_back(start, self.held())
            if not flushed:
                check_usage_kept(start_state, self.state(), back, unsure)
        elif refused is not None:
            # the requests undone changed nothing of their sessions (but for the CP a
            # Session Set Modification kept gave one), the others are kept
            want = _only(start, bad)
            for one, got in zip(sent, causes, strict=True):
                for seid in one.sessions & want.keys() if got == 1 else ():
                    assert one.moves, (one.msg, seid)  # (accepted: none it handed over)
                    want[seid] = {**want[seid], "cp": _only(one.after, {seid})[seid][1]}
            check_rolled_back({"sessions": want}, {"sessions": _only(self.held(), bad)})
            check_kept(pre_commit, self.state(), bad)
            # (the PFDs: the last PFD Management kept gave them)
            pfd = [
                one.after["pfds"]
                for one, got in zip(sent, causes, strict=True)
                if got == 1 and one.msg.msg_type == M.PFD_MANAGEMENT_REQUEST
            ]
            assert self.state()["pfds"] == (pfd[-1] if pfd else start_state["pfds"])
        if fails or refused is not None:
            # what the rollback kept (counts read from the datapath) is journaled at the
            # next commit: the node's next round (its timer's, 50 ms on)
            assert h._collect() == []

    def handed(self, one: Sent) -> None:
        """What request ``one`` is to hand the datapath, accepted (`Sent.sessions`; an
        establishment's session once it is handled)."""
        msg = one.msg
        sessions = self.h.engine.sessions
        if msg.msg_type in (M.SESSION_MODIFICATION_REQUEST, M.SESSION_DELETION_REQUEST):
            one.sessions = frozenset({msg.seid or 0})
            one.rewrites = msg.get(T.F_SEID) is not None
        elif msg.msg_type == M.SESSION_SET_MODIFICATION_REQUEST:
            info = msg.get(T.PFCP_SESSION_CHANGE_INFO)
            assert isinstance(info, Grouped)
            group = info.get(T.GROUP_ID)
            assert isinstance(group, X.GroupID)
            one.sessions = frozenset(
                seid for seid, s in sessions.items() if s.group_id == group.text
            )
            one.moves = one.rewrites = True
        elif msg.msg_type == M.PFD_MANAGEMENT_REQUEST:
            one.sessions = frozenset(seid for seid, s in sessions.items() if APP in s.apps)

    def refuse(self) -> int | None:
        """The datapath refuses the next install of a session the pipeline holds one for
        (not the undo's): the session, if there is one."""
        assert self.pipeline is not None
        queued = sorted({seid for seid, _, _ in self.pipeline.queue})
        if not queued:
            return None
        refused = self.rng.choice(queued)
        left = [1]

        def refuse(seid: int, program: SessionProgram) -> bool:
            if seid != refused or not left:
                return False
            left.pop()
            return True

        self.pipeline.refuse = refuse
        self.counts["unprogrammed"] += 1
        return refused

    def answer_weight(self) -> int:
        """How likely a batch's next item answers a report: more so when one is about a
        session the batch changed (a rollback of the change then meets the answer's
        counts)."""
        if any(seid in self.in_batch for _, _, seid, _ in self.awaiting):
            return 40
        return 10 if self.awaiting else 0

    def traffic(self) -> None:
        """Packets of some sessions through the datapath, then, most times, a checkpoint of
        every session (committed, as the engine's timer does; the counts of the others are
        what a restart now loses)."""
        rng = self.rng
        for s in list(self.h.engine.sessions.values()):
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 4)):
                    probe(self.dp, s, rng.choice([40, 200, 700]))
        if rng.random() < 0.7:
            self.checkpoint()

    def checkpoint(self) -> None:
        self.h.engine.checkpoint(self.h.now)
        assert self.h._collect() == []
        check_checkpoints(self.h.engine, self.dp, exact=True)

    def advance(self) -> None:
        """Time passes (the node's timers run); each Session Report Request is answered 1, 64
        or 65, or left unanswered (then retransmitted, then given up)."""
        rng = self.rng
        h = self.h
        until = h.now + rng.choice([0.2, 0.6, 1.1, 2.5])
        while (t := h.node.get_timer()) is not None and t <= until:
            h.now = max(h.now, t)
            h.node.handle_timer(h.now)
            for tx in h.node.datagrams_to_send():
                msg = decode(tx.data)
                if msg.msg_type != M.SESSION_REPORT_REQUEST:
                    continue
                self.counts["reports"] += 1
                key = (tx.addr[0], msg.seq)
                if key in self.unanswered:
                    continue
                value = rng.choices([1, 64, 65, 0, -1], weights=[60, 8, 3, 14, 15])[0]
                if value <= 0:
                    self.unanswered.add(key)
                    if value < 0:  # (answered in a later batch, with its changes)
                        seid = next(
                            (
                                s.up_seid
                                for s in h.engine.sessions.values()
                                if s.cp_seid == msg.seid
                            ),
                            0,
                        )
                        self.awaiting.append((msg, (tx.addr[0], tx.addr[1]), seid, h.now))
                    continue
                response = Message(M.SESSION_REPORT_RESPONSE, msg.seq, [S.Cause(value)], msg.seid)
                h.node.datagram_received(encode(response), (tx.addr[0], tx.addr[1]), h.now)
                assert h.node.datagrams_to_send() == []
        h.now = until

    @contextmanager
    def restored(self) -> Iterator[tuple[SessionEngine, LocalDatapath]]:
        """A fresh engine on a fresh datapath restored from the journal's records."""
        dp = LocalDatapath(expected_sessions=64, clock=self.now_ns)
        try:
            journal = MemoryJournal()
            journal.records = dict(self.h.journal.records)
            engine = SessionEngine(self.h.settings, dp, journal, ntp_clock=self.ntp)
            assert engine.restore(journal.items(), self.h.now) == len(self.h.engine.sessions)
            assert engine.metrics.restore_failures.get() == 0
            check_allocations(engine)
            yield engine, dp
        finally:
            dp.close()

    def check_restored(self) -> None:
        """The restored engine holds what the live one does (see the module)."""
        live = self.h.engine
        # (the pipeline applied every install at the barrier; no step of the engine failed)
        assert self.pipeline is None or self.pipeline.queue == []
        errors = live.metrics.errors
        wheres = ("request", "timer", "peer_gone", "peer_recovered", "response", "undo", "commit")
        assert [errors.get(w) for w in wheres] == [0] * len(wheres)
        check_allocations(live)
        check_checkpoints(live, self.dp)
        check_installed(live, self.installed)
        with self.restored() as (engine, dp):
            diff = differences(self.held(), held(engine, dp))
            assert diff == [], "\n".join(diff)
            check_marks(live, engine)
        # The installed programs decide alike, once what the live datapath counted since
        # the last checkpoint (packets a FAR that stops buffering sent) is checkpointed
        # too: a restart loses it, and with it what a quota has left. (Their packets are
        # then checkpointed, as the test's others are.)
        self.checkpoint()
        with self.restored() as (engine, dp):
            size = self.rng.choice([40, 300])
            for seid, s in sorted(live.sessions.items()):
                again, before = probe(dp, engine.sessions[seid], size), probe(self.dp, s, size)
                pdrs = _used_up_pdrs(s)
                if pdrs is not None:
                    # what the PDRs of a used-up quota forward is dropped (`_used_up_pdrs`)
                    self.counts["used_up"] += 1
                    assert all(a[0] != Verdict.FORWARD for a in again if a[3] in pdrs), again
                assert again == before, (
                    seid,
                    [
                        (i, b[:8], a[:8])
                        for i, (b, a) in enumerate(zip(before, again, strict=True))
                        if a != b
                    ],
                )
        self.checkpoint()
        self.counts["restored"] += 1


class Modifying:
    """A Session Modification of ``s``: 1-3 changes of rules that the session's other rules
    still name correctly, or a flawed one (refused)."""

    def __init__(self, world: World, s: Session) -> None:
        self.world, self.rng, self.s = world, world.rng, s
        rules = s.rules
        self.rules = rules
        self.ies: list[IE] = []
        self.touched: set[tuple[str, int]] = set()
        self.removed: set[tuple[str, int]] = set()
        # what the rules name: (kind, id) -> who names it
        self.named: dict[tuple[str, int], set[tuple[str, int]]] = {}
        for pdr_id, pdr in rules.pdr.items():
            named_far = _id(pdr, T.FAR_ID)
            if named_far is not None:
                self.named.setdefault(("far", named_far), set()).add(("pdr", pdr_id))
            for q in _ids(pdr, T.QER_ID):
                self.named.setdefault(("qer", q), set()).add(("pdr", pdr_id))
            for u in _ids(pdr, T.URR_ID):
                self.named.setdefault(("urr", u), set()).add(("pdr", pdr_id))
        for far_id, far in rules.far.items():
            bar_id = _id(far, T.BAR_ID)
            if bar_id is not None:
                self.named.setdefault(("bar", bar_id), set()).add(("far", far_id))
        for urr_id, urr in rules.urr.items():
            for linked in _ids(urr, T.LINKED_URR_ID):
                self.named.setdefault(("urr", linked), set()).add(("urr", urr_id))

    def free_id(self, kind: str, low: int, high: int) -> int | None:
        used = set(self.rules.of(kind)) | {rid for k, rid in self.touched if k == kind}
        free = [i for i in range(low, high) if i not in used]
        return self.rng.choice(free) if free else None

    def usable(self, kind: str) -> list[int]:
        """Rules of ``kind`` a change may name (not removed by this request)."""
        return [rid for rid in self.rules.of(kind) if (kind, rid) not in self.removed]

    def untouched(self, kind: str) -> list[int]:
        return [rid for rid in self.rules.of(kind) if (kind, rid) not in self.touched]

    def request(self) -> tuple[list[IE], frozenset[int] | None]:
        rng = self.rng
        if rng.random() < 0.12:
            return self.flawed()
        changes = [
            self.update_far,
            self.update_far,
            self.create_pdr,
            self.update_pdr,
            self.remove_pdr,
            self.create_far,
            self.remove_unnamed,
            self.qer,
            self.create_urr,
            self.update_urr,
            self.bar,
            self.query,
            self.flags,
            self.cp_fseid,
            self.sets,
        ]
        for change in rng.sample(changes, rng.randint(1, 3)):
            change()
        if not self.ies:
            self.query()
        return self.ies, None

    def flawed(self) -> tuple[list[IE], frozenset[int]]:
        rng = self.rng
        engine = self.world.h.engine
        flaw = rng.choice(
            ["update_far", "query", "remove_named", "create_dup", "cp_seid", "qer", "volth0"]
        )
        if flaw == "volth0":  # (refused once compiled: after the query read the counts)
            measured = [u for pdr in self.rules.pdr.values() for u in _ids(pdr, T.URR_ID)]
            if measured:
                urr_id = rng.choice(measured)
                volth = F.ReportingTriggers.of("VOLTH")
                return [
                    g(T.QUERY_URR, S.URRID(urr_id)),
                    g(T.UPDATE_URR, S.URRID(urr_id), volth, TR.VolumeThreshold()),
                ], frozenset({73})
        if flaw == "update_far":
            return [g(T.UPDATE_FAR, S.FARID(77), F.ApplyAction.of("DROP"))], frozenset({73})
        if flaw == "query":
            return [g(T.QUERY_URR, S.URRID(77))], frozenset({73})
        if flaw == "remove_named":
            named = [key for key in self.named if key[0] in ("far", "qer", "urr", "bar")]
            if named:
                kind, rid = rng.choice(sorted(named))
                remove = {"far": T.REMOVE_FAR, "qer": T.REMOVE_QER, "urr": T.REMOVE_URR}
                id_ie: IE = {"far": S.FARID, "qer": S.QERID, "urr": S.URRID, "bar": S.BARID}[kind](
                    rid
                )
                return [g(remove.get(kind, T.REMOVE_BAR), id_ie)], frozenset({73})
        if flaw == "cp_seid":
            at = OWNERS[self.s.cp_node_id][0]
            mine = _cp_seids_at(engine, self.s.cp_node_id, at, but=self.s.up_seid)
            if mine:
                fseid = A.FSEID(rng.choice(mine), OWNERS[self.s.cp_node_id][0])
                return [fseid], frozenset({64})
        if flaw == "qer":  # a PDR naming a QER the session does not have
            pdr_id = rng.choice(sorted(self.rules.pdr))
            return [g(T.UPDATE_PDR, S.PDRID(pdr_id), S.QERID(77))], frozenset({73})
        pdr_id = rng.choice(sorted(self.rules.pdr))
        return [self.rules.pdr[pdr_id]], frozenset({73})  # (its ID is taken)

    def update_far(self) -> None:
        rng = self.rng
        fars = [f for f in self.untouched("far") if f != 1 and ("far", f) not in self.removed]
        if not fars:
            return
        far_id = rng.choice(fars)
        self.touched.add(("far", far_id))
        bars = self.usable("bar")
        action = rng.choice(["FORW", "FORW", "BUFF+NOCP", "BUFF"])
        ies: list[IE] = [S.FARID(far_id), F.ApplyAction.of(*action.split("+"))]
        if action == "FORW" or rng.random() < 0.3:
            params: list[IE] = [S.DestinationInterface(ACCESS)]
            params.append(_ohc(rng.randrange(1, 1 << 16), rng.choice(GNBS)))
            if rng.random() < 0.4:
                params.append(F.PFCPSMReqFlags.of("SNDEM"))
            ies.append(g(T.UPDATE_FORWARDING_PARAMETERS, *params))
        if action != "FORW" and bars and rng.random() < 0.7:
            bar = rng.choice(bars)
            ies.append(S.BARID(bar))
            self.touched |= {("far_bar", far_id), ("bar", bar)}
        self.ies.append(g(T.UPDATE_FAR, *ies))

    def _pdr_refs(self) -> tuple[int, list[int], list[int]]:
        rng = self.rng
        fars = self.usable("far")
        qers = self.usable("qer")
        urrs = self.usable("urr")
        far = rng.choice(fars) if fars else 1
        named = (
            far,
            rng.sample(qers, min(len(qers), rng.randint(0, 2))),
            rng.sample(urrs, min(len(urrs), rng.randint(0, 3))),
        )
        # (named here: not removed by another change of the request)
        self.touched |= {("far", far), *(("qer", q) for q in named[1])}
        self.touched |= {("urr", u) for u in named[2]}
        return named

    def create_pdr(self) -> None:
        rng = self.rng
        pdr_id = self.free_id("pdr", 1, 40)
        if pdr_id is None or not self.usable("far"):
            return
        self.touched.add(("pdr", pdr_id))
        far, qers, urrs = self._pdr_refs()
        v4 = [t for n, t in self.s.ue if "." in t and n == "internet"]
        if rng.random() < 0.5:  # uplink: a new F-TEID
            fteid = A.FTEID(choose=True, choose_v4=True)
            pdi: list[IE] = [S.SourceInterface(ACCESS), fteid, X.NetworkInstance("internet")]
            if v4:
                pdi.append(A.UEIPAddress(ipv4=v4[0].partition("/")[0], source=True))
            pdi.append(
                TR.SDFFilter(flow_description=f"permit out 17 from any {pdr_id} to assigned")
            )
            self.ies.append(_pdr(pdr_id, far, pdi, qers, urrs, precedence=100 + pdr_id))
            return
        pdi = [S.SourceInterface(CORE), X.NetworkInstance("internet")]
        if v4 and rng.random() < 0.7:  # the session's address, given
            pdi.append(A.UEIPAddress(ipv4=v4[0].partition("/")[0]))
        else:  # another address of the pool
            pdi.append(A.UEIPAddress(choose_v4=True))
        pdi.append(TR.SDFFilter(flow_description=f"permit out 6 from any {pdr_id} to assigned"))
        self.ies.append(_pdr(pdr_id, far, pdi, qers, urrs, precedence=100 + pdr_id, uplink=False))

    def update_pdr(self) -> None:
        rng = self.rng
        pdrs = self.untouched("pdr")
        if not pdrs:
            return
        pdr_id = rng.choice(pdrs)
        self.touched.add(("pdr", pdr_id))
        far, qers, urrs = self._pdr_refs()
        ies: list[IE] = [S.PDRID(pdr_id)]
        what = rng.choice(["far", "urrs", "qers", "precedence", "fteid"])
        if what == "far":
            ies.append(S.FARID(far))
        elif what == "urrs":
            urrs = urrs or self.usable("urr")[:1]
            self.touched |= {("urr", u) for u in urrs}
            ies += [S.URRID(u) for u in urrs]
        elif what == "qers":
            qers = qers or self.usable("qer")[:1]
            self.touched |= {("qer", q) for q in qers}
            ies += [S.QERID(q) for q in qers]
        elif what == "precedence":
            ies.append(S.Precedence(rng.randint(1, 400)))
        else:  # a new PDI: a new F-TEID of its own (uplink), or the same PDI again
            pdi = _pdi(self.rules.pdr[pdr_id])
            children = list(pdi.ies)
            if any(c.type == T.F_TEID for c in children):
                children = [
                    A.FTEID(choose=True, choose_v4=True) if c.type == T.F_TEID else c
                    for c in children
                ]
            ies.append(g(T.PDI, *children))
        if len(ies) == 1:
            ies.append(S.Precedence(rng.randint(1, 400)))
        self.ies.append(g(T.UPDATE_PDR, *ies))

    def remove_pdr(self) -> None:
        pdrs = self.untouched("pdr")
        if len(self.rules.pdr) < 2 or not pdrs:
            return
        pdr_id = self.rng.choice(pdrs)
        if any(("pdr", pdr_id) == key for key in self.touched):
            return
        self.touched.add(("pdr", pdr_id))
        self.removed.add(("pdr", pdr_id))
        self.ies.append(g(T.REMOVE_PDR, S.PDRID(pdr_id)))

    def create_far(self) -> None:
        rng = self.rng
        far_id = self.free_id("far", 3, 12)
        if far_id is None:
            return
        self.touched.add(("far", far_id))
        bars = self.usable("bar")
        action = rng.choice(["FORW", "BUFF+NOCP", "DROP"])
        bar = rng.choice(bars) if bars and "BUFF" in action else None
        if bar is not None:
            self.touched.add(("bar", bar))
        self.ies.append(_dl_far(far_id, action, rng.randrange(1, 1 << 16), rng.choice(GNBS), bar))

    def remove_unnamed(self) -> None:
        """Remove a FAR, QER, URR or BAR no rule names."""
        candidates = [
            (kind, rid)
            for kind in ("far", "qer", "urr", "bar")
            for rid in self.untouched(kind)
            if not self.named.get((kind, rid))
            and (kind, rid) not in self.touched
            and not (kind == "bar" and any(k == "far_bar" for k, _ in self.touched))
        ]
        if not candidates:
            return
        kind, rid = self.rng.choice(sorted(candidates))
        self.touched.add((kind, rid))
        self.removed.add((kind, rid))
        remove = {
            "far": T.REMOVE_FAR,
            "qer": T.REMOVE_QER,
            "urr": T.REMOVE_URR,
            "bar": T.REMOVE_BAR,
        }
        id_ie: IE = {"far": S.FARID, "qer": S.QERID, "urr": S.URRID, "bar": S.BARID}[kind](rid)
        self.ies.append(g(remove[kind], id_ie))

    def qer(self) -> None:
        rng = self.rng
        qers = self.untouched("qer")
        if qers and rng.random() < 0.6:
            qer_id = rng.choice(qers)
            self.touched.add(("qer", qer_id))
            gate = rng.randint(0, 1)
            self.ies.append(g(T.UPDATE_QER, S.QERID(qer_id), TR.GateStatus(gate, gate)))
            return
        new = self.free_id("qer", 1, 9)
        if new is not None:
            self.touched.add(("qer", new))
            self.ies.append(_qer(new, rng.random() < 0.8))

    def create_urr(self) -> None:
        """A new URR, and a PDR made to name it (when one is left untouched)."""
        rng = self.rng
        urr_id = self.free_id("urr", 1, 12)
        if urr_id is None:
            return
        self.touched.add(("urr", urr_id))
        urr = _urr(rng, urr_id, self.usable("urr"))
        self.touched |= {("urr", linked) for linked in _ids(urr, T.LINKED_URR_ID)}
        self.ies.append(urr)
        pdrs = [p for p in self.untouched("pdr") if len(_ids(self.rules.pdr[p], T.URR_ID)) < 4]
        if pdrs:
            pdr_id = rng.choice(pdrs)
            self.touched.add(("pdr", pdr_id))
            urrs = [*_ids(self.rules.pdr[pdr_id], T.URR_ID), urr_id]
            self.ies.append(g(T.UPDATE_PDR, S.PDRID(pdr_id), *[S.URRID(u) for u in urrs]))

    def update_urr(self) -> None:
        rng = self.rng
        urrs = self.untouched("urr")
        if not urrs:
            return
        what = rng.choice(["threshold", "quota", "inam", "resume", "validity", "triggers"])
        used_up = [u for u in _used_up_urrs(self.s) if u in urrs]
        # (a new quota for one used up, as the CP grants it, maybe before the engine
        # handled the datapath's event)
        urr_id = rng.choice(used_up) if used_up and what == "quota" else rng.choice(urrs)
        self.touched.add(("urr", urr_id))
        ies: list[IE] = [S.URRID(urr_id)]
        if what == "threshold":
            ies += [
                F.ReportingTriggers.of("VOLTH"),
                TR.VolumeThreshold(total=rng.choice([500, 3000])),
            ]
        elif what == "quota":
            ies += [
                F.ReportingTriggers.of("VOLQU"),
                TR.VolumeQuota(total=rng.choice([1500, 50000])),
            ]
        elif what == "inam":
            ies.append(F.MeasurementInformation.of("MNOP", "INAM"))
        elif what == "resume":
            ies.append(F.MeasurementInformation.of("MNOP"))
        elif what == "validity":
            ies += [F.ReportingTriggers.of("VOLQU", "QUVTI"), S.QuotaValidityTime(3)]
            ies.append(TR.VolumeQuota(total=20000))
        else:
            ies.append(F.ReportingTriggers.of(rng.choice(["PERIO", "START"])))
            ies.append(S.MeasurementPeriod(3))
        self.ies.append(g(T.UPDATE_URR, *ies))
        if what in ("quota", "validity") and rng.random() < 0.5:
            # (a new quota with a query of what was counted towards the old one, or without:
            # test_a_new_quota_counts_from_its_grant)
            self.ies.append(g(T.QUERY_URR, S.URRID(urr_id)))

    def bar(self) -> None:
        rng = self.rng
        bars = self.untouched("bar")
        if bars:
            bar_id = rng.choice(bars)
            self.touched.add(("bar", bar_id))
            self.ies.append(
                g(T.UPDATE_BAR, S.BARID(bar_id), S.DownlinkDataNotificationDelay(rng.randint(0, 5)))
            )
            return
        new = self.free_id("bar", 1, 4)
        if new is not None:
            self.touched.add(("bar", new))
            self.ies.append(_bar(rng, new))

    def query(self) -> None:
        urrs = self.usable("urr")
        if urrs and not any(k == "urr" and (k, r) in self.removed for k, r in self.touched):
            for urr_id in self.rng.sample(urrs, min(len(urrs), 2)):
                if ("urr", urr_id) not in self.removed:
                    self.ies.append(g(T.QUERY_URR, S.URRID(urr_id)))

    def flags(self) -> None:
        names = self.rng.sample(["QAURR", "DROBU"], self.rng.randint(1, 2))
        if all(ie.type != T.PFCPSMREQ_FLAGS for ie in self.ies):
            self.ies.append(F.PFCPSMReqFlags.of(*names))

    def cp_fseid(self) -> None:
        """A new CP F-SEID: at the CP's address, another one, or the other SMF of the set's
        (which then takes the session)."""
        if any(ie.type == T.F_SEID for ie in self.ies):
            return
        address = self.rng.choice([OWNERS[self.s.cp_node_id][0], OTHER_CP_ADDRESS, SMF2[0], CP[0]])
        self.ies.append(A.FSEID(self.world.new_cp_seid(), address))

    def sets(self) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self.ies.append(X.GroupID(rng.choice(GROUPS)))
        else:
            self.ies.append(A.FQCSID(A.FQ_CSID_IPV4, FQ_CSID_NODE, (rng.randint(1, 3),), 2))


# -- the tests ----------------------------------------------------------------------------

STEPS = 150


def run(seed: int, steps: int = STEPS, pipelined: bool = True) -> dict[str, int]:
    """``steps`` random steps of seed ``seed``, each checked (`World.check_restored`), on
    the pipelined datapath or the local one (``pipelined``); how many requests were
    accepted, refused, answered 77 for a failed batch and for an install the datapath
    refused (``undone``), batches with such an install (``unprogrammed``), restores
    checked, Session Report Requests, answers to them in batches, and sessions probed with
    a used-up quota."""
    world = World(seed, pipelined)
    try:
        world.check_restored()
        for _ in range(steps):
            step = world.rng.choices(
                [world.batch, world.traffic, world.advance], weights=[70, 15, 15]
            )[0]
            step()
            world.check_restored()
        return world.counts
    finally:
        world.close()


@pytest.mark.parametrize(("seed", "pipelined"), [(1, True), (2, True), (3, False)])
def test_a_restored_engine_holds_what_the_live_one_does(seed: int, pipelined: bool) -> None:
    counts = run(seed, pipelined=pipelined)
    assert counts["accepted"] > 40 and counts["refused"] > 3 and counts["failed"] > 2, counts
    if pipelined:
        assert counts["unprogrammed"] > 3 and counts["undone"] > 3, counts

"""`LocalDatapath`: the Datapath interface on libupfcore.so, plus per-packet calls.

Packet I/O is not done here (see `io.py`): `process_ul`/`process_dl` take bytes and return
a `PacketResult` with the bytes to transmit. One lock serialises every call into the library,
so control calls (install/remove/read) and the packet thread never overlap; old programs are
reclaimed right after each install (no packet can be in flight under the lock).
"""

from __future__ import annotations

import ctypes
import enum
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pfcpd.datapath.interface import (
    ApplyAction,
    Bar,
    Datapath,
    DatapathError,
    DatapathEvent,
    DuplicateEncap,
    DuplicatingParameters,
    EventType,
    Far,
    Interface,
    IPAddress,
    Qer,
    SdfFilter,
    SessionCounters,
    SessionProgram,
    Urr,
    Usage,
)
from pfcpd.datapath.local import corelib

MAX_PACKET = 65535 + 128
# The C core's constants (flags, limits, sentinels) come from the library: self.core.k.


class Verdict(enum.IntEnum):
    DROP = 0
    FORWARD = 1
    BUFFER = 2
    ECHO_REQUEST = 3


@dataclass(frozen=True)
class PacketResult:
    verdict: Verdict
    drop_reason: str
    malformed: str | None
    seid: int
    pdr_id: int
    far_id: int
    qfi: int
    teid: int
    destination_interface: int
    output: bytes  # what to transmit: inner (UL), encapsulated (DL/N9) or a GTP-U reply
    encapsulated: bool = False  # output starts with an outer IP/UDP/GTP-U header we built
    redirect_type: int | None = None  # the FAR's redirect address type when it has one
    redirected: bool = False  # UL output's destination rewritten to the redirect address
    network_instance: int = 0  # FAR's network instance (FORWARD)
    duplicates: tuple[Duplicate, ...] = ()  # FAR DUPL: copies to send besides output
    events: tuple[DatapathEvent, ...] = field(default=())


@dataclass(frozen=True)
class Duplicate:
    """One copy of a forwarded packet (FAR DUPL), per duplicating parameter."""

    destination_interface: int
    encap: DuplicateEncap  # what `output` starts with
    forwarding_policy: int
    output: bytes


def _plen(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    return net.prefixlen + (96 if net.version == 4 else 0)


_SDF = corelib.Layout(corelib.SdfT)
_PDR = corelib.Layout(corelib.PdrT)
_DUPL = corelib.Layout(corelib.DuplT)
_FAR = corelib.Layout(corelib.FarT)
_QER = corelib.Layout(corelib.QerT)
_URR = corelib.Layout(corelib.UrrT)
_BAR = corelib.Layout(corelib.BarT)
_PROGRAM = corelib.Layout(corelib.ProgramDescT)
ip16 = corelib.ip16


def _sdf_fields(k: corelib.Constants, f: SdfFilter) -> dict[str, object]:
    s: dict[str, object] = {}
    flags = 0
    if f.protocol is not None:
        s["proto"], flags = f.protocol, flags | k.SDF_PROTO
    if f.remote is not None:
        s["remote"], s["remote_plen"] = ip16(f.remote.network_address), _plen(f.remote)
    if f.ue is not None:
        s["ue"], s["ue_plen"] = ip16(f.ue.network_address), _plen(f.ue)
    if f.remote_ports is not None:
        (s["remote_port_lo"], s["remote_port_hi"]), flags = (
            f.remote_ports,
            flags | k.SDF_REMOTE_PORT,
        )
    if f.ue_ports is not None:
        (s["ue_port_lo"], s["ue_port_hi"]), flags = f.ue_ports, flags | k.SDF_UE_PORT
    if f.tos is not None:
        (s["tos"], s["tos_mask"]), flags = f.tos, flags | k.SDF_TOS
    if f.spi is not None:
        s["spi"], flags = f.spi, flags | k.SDF_SPI
    if f.flow_label is not None:
        s["flow_label"], flags = f.flow_label, flags | k.SDF_FLOW_LABEL
    s["flags"] = flags
    return s


def _dupl_fields(k: corelib.Constants, far_id: int, d: DuplicatingParameters) -> dict[str, object]:
    c: dict[str, object] = {
        "dest_interface": d.destination_interface,
        "ohc": int(d.encap),
        "dscp": k.DSCP_NONE if d.dscp is None else d.dscp,
        "forwarding_policy": d.forwarding_policy,
    }
    if d.encap != DuplicateEncap.NONE:
        if d.peer is None or d.source is None:
            raise DatapathError(f"FAR {far_id}: duplicating parameters need peer and source")
        c["ohc_peer"], c["ohc_src"] = ip16(d.peer), ip16(d.source)
        c["ohc_teid"], c["ohc_port"] = d.teid, d.port
        c["ohc_flags"] = k.OHC_F_PSC if d.pdu_session_container else 0
    return c


def _far_fields(k: corelib.Constants, f: Far, dupl_first: int = 0) -> dict[str, object]:
    """``dupl_first``: the index of its first Duplicating Parameters record."""
    cf: dict[str, object] = {
        "far_id": f.far_id,
        "apply_action": int(f.apply_action),
        "dest_interface": f.destination_interface,
        "network_instance": f.network_instance,
        "dscp": k.DSCP_NONE if f.dscp is None else f.dscp,
        "dupl_first": dupl_first,
        "dupl_count": len(f.duplicating),
    }
    if f.redirect is not None:
        kind, server = f.redirect
        cf["redirect_type"] = kind + 1
        if kind in (k.REDIRECT_IPV4, k.REDIRECT_IPV6):
            want = 4 if kind == k.REDIRECT_IPV4 else 6
            if isinstance(server, str) or server.version != want:
                raise DatapathError(
                    f"FAR {f.far_id}: redirect type {kind} needs an IPv{want} address"
                )
            cf["redirect_addr"] = ip16(server)
    if f.outer_header_creation is not None:
        peer, teid = f.outer_header_creation
        if f.ohc_source is None:
            raise DatapathError(f"FAR {f.far_id}: outer header creation needs ohc_source")
        cf["ohc"], cf["ohc_teid"] = k.OHC_GTPU, teid
        cf["ohc_peer"], cf["ohc_src"] = ip16(peer), ip16(f.ohc_source)
        cf["ohc_flags"] = k.OHC_F_PSC if f.pdu_session_container else 0
    return cf


def _qer_fields(k: corelib.Constants, q: Qer) -> dict[str, object]:
    return {
        "qer_id": q.qer_id,
        "qfi": q.qfi or 0,
        "rqi": int(q.rqi),
        "gate_ul": k.GATE_OPEN if q.gate_ul_open else k.GATE_CLOSED,
        "gate_dl": k.GATE_OPEN if q.gate_dl_open else k.GATE_CLOSED,
        "mbr_ul_bps": q.mbr_ul,
        "mbr_dl_bps": q.mbr_dl,
        "gbr_ul_bps": q.gbr_ul,
        "gbr_dl_bps": q.gbr_dl,
        "burst_bytes": q.burst_bytes,
    }


def _urr_fields(k: corelib.Constants, u: Urr) -> dict[str, object]:
    cu: dict[str, object] = {"urr_id": u.urr_id}
    trig = 0
    if u.volume_threshold:
        trig |= k.URR_T_VOLTH
        cu["vol_threshold"] = u.volume_threshold
    if u.volume_quota:
        trig |= k.URR_T_VOLQU
        cu["vol_quota"] = u.volume_quota
    if u.time_threshold_ns:
        trig, cu["time_threshold_ns"] = trig | k.URR_T_TIMTH, u.time_threshold_ns
    if u.time_quota_ns:
        trig, cu["time_quota_ns"] = trig | k.URR_T_TIMQU, u.time_quota_ns
    cu["triggers"], cu["flags"] = trig, k.URR_F_DROP_ON_QUOTA if u.drop_on_quota else 0
    return cu


# Packed C records of rules, by id(rule): the session engine hands out one object for the
# FARs, QERs and URRs that sessions repeat (`CompileContext.compiled`), packed once here.
# An entry holds its rule (its id is not reused meanwhile); emptied when full.
_RECORDS: dict[int, tuple[object, corelib.Constants, bytes]] = {}
RECORD_ENTRIES = 4096
_Rule = TypeVar("_Rule", Far, Qer, Urr)


def _record(
    k: corelib.Constants,
    layout: corelib.Layout,
    ctype: type[ctypes.Structure],
    rule: _Rule,
    fields: Callable[[corelib.Constants, _Rule], dict[str, object]],
) -> bytes:
    """``rule``'s C record, packed from ``fields(k, rule)``."""
    entry = _RECORDS.get(id(rule))
    if entry is not None and entry[0] is rule and entry[1] is k:
        return entry[2]
    one = (ctype * 1)()
    layout.pack_into(one, 0, fields(k, rule))
    data = bytes(one)
    if len(_RECORDS) >= RECORD_ENTRIES:
        _RECORDS.clear()
    _RECORDS[id(rule)] = (rule, k, data)
    return data


_ALIGN = 8  # (the records' and the descriptor's alignment: pointers, 64-bit counters)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) & -_ALIGN


_DESC_SIZE = _aligned(_PROGRAM.size)


class _Desc:
    """One program for the library: its descriptor and its record arrays (at least one
    record each, zeroed) in one buffer, each record packed in one call (`corelib.Layout`)
    or copied packed (`_record`); kept alive while the library reads it."""

    def __init__(self, k: corelib.Constants, program: SessionProgram) -> None:
        sdfs: list[dict[str, object]] = []
        pdrs: list[dict[str, object]] = []
        for p in program.pdrs:
            c: dict[str, object] = {
                "pdr_id": p.pdr_id,
                "precedence": p.precedence,
                "source_interface": p.source_interface,
                "far_id": p.far_id,
                "network_instance": p.network_instance,
                "outer_header_removal": (
                    k.OHR_NONE if p.outer_header_removal is None else p.outer_header_removal
                ),
                "qer_id": p.qer_ids,
                "urr_id": p.urr_ids,
                "sdf_first": len(sdfs),
                "sdf_count": len(p.sdf_filters),
            }
            flags = 0
            if p.local_fteid is not None:
                c["fteid_addr"], c["teid"] = ip16(p.local_fteid[0]), p.local_fteid[1]
                flags |= k.PDI_FTEID
            if p.ue_ip is not None:
                c["ue_ip"], c["ue_ip_plen"] = ip16(p.ue_ip.network_address), _plen(p.ue_ip)
                flags |= k.PDI_UE_IP
            if p.qfi is not None:
                c["qfi"], flags = p.qfi, flags | k.PDI_QFI
            c["pdi_flags"] = flags
            if len(p.qer_ids) > k.MAX_QER_PER_PDR or len(p.urr_ids) > k.MAX_URR_PER_PDR:
                raise DatapathError(
                    f"PDR {p.pdr_id}: at most {k.MAX_QER_PER_PDR} QERs and {k.MAX_URR_PER_PDR} URRs"
                )
            pdrs.append(c)
            sdfs.extend(_sdf_fields(k, f) for f in p.sdf_filters)
        fars: list[dict[str, object] | bytes] = []
        dupls: list[dict[str, object]] = []
        for f in program.fars:
            if f.duplicating or dupls:  # (records that depend on the program's others)
                fars.append(_far_fields(k, f, len(dupls)))
                dupls.extend(_dupl_fields(k, f.far_id, d) for d in f.duplicating)
            elif f.outer_header_creation is not None:  # (a peer's TEID: one per session)
                fars.append(_far_fields(k, f))
            else:
                fars.append(_record(k, _FAR, corelib.FarT, f, _far_fields))
        qers = [_record(k, _QER, corelib.QerT, q, _qer_fields) for q in program.qers]
        urrs = [_record(k, _URR, corelib.UrrT, u, _urr_fields) for u in program.urrs]
        bars: list[dict[str, object]] = []
        if program.bar is not None:
            b = program.bar
            bars.append(
                {
                    "bar_id": b.bar_id,
                    "max_pkts": b.max_packets,
                    "max_bytes": b.max_bytes,
                    "duration_ns": b.duration_ns,
                }
            )
        tables: tuple[tuple[str, corelib.Layout, Sequence[dict[str, object] | bytes]], ...] = (
            ("pdr", _PDR, pdrs),
            ("far", _FAR, fars),
            ("qer", _QER, qers),
            ("urr", _URR, urrs),
            ("sdf", _SDF, sdfs),
            ("dupl", _DUPL, dupls),
            ("bar", _BAR, bars),
        )
        size = _DESC_SIZE
        for _, layout, records in tables:
            size += _aligned(layout.size * max(1, len(records)))
        buf = bytearray(size)
        self.desc = corelib.ProgramDescT.from_buffer(buf)  # (keeps buf alive)
        base = ctypes.addressof(self.desc)
        d: dict[str, object] = {
            "n_pdr": len(pdrs),
            "n_far": len(fars),
            "n_qer": len(qers),
            "n_urr": len(urrs),
            "n_sdf": len(sdfs),
            "n_dupl": len(dupls),
        }
        offset = _DESC_SIZE
        for name, layout, records in tables:
            if records or name != "bar":  # (no BAR: a NULL pointer)
                d[name] = base + offset
            at = offset
            for record in records:
                if isinstance(record, bytes):
                    buf[at : at + layout.size] = record
                else:
                    layout.pack_at(buf, at, record)
                at += layout.size
            offset += _aligned(layout.size * max(1, len(records)))
        _PROGRAM.pack_at(buf, 0, d)


_USAGE = corelib.Layout(corelib.UsageT)


def _usage(u: corelib.UsageT) -> Usage:
    """The record as a Usage, read with one struct call (a ctypes field read each cost
    ~1 us; the URR counters of every session are read at each checkpoint)."""
    uid, _, bt, bu, bd, pt, pu, pd, ddp, ddb, first, last, _ = _USAGE.struct.unpack_from(u)
    return Usage(uid, bt, bu, bd, pt, pu, pd, ddp, ddb, first, last)


def _event(e: corelib.EventT) -> DatapathEvent:
    return DatapathEvent(type=EventType(e.type), seid=e.seid, id=e.id, value=e.value)


@dataclass(frozen=True, slots=True)
class _Tunnel:
    """A FAR's GTP-U tunnel, with what its End Marker needs."""

    far_id: int
    peer: IPAddress
    teid: int
    source: IPAddress
    pdu_session_container: bool
    qfi: int  # of the first QER with a QFI on a PDR using the FAR, 0 if none
    destination_interface: int


@dataclass(frozen=True, slots=True)
class _Kept:
    """What the datapath keeps in Python of an installed program (its C tables hold the
    rest; the whole program cost ~1.5 KB a session): the FARs' tunnels (End Markers when
    one changes), the URR IDs (final usage at removal) and the BAR."""

    tunnels: tuple[_Tunnel, ...]
    urr_ids: tuple[int, ...]
    bar: Bar | None


def _kept(program: SessionProgram) -> _Kept:
    qfi_of_far: dict[int, int] = {}
    qers = {q.qer_id: q for q in program.qers}
    for p in program.pdrs:
        for qid in p.qer_ids:
            q = qers.get(qid)
            if q is not None and q.qfi:
                qfi_of_far.setdefault(p.far_id, q.qfi)
    tunnels = tuple(
        _Tunnel(
            f.far_id,
            f.outer_header_creation[0],
            f.outer_header_creation[1],
            f.ohc_source,
            f.pdu_session_container,
            qfi_of_far.get(f.far_id, 0),
            f.destination_interface,
        )
        for f in program.fars
        if f.outer_header_creation is not None and f.ohc_source is not None
    )
    return _Kept(tunnels, tuple(u.urr_id for u in program.urrs), program.bar)


_BUFF = int(ApplyAction.BUFF)  # (`&` with the flag member itself runs Python code)


def _buffering(program: SessionProgram) -> bool:
    return any(int(f.apply_action) & _BUFF for f in program.fars)


def _ticking(program: SessionProgram) -> bool:
    """The program has time-driven work for upfcore_tick: time thresholds or quotas, or a
    DL buffering duration."""
    return any(u.time_threshold_ns or u.time_quota_ns for u in program.urrs) or bool(
        program.bar is not None and program.bar.duration_ns
    )


class LocalDatapath(Datapath):
    """The embedded datapath engine (no I/O). `clock` returns nanoseconds."""

    def __init__(
        self,
        core_lib: str | None = None,
        expected_sessions: int = 1024,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.core = corelib.load(core_lib)
        self.core.check_enum(Verdict, "UPF_VERDICT_", {})
        self._lib = self.core.lib
        self._ctx = self._lib.upfcore_ctx_new(
            corelib.check_range("expected_sessions", expected_sessions, 32)
        )
        if not self._ctx:
            raise MemoryError("upfcore_ctx_new failed")
        self._clock = clock
        self._lock = threading.RLock()
        self._sessions: dict[int, int] = {}
        self._programs: dict[int, _Kept] = {}
        self._ticking: set[int] = set()  # sessions poll_events ticks (see _ticking)
        self._events: list[DatapathEvent] = []
        self._pending_tx: list[PacketResult] = []
        self._out = (ctypes.c_uint8 * MAX_PACKET)()
        self._verdict = corelib.VerdictT()
        self._usage_buf = corelib.UsageT()
        self._traffic: set[int] = set()  # sessions packets matched since the last call
        self._usage_ref = ctypes.byref(self._usage_buf)
        self._err = ctypes.create_string_buffer(256)  # install's error text (under the lock)

    # -- Datapath interface -------------------------------------------------------------
    def install(self, seid: int, program: SessionProgram, send_end_marker: bool = False) -> None:
        corelib.check_range("SEID", seid, 64)
        desc = _Desc(self.core.k, program)
        with self._lock:
            err = self._err
            old_program = self._programs.get(seid)
            created = seid not in self._sessions
            sess = self._sessions.get(seid) or self._lib.upfcore_session_create(self._ctx, seid)
            if not sess:
                raise DatapathError(f"session 0x{seid:x}: out of memory creating the session")
            rv = self._lib.upfcore_session_install(
                self._ctx, sess, ctypes.byref(desc.desc), err, len(err)
            )
            if rv < 0:
                if created:
                    self._lib.upfcore_session_delete(self._ctx, sess)
                    self._lib.upfcore_reclaim(self._ctx)
                raise DatapathError(f"session 0x{seid:x}: {err.value.decode()}")
            self._sessions[seid] = sess
            self._programs[seid] = _kept(program)
            if _ticking(program):
                self._ticking.add(seid)
            else:
                self._ticking.discard(seid)
            self._lib.upfcore_reclaim(self._ctx)
            if send_end_marker and old_program is not None:
                self._end_markers(seid, old_program, program)
            if not _buffering(program) and self._lib.upfcore_buffer_count(sess):
                ni = next((p.network_instance for p in program.pdrs if p.source_interface != 0), 0)
                self._flush(sess, ni)

    def remove(self, seid: int) -> dict[int, Usage]:
        with self._lock:
            sess = self._sessions.pop(seid, None)
            if sess is None:
                raise DatapathError(f"session 0x{seid:x} not installed")
            kept = self._programs.pop(seid)
            self._ticking.discard(seid)
            final = {urr_id: self._read(sess, urr_id, False) for urr_id in kept.urr_ids}
            self._lib.upfcore_session_delete(self._ctx, sess)
            self._lib.upfcore_reclaim(self._ctx)
            return final

    def read_usage(self, seid: int, urr_id: int, reset: bool = False) -> Usage:
        with self._lock:
            sess = self._sessions.get(seid)
            if sess is None:
                raise DatapathError(f"session 0x{seid:x} not installed")
            return self._read(sess, corelib.check_range("URR ID", urr_id, 32), reset)

    def poll_events(self) -> list[DatapathEvent]:
        evs = (corelib.EventT * 16)()
        with self._lock:
            now = self._clock()
            # Only sessions with time-driven work: a poll costs nothing per idle session.
            for seid in self._ticking:
                n = self._lib.upfcore_tick(self._ctx, self._sessions[seid], now, evs, 16)
                self._events.extend(_event(evs[i]) for i in range(n))
            out, self._events = self._events, []
            return out

    def sessions_with_traffic(self) -> set[int]:
        with self._lock:
            out, self._traffic = self._traffic, set()
            return out

    def drop_buffered(self, seid: int) -> int:
        with self._lock:
            sess = self._sessions.get(seid)
            return int(self._lib.upfcore_buffer_drop(sess)) if sess else 0

    def now_ns(self) -> int:
        return self._clock()

    def close(self) -> None:
        with self._lock:
            if self._ctx:
                self._lib.upfcore_ctx_delete(self._ctx)
                self._ctx = None
                self._sessions.clear()
                self._ticking.clear()

    # -- packets -------------------------------------------------------------------------
    def process_ul(self, packet: bytes, now_ns: int | None = None) -> PacketResult:
        """An outer IP packet received on N3/N9."""
        buf = (ctypes.c_uint8 * len(packet)).from_buffer_copy(packet)
        with self._lock:
            n = self._lib.upfcore_ul_packet(
                self._ctx, buf, len(packet), self._now(now_ns), self._verdict, self._out, MAX_PACKET
            )
            return self._result(n, buf)

    def process_ul_gtpu(
        self, local_addr: IPAddress, message: bytes, now_ns: int | None = None
    ) -> PacketResult:
        """A GTP-U message (UDP payload) received on our address local_addr."""
        buf = (ctypes.c_uint8 * max(1, len(message))).from_buffer_copy(message or b"\0")
        local = corelib.ip_t(local_addr)
        with self._lock:
            n = self._lib.upfcore_ul_gtpu_packet(
                self._ctx,
                ctypes.byref(local),
                buf,
                len(message),
                self._now(now_ns),
                self._verdict,
                self._out,
                MAX_PACKET,
            )
            return self._result(n, buf)

    def process_dl(
        self, packet: bytes, network_instance: int = 0, now_ns: int | None = None
    ) -> PacketResult:
        """An inner (UE) IP packet received on N6 in network_instance."""
        corelib.check_range("network instance", network_instance, 16)
        buf = (ctypes.c_uint8 * max(1, len(packet))).from_buffer_copy(packet or b"\0")
        with self._lock:
            n = self._lib.upfcore_dl_packet(
                self._ctx,
                network_instance,
                buf,
                len(packet),
                self._now(now_ns),
                self._verdict,
                self._out,
                MAX_PACKET,
            )
            return self._result(n, buf)

    def take_pending(self) -> list[PacketResult]:
        """Packets to transmit that no received packet caused: DL buffers flushed after a
        FAR change (before) and End Markers (after)."""
        with self._lock:
            out, self._pending_tx = self._pending_tx, []
            return out

    def counters(self) -> SessionCounters:
        with self._lock:
            raw = self._lib.upfcore_stats(self._ctx)
            nm, nd = self.core.n_malformed, self.core.n_drop
            return SessionCounters(
                rx_ul=raw[0],
                rx_dl=raw[1],
                malformed={
                    self.core.malformed_names[i]: raw[2 + i] for i in range(1, nm) if raw[2 + i]
                },
                drops={
                    self.core.drop_names[i]: raw[2 + nm + i]
                    for i in range(1, nd)
                    if raw[2 + nm + i]
                },
            )

    def buffered(self, seid: int) -> int:
        with self._lock:
            sess = self._sessions.get(seid)
            return int(self._lib.upfcore_buffer_count(sess)) if sess else 0

    # -- internals -----------------------------------------------------------------------
    def _now(self, now_ns: int | None) -> int:
        return corelib.check_range("time (ns)", self._clock() if now_ns is None else now_ns, 64)

    def _read(self, sess: int, urr_id: int, reset: bool) -> Usage:
        u = self._usage_buf  # (under the lock)
        if self._lib.upfcore_read_urr(sess, urr_id, self._usage_ref, int(reset), self._clock()):
            raise DatapathError(f"URR {urr_id} unknown")
        return _usage(u)

    def _result(self, n: int, received: ctypes.Array[ctypes.c_uint8]) -> PacketResult:
        v = self._verdict
        if v.seid:
            self._traffic.add(v.seid)
        events = tuple(_event(v.events[i]) for i in range(v.n_events))
        self._events.extend(events)
        output = bytes(self._out[:n]) if n else b""
        duplicates: tuple[Duplicate, ...] = ()
        if v.verdict == Verdict.FORWARD and v.n_dupl:
            duplicates = tuple(self._duplicate(v, i, received) for i in range(v.n_dupl))
        return PacketResult(
            verdict=Verdict(v.verdict),
            drop_reason=self.core.drop_names[v.drop_reason],
            malformed=self.core.malformed_names[v.malformed] if v.malformed else None,
            seid=v.seid,
            pdr_id=v.pdr_id,
            far_id=v.far_id,
            qfi=v.qfi,
            teid=v.teid,
            destination_interface=v.dest_interface,
            output=output,
            encapsulated=bool(v.encap) and v.verdict == Verdict.FORWARD,
            redirect_type=v.redirect_type - 1 if v.redirect_type else None,
            redirected=bool(v.redirected),
            network_instance=v.network_instance,
            duplicates=duplicates,
            events=events,
        )

    def _duplicate(
        self, v: corelib.VerdictT, i: int, received: ctypes.Array[ctypes.c_uint8]
    ) -> Duplicate:
        inner = ctypes.cast(ctypes.byref(received, v.inner_offset), ctypes.POINTER(ctypes.c_uint8))
        n = self._lib.upfcore_dupl_packet(ctypes.byref(v), i, inner, self._out, MAX_PACKET)
        d = v.dupl[i]
        return Duplicate(
            destination_interface=d.dest_interface,
            encap=DuplicateEncap(d.ohc),
            forwarding_policy=d.forwarding_policy,
            output=bytes(self._out[:n]),
        )

    def _end_markers(self, seid: int, old: _Kept, new: SessionProgram) -> None:
        """End Marker (TS 29.281 7.3.2) to the old peer of every FAR whose tunnel changed."""
        new_ohc = {f.far_id: f.outer_header_creation for f in new.fars}
        for t in old.tunnels:
            if new_ohc.get(t.far_id) == (t.peer, t.teid):
                continue
            src, dst = corelib.ip_t(t.source), corelib.ip_t(t.peer)
            n = self._lib.upfcore_build_end_marker(
                ctypes.byref(src),
                ctypes.byref(dst),
                t.teid,
                int(t.pdu_session_container),
                t.qfi,
                self._out,
                MAX_PACKET,
            )
            if n:
                self._pending_tx.append(
                    PacketResult(
                        verdict=Verdict.FORWARD,
                        drop_reason=self.core.drop_names[0],
                        malformed=None,
                        seid=seid,
                        pdr_id=0,
                        far_id=t.far_id,
                        qfi=t.qfi,
                        teid=t.teid,
                        destination_interface=t.destination_interface,
                        output=bytes(self._out[:n]),
                        encapsulated=True,
                    )
                )

    def _flush(self, sess: int, network_instance: int) -> None:
        packets: list[bytes] = []

        def collect(_arg: int | None, data: ctypes._Pointer[ctypes.c_uint8], length: int) -> None:
            packets.append(ctypes.string_at(data, length))

        self._lib.upfcore_buffer_flush(sess, corelib.BUFFER_CB(collect), None)
        for p in packets:
            res = self.process_dl(p, network_instance)
            if res.verdict == Verdict.FORWARD:
                self._pending_tx.append(res)


__all__ = ["Duplicate", "Interface", "LocalDatapath", "PacketResult", "Verdict"]

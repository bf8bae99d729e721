"""The install path's packing as it was before records were packed positionally: each
record a dict of its fields packed by `corelib.Layout.pack_at`. `test_local_packing`
checks the datapath's packing gives the same bytes for every kind of program."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import TypeVar

from pfcpd.datapath.interface import (
    DatapathError,
    DuplicateEncap,
    DuplicatingParameters,
    Far,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.local import corelib

_SDF = corelib.Layout(corelib.SdfT)
_PDR = corelib.Layout(corelib.PdrT)
_DUPL = corelib.Layout(corelib.DuplT)
_FAR = corelib.Layout(corelib.FarT)
_QER = corelib.Layout(corelib.QerT)
_URR = corelib.Layout(corelib.UrrT)
_BAR = corelib.Layout(corelib.BarT)
_PROGRAM = corelib.Layout(corelib.ProgramDescT)
ip16 = corelib.ip16


def _plen(net: object) -> int:
    return net.prefixlen + (96 if net.version == 4 else 0)  # type: ignore[attr-defined]


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


def _ppi(k: corelib.Constants, q: Qer) -> int:
    if q.ppi is None:
        return 0
    if not 0 <= q.ppi <= 7:
        raise DatapathError(f"QER {q.qer_id}: PPI {q.ppi} out of range (0-7)")
    return k.PPI_SET | q.ppi


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
        "ppi": _ppi(k, q),
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


def _record(
    k: corelib.Constants,
    layout: corelib.Layout,
    ctype: type[ctypes.Structure],
    rule: _Rule,
    fields: Callable[[corelib.Constants, _Rule], dict[str, object]],
) -> bytes:
    """``rule``'s C record, packed from ``fields(k, rule)`` (no cache: a reference)."""
    one = (ctype * 1)()
    layout.pack_into(one, 0, fields(k, rule))
    return bytes(one)


_Rule = TypeVar("_Rule", Far, Qer, Urr)


_ALIGN = 8  # (the records' and the descriptor's alignment: pointers, 64-bit counters)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) & -_ALIGN


_DESC_SIZE = _aligned(_PROGRAM.size)


def reference_program(k: corelib.Constants, program: SessionProgram) -> tuple[bytes, int]:
    """The program's buffer as the install path packed it (descriptor and record arrays)
    and the buffer's address (the descriptor's pointers point into it)."""
    # (the old _Desc constructor's body, as it was)
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
    desc = corelib.ProgramDescT.from_buffer(buf)
    base = ctypes.addressof(desc)
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
    del desc
    return bytes(buf), base

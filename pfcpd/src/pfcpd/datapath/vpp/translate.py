"""`SessionProgram` <-> the UPF plugin's binary API (upf_plugin/vpp/upf.api), as vpp_papi
takes and returns it: plain dicts with the .api's field names; addresses and prefixes as
`ipaddress` objects (vpp_papi converts them to vl_api_address_t / vl_api_prefix_t).

Pure functions, no VPP: the unit tests check them against the message definitions vppapigen
generates from upf.api and against vpp_papi's serializer.
"""

from __future__ import annotations

import hashlib
import ipaddress
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from pfcpd.datapath.interface import (
    DatapathError,
    DatapathEvent,
    DuplicateEncap,
    DuplicatingParameters,
    EventType,
    Far,
    IPAddress,
    IPNetwork,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
    Usage,
)

# upf.api enum upf_session_op
OP_CREATE, OP_MODIFY, OP_DELETE = 0, 1, 2
# VPP's retvals (src/vnet/error.h) for a session that exists / does not
ENTRY_ALREADY_EXISTS, NO_SUCH_ENTRY = -116, -6
# upf.api enum upf_rule_kind: (kind value, union arm name)
RULE_PDR, RULE_FAR, RULE_QER, RULE_URR, RULE_SDF, RULE_DUPL, RULE_BAR = range(7)
RULE_ARMS = ("pdr", "far", "qer", "urr", "sdf", "dupl", "bar")
# upf.api enum upf_if_role
ROLE_N3, ROLE_N6, ROLE_N9 = 0, 1, 2
# upf.api enumflag upf_sdf_flags
SDF_PROTO, SDF_REMOTE_PORT, SDF_UE_PORT, SDF_TOS, SDF_SPI, SDF_FLOW_LABEL = (
    0x01,
    0x02,
    0x04,
    0x08,
    0x10,
    0x20,
)
# remote / ue is a condition (an explicit 0.0.0.0/0 matches IPv4 only, as in the local core)
SDF_REMOTE_ADDR, SDF_UE_ADDR = 0x40, 0x80
# upf.api enumflag upf_urr_triggers
URR_VOLTH, URR_VOLQU, URR_TIMTH, URR_TIMQU = 0x01, 0x02, 0x04, 0x08
OHC_NONE, OHC_GTPU = 0, 1
NONE_U8 = 255  # outer_header_removal / dscp "none"
# Limits of the .api's fixed arrays and index widths.
MAX_QER_PER_PDR, MAX_URR_PER_PDR = 2, 4
MAX_U8, MAX_U16, MAX_U32, MAX_U64 = 0xFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
ALL_SESSIONS = MAX_U64  # upf_session_dump seid "all"


def _rule(kind: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "r": {RULE_ARMS[kind]: body}}


def _check(what: str, value: int, limit: int) -> int:
    """For u8/u16 fields, whose overflow a PFCP value can cause (u32/u64 ones are as wide as
    their IEs: the serializer's struct refuses the impossible rest)."""
    if not 0 <= value <= limit:
        raise DatapathError(f"{what} {value} out of range (0-{limit})")
    return value


def _padded(ids: tuple[int, ...], n: int, what: str) -> list[int]:
    if len(ids) > n:
        raise DatapathError(f"{what}: at most {n}, got {len(ids)}")
    if 0 in ids:
        raise DatapathError(f"{what}: id 0 cannot be sent (0 marks an unused slot)")
    return [*ids, *([0] * (n - len(ids)))]


def _any(version: int) -> IPNetwork:
    return ipaddress.ip_network("::/0" if version == 6 else "0.0.0.0/0")


def sdf_rule(f: SdfFilter, version: int) -> dict[str, Any]:
    """``version``: the family of an "any" (absent) address, which the .api's prefix
    carries anyway (length 0)."""
    flags = 0
    body: dict[str, Any] = {}
    if f.protocol is not None:
        flags |= SDF_PROTO
        body["proto"] = _check("SDF protocol", f.protocol, MAX_U8)
    fam = (f.remote or f.ue).version if (f.remote or f.ue) is not None else version  # type: ignore[union-attr]
    body["remote"] = f.remote if f.remote is not None else _any(fam)
    body["ue"] = f.ue if f.ue is not None else _any(fam)
    if f.remote is not None:
        flags |= SDF_REMOTE_ADDR
    if f.ue is not None:
        flags |= SDF_UE_ADDR
    if f.remote_ports is not None:
        flags |= SDF_REMOTE_PORT
        body["remote_port_lo"], body["remote_port_hi"] = f.remote_ports
    if f.ue_ports is not None:
        flags |= SDF_UE_PORT
        body["ue_port_lo"], body["ue_port_hi"] = f.ue_ports
    if f.tos is not None:
        flags |= SDF_TOS
        body["tos"], body["tos_mask"] = f.tos
    if f.spi is not None:
        flags |= SDF_SPI
        body["spi"] = f.spi
    if f.flow_label is not None:
        flags |= SDF_FLOW_LABEL
        body["flow_label"] = f.flow_label
    body["flags"] = flags
    return _rule(RULE_SDF, body)


def pdr_rule(p: Pdr, sdf_first: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pdr_id": p.pdr_id,
        "precedence": p.precedence,
        "source_interface": int(p.source_interface),
        "has_fteid": p.local_fteid is not None,
        "has_ue_ip": p.ue_ip is not None,
        "has_qfi": p.qfi is not None,
        "qfi": p.qfi or 0,
        "outer_header_removal": NONE_U8
        if p.outer_header_removal is None
        else _check("outer header removal", p.outer_header_removal, NONE_U8 - 1),
        "network_instance": _check("network instance", p.network_instance, MAX_U16),
        "far_id": p.far_id,
        "qer_ids": _padded(p.qer_ids, MAX_QER_PER_PDR, f"PDR {p.pdr_id} QERs"),
        "urr_ids": _padded(p.urr_ids, MAX_URR_PER_PDR, f"PDR {p.pdr_id} URRs"),
        "sdf_first": _check("SDF filters", sdf_first, MAX_U16),
        "sdf_count": _check("SDF filters of a PDR", len(p.sdf_filters), MAX_U16),
    }
    if p.local_fteid is not None:
        body["fteid_addr"], body["teid"] = p.local_fteid
    if p.ue_ip is not None:
        body["ue_ip"] = p.ue_ip
    return _rule(RULE_PDR, body)


def dupl_rule(far_id: int, d: DuplicatingParameters) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination_interface": int(d.destination_interface),
        "ohc": int(d.encap),
        "pdu_session_container": d.pdu_session_container,
        "dscp": NONE_U8 if d.dscp is None else _check("DSCP", d.dscp, 63),
        "port": _check("duplication port", d.port, MAX_U16),
        "forwarding_policy": _check("forwarding policy", d.forwarding_policy, MAX_U16),
        "teid": d.teid,
    }
    if d.encap != DuplicateEncap.NONE:
        if d.peer is None or d.source is None:
            raise DatapathError(
                f"FAR {far_id}: duplicating parameters need peer and source", (1, far_id)
            )
        body["peer"], body["src"] = d.peer, d.source
    return _rule(RULE_DUPL, body)


def far_rule(f: Far, dupl_first: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "far_id": f.far_id,
        "apply_action": int(f.apply_action),
        "destination_interface": int(f.destination_interface),
        "network_instance": _check("network instance", f.network_instance, MAX_U16),
        "ohc": OHC_NONE,
        "pdu_session_container": f.pdu_session_container,
        "dscp": NONE_U8 if f.dscp is None else _check("DSCP", f.dscp, 63),
        "redirect_type": 0,
        "dupl_first": _check("duplicating parameters", dupl_first, MAX_U16),
        "dupl_count": _check("duplicating parameters of a FAR", len(f.duplicating), MAX_U8),
    }
    if f.outer_header_creation is not None:
        if f.ohc_source is None:
            raise DatapathError(
                f"FAR {f.far_id}: outer header creation needs ohc_source", (1, f.far_id)
            )
        peer, teid = f.outer_header_creation
        body["ohc"], body["ohc_teid"] = OHC_GTPU, teid
        body["ohc_peer"], body["ohc_src"] = peer, f.ohc_source
    if f.redirect is not None:
        kind, server = f.redirect
        body["redirect_type"] = _check("redirect address type", kind, MAX_U8 - 1) + 1
        if kind in (0, 1):  # IPv4 / IPv6: an address the datapath rewrites to
            want = 4 if kind == 0 else 6
            if isinstance(server, str) or server.version != want:
                raise DatapathError(
                    f"FAR {f.far_id}: redirect type {kind} needs an IPv{want} address",
                    (1, f.far_id),
                )
            body["redirect_addr"] = server
    return _rule(RULE_FAR, body)


def qer_rule(q: Qer) -> dict[str, Any]:
    return _rule(
        RULE_QER,
        {
            "qer_id": q.qer_id,
            "gate_ul_closed": not q.gate_ul_open,
            "gate_dl_closed": not q.gate_dl_open,
            "qfi": _check("QFI", q.qfi or 0, 63),
            "rqi": q.rqi,
            "burst_bytes": q.burst_bytes,
            "mbr_ul": q.mbr_ul,
            "mbr_dl": q.mbr_dl,
            "gbr_ul": q.gbr_ul,
            "gbr_dl": q.gbr_dl,
            "ppi": 255 if q.ppi is None else _check("PPI", q.ppi, 7),
        },
    )


def urr_rule(u: Urr) -> dict[str, Any]:
    triggers = 0
    if u.volume_threshold:
        triggers |= URR_VOLTH
    if u.volume_quota:
        triggers |= URR_VOLQU
    if u.time_threshold_ns:
        triggers |= URR_TIMTH
    if u.time_quota_ns:
        triggers |= URR_TIMQU
    return _rule(
        RULE_URR,
        {
            "urr_id": u.urr_id,
            "triggers": triggers,
            "drop_on_quota": u.drop_on_quota,
            "before_qos": u.before_qos,
            "measurement_method": 0,
            "vol_threshold": list(u.volume_threshold or (0, 0, 0)),
            "vol_quota": list(u.volume_quota or (0, 0, 0)),
            "time_threshold_ns": u.time_threshold_ns,
            "time_quota_ns": u.time_quota_ns,
            "time_quota_grant": u.time_quota_grant,
        },
    )


def program_rules(program: SessionProgram) -> list[dict[str, Any]]:
    """The program as the .api's tagged rules (PDRs, their SDFs, FARs, their DUPLs, QERs,
    URRs, BAR). Raises DatapathError for what the message cannot carry."""
    rules: list[dict[str, Any]] = []
    n_sdf = 0
    for p in program.pdrs:
        version = p.ue_ip.version if p.ue_ip is not None else 4
        rules.append(pdr_rule(p, n_sdf))
        rules.extend(sdf_rule(f, version) for f in p.sdf_filters)
        n_sdf += len(p.sdf_filters)
    n_dupl = 0
    for f in program.fars:
        rules.append(far_rule(f, n_dupl))
        rules.extend(dupl_rule(f.far_id, d) for d in f.duplicating)
        n_dupl += len(f.duplicating)
    rules.extend(qer_rule(q) for q in program.qers)
    rules.extend(urr_rule(u) for u in program.urrs)
    if program.bar is not None:
        b = program.bar
        rules.append(
            _rule(
                RULE_BAR,
                {
                    "bar_id": b.bar_id,
                    "max_pkts": _check("BAR packets", b.max_packets, MAX_U16),
                    "max_bytes": b.max_bytes,
                    "duration_ns": b.duration_ns,
                    "duration_grant": b.duration_grant,
                },
            )
        )
    return rules


def program_cookie(rules: list[dict[str, Any]]) -> int:
    """A 64-bit digest of the rules: the session's cookie in VPP. After a pfcpd restart a
    session whose cookie matches the journaled program needs no reprogramming. (With the
    precompiled packer the digest is of the packed rules: `bytes_cookie`.)"""
    return bytes_cookie(repr(rules).encode())


def bytes_cookie(packed_rules: bytes) -> int:
    """The cookie of rules packed as sent (`wire.SessionPacker.rules`)."""
    return int.from_bytes(hashlib.blake2b(packed_rules, digest_size=8).digest(), "big")


def session_message(
    seid: int, op: int, program: SessionProgram | None, send_end_marker: bool = False
) -> dict[str, Any]:
    """upf_session_add_del's arguments (client_index, context: vpp_papi's)."""
    _check("SEID", seid, MAX_U64)
    rules = program_rules(program) if program is not None and op != OP_DELETE else []
    return {
        "seid": seid,
        "op": op,
        "send_end_marker": send_end_marker and op == OP_MODIFY,
        "cookie": program_cookie(rules) if rules else 0,
        "n_rules": len(rules),
        "rules": rules,
    }


def _field(record: object, name: str) -> Any:
    if isinstance(record, Mapping):
        return record[name]
    return getattr(record, name)


def _field_or(record: object, name: str, default: int) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


# vl_api_upf_usage_t's fields, in the order of Usage's
USAGE_FIELDS = (
    "urr_id",
    "bytes_total",
    "bytes_ul",
    "bytes_dl",
    "pkts_total",
    "pkts_ul",
    "pkts_dl",
    "dropped_dl_pkts",
    "dropped_dl_bytes",
    "first_ns",
    "last_ns",
)
_usage_fields = operator.attrgetter(*USAGE_FIELDS)


def usage_of(record: object) -> Usage:
    """A vl_api_upf_usage_t (as vpp_papi returns it: a namedtuple; or a dict)."""
    values: Iterable[Any]
    if isinstance(record, Mapping):
        values = [record[name] for name in USAGE_FIELDS]
    else:
        values = _usage_fields(record)
    return Usage(*map(int, values))


def usages_of(reply: object) -> dict[int, Usage]:
    """URR id -> Usage of a reply carrying ``usage[n_usage]``."""
    out = {}
    for record in _field(reply, "usage"):
        u = usage_of(record)
        out[u.urr_id] = u
    return out


def events_of(message: object) -> tuple[list[DatapathEvent], int]:
    """The DatapathEvents of a ``upf_event`` message, and how many records had a type this
    pfcpd does not know (skipped; the caller counts them)."""
    out: list[DatapathEvent] = []
    unknown = 0
    for record in _records(message):
        try:
            kind = EventType(int(_field(record, "type")))
        except ValueError:
            unknown += 1
            continue
        out.append(
            DatapathEvent(
                type=kind,
                seid=int(_field(record, "seid")),
                id=int(_field(record, "id")),
                value=int(_field(record, "value")),
                time_ns=int(_field_or(record, "time_ns", 0)),
                peer=_event_peer(record),
            )
        )
    return out, unknown


def _event_peer(record: object) -> IPAddress | None:
    """An event record's GTP-U Peer Address (an Error Indication's: ``has_peer`` and
    ``peer``, which vpp_papi gives as an ``ipaddress`` object), None without one."""
    if not _field_or(record, "has_peer", False):
        return None
    peer = _field(record, "peer")
    if isinstance(peer, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return peer
    return ipaddress.ip_address(peer)


def _records(message: object) -> Iterable[object]:
    records = _field(message, "records")
    return records if isinstance(records, list | tuple) else ()

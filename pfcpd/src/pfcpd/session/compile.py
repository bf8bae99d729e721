"""A session's rules (PFCP groups) compiled into the datapath's :class:`SessionProgram`.

Everything a datapath cannot do is refused here with cause 73 and the Failed Rule ID, so a
program that compiles is one the datapath is asked to install. A PDR whose UE IP Address
carries both an IPv4 and an IPv6 address (dual stack) becomes two datapath PDRs: the IPv6
one has ID ``pdr_id | DUAL_STACK_BIT`` (PFCP PDR IDs are 16 bits; :func:`pfcp_pdr_id` maps
back).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple, TypeVar

from ..datapath.interface import (
    ApplyAction,
    Bar,
    Far,
    Interface,
    IPAddress,
    IPNetwork,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)
from ..pfcp import IE, Cause, Grouped, IEType, ie_type_name
from ..pfcp.ies_address import (
    FTEID,
    OHC_GTPU_UDP_IPV4,
    OHC_GTPU_UDP_IPV6,
    OuterHeaderCreation,
    UEIPAddress,
)
from ..pfcp.ies_flags import ApplyAction as ApplyActionIE
from ..pfcp.ies_flags import MeasurementInformation, ReportingTriggers
from ..pfcp.ies_scalar import PagingPolicyIndicator, TimerIE
from ..pfcp.ies_text import ApplicationID, NetworkInstance
from ..pfcp.ies_traffic import (
    GATE_OPEN,
    RULE_ID_FAR,
    RULE_ID_PDR,
    RULE_ID_QER,
    RULE_ID_URR,
    BitRateIE,
    GateStatus,
    RedirectInformation,
    SDFFilter,
    TransportLevelMarking,
    VolumeIE,
)
from .addresses import shared_address, shared_network
from .errors import RuleError
from .flow_description import (
    MAX_FILTERS,
    FlowDescriptionError,
    filters_or_refusal,
    parse_flow_description,
)
from .frozen import new_far, new_pdr
from .rules import RuleSet, ie_value
from .sdf_intersection import intersections
from .shapes import far_shape
from .stored import StoredLayout, leaf
from .usage import engine_meters_time

T = IEType
DUAL_STACK_BIT = 0x10000
NS = 1_000_000_000
_APPLY_ACTION_MASK = 0x1F  # DROP FORW BUFF NOCP DUPL: what the datapath implements
# Enum members by value, looked up by index (calling an enum class costs ~1 us a value, and
# `&` with a flag member runs Python code): interfaces 0..VN_INTERNAL, apply actions by
# their 5 flag bits.
_INTERFACES = tuple(Interface)
# Source interfaces a PDR's local F-TEID is refused with (GTP-U is received into a session
# from the access, the core and the CP function only).
_NO_TUNNEL = (Interface.SGI_LAN, Interface.VN_INTERNAL)
assert all(i == value for i, value in enumerate(_INTERFACES))
_APPLY_ACTIONS = tuple(ApplyAction(flags) for flags in range(_APPLY_ACTION_MASK + 1))
_DUPL, _FORW = int(ApplyAction.DUPL), int(ApplyAction.FORW)


# What a PFCP PDR compiles to but its local F-TEID and UE address (`pdr_common`): the
# values of these Pdr fields, in this order, which `add_pdrs` passes by position.
_Common = tuple[
    int,
    Interface,
    int,
    int,
    int | None,
    tuple[SdfFilter, ...],
    int | None,
    tuple[int, ...],
    tuple[int, ...],
]
_PDR_FIELDS = [
    "pdr_id",
    "precedence",
    "source_interface",
    "far_id",
    "local_fteid",
    "ue_ip",
    "network_instance",
    "qfi",
    "sdf_filters",
    "outer_header_removal",
    "qer_ids",
    "urr_ids",
]
assert [f.name for f in dataclasses.fields(Pdr)] == _PDR_FIELDS, "Pdr's fields changed"


def pfcp_pdr_id(datapath_pdr_id: int) -> int:
    return datapath_pdr_id & 0xFFFF


@dataclass(frozen=True)
class CompileContext:
    n3_address: IPAddress
    network_instance_index: dict[str, int]
    # Application ID -> flow descriptions of its PFDs (None: no PFD known for it)
    application_flows: Callable[[str], tuple[str, ...] | None]
    # FARs, QERs and URRs compiled, by their group's TLV octets (`compile_program`'s
    # ``encoded``): sessions of one shape repeat them (an uplink FAR, a QER, a URR), and
    # what they compile to depends on those octets and this context only.
    # The PDRs' common part too (`compile_pdrs`), by the octets the CP sent.
    compiled: dict[bytes, Far | Qer | Urr | _Common] = field(default_factory=dict, compare=False)
    # The N3 address is IPv4 (``n3_address.version`` is a property: a Python call per read).
    n3_v4: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n3_v4", self.n3_address.version == 4)


def network_instance_name(group: Grouped) -> str | None:
    ni = group.get(T.NETWORK_INSTANCE)
    return ni.name if isinstance(ni, NetworkInstance) else None


def _fail(rule_type: int, rid: int, detail: str) -> RuleError:
    return RuleError(Cause.RULE_CREATION_MODIFICATION_FAILURE, detail, failed_rule=(rule_type, rid))


def _instance(ctx: CompileContext, group: Grouped, rule_type: int, rid: int) -> int:
    name = network_instance_name(group)
    if name is None:
        return 0
    index = ctx.network_instance_index.get(name)
    if index is None:
        raise _fail(rule_type, rid, f"network instance {name!r} is not configured")
    return index


# A PDR's SDF filters times its application's flows, at most: each pair is intersected
# (`_sdf_filters`), for each session naming the application at each PFD change.
MAX_PAIRS = MAX_FILTERS * MAX_FILTERS


def _sdf_filters(ctx: CompileContext, pdi: Grouped, pdr_id: int) -> tuple[SdfFilter, ...] | None:
    """The PDI's SDF filters; with an Application ID, its application's flows, or with SDF
    filters too the intersections of each SDF filter with each flow (a packet matches the
    PDI when it matches one SDF filter and one flow: TS 29.244 5.2.1). None when it detects
    no traffic: its application is known with no PFDs (removed), or no SDF filter meets one
    of its flows. (Not an empty tuple: a PDR with no SDF filter matches every packet of its
    PDI.)"""
    out = _own_filters(pdi, pdr_id)
    app = pdi.get(T.APPLICATION_ID)
    if isinstance(app, ApplicationID):
        flows = _application_flows(ctx, app, pdr_id)
        if out:
            if len(out) * len(flows) > MAX_PAIRS:  # (bounds the compile's time)
                raise _fail(
                    RULE_ID_PDR,
                    pdr_id,
                    f"PDR {pdr_id}: {len(out)} SDF filters against {len(flows)} application"
                    f" flows, more than {MAX_PAIRS} pairs to intersect",
                )
            flows = intersections(out, flows, MAX_FILTERS)
        if not flows:
            return None
        out = flows
    if len(out) > MAX_FILTERS:
        raise _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: more than {MAX_FILTERS} SDF filters")
    return tuple(out)


def _own_filters(pdi: Grouped, pdr_id: int) -> list[SdfFilter]:
    """The filters of the PDI's SDF Filter IEs (empty: it has none)."""
    out: list[SdfFilter] = []
    for ie in pdi.get_all(T.SDF_FILTER):
        assert isinstance(ie, SDFFilter)
        base = SdfFilter()
        if ie.flow_description is not None:
            parsed = filters_or_refusal(
                ie.flow_description,
                f"PDR {pdr_id}",
                T.SDF_FILTER,
                lambda e: _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: SDF filter {e}"),
            )
        else:
            parsed = (base,)
        extra: dict[str, object] = {}
        if ie.tos_traffic_class is not None:
            extra["tos"] = (ie.tos_traffic_class >> 8, ie.tos_traffic_class & 0xFF)
        if ie.spi is not None:
            extra["spi"] = ie.spi
        if ie.flow_label is not None:
            extra["flow_label"] = ie.flow_label
        for f in parsed:
            out.append(_replace(f, extra) if extra else f)
    return out


def _application_flows(ctx: CompileContext, app: ApplicationID, pdr_id: int) -> list[SdfFilter]:
    """The filters of the flow descriptions of the application's PFDs (empty: it is known
    with none). Refused (81) when it was never provisioned."""
    flows = ctx.application_flows(app.text)
    if flows is None:
        raise RuleError(
            Cause.UNKNOWN_APPLICATION_ID,
            f"PDR {pdr_id}: no PFD for application {app.text!r}",
            offending_ie=T.APPLICATION_ID,
        )
    out: list[SdfFilter] = []
    for text in flows:
        try:
            out.extend(parse_flow_description(text))
        except FlowDescriptionError as e:
            raise _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: application flow: {e}") from e
    return out


def _replace(f: SdfFilter, extra: dict[str, object]) -> SdfFilter:
    import dataclasses

    return dataclasses.replace(f, **extra)  # type: ignore[arg-type]


def ue_networks(ue: UEIPAddress) -> list[IPNetwork]:
    nets: list[IPNetwork] = []
    if ue.ipv4 is not None:
        nets.append(shared_network(ue.ipv4, 32))
    if ue.ipv6 is not None:
        # TS 29.244 8.2.62: the IPv6 Prefix Length (IP6PL), else /64 less the IPv6 Prefix
        # Delegation Bits (IPv6D: a /56 is 8), else /64
        plen = ue.ipv6_prefix_length
        if plen is None:
            plen = 64 - min(ue.ipv6_prefix_delegation_bits or 0, 64)
        nets.append(shared_network(ue.ipv6, plen))
    return nets


def local_fteid(ctx: CompileContext, fteid: FTEID) -> tuple[IPAddress, int] | None:
    if fteid.teid is None:
        return None
    addr = fteid.ipv4 if ctx.n3_v4 else fteid.ipv6
    addr = addr or fteid.ipv4 or fteid.ipv6
    assert addr is not None
    return (shared_address(addr), fteid.teid)


# PDI conditions the datapath cannot match: a PDR with one is refused, not installed with
# a broader match than the CP asked for.
UNSUPPORTED_PDI = frozenset(
    {
        T.TRAFFIC_ENDPOINT_ID,
        T.ETHERNET_PACKET_FILTER,
        T.ETHERNET_PDU_SESSION_INFORMATION,
        T.FRAMED_ROUTE,
        T.FRAMED_ROUTING,
        T.FRAMED_IPV6_ROUTE,
        T.IP_MULTICAST_ADDRESSING_INFO,
        T.DNS_QUERY_FILTER,
        T.MBS_SESSION_IDENTIFIER,
        T.REDUNDANT_TRANSMISSION_DETECTION_PARAMETERS,
    }
)


def _first(group: Grouped) -> dict[int, IE]:
    """The first child of each type (one pass, then a lookup per type asked for)."""
    out: dict[int, IE] = {}
    for child in group.ies:
        out.setdefault(child.type, child)
    return out


def _int(first: dict[int, IE], ie_type: int) -> int | None:
    """`ie_value` over `_first`'s index."""
    ie = first.get(ie_type)
    return None if ie is None else int(ie.value)  # type: ignore[attr-defined]


class Chosen(NamedTuple):
    """A PDR's shape (see `compile_pdrs`) with its PDI's F-TEID and UE IP Address (the
    first of each, None for none), when whoever filled them in knows them."""

    shape: bytes
    fteid: IE | None
    ue: IE | None


def compile_pdrs(
    ctx: CompileContext, rules: RuleSet, shapes: Mapping[int, bytes | Chosen] | None = None
) -> list[Pdr]:
    """``shapes``: id(PDR group) -> the octets of the PDR as the CP sent it (or a
    `Chosen`), for the PDRs that differ from it only by the F-TEID and UE IP Address the UP
    function chose (see `SessionEngine._allocate`): what the rest compiles to is kept in
    ``ctx.compiled`` by those octets, which sessions of one shape share."""
    out: list[Pdr] = []
    memo = ctx.compiled
    for pdr_id, g in rules.pdr.items():
        entry = shapes.get(id(g)) if shapes else None
        key = entry.shape if type(entry) is Chosen else entry
        common = memo.get(key) if key is not None else None  # type: ignore[arg-type]
        if common is None:
            made, fteid, ue, same = pdr_common(ctx, pdr_id, g)
            if made is None:  # (detects no traffic: left out of the program)
                continue
            common = made
            if key is not None and same:
                if len(memo) >= COMPILED_ENTRIES:
                    memo.clear()
                memo[key] = common  # type: ignore[index]
        elif type(entry) is Chosen:
            fteid, ue = entry.fteid, entry.ue
        else:
            fteid = ue = None
            for c in _pdi(g).ies:
                if isinstance(c, FTEID):
                    fteid = fteid or c
                elif isinstance(c, UEIPAddress):
                    ue = ue or c
        add_pdrs(ctx, out, pdr_id, common, fteid, ue)  # type: ignore[arg-type]
    return out


def _pdi(g: Grouped) -> Grouped:
    pdi = g.get(T.PDI)
    assert isinstance(pdi, Grouped)
    return pdi


def add_pdrs(
    ctx: CompileContext,
    out: list[Pdr],
    pdr_id: int,
    common: _Common,
    fteid: IE | None,
    ue: IE | None,
) -> None:
    """The datapath PDRs of PFCP PDR ``pdr_id``: ``common`` (`pdr_common`) with its local
    F-TEID and UE address (two PDRs for a dual-stack address)."""
    local = local_fteid(ctx, fteid) if isinstance(fteid, FTEID) else None
    prec, source, far_id, instance, qfi, sdf, ohr, qers, urrs = common
    # (positional: `_PDR_FIELDS`; keywords and a dict cost a third more)
    if isinstance(ue, UEIPAddress):
        v4 = ue.ipv4
        if v4 is not None and ue.ipv6 is None:  # (the usual: `ue_networks` inline, no loop)
            net = shared_network(v4, 32)
            out.append(
                new_pdr(
                    pdr_id, prec, source, far_id, local, net, instance, qfi, sdf, ohr, qers, urrs
                )
            )
            return
        nets = ue_networks(ue)
    else:
        nets = []
    if not nets:
        out.append(
            new_pdr(pdr_id, prec, source, far_id, local, None, instance, qfi, sdf, ohr, qers, urrs)
        )
    for i, net in enumerate(nets):
        pid = pdr_id | (DUAL_STACK_BIT if i else 0)
        out.append(
            new_pdr(pid, prec, source, far_id, local, net, instance, qfi, sdf, ohr, qers, urrs)
        )


def pdr_common(
    ctx: CompileContext, pdr_id: int, g: Grouped
) -> tuple[_Common | None, IE | None, IE | None, bool]:
    """What PDR ``pdr_id`` compiles to but its local F-TEID and UE address, its F-TEID and
    UE IP Address IEs (or None), and whether that part depends on its octets and the
    context only (not when it names an Application ID: its PFDs change). None for that
    part when the PDR detects no traffic (`_sdf_filters`: its application is known with no
    PFDs, or none of its SDF filters meets one of its application's flows): the datapath
    program leaves it out, the session keeps it (its Created PDR, its rules)."""
    first = _first(g)
    pdi = first.get(T.PDI)
    assert isinstance(pdi, Grouped)
    if T.ACTIVATE_PREDEFINED_RULES in first:  # none is configured here
        raise RuleError(
            Cause.UNKNOWN_PRE_DEFINED_RULE,
            f"PDR {pdr_id}: pre-defined rules are not configured",
            offending_ie=T.ACTIVATE_PREDEFINED_RULES,
        )
    for timed in (T.ACTIVATION_TIME, T.DEACTIVATION_TIME):
        if timed in first:
            raise _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: {ie_type_name(timed)} unsupported")
    in_pdi = _first(pdi)
    unsupported = [ie.type for ie in pdi.ies if ie.type in UNSUPPORTED_PDI]
    if unsupported:
        raise _fail(
            RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: PDI {ie_type_name(unsupported[0])} unsupported"
        )
    far_id = _int(first, T.FAR_ID)
    if far_id is None:
        raise RuleError(
            Cause.CONDITIONAL_IE_MISSING, f"PDR {pdr_id} without FAR ID", offending_ie=T.FAR_ID
        )
    ohr = first.get(T.OUTER_HEADER_REMOVAL)
    qers = tuple(int(q.value) for q in g.get_all(T.QER_ID))  # type: ignore[attr-defined]
    urrs = tuple(int(u.value) for u in g.get_all(T.URR_ID))  # type: ignore[attr-defined]
    if len(qers) > 2 or len(urrs) > 4:
        raise _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: at most 2 QERs and 4 URRs")
    precedence = _int(first, T.PRECEDENCE) or 0
    source = _INTERFACES[_interface(_int(in_pdi, T.SOURCE_INTERFACE), pdr_id)]
    if source in _NO_TUNNEL and T.F_TEID in in_pdi:
        # GTP-U is received into a session from the access (uplink), the core (N9 downlink)
        # and the CP function (the data it buffered): `_check_gtpu_downlink`
        raise _fail(
            RULE_ID_PDR,
            pdr_id,
            f"PDR {pdr_id}: a local F-TEID with source interface {source.name}: GTP-U is"
            " received for Access, Core and CP-function PDRs only",
        )
    instance = _instance(ctx, pdi, RULE_ID_PDR, pdr_id)
    qfi = _int(in_pdi, T.QFI)
    same = T.APPLICATION_ID not in in_pdi
    sdf = _sdf_filters(ctx, pdi, pdr_id) if T.SDF_FILTER in in_pdi or not same else ()
    common: _Common | None = (
        None
        if sdf is None
        else (
            precedence,
            source,
            far_id,
            instance,
            qfi,
            sdf,
            ohr.description if ohr is not None else None,  # type: ignore[attr-defined]
            qers,
            urrs,
        )
    )
    return common, in_pdi.get(T.F_TEID), in_pdi.get(T.UE_IP_ADDRESS), same


def _interface(value: int | None, pdr_id: int) -> int:
    if value is None or value > Interface.VN_INTERNAL:
        raise _fail(RULE_ID_PDR, pdr_id, f"PDR {pdr_id}: source interface {value} unsupported")
    return value


def compile_far(ctx: CompileContext, far_id: int, g: Grouped) -> Far:
    action = g.get(T.APPLY_ACTION)
    # (its values checked on requests: `rules.check_far_values`; a rule a session kept
    # from before compiles as it was accepted)
    flags = action.flags & _APPLY_ACTION_MASK if isinstance(action, ApplyActionIE) else 0
    if flags & _DUPL:
        raise _fail(RULE_ID_FAR, far_id, f"FAR {far_id}: duplicating is not supported")
    fp = g.get(T.FORWARDING_PARAMETERS)
    kwargs: dict[str, object] = {}
    if isinstance(fp, Grouped):
        if fp.get(T.FORWARDING_POLICY) is not None:  # none is configured here
            raise RuleError(
                Cause.INVALID_FORWARDING_POLICY,
                f"FAR {far_id}: forwarding policies are not configured",
                failed_rule=(RULE_ID_FAR, far_id),
            )
        for unsupported in (T.HEADER_ENRICHMENT, T.PROXYING):
            if fp.get(unsupported) is not None:
                name = ie_type_name(unsupported)
                raise _fail(RULE_ID_FAR, far_id, f"FAR {far_id}: {name} unsupported")
        dest = ie_value(fp, T.DESTINATION_INTERFACE)
        if dest is None or dest > Interface.VN_INTERNAL:
            raise _fail(RULE_ID_FAR, far_id, f"FAR {far_id}: destination interface {dest}")
        kwargs["destination_interface"] = _INTERFACES[dest]
        kwargs["network_instance"] = _instance(ctx, fp, RULE_ID_FAR, far_id)
        ohc = fp.get(T.OUTER_HEADER_CREATION)
        if isinstance(ohc, OuterHeaderCreation):
            kwargs["outer_header_creation"] = _ohc(ctx, far_id, ohc)
            kwargs["ohc_source"] = ctx.n3_address
        tlm = fp.get(T.TRANSPORT_LEVEL_MARKING)
        if isinstance(tlm, TransportLevelMarking):
            kwargs["dscp"] = (tlm.tos_traffic_class >> 8) >> 2
        redirect = fp.get(T.REDIRECT_INFORMATION)
        if isinstance(redirect, RedirectInformation):
            # (a URL or SIP URI is refused on requests, `rules.check_far_values`: a session
            # kept from before has it reported only)
            server: IPAddress | str = redirect.server_address
            if redirect.address_type in (0, 1):
                try:
                    server = ipaddress.ip_address(redirect.server_address)
                except ValueError as e:
                    raise _fail(RULE_ID_FAR, far_id, f"FAR {far_id}: redirect {e}") from e
            kwargs["redirect"] = (redirect.address_type, server)
    elif flags & _FORW:
        raise RuleError(
            Cause.CONDITIONAL_IE_MISSING,
            f"FAR {far_id} forwards without Forwarding Parameters",
            offending_ie=T.FORWARDING_PARAMETERS,
        )
    return Far(far_id=far_id, apply_action=_APPLY_ACTIONS[flags], **kwargs)  # type: ignore[arg-type]


def _ohc(ctx: CompileContext, far_id: int, ohc: OuterHeaderCreation) -> tuple[IPAddress, int]:
    want_v4 = ctx.n3_v4
    if ohc.teid is None or not ohc.description & (OHC_GTPU_UDP_IPV4 | OHC_GTPU_UDP_IPV6):
        raise _fail(RULE_ID_FAR, far_id, f"FAR {far_id}: only GTP-U outer header creation")
    addr = ohc.ipv4 if want_v4 else ohc.ipv6
    if addr is None:
        raise _fail(
            RULE_ID_FAR,
            far_id,
            f"FAR {far_id}: outer header creation has no IPv{4 if want_v4 else 6} peer"
            " (the N3 address's family)",
        )
    return (shared_address(addr), ohc.teid)


def compile_qer(qer_id: int, g: Grouped) -> Qer:
    gate = g.get(T.GATE_STATUS)
    mbr = g.get(T.MBR)
    gbr = g.get(T.GBR)
    rqi = g.get(T.RQI)
    ppi = g.get(T.PAGING_POLICY_INDICATOR)
    kwargs: dict[str, object] = {}
    if isinstance(gate, GateStatus):
        kwargs["gate_ul_open"] = gate.ul == GATE_OPEN
        kwargs["gate_dl_open"] = gate.dl == GATE_OPEN
    if isinstance(mbr, BitRateIE):
        kwargs["mbr_ul"], kwargs["mbr_dl"] = mbr.ul * 1000, mbr.dl * 1000
    if isinstance(gbr, BitRateIE):
        kwargs["gbr_ul"], kwargs["gbr_dl"] = gbr.ul * 1000, gbr.dl * 1000
    if rqi is not None:
        kwargs["rqi"] = bool(rqi.flags & 1)  # type: ignore[attr-defined]
    if isinstance(ppi, PagingPolicyIndicator):
        kwargs["ppi"] = ppi.value
    return Qer(qer_id=qer_id, qfi=ie_value(g, T.QFI), **kwargs)  # type: ignore[arg-type]


Volumes = tuple[int, int, int]  # bytes total, UL, DL
NO_OFFSET: tuple[Volumes, Volumes] = ((0, 0, 0), (0, 0, 0))


def _volume(ie: object, offset: Volumes = (0, 0, 0)) -> Volumes | None:
    """A threshold or quota IE as the datapath's (total, UL, DL), less what was already
    counted elsewhere (``offset``): a set value stays set (at least 1)."""
    if not isinstance(ie, VolumeIE):
        return None
    values = (ie.total or 0, ie.ul or 0, ie.dl or 0)
    return tuple(max(1, v - o) if v else 0 for v, o in zip(values, offset, strict=True))  # type: ignore[return-value]


def compile_urr(urr_id: int, g: Grouped, offsets: tuple[Volumes, Volumes] = NO_OFFSET) -> Urr:
    """``offsets``: bytes already counted towards the volume threshold (read from the
    datapath, not reported yet) and towards the volume quota (read since it was set)."""
    info = g.get(T.MEASUREMENT_INFORMATION)
    if isinstance(info, MeasurementInformation) and info.has("INAM"):
        return Urr(urr_id=urr_id)  # measurement paused: no threshold or quota applies
    trig = g.get(T.REPORTING_TRIGGERS)
    assert isinstance(trig, ReportingTriggers)
    kwargs: dict[str, object] = {}
    if isinstance(info, MeasurementInformation) and info.has("MBQE"):
        kwargs["before_qos"] = True
    if trig.has("VOLTH"):
        kwargs["volume_threshold"] = _volume(g.get(T.VOLUME_THRESHOLD), offsets[0])
    if trig.has("VOLQU") or g.get(T.VOLUME_QUOTA) is not None:
        kwargs["volume_quota"] = _volume(g.get(T.VOLUME_QUOTA), offsets[1])
    if engine_meters_time(g):  # the engine applies the time threshold and quota
        return Urr(urr_id=urr_id, **kwargs)  # type: ignore[arg-type]
    if trig.has("TIMTH"):
        kwargs["time_threshold_ns"] = (ie_value(g, T.TIME_THRESHOLD) or 0) * NS
    if trig.has("TIMQU") or g.get(T.TIME_QUOTA) is not None:
        kwargs["time_quota_ns"] = (ie_value(g, T.TIME_QUOTA) or 0) * NS
    return Urr(urr_id=urr_id, **kwargs)  # type: ignore[arg-type]


def quotas_used_up(
    urrs: Iterable[tuple[int, Grouped]], offsets: Mapping[int, tuple[Volumes, Volumes]]
) -> frozenset[int]:
    """The URRs of ``urrs`` whose volume quota is used up by what ``offsets`` count towards
    it (read from the datapath since the quota was granted). The datapath counts a quota
    from its own counts and, once they reach it, drops what the URR's PDRs would forward
    until the quota changes: a program given what is left of such a quota (at least 1
    octet, `_volume`), as a restart or a later change of the session installs, would
    forward the next packet and report the quota used up a second time. That traffic is
    dropped instead (`_blocked`) until the CP grants a new quota (which counts from then:
    no offset)."""
    out = []
    for urr_id, g in urrs:
        offset = offsets.get(urr_id)
        quota = g.get(T.VOLUME_QUOTA) if offset is not None else None
        if offset is None or not isinstance(quota, VolumeIE):
            continue
        info = g.get(T.MEASUREMENT_INFORMATION)
        if isinstance(info, MeasurementInformation) and info.has("INAM"):
            continue  # (measurement paused: no quota applies, `compile_urr`)
        values = (quota.total or 0, quota.ul or 0, quota.dl or 0)
        if any(v and used >= v for v, used in zip(values, offset[1], strict=True)):
            out.append(urr_id)
    return frozenset(out)


def volume_limits_reached(
    urr_id: int, g: Grouped, offsets: tuple[Volumes, Volumes], counted: Volumes
) -> list[str]:
    """The volume limits of the URR's rule ``g`` that ``counted`` (octets the datapath
    counted that no report took) reach, over the URR's ``offsets`` without them (octets
    counted towards its threshold elsewhere and consumed of its quota, `compile_urr`):
    "VOLTH" when they reach the threshold the datapath is given with those offsets (the
    condition of the datapath's own event), "VOLQU" when with the octets consumed they use
    up the quota those alone do not (the octets that used it up went into no report, whose
    trigger it would have been: TS 29.244 5.2.2.2.1, reported once). Only the limits of the
    rule's Reporting Triggers; none while the measurement is paused (INAM)."""
    trig = g.get(T.REPORTING_TRIGGERS)
    if not isinstance(trig, ReportingTriggers):
        return []
    urr = compile_urr(urr_id, g, offsets)
    out = []
    threshold = urr.volume_threshold
    if threshold is not None and any(t and c >= t for t, c in zip(threshold, counted, strict=True)):
        out.append("VOLTH")
    if urr.volume_quota is not None and trig.has("VOLQU"):
        consumed = offsets[1]
        used: Volumes = (
            consumed[0] + counted[0],
            consumed[1] + counted[1],
            consumed[2] + counted[2],
        )
        before = quotas_used_up([(urr_id, g)], {urr_id: ((0, 0, 0), consumed)})
        after = quotas_used_up([(urr_id, g)], {urr_id: ((0, 0, 0), used)})
        if after and not before:
            out.append("VOLQU")
    return out


def _blocked(
    pdrs: list[Pdr], fars: list[Far], urrs: frozenset[int], forwarding_only: bool = False
) -> tuple[list[Pdr], list[Far]]:
    """The PDRs measured by one of ``urrs`` point at a FAR of their own that drops (a FAR
    ID the rules do not use), so they stop forwarding (TS 29.244 5.2.2.2.1, VTIME);
    ``forwarding_only``: only those whose FAR forwards (neither buffers nor drops), as the
    datapath applies a URR's volume quota to what it forwards only (it buffers first)."""
    if forwarding_only:
        forwarding = {
            f.far_id
            for f in fars
            if f.apply_action & ApplyAction.FORW
            and not f.apply_action & (ApplyAction.BUFF | ApplyAction.DROP)
        }
        pdrs_of = [p for p in pdrs if p.far_id in forwarding]
    else:
        pdrs_of = pdrs
    if not any(urrs.intersection(p.urr_ids) for p in pdrs_of):
        return pdrs, fars
    used = {f.far_id for f in fars}
    drop_id = max(used, default=0) + 1
    if drop_id > 0xFFFFFFFF:
        drop_id = next(i for i in range(1, 0xFFFFFFFF) if i not in used)
    chosen = {id(p) for p in pdrs_of if urrs.intersection(p.urr_ids)}
    pdrs = [replace(p, far_id=drop_id) if id(p) in chosen else p for p in pdrs]
    return pdrs, [*fars, Far(far_id=drop_id, apply_action=ApplyAction.DROP)]


def compile_bar(bar_id: int, g: Grouped, duration_s: int | None, grant: int = 0) -> Bar:
    """The BAR ``g`` with the DL Buffering Duration the CP gave it (``duration_s``, from
    a Session Report Response's Update BAR) and that duration's grant (``grant``: how many
    times the CP gave it, `Session.bar_grant`): the datapath counts the duration from the
    install of a program of another grant, so that the same value given again (the next
    paging's answer) counts from that answer (TS 29.244 8.2.29)."""
    count = ie_value(g, T.SUGGESTED_BUFFERING_PACKETS_COUNT) or 0
    duration_ns = (duration_s or 0) * NS
    return Bar(
        bar_id=bar_id,
        max_packets=count,
        duration_ns=duration_ns,
        duration_grant=grant if duration_ns else 0,
    )


def dl_buffering_duration(timer: object) -> int | None:
    return timer.seconds if isinstance(timer, TimerIE) else None


COMPILED_ENTRIES = 4096  # bound of CompileContext.compiled (emptied when full)
_Rule = TypeVar("_Rule", Far, Qer, Urr)


def _memo(
    ctx: CompileContext,
    encoded: Mapping[int, bytes] | None,
    g: Grouped,
    compile_rule: Callable[[int, Grouped], _Rule],
    rid: int,
) -> _Rule:
    """``compile_rule(rid, g)``, or what it gave for a group of the same octets (a refusal
    is not kept: it is raised again each time)."""
    key = encoded.get(id(g)) if encoded is not None else None
    if key is None:
        return compile_rule(rid, g)
    memo = ctx.compiled
    got = memo.get(key)
    if got is None:
        got = compile_rule(rid, g)
        if _per_session(got):
            return got
        if len(memo) >= COMPILED_ENTRIES:
            memo.clear()
        memo[key] = got
    return got  # type: ignore[return-value]


def _per_session(rule: Far | Qer | Urr) -> bool:
    """A FAR creating an outer header names its peer's TEID, one per session: kept by its
    octets, it would only push out the rules sessions share (`_far` keeps it by shape)."""
    return isinstance(rule, Far) and rule.outer_header_creation is not None


# Keys of FARs kept by shape (`_far`): never the octets of a group (no IE type starts so).
FAR_SHAPE = b"\xff\xffshape"
_FAR_FIELDS = [
    "far_id",
    "apply_action",
    "destination_interface",
    "network_instance",
    "outer_header_creation",
    "ohc_source",
    "pdu_session_container",
    "dscp",
    "redirect",
    "duplicating",
]
assert [f.name for f in dataclasses.fields(Far)] == _FAR_FIELDS, "Far's fields changed"


def far_like(
    ctx: CompileContext, base: Far, g: Grouped, fid: int, at: tuple[int, int] | None = None
) -> Far:
    """FAR ``fid`` of a Create FAR group ``g`` whose `far_shape` is that of the group
    ``base`` was compiled from: ``base`` with ``g``'s outer header creation. ``at``: where
    that Outer Header Creation was in the group ``base`` was compiled from (the position
    of its first Forwarding Parameters among its children, of the IE among theirs): the
    one of ``g`` when it holds one there (its shape is that group's: nothing before it in
    ``g`` is an Outer Header Creation or Forwarding Parameters)."""
    return far_with(base, ohc_like(ctx, g, fid, at))


def ohc_like(
    ctx: CompileContext, g: Grouped, fid: int, at: tuple[int, int] | None = None
) -> tuple[IPAddress, int]:
    """The outer header creation (peer, TEID) of `far_like`'s FAR (``g``, ``fid``, ``at`` as
    there), with no FAR made."""
    if at is not None:
        fp_at, ohc_at = at
        try:  # (no len() checks: indexes from `ohc_position`, never below 0)
            fp = g.ies[fp_at]
            ohc = (
                fp.ies[ohc_at]
                if type(fp) is Grouped and fp.type == _FORWARDING_PARAMETERS
                else None
            )
        except IndexError:
            ohc = None
        if type(ohc) is OuterHeaderCreation:
            # (`_ohc`'s usual case inline, a GTP-U/IPv4 peer on an IPv4 N3: a call and ~30
            # opcodes fewer per establishment)
            if ohc.description == OHC_GTPU_UDP_IPV4 and ctx.n3_v4:
                teid, addr = ohc.teid, ohc.ipv4
                if teid is not None and addr is not None:
                    return (shared_address(addr), teid)
            return _ohc(ctx, fid, ohc)
    first = _first_ohc(g)
    assert first is not None  # (a group of that shape has one)
    return _ohc(ctx, fid, first)


_FORWARDING_PARAMETERS = int(T.FORWARDING_PARAMETERS)


def far_with(b: Far, ohc: tuple[IPAddress, int]) -> Far:
    """``b`` with the outer header creation ``ohc`` (`far_like` of what `ohc_like` gave)."""
    # (positional: `_FAR_FIELDS`)
    return new_far(
        b.far_id,
        b.apply_action,
        b.destination_interface,
        b.network_instance,
        ohc,
        b.ohc_source,
        b.pdu_session_container,
        b.dscp,
        b.redirect,
        b.duplicating,
    )


def ohc_position(g: Grouped) -> tuple[int, int] | None:
    """Where the Outer Header Creation `_first_ohc` finds is in a Create FAR group ``g``
    (see `far_like`), None when it has none."""
    fp = g.get(T.FORWARDING_PARAMETERS)
    ohc = _first_ohc(g)
    if not isinstance(fp, Grouped) or ohc is None:
        return None
    return (
        next(i for i, c in enumerate(g.ies) if c is fp),
        next(i for i, c in enumerate(fp.ies) if c is ohc),
    )


def _first_ohc(g: Grouped) -> OuterHeaderCreation | None:
    """The first Outer Header Creation of a FAR group's first Forwarding Parameters (the
    one `far_shape` leaves out)."""
    fp = g.get(T.FORWARDING_PARAMETERS)
    ohc = fp.get(T.OUTER_HEADER_CREATION) if isinstance(fp, Grouped) else None
    return ohc if isinstance(ohc, OuterHeaderCreation) else None


def _with_ohc(ctx: CompileContext, b: Far, fid: int, ohc: OuterHeaderCreation) -> Far:
    return far_with(b, _ohc(ctx, fid, ohc))


def _far(ctx: CompileContext, encoded: Mapping[int, bytes] | None, g: Grouped, fid: int) -> Far:
    """`compile_far`, or what it gave for a group of the same octets; a FAR creating an
    outer header (one per session) from what it gave for a group of the same shape
    (`far_shape`) with this one's outer header creation."""
    raw = encoded.get(id(g)) if encoded is not None else None
    if raw is None:
        return compile_far(ctx, fid, g)
    memo = ctx.compiled
    got = memo.get(raw)
    if got is not None:
        return got  # type: ignore[return-value]
    shape = far_shape(raw)
    if shape is None:
        return _memo(ctx, encoded, g, functools.partial(compile_far, ctx), fid)
    key = FAR_SHAPE + shape
    base = memo.get(key)
    ohc = _first_ohc(g)
    if base is not None and ohc is not None:
        return _with_ohc(ctx, base, fid, ohc)  # type: ignore[arg-type]
    far = compile_far(ctx, fid, g)
    if far.outer_header_creation is not None and ohc is not None:
        if len(memo) >= COMPILED_ENTRIES:
            memo.clear()
        memo[key] = far
    return far


def compile_program(
    ctx: CompileContext,
    rules: RuleSet,
    bar_duration_s: int | None = None,
    urr_offsets: dict[int, tuple[Volumes, Volumes]] | None = None,
    blocked_urrs: frozenset[int] = frozenset(),
    encoded: Mapping[int, bytes] | None = None,
    shapes: Mapping[int, bytes | Chosen] | None = None,
    urr_grants: Mapping[int, int] | None = None,
    bar_grant: int = 0,
) -> SessionProgram:
    """``blocked_urrs``: URRs whose quota is no longer valid (Quota Validity Time over):
    the traffic of their PDRs is dropped, as is what the PDRs of a URR whose volume quota
    the offsets use up forward (`quotas_used_up`). ``encoded``: id(group) -> the group's
    TLV octets (`RuleSet.encoded`): FARs, QERs and URRs compiled before from the same
    octets are taken from ``ctx.compiled``; ``shapes``: see `compile_pdrs`;
    ``urr_grants``: see `with_grants`; ``bar_grant``: see `compile_bar`."""
    offsets = urr_offsets or {}
    pdrs = compile_pdrs(ctx, rules, shapes)
    fars = [_far(ctx, encoded, g, fid) for fid, g in rules.far.items()]
    if blocked_urrs:
        pdrs, fars = _blocked(pdrs, fars, blocked_urrs)
    if offsets:
        used_up = quotas_used_up(rules.urr.items(), offsets)
        if used_up:
            pdrs, fars = _blocked(pdrs, fars, used_up, forwarding_only=True)
    qers = [_memo(ctx, encoded, g, compile_qer, qid) for qid, g in rules.qer.items()]
    urrs = [
        compile_urr(uid, g, offsets[uid])
        if uid in offsets
        else _memo(ctx, encoded, g, compile_urr, uid)
        for uid, g in rules.urr.items()
    ]
    if urr_grants:
        urrs = with_grants(urrs, urr_grants)
    bar = None
    if rules.bar:
        bar_id, g = next(iter(rules.bar.items()))
        bar = compile_bar(bar_id, g, bar_duration_s, bar_grant)
    _check_qers_urrs(qers, urrs)
    _check_gtpu_downlink(pdrs)
    return SessionProgram(tuple(pdrs), tuple(fars), tuple(qers), tuple(urrs), bar)


def with_grants(urrs: list[Urr], grants: Mapping[int, int]) -> list[Urr]:
    """``urrs`` with their Time Quota's grant (URR ID -> the grants of its book,
    `UrrBook.time_grants`) where they have a Time Quota: the datapath re-arms a quota used
    up when a program of another grant replaces its own, so that the same value granted
    again is a new quota (TS 29.244 5.2.2.2.1). URRs compiled from the same octets are
    shared (``ctx.compiled``): those with a grant are copies."""
    out = []
    for u in urrs:
        grant = grants.get(u.urr_id, 0)
        if grant and u.time_quota_ns and grant != u.time_quota_grant:
            u = replace(u, time_quota_grant=grant)
        out.append(u)
    return out


def _check_qers_urrs(qers: Iterable[Qer], urrs: Iterable[Urr]) -> None:
    """A QER's QFI fits its 6 bits; a URR asking for a volume threshold names one."""
    for q in qers:
        if q.qfi is not None and not 0 <= q.qfi < 64:
            raise _fail(RULE_ID_QER, q.qer_id, f"QER {q.qer_id}: QFI {q.qfi}")
    for u in urrs:
        if u.volume_threshold == (0, 0, 0):
            raise _fail(RULE_ID_URR, u.urr_id, f"URR {u.urr_id}: VOLTH without a threshold")


def _check_gtpu_downlink(pdrs: list[Pdr]) -> None:
    """A PDR with a local F-TEID and another source interface than Access (Core: the N9
    downlink a remote PSA sends an I-UPF or branching point; CP-function: the downlink
    data the CP function buffered, or sends itself, over N4-u) takes the G-PDUs of its
    F-TEID as downlink: classified against the downlink PDRs, policed and counted as
    downlink, forwarded by its FAR (to Access: encapsulated to the gNB), buffered by a
    FAR that buffers (the G-PDU is kept and, flushed, classified by its F-TEID again: an
    I-UPF's or V-UPF's DL buffering while the UE is idle). The datapath cannot take the
    F-TEID also being an Access PDR's (one tunnel, one direction): refused with 73 naming
    the PDR."""
    for pdr in pdrs:
        if pdr.local_fteid is None or pdr.source_interface is Interface.ACCESS:
            continue
        pid = pfcp_pdr_id(pdr.pdr_id)
        for other in pdrs:
            if other.source_interface is Interface.ACCESS and other.local_fteid == pdr.local_fteid:
                raise _fail(
                    RULE_ID_PDR,
                    pid,
                    f"PDR {pid}: its local F-TEID (source interface"
                    f" {pdr.source_interface.name}: downlink) is also Access PDR"
                    f" {pfcp_pdr_id(other.pdr_id)}'s: a tunnel carries one direction",
                )


class StoredParts(NamedTuple):
    """What the rules stored in a session's octets of a `StoredLayout` compiled to, found
    in ``CompileContext.compiled`` (`stored_parts`): each PDR's ID, common part, F-TEID
    and UE IP Address; each FAR: compiled (no outer header), its shape's FAR and its Outer
    Header Creation, or None (updated: compiled again); the QERs; the URRs (None: compiled
    with their offsets)."""

    pdrs: list[tuple[int, _Common, IE | None, IE | None]]
    fars: list[Far | tuple[Far, OuterHeaderCreation] | None]
    qers: list[Qer]
    urrs: list[Urr | None]


def stored_parts(
    ctx: CompileContext,
    layout: StoredLayout,
    raw: bytes,
    updated: Container[int],
    urr_offsets: Container[int],
) -> StoredParts | None:
    """What `compile_program` takes from ``ctx.compiled`` for the rules stored as ``raw``
    (octets of ``layout``) but the FARs ``updated`` and the URRs with offsets (their IDs),
    with the leaves of ``raw`` those need (`stored.leaf`); None when some of it is not
    there (or a leaf does not decode cleanly): then only `compile_program` makes it."""
    memo = ctx.compiled
    pdrs: list[tuple[int, _Common, IE | None, IE | None]] = []
    for pdr_id, key, fteid_at, ue_at in layout.pdrs:
        common = memo.get(key)
        if common is None:
            return None
        fteid = ue = None
        if fteid_at is not None:
            fteid = leaf(raw, fteid_at)
            if fteid is None:
                return None
        if ue_at is not None:
            ue = leaf(raw, ue_at)
            if ue is None:
                return None
        pdrs.append((pdr_id, common, fteid, ue))  # type: ignore[arg-type]
    fars: list[Far | tuple[Far, OuterHeaderCreation] | None] = []
    for far_id, _, key, ohc_at in layout.fars:
        if far_id in updated:
            fars.append(None)
            continue
        got = memo.get(key)
        if not isinstance(got, Far):
            return None
        if ohc_at is None:
            fars.append(got)
            continue
        ohc = leaf(raw, ohc_at)
        if not isinstance(ohc, OuterHeaderCreation):
            return None
        fars.append((got, ohc))
    qers: list[Qer] = []
    for _, key in layout.qers:
        qer = memo.get(key)
        if not isinstance(qer, Qer):
            return None
        qers.append(qer)
    urrs: list[Urr | None] = []
    for urr_id, key, _ in layout.urrs:
        if urr_id in urr_offsets:
            urrs.append(None)
            continue
        urr = memo.get(key)
        if not isinstance(urr, Urr):
            return None
        urrs.append(urr)
    return StoredParts(pdrs, fars, qers, urrs)


def compile_stored(
    ctx: CompileContext,
    layout: StoredLayout,
    parts: StoredParts,
    updated: Mapping[int, tuple[Grouped, bytes] | tuple[Far, OuterHeaderCreation]],
    bar_duration_s: int | None = None,
    urr_offsets: dict[int, tuple[Volumes, Volumes]] | None = None,
    blocked_urrs: frozenset[int] = frozenset(),
    urr_grants: Mapping[int, int] | None = None,
    bar_grant: int = 0,
) -> SessionProgram:
    """`compile_program` of the rules stored in octets of ``layout`` (``parts``: what
    `stored_parts` found of them) with the FARs ``updated`` (FAR ID -> the group and its
    octets, or the FAR its shape compiled to and its Outer Header Creation) in place of
    theirs: the same program, checked the same way, step by step (the
    same refusal when one fails)."""
    offsets = urr_offsets or {}
    pdrs: list[Pdr] = []
    for pdr_id, common, fteid, ue in parts.pdrs:
        add_pdrs(ctx, pdrs, pdr_id, common, fteid, ue)
    fars: list[Far] = []
    for (far_id, _, _, _), part in zip(layout.fars, parts.fars, strict=True):
        if part is None:
            g, octets = updated[far_id]
            if isinstance(g, Far):  # (its shape's FAR, the Outer Header Creation: `_far`)
                assert isinstance(octets, OuterHeaderCreation)
                fars.append(_with_ohc(ctx, g, far_id, octets))
            else:
                assert isinstance(octets, bytes)
                fars.append(_far(ctx, {id(g): octets}, g, far_id))
        elif isinstance(part, Far):
            fars.append(part)
        else:
            fars.append(_with_ohc(ctx, part[0], far_id, part[1]))
    if blocked_urrs:
        pdrs, fars = _blocked(pdrs, fars, blocked_urrs)
    if offsets:
        used_up = quotas_used_up(((uid, g) for uid, _, g in layout.urrs), offsets)
        if used_up:
            pdrs, fars = _blocked(pdrs, fars, used_up, forwarding_only=True)
    qers = parts.qers
    urrs = [
        compile_urr(uid, g, offsets[uid]) if urr is None else urr
        for (uid, _, g), urr in zip(layout.urrs, parts.urrs, strict=True)
    ]
    if urr_grants:
        urrs = with_grants(urrs, urr_grants)
    bar = None
    if layout.bar is not None:
        bar_id, g = layout.bar
        bar = compile_bar(bar_id, g, bar_duration_s, bar_grant)
    _check_qers_urrs(qers, urrs)
    _check_gtpu_downlink(pdrs)
    return SessionProgram(tuple(pdrs), tuple(fars), tuple(qers), tuple(urrs), bar)

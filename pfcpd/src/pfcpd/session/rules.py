"""A session's rules as PFCP IEs: the Create PDR/FAR/QER/URR/BAR groups by rule ID.

The engine keeps each rule as the grouped IE that would create it now: an establishment's
groups as they came (with the UP function's allocations filled in), changed in place by a
modification's Update groups (each child type present in the update replaces that type's
children) and dropped by its Remove groups. :func:`check_references` checks that every rule
a PDR or FAR names exists (cause 73 with the Failed Rule ID); :func:`check_supported` and
:func:`check_ignored` refuse a request carrying a rule this engine does not implement (76)
or a rule whose IE the codec set aside as incorrect (69). A zero-length IE directly inside
an Update group (or its Update Forwarding or Duplicating Parameters) removes that IE from
the rule (TS 29.244 5.6.3, "updating the Rule including the IEs to be removed with a null
length"): :func:`null_removals` finds them in a Session Modification Request and
`merge_update` takes them out.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from ..pfcp import IE, Cause, Grouped, IEType, IgnoredIE, Message, RawIE, encode_groups
from ..pfcp.ies_flags import ApplyAction, MeasurementInformation, ReportingTriggers
from ..pfcp.ies_traffic import (
    RULE_ID_BAR,
    RULE_ID_FAR,
    RULE_ID_PDR,
    RULE_ID_QER,
    RULE_ID_URR,
    OuterHeaderRemoval,
    RedirectInformation,
    SDFFilter,
)
from .errors import RuleError

T = IEType

# rule kind -> (create type, update type, remove type, ID IE type, Failed Rule ID type)
KINDS: dict[str, tuple[int, int, int, int, int]] = {
    "pdr": (T.CREATE_PDR, T.UPDATE_PDR, T.REMOVE_PDR, T.PDR_ID, RULE_ID_PDR),
    "far": (T.CREATE_FAR, T.UPDATE_FAR, T.REMOVE_FAR, T.FAR_ID, RULE_ID_FAR),
    "qer": (T.CREATE_QER, T.UPDATE_QER, T.REMOVE_QER, T.QER_ID, RULE_ID_QER),
    "urr": (T.CREATE_URR, T.UPDATE_URR, T.REMOVE_URR, T.URR_ID, RULE_ID_URR),
    "bar": (T.CREATE_BAR, T.UPDATE_BAR, T.REMOVE_BAR, T.BAR_ID, RULE_ID_BAR),
}
# Update groups whose children merge into a child group of the rule (Update FAR's Update
# Forwarding Parameters into its Forwarding Parameters).
NESTED_UPDATES: dict[int, int] = {T.UPDATE_FORWARDING_PARAMETERS: T.FORWARDING_PARAMETERS}
# Children of an update that steer the change and are not part of the rule.
NOT_STORED = frozenset({T.PFCPSMREQ_FLAGS})


def ie_value(group: Grouped | Message, ie_type: int) -> int | None:
    """The ``value`` of the first ``ie_type`` child (an integer IE), or None."""
    ie = group.get(ie_type)
    return None if ie is None else int(ie.value)  # type: ignore[attr-defined]


def rule_id(group: Grouped, kind: str) -> int:
    id_type = KINDS[kind][3]
    for ie in group.ies:  # (`ie_value`, inline: every rule of a session at every change)
        if ie.type == id_type:
            return int(ie.value)  # type: ignore[attr-defined]
    # the codec checks mandatory children: not reached for decoded IEs
    raise RuleError(Cause.MANDATORY_IE_MISSING, f"{kind} without ID", offending_ie=id_type)


@dataclass
class RuleSet:
    pdr: dict[int, Grouped] = field(default_factory=dict)
    far: dict[int, Grouped] = field(default_factory=dict)
    qer: dict[int, Grouped] = field(default_factory=dict)
    urr: dict[int, Grouped] = field(default_factory=dict)
    bar: dict[int, Grouped] = field(default_factory=dict)

    def of(self, kind: str) -> dict[int, Grouped]:
        rules: dict[int, Grouped] = getattr(self, kind)
        return rules

    def groups(self) -> list[Grouped]:
        """Every rule, by kind in KINDS order."""
        return [
            *self.pdr.values(),
            *self.far.values(),
            *self.qer.values(),
            *self.urr.values(),
            *self.bar.values(),
        ]

    def encoded(self) -> dict[int, bytes]:
        """id(group) -> the group's TLV octets, for every rule: valid while no group
        changes (`compile_program` and `Session.set_rules` take it). The octets a decoded
        group kept are reused (`encode_groups`)."""
        return {id(g): g.raw if g.raw is not None else encode_groups([g]) for g in self.groups()}

    @classmethod
    def from_groups(cls, groups: Iterable[IE]) -> RuleSet:
        rules = cls()
        for g in groups:
            kind = _KIND_OF_CREATE.get(g.type)
            if kind is not None and isinstance(g, Grouped):
                rules.of(kind)[rule_id(g, kind)] = g
        return rules

    @classmethod
    def created_by(cls, request: Message) -> RuleSet:
        """A new set with the request's Create groups: what `create` makes of them on an
        empty set, in one pass over the request (`create` itself, for the refusal it
        raises, when a group lacks its ID or repeats one)."""
        rules = cls()
        by_kind: dict[int, dict[int, Grouped]] = {
            T.CREATE_PDR: rules.pdr,
            T.CREATE_FAR: rules.far,
            T.CREATE_QER: rules.qer,
            T.CREATE_URR: rules.urr,
            T.CREATE_BAR: rules.bar,
        }
        for ie in request.ies:
            of_kind = by_kind.get(ie.type)
            if of_kind is None:
                continue
            if isinstance(ie, Grouped):
                id_type = _ID_OF_CREATE[ie.type]
                rid = None
                for child in ie.ies:  # (`rule_id`, inline)
                    if child.type == id_type:
                        rid = int(child.value)  # type: ignore[attr-defined]
                        break
                if rid is not None and rid not in of_kind:
                    of_kind[rid] = ie
                    check_values(ie.type, rid, ie)
                    continue
            rules = cls()
            rules.create(request)  # (raises what it refuses)
            return rules
        return rules

    def create(self, request: Message | RuleIEs) -> None:
        """Add the request's Create groups; a rule ID already used is refused (73). The
        groups are the request's own, not copies: what changes a rule group in place
        (`merge_update`) works on rules decoded from a session's record, and the engine's
        allocations put new groups in place of the request's. ``request``: a request, or
        its `rule_ies`."""
        by_type = rule_ies(request) if isinstance(request, Message) else request
        if not by_type:
            return
        for kind, (create, _u, _r, _id, rule_type) in KINDS.items():
            groups = by_type.get(create)
            if not groups:
                continue
            rules = self.of(kind)
            for g in groups:
                rid = rule_id(g, kind)
                if rid in rules:
                    raise RuleError(
                        Cause.RULE_CREATION_MODIFICATION_FAILURE,
                        f"{kind.upper()} {rid} already exists",
                        failed_rule=(rule_type, rid),
                    )
                check_values(create, rid, g)
                rules[rid] = g

    def remove(self, request: Message | RuleIEs) -> None:
        by_type = rule_ies(request) if isinstance(request, Message) else request
        if not by_type:
            return
        for kind, (_c, _u, remove, _id, rule_type) in KINDS.items():
            groups = by_type.get(remove)
            if not groups:
                continue
            rules = self.of(kind)
            for g in groups:
                rid = rule_id(g, kind)
                if rules.pop(rid, None) is None:
                    raise RuleError(
                        Cause.RULE_CREATION_MODIFICATION_FAILURE,
                        f"Remove {kind.upper()} {rid}: no such rule",
                        failed_rule=(rule_type, rid),
                    )

    def update(self, request: Message | RuleIEs, removals: Removals | None = None) -> list[Grouped]:
        """Apply the request's Update groups to the rules they name (`merge_update`, with
        the IEs its zero-length ones remove: `null_removals`); returns those rules'
        groups."""
        by_type = rule_ies(request) if isinstance(request, Message) else request
        changed: list[Grouped] = []
        if not by_type:
            return changed
        for kind, (_c, update, _r, _id, _t) in KINDS.items():
            groups = by_type.get(update)
            if not groups:
                continue
            rules = self.of(kind)
            for g in groups:
                rid = rule_id(g, kind)
                old = rules.get(rid)
                if old is None:
                    raise no_such_rule(kind, rid)
                if update != T.UPDATE_URR:
                    check_values(update, rid, g)  # (the values the update gives)
                merge_update(old, g, removals)
                if update == T.UPDATE_URR and g.get(T.REPORTING_TRIGGERS) is not None:
                    check_trigger_values(rid, old)  # (triggers given: their values kept)
                changed.append(old)
        return changed


def no_such_rule(kind: str, rid: int) -> RuleError:
    """What `RuleSet.update` raises for an Update group naming rule ``rid`` of ``kind``,
    which the session does not have (73 with the Failed Rule ID, TS 29.244 7.5.4)."""
    return RuleError(
        Cause.RULE_CREATION_MODIFICATION_FAILURE,
        f"Update {kind.upper()} {rid}: no such rule",
        failed_rule=(KINDS[kind][4], rid),
    )


RuleIEs = dict[int, list[Grouped]]
# The IE types zero-length IEs remove (`null_removals`), by the id() of the list of IEs of
# the Update group (or Update Forwarding Parameters) that held them: `IgnoredIE.within`,
# which the request's IgnoredIE records keep alive.
Removals = dict[int, frozenset[int]]
# IE type of each kind's Create group -> the kind, the type of its ID IE
_KIND_OF_CREATE = {kinds[0]: kind for kind, kinds in KINDS.items()}
_ID_OF_CREATE = {kinds[0]: kinds[3] for kinds in KINDS.values()}
# The Create, Update and Remove group types of every kind
RULE_IE_TYPES = frozenset(t for kinds in KINDS.values() for t in kinds[:3])


def rule_ies(request: Message) -> RuleIEs:
    """The request's Create, Update and Remove groups of every kind by IE type, each type's
    in the request's order (one pass over its IEs; `RuleSet.create`, `remove` and `update`
    take it instead of the request)."""
    out: RuleIEs = {}
    for ie in request.ies:
        if ie.type in RULE_IE_TYPES:
            assert isinstance(ie, Grouped)
            groups = out.get(ie.type)
            if groups is None:
                out[ie.type] = [ie]
            else:
                groups.append(ie)
    return out


def _copy(g: Grouped) -> Grouped:
    return Grouped(g.type, [_copy(c) if isinstance(c, Grouped) else c for c in g.ies], g.raw)


def merge_update(rule: Grouped, update: Grouped, removals: Removals | None = None) -> None:
    """Apply an Update group to a rule's Create group in place (its octets, `Grouped.raw`,
    are dropped: they no longer say what it holds). ``removals``: the IE types zero-length
    IEs of the request remove (`null_removals`): those of ``update`` go from the rule
    (every one of the type: a zero-length QER ID or URR ID unlinks all of them from a PDR,
    TS 29.244 5.6.3), before any the update gives. An Update URR without Measurement
    Information resumes the URR's measurement (`_measuring`)."""
    replaced: set[int] = set()
    if removals:
        gone = removals.get(id(update.ies))
        if gone:
            replaced.update(gone)
    new: list[IE] = []
    for child in update.ies:
        if child.type in NOT_STORED:
            continue
        nested = NESTED_UPDATES.get(child.type)
        if nested is not None and isinstance(child, Grouped):
            target = rule.get(nested)
            if isinstance(target, Grouped):
                merge_update(target, child, removals)
            else:
                new.append(Grouped(nested, [c for c in child.ies if c.type not in NOT_STORED]))
                replaced.add(nested)
            continue
        replaced.add(child.type)
        new.append(_copy(child) if isinstance(child, Grouped) else child)
    rule.ies = [c for c in rule.ies if c.type not in replaced] + new
    if update.type == T.UPDATE_URR and T.MEASUREMENT_INFORMATION not in replaced:
        _measuring(rule)
    rule.raw = None


_INAM = MeasurementInformation.of("INAM").flags


def _measuring(urr: Grouped) -> None:
    """The URR's rule (a Create URR group) without the Inactive Measurement Flag: TS
    29.244 Table 7.5.4.4-1 (Update URR, Measurement Information) has the measurement
    performed "if the bit is set to 0 or if the Measurement Information IE is not present
    in the Update URR IE". The other flags stay as they were: the table has the IE sent
    when a flag is 1 or to clear flags ("if the change of flag(s) from 1 to 0 results in
    the IE becoming set to all zeros"), and says of no other flag that its absence clears
    it. A Measurement Information left with no flag goes (as a Create URR without one)."""
    for i, ie in enumerate(urr.ies):
        if isinstance(ie, MeasurementInformation) and ie.flags & _INAM:
            rest = ie.flags & ~_INAM
            if rest:
                urr.ies[i] = MeasurementInformation(rest, ie.size)
            else:
                del urr.ies[i]
            return


def check_references(rules: RuleSet, only: Container[int] | None = None) -> None:
    """Every FAR, QER, URR and BAR a rule names exists (else 73 with the Failed Rule ID of
    the missing rule). ``only``: the id() of the rule groups to check, when the others'
    references are known to exist (checked before, and no rule removed since)."""
    for pdr_id, pdr in rules.pdr.items():
        if only is not None and id(pdr) not in only:
            continue
        far_id = ie_value(pdr, T.FAR_ID)
        if far_id is not None and far_id not in rules.far:
            raise RuleError(
                Cause.RULE_CREATION_MODIFICATION_FAILURE,
                f"PDR {pdr_id} names FAR {far_id}, which does not exist",
                failed_rule=(RULE_ID_FAR, far_id),
            )
        for ie_type, kind, rule_type in (
            (T.QER_ID, "qer", RULE_ID_QER),
            (T.URR_ID, "urr", RULE_ID_URR),
        ):
            for ie in pdr.get_all(ie_type):
                rid = int(ie.value)  # type: ignore[attr-defined]
                if rid not in rules.of(kind):
                    raise RuleError(
                        Cause.RULE_CREATION_MODIFICATION_FAILURE,
                        f"PDR {pdr_id} names {kind.upper()} {rid}, which does not exist",
                        failed_rule=(rule_type, rid),
                    )
    for far_id, far in rules.far.items():
        if only is not None and id(far) not in only:
            continue
        check_far_references(far_id, far, rules.bar)
    for urr_id, urr in rules.urr.items():
        if only is not None and id(urr) not in only:
            continue
        for ie in urr.get_all(T.LINKED_URR_ID):
            linked = int(ie.value)  # type: ignore[attr-defined]
            if linked not in rules.urr:
                raise RuleError(
                    Cause.RULE_CREATION_MODIFICATION_FAILURE,
                    f"URR {urr_id} links URR {linked}, which does not exist",
                    failed_rule=(RULE_ID_URR, linked),
                )


def check_far_references(far_id: int, far: Grouped, bars: Container[int]) -> None:
    """The BAR FAR ``far_id`` names is one of ``bars`` (`check_references`)."""
    bar_id = ie_value(far, T.BAR_ID)
    if bar_id is not None and bar_id not in bars:
        raise RuleError(
            Cause.RULE_CREATION_MODIFICATION_FAILURE,
            f"FAR {far_id} names BAR {bar_id}, which does not exist",
            failed_rule=(RULE_ID_BAR, bar_id),
        )


# IE types a rule needs: one of them set aside by the codec (incorrect value) inside a rule
# group makes the request fail with 69 rather than install a rule that means something else.
RULE_GROUPS = frozenset(
    ie_type
    for kind in KINDS.values()
    for ie_type in kind[:3]
    if ie_type not in (T.REMOVE_PDR, T.REMOVE_FAR, T.REMOVE_QER, T.REMOVE_URR, T.REMOVE_BAR)
) | {T.PDI, T.FORWARDING_PARAMETERS, T.UPDATE_FORWARDING_PARAMETERS}


# Session rules this engine does not implement (their features are not advertised): a
# request carrying one is refused (76) rather than half applied.
UNSUPPORTED_RULES = frozenset(
    {
        T.CREATE_TRAFFIC_ENDPOINT,
        T.UPDATE_TRAFFIC_ENDPOINT,
        T.CREATE_MAR,
        T.UPDATE_MAR,
        T.CREATE_SRR,
        T.UPDATE_SRR,
        T.PROVIDE_ATSSS_CONTROL_INFORMATION,
        T.CREATE_BRIDGE_INFO_FOR_TSC,
    }
)


def _names(ie_type: int) -> str:
    from ..pfcp import ie_type_name

    return ie_type_name(ie_type)


def check_supported(req: Message) -> None:
    for ie in req.ies:
        if ie.type in UNSUPPORTED_RULES:
            raise RuleError(
                Cause.SERVICE_NOT_SUPPORTED,
                f"{ie.name} is not supported",
                offending_ie=ie.type,
            )


def check_ignored(req: Message) -> None:
    """An IE inside a rule group that the codec set aside as incorrect: the rule would mean
    something else without it, so the request fails (69, naming it)."""
    for ignored in req.ignored:
        if ignored.unexpected or not ignored.path:
            continue
        if any(name in _RULE_GROUP_NAMES for name in ignored.path):
            raise _needed(ignored)


def null_removals(req: Message) -> Removals | None:
    """`check_ignored` of a Session Modification Request, whose zero-length IEs directly
    inside an Update PDR, FAR, QER, URR or BAR, or an Update FAR's Update Forwarding or
    Duplicating Parameters, remove the IE of their type from the rule (TS 29.244 5.6.3;
    the codec sets them aside as too short): the IE types each of those groups removes
    (`Removals`), None when it removes none. A zero-length IE the rule cannot do without
    (its ID, a PDR's Precedence, PDI or FAR ID, a FAR's Apply Action, a QER's Gate Status,
    a URR's Measurement Method or Reporting Triggers, a Destination Interface, an IE that
    steers the change), or one anywhere else in a rule group, fails the request as
    `check_ignored`'s (69, naming it)."""
    if not req.ignored:
        return None
    out: dict[int, set[int]] = {}
    for ignored in req.ignored:
        if ignored.unexpected or not ignored.path:
            continue
        if not any(name in _RULE_GROUP_NAMES for name in ignored.path):
            continue
        kept = _NULL_REMOVES.get(ignored.path)
        ie = ignored.ie
        if kept is None or not isinstance(ie, RawIE) or ie.data or ignored.within is None:
            raise _needed(ignored)
        if ie.type in kept:
            raise RuleError(
                Cause.MANDATORY_IE_INCORRECT,
                f"{'/'.join(ignored.path)}: {ie.name} of zero length: the rule keeps it",
                offending_ie=ie.type,
            )
        out.setdefault(id(ignored.within), set()).add(ie.type)
    return {at: frozenset(types) for at, types in out.items()} if out else None


def _needed(ignored: IgnoredIE) -> RuleError:
    return RuleError(
        Cause.MANDATORY_IE_INCORRECT,
        f"{ignored}: a rule needs it",
        offending_ie=ignored.ie.type,
    )


_RULE_GROUP_NAMES = frozenset(_names(t) for t in RULE_GROUPS)
# Where a zero-length IE removes the IE of its type (the path of the group holding it, as
# `IgnoredIE.path` names it) -> the IE types the rule keeps there: those mandatory in the
# Create group (and a PDR's FAR ID, which every PDR here names), and those that steer the
# change rather than being part of the rule.
_NULL_REMOVES: dict[tuple[str, ...], frozenset[int]] = {
    (_names(T.UPDATE_PDR),): frozenset({T.PDR_ID, T.PRECEDENCE, T.PDI, T.FAR_ID}),
    (_names(T.UPDATE_FAR),): frozenset({T.FAR_ID, T.APPLY_ACTION}),
    (_names(T.UPDATE_QER),): frozenset({T.QER_ID, T.GATE_STATUS}),
    (_names(T.UPDATE_URR),): frozenset({T.URR_ID, T.MEASUREMENT_METHOD, T.REPORTING_TRIGGERS}),
    (_names(T.UPDATE_BAR),): frozenset({T.BAR_ID}),
    (_names(T.UPDATE_FAR), _names(T.UPDATE_FORWARDING_PARAMETERS)): frozenset(
        {T.DESTINATION_INTERFACE, T.PFCPSMREQ_FLAGS}
    ),
    (_names(T.UPDATE_FAR), _names(T.UPDATE_DUPLICATING_PARAMETERS)): frozenset(
        {T.DESTINATION_INTERFACE}
    ),
}


# A reporting trigger and the IE it needs (TS 29.244 Table 7.5.2.4-1: the IE "shall be
# present if" that reporting is required).
_TRIGGER_VALUES = (
    ("PERIO", T.MEASUREMENT_PERIOD),
    ("VOLTH", T.VOLUME_THRESHOLD),
    ("TIMTH", T.TIME_THRESHOLD),
    ("QUHTI", T.QUOTA_HOLDING_TIME),
    ("DROTH", T.DROPPED_DL_TRAFFIC_THRESHOLD),
    ("VOLQU", T.VOLUME_QUOTA),
    ("TIMQU", T.TIME_QUOTA),
    ("QUVTI", T.QUOTA_VALIDITY_TIME),
    ("LIUSA", T.LINKED_URR_ID),
    ("EVETH", T.EVENT_THRESHOLD),
    ("EVEQU", T.EVENT_QUOTA),
)


def check_trigger_values(urr_id: int, g: Grouped) -> None:
    """A Create or Update URR (as merged) whose Reporting Triggers ask for a report that
    needs a value (the Measurement Period of PERIO, the threshold of VOLTH, ...) has that
    IE, else 67 "Conditional IE missing" naming it. Checked where a request gives the
    triggers (a Create URR; an Update URR with Reporting Triggers, on the URR it makes):
    an Update URR that removes a value with a zero-length IE (5.6.3) leaves its trigger
    nothing to report, and a session restored from its record is compiled as accepted."""
    trig = g.get(T.REPORTING_TRIGGERS)
    if not isinstance(trig, ReportingTriggers) or not trig.flags:
        return
    for name, ie_type in _TRIGGER_VALUES:
        if trig.has(name) and g.get(ie_type) is None:
            raise RuleError(
                Cause.CONDITIONAL_IE_MISSING,
                f"URR {urr_id}: reporting trigger {name} without {_names(ie_type)}",
                offending_ie=ie_type,
            )


# TS 29.244 8.2.26: one and only one of these is set; NOCP and BDPN only with BUFF; the
# datapath implements DROP, FORW, BUFF, NOCP (DUPL: refused when compiled).
_ONE_OF = ApplyAction.of("DROP", "FORW", "BUFF", "IPMA", "IPMD").flags
_WITH_BUFF = ApplyAction.of("NOCP", "BDPN").flags
_BUFF = ApplyAction.of("BUFF").flags
_IMPLEMENTED = ApplyAction.of("DROP", "FORW", "BUFF", "NOCP", "DUPL").flags
# Outer Header Removal descriptions the datapath does (TS 29.244 8.2.64): the GTP-U header
# and its UDP/IP (IPv4 0, IPv6 1, either 6), what a PDR's local F-TEID receives.
_GTPU_REMOVALS = frozenset({0, 1, 6})


def check_values(group_type: int, rid: int, g: Grouped) -> None:
    """The values a request's Create or Update group gives its rule, checked as TS 29.244
    states them where the datapath could only get them wrong (the IEs of ``g`` itself: an
    Update group's other values are the rule's, accepted before). Checked on requests only:
    a rule a session kept from an earlier release compiles as it was accepted."""
    if group_type in (T.CREATE_FAR, T.UPDATE_FAR):
        check_far_values(rid, g, group_type == T.CREATE_FAR)
    elif group_type in (T.CREATE_PDR, T.UPDATE_PDR):
        check_pdr_values(rid, g)
    elif group_type == T.CREATE_URR:
        check_trigger_values(rid, g)


def check_far_values(far_id: int, g: Grouped, create: bool = False) -> None:
    """A Create FAR's (``create``) or Update FAR's Apply Action: one and only one of DROP,
    FORW, BUFF, IPMA and IPMD, NOCP and BDPN only with BUFF (8.2.26; else 69 with the Apply
    Action as Offending IE), no flag the datapath lacks (IPMA, IPMD, DFRT, EDRT, BDPN, DDPN,
    ...: 73); its (Update) Forwarding Parameters' Redirect Information an IPv4 or IPv6
    server address (a URL or SIP URI needs an HTTP/SIP proxy in the path: 73)."""
    action = g.get(T.APPLY_ACTION)
    if isinstance(action, ApplyAction) or create:
        flags = action.flags if isinstance(action, ApplyAction) else 0
        one = flags & _ONE_OF
        if not one or one & (one - 1) or (flags & _WITH_BUFF and not flags & _BUFF):
            names = "+".join(ApplyAction(flags).names()) or "no flag"
            raise RuleError(
                Cause.MANDATORY_IE_INCORRECT,
                f"FAR {far_id}: Apply Action {names}: one of DROP, FORW, BUFF, IPMA and"
                " IPMD, NOCP and BDPN only with BUFF",
                offending_ie=T.APPLY_ACTION,
            )
        if flags & ~_IMPLEMENTED:
            names = "+".join(ApplyAction(flags & ~_IMPLEMENTED).names())
            raise _rule_failure(
                RULE_ID_FAR, far_id, f"FAR {far_id}: Apply Action {names} unsupported"
            )
    for fp_type in (T.FORWARDING_PARAMETERS, T.UPDATE_FORWARDING_PARAMETERS):
        fp = g.get(fp_type)
        redirect = fp.get(T.REDIRECT_INFORMATION) if isinstance(fp, Grouped) else None
        if isinstance(redirect, RedirectInformation) and redirect.address_type not in (0, 1):
            raise _rule_failure(
                RULE_ID_FAR,
                far_id,
                f"FAR {far_id}: redirect address type {redirect.address_type} unsupported"
                " (IPv4 or IPv6 server addresses only)",
            )


def check_pdr_values(pdr_id: int, g: Grouped) -> None:
    """A Create or Update PDR's Outer Header Removal one the datapath does (GTP-U/UDP/IPv4,
    IPv6 or IP), its PDI's SDF Filters each with something to match (a filter with only an
    SDF Filter ID refers to one given elsewhere, which the datapath's filters cannot: it
    would match every packet): else 73 naming the PDR."""
    ohr = g.get(T.OUTER_HEADER_REMOVAL)
    if isinstance(ohr, OuterHeaderRemoval) and ohr.description not in _GTPU_REMOVALS:
        raise _rule_failure(
            RULE_ID_PDR,
            pdr_id,
            f"PDR {pdr_id}: outer header removal {ohr.description} unsupported"
            " (GTP-U/UDP/IPv4, GTP-U/UDP/IPv6, GTP-U/UDP/IP only)",
        )
    pdi = g.get(T.PDI)
    if not isinstance(pdi, Grouped):
        return
    for f in pdi.get_all(T.SDF_FILTER):
        if isinstance(f, SDFFilter) and (
            f.flow_description is None
            and f.tos_traffic_class is None
            and f.spi is None
            and f.flow_label is None
        ):
            raise _rule_failure(
                RULE_ID_PDR,
                pdr_id,
                f"PDR {pdr_id}: an SDF filter without a flow description, ToS, SPI or flow"
                " label (a reference by SDF Filter ID alone is not supported)",
            )


def _rule_failure(rule_type: int, rid: int, text: str) -> RuleError:
    return RuleError(Cause.RULE_CREATION_MODIFICATION_FAILURE, text, failed_rule=(rule_type, rid))

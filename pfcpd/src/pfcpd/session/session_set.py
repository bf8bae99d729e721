"""Sets of sessions: the FQ-CSIDs and Group Id a CP gives a session, and the set requests that
name sessions by them (TS 29.244 5.22.4, 7.4.6, 7.4.7).

A session keeps the FQ-CSIDs of its Establishment Request, one per node type, changed by a
Modification Request (clause 8.2.43: a new FQ-CSID replaces the one of its node type; one with
no CSID removes that node type's; a null-length one removes them all), and at most one Group Id.

PFCP Session Set Modification (RESPS, 7.4.7): every PFCP Session Change Info names sessions by
PGW-C/SMF FQ-CSID, Group Id or the CP IP Address of their CP F-SEID, and the Alternative SMF IP
Address to send their subsequent Session Report Requests to. pfcpd sends requests to a CP
through its association: the alternative address must be the address, Node ID or one of the
Alternative SMF IP Addresses of an associated CP, which then owns the sessions (their CP
F-SEID takes the alternative address, the SEID stays). A CP moves its own sessions and those
of the CPs associated with the same SMF Set ID (the SMF serving them or another SMF of the
set taking them over, 5.22.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..pfcp import Cause, Grouped, IEType, Message
from ..pfcp.ies_address import FQCSID, FSEID, AlternativeSMFIPAddress, CPIPAddress
from ..pfcp.ies_text import GroupID
from .errors import RuleError

T = IEType
FqCsids = tuple[FQCSID, ...]


def fq_csids(request: Message, current: FqCsids = ()) -> FqCsids:
    """The session's FQ-CSIDs after ``request`` (an Establishment or Modification Request).
    One per node type; FQ-CSIDs without the Node Type octet (before Rel-16) one per node."""
    by_type = {_slot(c): c for c in current}
    for ie in request.get_all(T.FQ_CSID):
        if not isinstance(ie, FQCSID):
            continue
        if ie.node_address is None:  # null length: all removed
            by_type.clear()
        elif not ie.csids:  # no CSID: that node type's removed
            by_type.pop(_slot(ie), None)
        else:
            by_type[_slot(ie)] = ie
    return tuple(by_type.values())


def _slot(c: FQCSID) -> int | str | None:
    return c.node_type if c.node_type is not None else c.node_address


def group_id(request: Message, current: str | None = None) -> str | None:
    """The session's Group Id after ``request`` (at most one per session, 5.22.4)."""
    ie = request.get(T.GROUP_ID)
    return ie.text if isinstance(ie, GroupID) else current


def csid_keys(csids: Iterable[FQCSID]) -> set[tuple[str, int]]:
    """(node address, CSID) pairs: a CSID is unique within the node that made it."""
    return {(c.node_address, n) for c in csids if c.node_address is not None for n in c.csids}


def deletion_csids(request: Message) -> set[tuple[str, int]] | None:
    """The (node address, CSID) pairs a Session Set Deletion Request names (7.4.6), None
    when it carries no FQ-CSID at all. One that cannot name sessions fails the request (69,
    Offending IE FQ-CSID) rather than being left out, which could leave none named and so
    widen the deletion to all the CP's sessions: one the codec set aside as incorrect (a
    reserved Node-ID type, CSIDs truncated), the null-length one, or one without CSID."""
    unusable = [i.ie for i in request.ignored if not i.path and i.ie.type == T.FQ_CSID]
    given = request.get_all(T.FQ_CSID)
    unusable += [c for c in given if not isinstance(c, FQCSID) or not csid_keys((c,))]
    if unusable:
        raise RuleError(
            Cause.MANDATORY_IE_INCORRECT,
            "Session Set Deletion with an FQ-CSID naming no CSID of a node",
            offending_ie=T.FQ_CSID,
        )
    return csid_keys(c for c in given if isinstance(c, FQCSID)) if given else None


@dataclass(frozen=True, slots=True)
class SetSelector:
    """The sessions one PFCP Session Change Info names."""

    csids: frozenset[tuple[str, int]]
    group_ids: frozenset[str]
    cp_addresses: frozenset[str]
    alternative: AlternativeSMFIPAddress

    def matches(self, csids: FqCsids, group: str | None, cp_fseid: FSEID) -> bool:
        if self.csids & csid_keys(csids):
            return True
        if group is not None and group in self.group_ids:
            return True
        return bool({cp_fseid.ipv4, cp_fseid.ipv6} & self.cp_addresses)


def selectors(request: Message) -> list[SetSelector]:
    """The PFCP Session Change Infos of a Session Set Modification Request, checked: each
    names sessions (cause 67 otherwise) and an Alternative SMF IP Address with an address."""
    out = []
    for info in request.get_all(T.PFCP_SESSION_CHANGE_INFO):
        if not isinstance(info, Grouped):
            continue
        alt = info.get(T.ALTERNATIVE_SMF_IP_ADDRESS)
        if not isinstance(alt, AlternativeSMFIPAddress) or (alt.ipv4 is None and alt.ipv6 is None):
            raise RuleError(
                Cause.MANDATORY_IE_INCORRECT,
                "PFCP Session Change Info without an Alternative SMF IP Address",
                offending_ie=T.ALTERNATIVE_SMF_IP_ADDRESS,
            )
        cp_addresses = {
            a
            for ie in info.get_all(T.CP_IP_ADDRESS)
            if isinstance(ie, CPIPAddress)
            for a in (ie.ipv4, ie.ipv6)
            if a is not None
        }
        selector = SetSelector(
            frozenset(csid_keys(c for c in info.get_all(T.FQ_CSID) if isinstance(c, FQCSID))),
            frozenset(g.text for g in info.get_all(T.GROUP_ID) if isinstance(g, GroupID)),
            frozenset(cp_addresses),
            alt,
        )
        if not (selector.csids or selector.group_ids or selector.cp_addresses):
            raise RuleError(
                Cause.CONDITIONAL_IE_MISSING,
                "PFCP Session Change Info names no FQ-CSID, Group Id or CP IP Address",
                offending_ie=T.FQ_CSID,
            )
        out.append(selector)
    if not out:
        raise RuleError(
            Cause.MANDATORY_IE_MISSING,
            "no PFCP Session Change Info",
            offending_ie=T.PFCP_SESSION_CHANGE_INFO,
        )
    return out


def moved_fseid(fseid: FSEID, alternative: AlternativeSMFIPAddress) -> FSEID:
    """The CP F-SEID after a move: the same SEID at the alternative address."""
    return FSEID(fseid.seid, alternative.ipv4, alternative.ipv6)

"""Flow Description (TS 29.244 8.2.5 / TS 29.212 5.4.2, IPFilterRule of RFC 6733) to SDF
filters: ``permit out <proto> from <remote> [ports] to <ue> [ports]``.

The rule describes downlink packets (from the remote end to the UE); the datapath applies
it swapped to uplink packets. ``assigned`` (the UE's own address) and ``any`` become
"no address condition". Some SMFs send an uplink PDR's filter as an uplink flow, ``permit
in <proto> from <ue> [ports] to <remote> [ports]`` (the direction "in" of TS 29.214 5.3.8:
the packet's own source and destination): read as the ``permit out`` rule it mirrors.

Port lists: each side's comma list is kept as ranges, sorted, with overlapping and adjacent
entries merged (``80,81,82-90`` is the one range 80-90). A datapath SDF filter holds one
range per side, so a rule with lists on both sides needs one filter per pair of ranges; that
count is computed before anything is built and bounded by ``max_filters`` (the datapath's
rules per direction and session, ``UPF_MAX_RULES`` in upf_rules.h): a rule beyond it is
refused with :class:`FlowDescriptionTooCostly`, whatever the size of the lists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from pfcpd.datapath.interface import IPNetwork, SdfFilter

from ..pfcp import Cause
from .errors import RuleError

MAX_FILTERS = 64  # upf_rules.h UPF_MAX_RULES: rules (PDR x SDF filter) per direction
MAX_TEXT = 4096  # longer flow descriptions are refused before they are tokenised


class FlowDescriptionError(ValueError):
    """A flow description that is not valid IPFilterRule text (or not the subset TS 29.244
    allows)."""


class FlowDescriptionTooCostly(FlowDescriptionError):
    """A valid flow description that needs more datapath filters than one rule may use."""


def _address(token: str) -> IPNetwork | None:
    if token in ("any", "assigned"):
        return None
    try:
        return ipaddress.ip_network(token, strict=False)
    except ValueError as e:
        raise FlowDescriptionError(f"bad address {token!r}") from e


def port_ranges(token: str) -> tuple[tuple[int, int], ...]:
    """The ranges of a port list, sorted, overlapping and adjacent ones merged."""
    ranges = []
    for part in token.split(","):
        lo_s, _, hi_s = part.partition("-")
        if not lo_s.isdigit() or not (hi_s or lo_s).isdigit() or len(lo_s) > 5 or len(hi_s) > 5:
            raise FlowDescriptionError(f"bad port {part!r}")
        lo, hi = int(lo_s), int(hi_s or lo_s)
        if not lo <= hi <= 65535:
            raise FlowDescriptionError(f"bad port range {part!r}")
        ranges.append((lo, hi))
    ranges.sort()
    merged = [ranges[0]]
    for lo, hi in ranges[1:]:
        last_lo, last_hi = merged[-1]
        if lo <= last_hi + 1:
            merged[-1] = (last_lo, max(last_hi, hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _is_ports(token: str) -> bool:
    return bool(token) and token[0].isdigit() and all(c.isdigit() or c in ",-" for c in token)


def parse_flow_description(text: str, max_filters: int = MAX_FILTERS) -> tuple[SdfFilter, ...]:
    """The SDF filters of ``text``: one per pair of port ranges (one when neither side has a
    list). Raises FlowDescriptionError, or FlowDescriptionTooCostly beyond ``max_filters``."""
    if len(text) > MAX_TEXT:
        raise FlowDescriptionTooCostly(f"flow description longer than {MAX_TEXT} characters")
    tokens = text.split()
    if tokens[:1] != ["permit"] or tokens[1:2] not in (["out"], ["in"]):
        raise FlowDescriptionError("a flow description starts with 'permit out' or 'permit in'")
    uplink = tokens[1] == "in"  # (from the UE to the remote end)
    try:
        proto_tok, from_tok = tokens[2], tokens[3]
    except IndexError as e:
        raise FlowDescriptionError("truncated flow description") from e
    if from_tok != "from":
        raise FlowDescriptionError("expected 'from'")
    if proto_tok == "ip":
        protocol = None
    elif proto_tok.isdigit() and int(proto_tok) < 256:
        protocol = int(proto_tok)
    else:
        raise FlowDescriptionError(f"bad protocol {proto_tok!r}")
    rest = tokens[4:]
    if not rest:
        raise FlowDescriptionError("missing source address")
    source = _address(rest.pop(0))
    source_ports: tuple[tuple[int, int] | None, ...] = (None,)
    if rest and _is_ports(rest[0]):
        source_ports = port_ranges(rest.pop(0))
    if not rest or rest.pop(0) != "to":
        raise FlowDescriptionError("expected 'to'")
    if not rest:
        raise FlowDescriptionError("missing destination address")
    destination = _address(rest.pop(0))
    destination_ports: tuple[tuple[int, int] | None, ...] = (None,)
    if rest and _is_ports(rest[0]):
        destination_ports = port_ranges(rest.pop(0))
    remote, remote_ports, ue, ue_ports = (
        (destination, destination_ports, source, source_ports)
        if uplink
        else (source, source_ports, destination, destination_ports)
    )
    if rest:
        raise FlowDescriptionError(f"unsupported options {' '.join(rest)!r}")
    cost = len(remote_ports) * len(ue_ports)
    if cost > max_filters:
        raise FlowDescriptionTooCostly(
            f"needs {cost} filters ({len(remote_ports)} x {len(ue_ports)} port ranges),"
            f" at most {max_filters}"
        )
    return tuple(
        SdfFilter(protocol=protocol, remote=remote, ue=ue, remote_ports=rp, ue_ports=up)
        for rp in remote_ports
        for up in ue_ports
    )


def filters_or_refusal(
    text: str,
    what: str,
    offending_ie: int,
    too_costly: Callable[[FlowDescriptionTooCostly], RuleError] | None = None,
) -> tuple[SdfFilter, ...]:
    """:func:`parse_flow_description` for a request: invalid text fails the request with
    cause 69 naming ``offending_ie`` (``what`` says whose flow description it is); a rule
    beyond the filter bound fails with ``too_costly``'s error when given (else as invalid)."""
    try:
        return parse_flow_description(text)
    except FlowDescriptionTooCostly as e:
        if too_costly is None:
            raise _incorrect(text, what, offending_ie, e) from e
        raise too_costly(e) from e
    except FlowDescriptionError as e:
        raise _incorrect(text, what, offending_ie, e) from e


def _incorrect(text: str, what: str, offending_ie: int, e: Exception) -> RuleError:
    return RuleError(
        Cause.MANDATORY_IE_INCORRECT,
        f"{what}: flow description {text!r}: {e}",
        offending_ie=offending_ie,
    )

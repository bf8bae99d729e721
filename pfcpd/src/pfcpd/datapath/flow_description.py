"""Flow Description (TS 29.244 8.2.5 / TS 29.212 5.4.2, IPFilterRule of RFC 6733) to SDF
filters: ``permit out <proto> from <remote> [ports] to <ue> [ports]``.

The rule describes downlink packets (from the remote end to the UE); the datapath applies
it swapped to uplink packets. ``assigned`` (the UE's own address) and ``any`` become
"no address condition". A comma list of ports yields one filter per entry.
"""

from __future__ import annotations

import ipaddress
import itertools

from pfcpd.datapath.interface import IPNetwork, SdfFilter


class FlowDescriptionError(ValueError):
    pass


def _address(token: str) -> IPNetwork | None:
    if token in ("any", "assigned"):
        return None
    try:
        return ipaddress.ip_network(token, strict=False)
    except ValueError as e:
        raise FlowDescriptionError(f"bad address {token!r}") from e


def _ports(token: str) -> list[tuple[int, int]]:
    out = []
    for part in token.split(","):
        lo_s, _, hi_s = part.partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s or lo_s)
        except ValueError as e:
            raise FlowDescriptionError(f"bad port {part!r}") from e
        if not 0 <= lo <= hi <= 65535:
            raise FlowDescriptionError(f"bad port range {part!r}")
        out.append((lo, hi))
    return out


def _is_ports(token: str) -> bool:
    return bool(token) and token[0].isdigit() and all(c.isdigit() or c in ",-" for c in token)


def parse_flow_description(text: str) -> tuple[SdfFilter, ...]:
    tokens = text.split()
    if tokens[:2] != ["permit", "out"]:
        raise FlowDescriptionError("a flow description starts with 'permit out'")
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
    remote = _address(rest.pop(0))
    remote_ports: list[tuple[int, int] | None] = [None]
    if rest and _is_ports(rest[0]):
        remote_ports = list(_ports(rest.pop(0)))
    if not rest or rest.pop(0) != "to":
        raise FlowDescriptionError("expected 'to'")
    if not rest:
        raise FlowDescriptionError("missing destination address")
    ue = _address(rest.pop(0))
    ue_ports: list[tuple[int, int] | None] = [None]
    if rest and _is_ports(rest[0]):
        ue_ports = list(_ports(rest.pop(0)))
    if rest:
        raise FlowDescriptionError(f"unsupported options {' '.join(rest)!r}")
    return tuple(
        SdfFilter(protocol=protocol, remote=remote, ue=ue, remote_ports=rp, ue_ports=up)
        for rp, up in itertools.product(remote_ports, ue_ports)
    )

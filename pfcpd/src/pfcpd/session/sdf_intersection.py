"""The intersection of SDF filters: the filter that matches the packets two filters both
match.

A PDI's match fields all apply together (TS 29.244 5.2.1): a PDI with SDF filters and an
Application ID matches a packet that matches one of its SDF filters and one of its
application's flows. A datapath PDR matches a packet that matches one of its filters, so
its filters are the non-empty pairwise intersections (`intersections`).

Field by field (None is "any"): the protocol, SPI and flow label are equal or one is any;
of two networks of one family, one contains the other (prefixes nest or are disjoint)
and the narrower one is kept, and networks of different families meet nowhere; port
ranges overlap; ToS/Traffic Class values agree on the bits both masks hold, and the
intersection holds the bits of either mask. A filter whose remote and UE networks are of
different families matches no packet either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..datapath.interface import IPNetwork, SdfFilter

V = TypeVar("V")


class _Disjoint(Exception):
    """No packet matches both filters (raised for the first field that shows it)."""


def _same(a: V | None, b: V | None) -> V | None:
    if a is None:
        return b
    if b is not None and a != b:
        raise _Disjoint
    return a


def _narrower(a: IPNetwork | None, b: IPNetwork | None) -> IPNetwork | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.version != b.version:
        raise _Disjoint
    narrow, wide = (a, b) if a.prefixlen >= b.prefixlen else (b, a)
    if narrow.network_address not in wide:
        raise _Disjoint
    return narrow


def _overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    if lo > hi:
        raise _Disjoint
    return (lo, hi)


def _tos(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    """(value, mask) pairs: the values agree on the bits both masks hold."""
    if a is None:
        return b
    if b is None:
        return a
    (va, ma), (vb, mb) = a, b
    if (va ^ vb) & ma & mb:
        raise _Disjoint
    return ((va & ma) | (vb & mb), ma | mb)


def _intersect(a: SdfFilter, b: SdfFilter) -> SdfFilter:
    remote, ue = _narrower(a.remote, b.remote), _narrower(a.ue, b.ue)
    if remote is not None and ue is not None and remote.version != ue.version:
        raise _Disjoint
    return SdfFilter(
        protocol=_same(a.protocol, b.protocol),
        remote=remote,
        ue=ue,
        remote_ports=_overlap(a.remote_ports, b.remote_ports),
        ue_ports=_overlap(a.ue_ports, b.ue_ports),
        tos=_tos(a.tos, b.tos),
        spi=_same(a.spi, b.spi),
        flow_label=_same(a.flow_label, b.flow_label),
    )


def intersect(a: SdfFilter, b: SdfFilter) -> SdfFilter | None:
    """The filter matching the packets both ``a`` and ``b`` match; None when no packet
    matches both."""
    try:
        return _intersect(a, b)
    except _Disjoint:
        return None


def intersections(
    filters: Sequence[SdfFilter], flows: Sequence[SdfFilter], limit: int
) -> list[SdfFilter]:
    """The non-empty intersections of each of ``filters`` with each of ``flows``, in that
    order, each once; at most ``limit`` + 1 of them (the caller refuses more than
    ``limit``: the pairs are not all computed then)."""
    out: dict[SdfFilter, None] = {}
    for f in filters:
        for flow in flows:
            both = intersect(f, flow)
            if both is not None:
                out[both] = None
                if len(out) > limit:
                    return list(out)
    return list(out)

"""The layout of a session's stored rules: what a modification that only updates FARs
reads of them without decoding them all (`SessionEngine._modify_fars`).

A session keeps its rules as the TLV octets of their Create groups in `RuleSet.groups`
order (`Session.rules_blob`, deflated). Sessions of one shape keep the same octets but for
the values of a few leaf IEs: each PDR's PDI F-TEID and UE IP Address, each FAR's Outer
Header Creation (the first of its first Forwarding Parameters). A `StoredLayout` is what
one set of such octets holds: where each group lies, the spans of those leaf IEs, the keys
its rules were compiled by (`compile.CompileContext.compiled`) and the octets around the
leaves' values (``pieces``). Octets of the same length with the same pieces are of that
layout: every TLV header is among the pieces, so a walk over them finds the same IEs at
the same places, and only those leaves' values differ (what `pdr_shape` and `far_shape`
leave out).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..pfcp import IE, Grouped, IEType, IgnoredIE, decode_ies
from ..pfcp.ies_address import FTEID, OuterHeaderCreation, UEIPAddress
from ..pfcp.ies_flags import MeasurementInformation
from .errors import RuleError
from .rules import KINDS, rule_id
from .shapes import far_shape, pdi_slots, pdr_shape

T = IEType
_TL = struct.Struct("!HH")
Span = tuple[int, int]  # (first octet, octet after) of an IE's TLV in the stored octets
# Create group type -> (kind, its rank in `RuleSet.groups` order)
_CREATE = {kinds[0]: (kind, rank) for rank, (kind, kinds) in enumerate(KINDS.items())}
# The leaf IEs whose values differ between sessions of a layout: the class each decodes to.
_LEAVES: dict[int, type[IE]] = {
    T.F_TEID: FTEID,
    T.UE_IP_ADDRESS: UEIPAddress,
    T.OUTER_HEADER_CREATION: OuterHeaderCreation,
}


@dataclass(frozen=True, slots=True)
class StoredLayout:
    """The layout of a session's stored rule octets (see the module's doc). ``pdrs``: each
    PDR's ID, the key its common part was compiled by (`pdr_shape`) and the spans of its
    PDI's F-TEID and UE IP Address (None: it has none); ``fars``: each FAR's ID, its span,
    the key it was compiled by (its octets; with an Outer Header Creation, the compile
    module's FAR_SHAPE and its `far_shape`) and the span of that Outer Header Creation;
    ``qers``: each QER's ID and octets; ``urrs``: each URR's ID, octets and group (decoded
    once, read only); ``bar``: the first BAR's ID and group; ``bar_ids``: every BAR's
    group by ID; ``before_qos``: the URRs measuring before QoS enforcement (MBQE)."""

    length: int
    pieces: tuple[tuple[int, bytes], ...]  # (where, octets) around the leaves' values
    pdrs: tuple[tuple[int, bytes, Span | None, Span | None], ...]
    fars: tuple[tuple[int, Span, bytes, Span | None], ...]
    far_at: dict[int, int]  # FAR ID -> its index in ``fars``
    qers: tuple[tuple[int, bytes], ...]
    urrs: tuple[tuple[int, bytes, Grouped], ...]
    urr_ids: frozenset[int]
    bar: tuple[int, Grouped] | None
    bars: dict[int, Grouped]
    before_qos: tuple[int, ...]

    def fits(self, raw: bytes) -> bool:
        """``raw`` (of this layout's length) is of this layout."""
        startswith = raw.startswith
        for at, piece in self.pieces:  # noqa: SIM110  (a loop: all() costs twice as much)
            if not startswith(piece, at):
                return False
        return True


def leaf(raw: bytes, span: Span) -> IE | None:
    """The leaf IE whose TLV is at ``span`` in stored octets of a layout, decoded as the
    whole rules' decoding makes it; None when its value does not decode cleanly to the
    class of its type (a group with it would not keep its octets)."""
    ignored: list[IgnoredIE] = []
    ies = decode_ies(raw, span[0], span[1], ignored)
    if ignored or len(ies) != 1:
        return None
    ie = ies[0]
    return ie if type(ie) is _LEAVES.get(ie.type) else None


def stored_layout(raw: bytes, far_shape_key: bytes) -> StoredLayout | None:
    """The layout of the stored rule octets ``raw``; None when they are not what the
    engine stores (Create groups of unique IDs in `RuleSet.groups` order, decoded without
    setting an IE aside), or a PDI has two F-TEIDs or UE IP Addresses. ``far_shape_key``:
    the prefix of the keys FARs are compiled by with their shape (`compile.FAR_SHAPE`)."""
    ignored: list[IgnoredIE] = []
    groups = decode_ies(raw, 0, len(raw), ignored)
    if ignored:
        return None
    spans: list[Span] = []  # the leaves' TLVs
    pdrs: list[tuple[int, bytes, Span | None, Span | None]] = []
    fars: list[tuple[int, Span, bytes, Span | None]] = []
    qers: list[tuple[int, bytes]] = []
    urrs: list[tuple[int, bytes, Grouped]] = []
    bars: dict[int, Grouped] = {}
    ids: dict[str, set[int]] = {kind: set() for kind in KINDS}
    at, last_rank = 0, 0
    for g in groups:
        octets = g.raw if isinstance(g, Grouped) else None
        created = _CREATE.get(g.type)
        if octets is None or created is None or not raw.startswith(octets, at):
            return None
        assert isinstance(g, Grouped)
        kind, rank = created
        try:
            rid = rule_id(g, kind)
        except RuleError:
            return None
        if rank < last_rank or rid in ids[kind]:
            return None
        last_rank = rank
        ids[kind].add(rid)
        start, at = at, at + len(octets)
        if kind == "pdr":
            found = _pdi_leaves(g, octets, start)
            if found is None:
                return None
            fteid, ue = found
            spans += [s for s in (fteid, ue) if s is not None]
            pdrs.append((rid, pdr_shape(octets), fteid, ue))
        elif kind == "far":
            ohc = _first_ohc(octets, start)
            if ohc is None:
                fars.append((rid, (start, at), octets, None))
                continue
            shape = far_shape(octets)
            if shape is None or leaf(raw, ohc) is None:
                return None
            spans.append(ohc)
            fars.append((rid, (start, at), far_shape_key + shape, ohc))
        elif kind == "qer":
            qers.append((rid, octets))
        elif kind == "urr":
            urrs.append((rid, octets, g))
        else:
            bars[rid] = g
    if at != len(raw):
        return None
    pieces, at = [], 0
    for first, after in sorted(spans):  # (the values: each TLV's header stays a piece)
        pieces.append((at, raw[at : first + 4]))
        at = after
    pieces.append((at, raw[at:]))
    return StoredLayout(
        length=len(raw),
        pieces=tuple(p for p in pieces if p[1]),
        pdrs=tuple(pdrs),
        fars=tuple(fars),
        far_at={far[0]: i for i, far in enumerate(fars)},
        qers=tuple(qers),
        urrs=tuple(urrs),
        urr_ids=frozenset(u[0] for u in urrs),
        bar=next(iter(bars.items()), None),
        bars=bars,
        before_qos=tuple(
            urr_id
            for urr_id, _, g in urrs
            if isinstance(info := g.get(T.MEASUREMENT_INFORMATION), MeasurementInformation)
            and info.has("MBQE")
        ),
    )


def _pdi_leaves(g: Grouped, octets: bytes, start: int) -> tuple[Span | None, Span | None] | None:
    """The spans of the F-TEID and UE IP Address of PDR ``g`` (octets ``octets`` at
    ``start``), None when its PDI has two of either or one that does not decode cleanly."""
    found = pdi_slots(octets)
    fteid = ue = None
    if found is None:
        return fteid, ue
    pdi = g.ies[found.pdi_at]
    if not isinstance(pdi, Grouped):
        return None
    for position, first, after in found.slots:
        child = pdi.ies[position]
        span = (start + first, start + after)
        if type(child) is not _LEAVES.get(child.type):
            return None
        if child.type == T.F_TEID:
            if fteid is not None:
                return None
            fteid = span
        else:
            if ue is not None:
                return None
            ue = span
    return fteid, ue


def _first_ohc(octets: bytes, start: int) -> Span | None:
    """The span of the first Outer Header Creation of the first Forwarding Parameters of
    a Create FAR's octets (at ``start``): the one `far_shape` leaves out."""
    unpack = _TL.unpack_from
    end, at = len(octets), 4
    while at < end:
        ie_type, length = unpack(octets, at)
        stop = at + 4 + length
        if ie_type == T.FORWARDING_PARAMETERS:
            inner = at + 4
            while inner < stop:
                child_type, child_length = unpack(octets, inner)
                child_stop = inner + 4 + child_length
                if child_type == T.OUTER_HEADER_CREATION:
                    return start + inner, start + child_stop
                inner = child_stop
            return None
        at = stop
    return None


LAYOUT_ENTRIES = 256  # bound of StoredLayouts (emptied when full)
PER_LENGTH = 4  # layouts kept of one length (the oldest found dropped)


class StoredLayouts:
    """The layouts of the stored rules the engine modified, by the octets' length.
    ``far_shape_key``: see `stored_layout`."""

    def __init__(self, far_shape_key: bytes) -> None:
        self._by_length: dict[int, list[StoredLayout]] = {}
        self._count = 0
        self._far_shape_key = far_shape_key

    def find(self, raw: bytes) -> StoredLayout | None:
        candidates = self._by_length.get(len(raw))
        if candidates:
            for layout in candidates:
                if layout.fits(raw):
                    return layout
        return None

    def learn(self, raw: bytes) -> StoredLayout | None:
        """The layout of ``raw`` (`stored_layout`), kept."""
        layout = stored_layout(raw, self._far_shape_key)
        if layout is None:
            return None
        if self._count >= LAYOUT_ENTRIES:
            self.clear()
        candidates = self._by_length.setdefault(len(raw), [])
        if len(candidates) >= PER_LENGTH:
            candidates.pop()
            self._count -= 1
        candidates.insert(0, layout)
        self._count += 1
        return layout

    def clear(self) -> None:
        self._by_length.clear()
        self._count = 0

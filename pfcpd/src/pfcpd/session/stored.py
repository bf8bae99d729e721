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

An Update FAR bringing a new Outer Header Creation (a handover's) has a shape too: its
octets but that IE's value (`UpdateShape`). What an update of one shape makes of a stored
FAR of one shape is, but for that value, the same octets (`FarUpdate`, checked when kept).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..pfcp import IE, Grouped, IEType, IgnoredIE, decode_ies, encode_groups
from ..pfcp.ies_address import FTEID, OuterHeaderCreation, UEIPAddress
from .errors import RuleError
from .rules import KINDS, merge_update, rule_id
from .shapes import far_shape, pdi_slots, pdr_shape, remember

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
    once, read only); ``bar``: the first BAR's ID and group; ``bars``: every BAR's group
    by ID."""

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
    # ``pieces``' octets, and what reads them out of octets of this length (one struct
    # unpack: `fits`); made of ``pieces``, so not compared
    piece_octets: tuple[bytes, ...] = dataclasses.field(compare=False)
    read_pieces: Callable[[bytes], tuple[bytes, ...]] = dataclasses.field(compare=False)

    def fits(self, raw: bytes) -> bool:
        """``raw`` (of this layout's length) is of this layout. (Its pieces read in one
        struct call and compared at once: ~2,900 instructions the call for the usual
        session's five pieces; ~7,700 with a loop step and a ``raw.startswith(piece, at)``
        call, arguments parsed, each.)"""
        return self.read_pieces(raw) == self.piece_octets


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
    kept = tuple(p for p in pieces if p[1])
    return StoredLayout(
        length=len(raw),
        pieces=kept,
        pdrs=tuple(pdrs),
        fars=tuple(fars),
        far_at={far[0]: i for i, far in enumerate(fars)},
        qers=tuple(qers),
        urrs=tuple(urrs),
        urr_ids=frozenset(u[0] for u in urrs),
        bar=next(iter(bars.items()), None),
        bars=bars,
        piece_octets=tuple(octets for _, octets in kept),
        read_pieces=_pieces_reader(kept),
    )


def _pieces_reader(pieces: tuple[tuple[int, bytes], ...]) -> Callable[[bytes], tuple[bytes, ...]]:
    """What reads the octets at ``pieces``' places (each of its piece's length) out of
    octets at least as long as the last piece's end."""
    fmt, end = ["<"], 0
    for at, octets in pieces:
        fmt.append(f"{at - end}x{len(octets)}s")
        end = at + len(octets)
    return struct.Struct("".join(fmt)).unpack_from


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
    return _nested(octets, T.FORWARDING_PARAMETERS, T.OUTER_HEADER_CREATION, start)


class FarUpdate(NamedTuple):
    """What an Update FAR of one shape makes of a stored FAR of one shape (`far_update`):
    the FAR's new octets but the value of the Outer Header Creation the update brings
    (``head``, that value's length, ``tail``), the key the new FAR is compiled by (the
    compile module's FAR_SHAPE and its `far_shape`), and the FAR as one such update made
    it (read only: what the others' hold but that Outer Header Creation, its references)."""

    head: bytes
    length: int
    tail: bytes
    key: bytes
    group: Grouped


class UpdateShape(NamedTuple):
    """Where an Update FAR's octets hold the value of the Outer Header Creation of its
    Update Forwarding Parameters (`update_shape`): the octets before and after it, both
    together (the shape), and the positions of the Update Forwarding Parameters among the
    update's children and of the Outer Header Creation among its."""

    head: bytes
    tail: bytes
    key: bytes
    ufp_at: int
    ohc_at: int

    def ohc(self, update: Grouped) -> OuterHeaderCreation | None:
        """The Outer Header Creation of ``update`` (octets of this shape): None unless
        GTP-U (and decoded as such)."""
        ies = update.ies
        ufp = ies[self.ufp_at] if len(ies) > self.ufp_at else None
        if not isinstance(ufp, Grouped) or len(ufp.ies) <= self.ohc_at:
            return None
        ohc = ufp.ies[self.ohc_at]
        return ohc if type(ohc) is OuterHeaderCreation and ohc.teid is not None else None


def update_shape(update: Grouped) -> UpdateShape | None:
    """The `UpdateShape` of an Update FAR; None unless it has its octets and one Update
    Forwarding Parameters with one Outer Header Creation (GTP-U)."""
    raw = update.raw
    if raw is None:
        return None
    ufp_at = ohc_at = -1
    for i, child in enumerate(update.ies):
        if child.type == T.UPDATE_FORWARDING_PARAMETERS:
            if ufp_at >= 0 or not isinstance(child, Grouped):
                return None
            ufp_at = i
    if ufp_at < 0:
        return None
    ufp = update.ies[ufp_at]
    assert isinstance(ufp, Grouped)
    for i, child in enumerate(ufp.ies):
        if child.type == T.OUTER_HEADER_CREATION:
            if ohc_at >= 0:
                return None
            ohc_at = i
    span = _nested(raw, T.UPDATE_FORWARDING_PARAMETERS, T.OUTER_HEADER_CREATION, 0)
    if ohc_at < 0 or span is None:
        return None
    head, tail = raw[: span[0] + 4], raw[span[1] :]
    shape = UpdateShape(head, tail, head + tail, ufp_at, ohc_at)
    return shape if shape.ohc(update) is not None else None


def far_update(
    layout: StoredLayout,
    at: int,
    raw: bytes,
    update: Grouped,
    ohc: OuterHeaderCreation,
    far_shape_key: bytes,
) -> FarUpdate | None:
    """The `FarUpdate` of Update FAR ``update`` (its Outer Header Creation ``ohc``, see
    `update_shape`) on FAR ``at`` of ``layout`` (its octets in ``raw``), checked: the
    update applied (`rules.merge_update`, encoded) with another TEID in ``ohc`` changes
    those octets there only, and with another TEID in the stored FAR's Outer Header
    Creation not at all. None when it does not hold (or the FAR's octets do not decode
    cleanly, or have no shape). ``far_shape_key``: see `stored_layout`."""
    _, (first, after), _, ohc_at = layout.fars[at]
    old = raw[first:after]
    done = _updated(old, update)
    probe = dataclasses.replace(ohc, teid=(ohc.teid or 0) ^ 0xFFFFFFFF)
    value, other = ohc.encode(), probe.encode()
    length = len(value)
    probed = _updated(old, _replaced(update, ohc, probe))
    if done is None or probed is None or len(other) != length:
        return None
    octets, group = done
    if len(probed[0]) != len(octets):
        return None
    differ = [i for i, (a, b) in enumerate(zip(octets, probed[0], strict=True)) if a != b]
    starts = (
        [
            i
            for i in range(max(0, differ[0] - length + 1), differ[0] + 1)
            if octets[i : i + length] == value
            and probed[0][i : i + length] == other
            and differ[-1] < i + length
        ]
        if differ
        else []
    )
    if len(starts) != 1:
        return None
    at_value = starts[0]
    if ohc_at is not None:  # (the stored FAR's own Outer Header Creation: replaced)
        stored = leaf(raw, ohc_at)
        if not isinstance(stored, OuterHeaderCreation) or stored.teid is None:
            return None
        encoded = dataclasses.replace(stored, teid=stored.teid ^ 0xFFFFFFFF).encode()
        if len(encoded) != ohc_at[1] - ohc_at[0] - 4:
            return None
        cut = ohc_at[0] + 4 - first
        again = _updated(old[:cut] + encoded + old[cut + len(encoded) :], update)
        if again is None or again[0] != octets:
            return None
    shape = far_shape(octets)
    if shape is None or shape != far_shape(probed[0]):
        return None
    tail = octets[at_value + length :]
    return FarUpdate(octets[:at_value], length, tail, far_shape_key + shape, group)


def _updated(octets: bytes, update: Grouped) -> tuple[bytes, Grouped] | None:
    """The octets of the FAR ``octets`` with ``update`` applied (`rules.merge_update`), as
    `SessionEngine._modify` encodes them, and the group; None when ``octets`` do not
    decode cleanly."""
    ignored: list[IgnoredIE] = []
    ies = decode_ies(octets, 0, len(octets), ignored)
    if ignored or len(ies) != 1 or not isinstance(ies[0], Grouped) or ies[0].raw is None:
        return None
    g = ies[0]
    merge_update(g, update)
    return encode_groups([g]), g


def _replaced(update: Grouped, ohc: IE, probe: IE) -> Grouped:
    """``update`` with ``probe`` in place of its Update Forwarding Parameters' ``ohc``."""
    return Grouped(
        update.type,
        [
            Grouped(c.type, [probe if x is ohc else x for x in c.ies])
            if c.type == T.UPDATE_FORWARDING_PARAMETERS and isinstance(c, Grouped)
            else c
            for c in update.ies
        ],
    )


def _nested(octets: bytes, outer: int, inner: int, start: int) -> Span | None:
    """The span of the first ``inner`` IE of the first ``outer`` group among the children
    of the group whose octets are ``octets`` (at ``start``)."""
    unpack = _TL.unpack_from
    end, at = len(octets), 4
    while at < end:
        ie_type, length = unpack(octets, at)
        stop = at + 4 + length
        if ie_type == outer:
            child = at + 4
            while child < stop:
                child_type, child_length = unpack(octets, child)
                child_stop = child + 4 + child_length
                if child_type == inner:
                    return start + child, start + child_stop
                child = child_stop
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
        # (stored FAR, update) shapes -> their `FarUpdate` (None: none holds), once seen
        # twice (``seen``: once)
        self._updates: dict[tuple[bytes, bytes, bytes], FarUpdate | None] = {}
        self._seen: dict[tuple[bytes, bytes, bytes], None] = {}
        self._update_shapes: dict[int, UpdateShape] = {}  # by the update's octets' length

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

    def far_update(
        self, layout: StoredLayout, at: int, raw: bytes, update: Grouped
    ) -> tuple[FarUpdate, OuterHeaderCreation] | None:
        """The `FarUpdate` of Update FAR ``update`` on FAR ``at`` of ``layout`` (octets
        ``raw``), and the Outer Header Creation it brings: from the second update of that
        shape on that FAR's shape. None: the FAR is decoded and updated instead."""
        octets = update.raw
        if octets is None:
            return None
        # (the last update shape of that length: octets with its head and tail are of it)
        shape = self._update_shapes.get(len(octets))
        if shape is None or not (octets.startswith(shape.head) and octets.endswith(shape.tail)):
            shape = update_shape(update)
            if shape is None:
                return None
            remember(self._update_shapes, len(octets), shape, UPDATE_ENTRIES)
        ohc = shape.ohc(update)
        if ohc is None:
            return None
        _, _, far_key, ohc_at = layout.fars[at]
        header = b"" if ohc_at is None else raw[ohc_at[0] : ohc_at[0] + 4]
        key = (far_key, header, shape.key)
        found = self._updates.get(key, _UNSEEN)
        if found is _UNSEEN:
            if key not in self._seen:
                remember(self._seen, key, None, UPDATE_ENTRIES)
                return None
            found = far_update(layout, at, raw, update, ohc, self._far_shape_key)
            remember(self._updates, key, found, UPDATE_ENTRIES)
        if found is None or (ohc_at is not None and leaf(raw, ohc_at) is None):
            return None  # (a stored Outer Header Creation that does not decode cleanly)
        return found, ohc  # type: ignore[return-value]

    def clear(self) -> None:
        self._by_length.clear()
        self._count = 0
        self._updates.clear()
        self._seen.clear()
        self._update_shapes.clear()


_UNSEEN = object()
UPDATE_ENTRIES = 1024  # bound of each of StoredLayouts' update dicts (emptied when full)

"""What sessions of one shape share, kept by the octets of their rules.

Sessions of one shape send the same rule groups but for what each session holds on its
own: a PDR's F-TEID and UE IP Address (chosen by the UP function, or given by the CP) and a
FAR's peer TEID. What the engine works out from the rest of a group's octets is kept by
those octets (`ShapeMemos`), bounded, and emptied by `ShapeMemos.clear`.

:func:`pdi_slots` finds where a Create PDR's octets hold its PDI and the PDI's F-TEID and
UE IP Address IEs: :func:`pdr_shape` leaves them out (a stored PDR's compile key), and a
`PdrPlan` puts the chosen ones back in (`PdrPlan.octets`); :func:`far_shape` leaves out
a FAR's Outer Header Creation.

A whole Session Establishment Request has a shape too: its IEs but the CP's F-SEID
(:func:`establishment_key`). What the engine works out of a request of a shape it has
established twice is kept as an `EstablishmentShape`: the next requests of that shape only
take their allocations and fill them in (`SessionEngine._establish`); when every F-TEID
and UE IP Address to fill in is of the usual kinds, without IE objects on the way
(`FillPlan`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..datapath.interface import Bar, Far, Pdr, Qer, Urr
from ..pfcp import IE, Grouped, IEType, Message, _walk
from ..pfcp.ies_address import FQCSID

if TYPE_CHECKING:
    from .answers import AnswerTemplate

T = IEType
_TL = struct.Struct("!HH")
# The PDI's children that differ from one session of a shape to the next.
PER_SESSION_PDI = (T.F_TEID, T.UE_IP_ADDRESS)


class PdiSlots(NamedTuple):
    """Where a Create PDR's TLV octets hold its PDI (its position among the PDR's
    children, its TLV's first octet and the octet after it) and, for each F-TEID and UE
    IP Address of the PDI, (its position among the PDI's children, first octet, octet
    after it)."""

    pdi_at: int
    start: int
    stop: int
    slots: tuple[tuple[int, int, int], ...]


def pdi_slots(raw: bytes) -> PdiSlots | None:
    """The `PdiSlots` of a Create PDR's TLV octets (``raw``, as `Grouped.raw` keeps
    them), None when it has no PDI."""
    unpack = _TL.unpack_from
    end = len(raw)
    at, index = 4, 0
    while at < end:
        ie_type, length = unpack(raw, at)
        stop = at + 4 + length
        if ie_type == T.PDI:
            slots = []
            inner, position = at + 4, 0
            while inner < stop:
                child_type, child_length = unpack(raw, inner)
                child_stop = inner + 4 + child_length
                if child_type in PER_SESSION_PDI:
                    slots.append((position, inner, child_stop))
                inner = child_stop
                position += 1
            return PdiSlots(index, at, stop, tuple(slots))
        at = stop
        index += 1
    return None


def pdr_shape(raw: bytes) -> bytes:
    """The TLV octets of a Create PDR group (``raw``, as `Grouped.raw` keeps them) without
    the F-TEIDs and UE IP Addresses of its PDI: what the PDR compiles to but its local
    F-TEID and UE address depends on these octets only (`compile.compile_pdrs` keeps it by
    them, as by the octets of a CP's PDR whose F-TEID and UE address the UP function
    chose: those hold an F-TEID or UE IP Address with CHOOSE, a shape never does). The
    octets of a PDR without either are its shape."""
    found = pdi_slots(raw)
    if found is None or not found.slots:
        return raw
    start, stop = found.start, found.stop
    kept, at = [], start + 4
    for _, first, after in found.slots:
        kept.append(raw[at:first])
        at = after
    kept.append(raw[at:stop])
    pdi = b"".join(kept)
    body = b"".join((raw[4:start], _TL.pack(T.PDI, len(pdi)), pdi, raw[stop:]))
    return _TL.pack(_TL.unpack_from(raw)[0], len(body)) + body


# far_shape(raw) -> bytes | None: the TLV octets of a Create FAR group (``raw``) without the
# first Outer Header Creation of its first Forwarding Parameters (the peer's TEID, one per
# session): what the FAR compiles to but its outer header creation depends on these octets
# only (`compile.compile_program` keeps it by them). None when it has no Outer Header
# Creation there. In C (_walk.c): `establishment_key` makes one per request.
far_shape = _walk.far_shape


class PdrPlan(NamedTuple):
    """What the engine fills in of a Create PDR the CP sent (`SessionEngine._allocate`),
    worked out once per PDR octets."""

    pdi_at: int  # the PDI's position among the PDR's children
    filled: tuple[int, ...]  # the positions of the PDI's children to fill in (CHOOSE)
    pool: str | None  # the network instance whose UE pools a CHV4 (and CHV6) draws from
    given: bool  # the PDI has an F-TEID or UE address the CP gave (in the octets)
    # The PDR's octets around the IEs filled in: before the PDI, after it, and the PDI's
    # other children before/between/after them (None: made by encoding the group instead,
    # `PdrPlan.octets`).
    head: bytes
    tail: bytes
    pieces: tuple[bytes, ...] | None
    # The network instance whose UE pools a CHV6 draws from, when not ``pool``'s (a second
    # UE IP address Pool Identity: `Choosing._ue_pool_instance`)
    pool6: str | None = None

    def octets(self, pdr_type: int, pdi_type: int, children: list[IE]) -> bytes | None:
        """The TLV octets of the PDR with its PDI's children ``children`` (those at
        ``filled`` filled in here), byte for byte what `encode_groups` makes of that PDR,
        only the IEs filled in encoded; None when they would not fit a TLV (then
        `encode_groups` refuses it) or when the plan has no octets."""
        pieces = self.pieces
        if pieces is None:
            return None
        parts = [pieces[0]]
        pack = _TL.pack
        for i, at in enumerate(self.filled):
            ie = children[at]  # (an FTEID or UEIPAddress: `encode_ies` keeps none of them)
            value = ie.encode()
            parts += (pack(ie.type, len(value)), value, pieces[i + 1])
        body = b"".join(parts)
        if len(body) > 0xFFFF:
            return None
        value = b"".join([self.head, pack(pdi_type, len(body)), body, self.tail])
        if len(value) > 0xFFFF:
            return None
        return pack(pdr_type, len(value)) + value


def plan_pieces(raw: bytes, filled: tuple[int, ...]) -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """(head, tail, pieces) of a `PdrPlan` (see there) cut from ``raw``, the octets of a
    PDR whose PDI's children at ``filled`` are among its `pdi_slots`."""
    found = pdi_slots(raw)
    assert found is not None
    spans = {position: (first, after) for position, first, after in found.slots}
    pieces, at = [], found.start + 4
    for position in filled:
        first, after = spans[position]
        pieces.append(raw[at:first])
        at = after
    pieces.append(raw[at : found.stop])
    return raw[4 : found.start], raw[found.stop :], tuple(pieces)


K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, bound: int) -> None:
    """``memo[key] = value``, ``memo`` emptied first when it holds ``bound`` entries."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value


SHAPE_ENTRIES = 1024  # bound of each of ShapeMemos' dicts (emptied when full)


# The leaf IEs of a Session Establishment Request whose values make a difference to the
# session (`SessionEngine._establish` reads no other but the CP's F-SEID: the others, such as
# User ID, DNN or S-NSSAI, are not part of a shape).
ESTABLISHMENT_LEAVES = frozenset({T.FQ_CSID, T.GROUP_ID})


def establishment_key(request: Message) -> tuple[object, ...] | None:
    """The shape of a Session Establishment Request: its groups in order, each by its
    octets (a Create FAR creating an outer header by (OUTER_HEADER_CREATION, its
    `far_shape`)), and (type, encoded value) of its `ESTABLISHMENT_LEAVES`. None when the
    codec set IEs aside or a group has no octets (its decoding set some aside). The walk
    over the IEs is _walk.c's."""
    if request.ignored:
        return None
    return _walk.establishment_key(request.ies, ESTABLISHMENT_LEAVES)


@dataclass(frozen=True, slots=True)
class PdrStep:
    """One Create PDR of an `EstablishmentShape`, in the request's order: what it compiles
    to but its local F-TEID and UE address (``common``, `compile.pdr_common`), and either
    its octets and datapath PDRs as they are (nothing to fill in: ``plan`` None), or its
    `PdrPlan` with the PDI's children as the CP sent them and the network instance whose
    UE pools a CHV4/CHV6 draws from."""

    pdr_id: int
    common: Any
    octets: bytes
    pdrs: tuple[Pdr, ...]
    plan: PdrPlan | None
    pdr_type: int = 0
    pdi_type: int = 0
    children: tuple[IE, ...] = ()
    pool: str = ""
    pool6: str | None = None  # (`PdrPlan.pool6`)


# (`PdrFill`, `FarFill`, `FillPlan`: classes of slots, not NamedTuples, whose fields the
# interpreter reads through a generic attribute lookup, not a specialized one: 1.3 k
# instructions less per `_fill_values`)
@dataclass(frozen=True, slots=True)
class PdrFill:
    """The datapath PDR of a Create PDR of a `FillPlan`: the allocations (`FillPlan.takes`)
    of its local F-TEID's TEID and of its UE address (-1: none), and its PDR ID and
    `compile.pdr_common` (its other fields, in `Pdr`'s order: `compile.add_pdrs`)."""

    fteid: int
    ue: int
    fields: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class FarFill:
    """A FAR creating an outer header, of a `FillPlan`: its group's position among the
    request's IEs, the positions of its first Forwarding Parameters among the group's
    children and of their first Outer Header Creation among theirs (as in the
    request the shape was learnt from: checked, `compile.far_like`), the FAR its shape
    compiled to and its ID."""

    at: int
    ohc_at: tuple[int, int]
    base: Far
    far_id: int


@dataclass(frozen=True, slots=True)
class FillPlan:
    """How `SessionEngine._fill` makes a session of an `EstablishmentShape` whose every
    F-TEID and UE IP Address to fill in is of the usual kind (an F-TEID with CH of our N3
    address's family, a UE IP Address with CHV4 alone): from the allocations' values and
    constant octets, with no IE encoded. Checked when it is made: filled in with the
    allocations of the session it was learnt from, it gives back that session, its rules'
    octets, program and answer (`SessionEngine._shape_of`)."""

    # The allocations in the order `SessionEngine._allocate` takes them: (None: a TEID; or
    # the network instance of an IPv4 UE address, the ID of the PDR that asks first).
    takes: tuple[tuple[str | None, int], ...]
    # The rules' octets: picked (``order``) from [the octets of each allocation (a TEID,
    # an IPv4 address), the octets of the request's groups at ``far_octets`` (Create FARs),
    # then ``constants``].
    order: Callable[[list[bytes]], tuple[bytes, ...]]
    far_octets: tuple[int, ...]
    constants: tuple[bytes, ...]
    n3: Any  # our N3 address, as a local F-TEID names it (`compile.local_fteid`)
    pdrs: tuple[PdrFill | tuple[Pdr, ...], ...]  # per Create PDR (a tuple: its PDRs as they are)
    fars: tuple[Far | FarFill, ...]
    # Per Created PDR of the answer: its PDR ID IE and, per IE chosen, its allocation and
    # for a UE IP Address its S/D flag (None: an F-TEID).
    created: tuple[tuple[IE, tuple[tuple[int, bool | None], ...]], ...]
    ues: tuple[tuple[int, str], ...]  # the UE addresses' allocations, network instances
    # Per datapath PDR of ``pdrs``: the allocations of its local F-TEID's TEID and of its
    # UE address (-1: none), else its local F-TEID and UE IP as they are (`_fill_values`).
    slots: tuple[tuple[int, int, Any, Any], ...]
    # Per FAR of ``fars`` creating an outer header: its `FarFill`, else its (peer, TEID).
    peered: tuple[FarFill | tuple[Any, int], ...] = ()


class ShapeToken:
    """What the programs of one `EstablishmentShape`, or of one FAR update of one stored
    layout (`SessionEngine._modified_shape`), are known as to the datapath
    (`SessionProgram.token`): an object of its own per shape, equal to itself only."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class EstablishmentShape:
    """What a Session Establishment Request of one shape (`establishment_key`) makes of a
    session but its allocations and its FARs' outer headers: the PDRs to fill in
    (`PdrStep`); the octets of its other rules (the FARs, QERs, URRs and BAR, in
    `RuleSet.groups` order), or for a FAR creating an outer header the position of its
    group among the request's IEs (the octets are the request's); the compiled FARs (such
    a FAR: its position, the FAR its shape compiled to and its ID: `compile.far_like`),
    QERs, URRs and BAR; its Create URR groups; what the session keeps of the request; the
    request's number of IEs and the positions of those that are no group (another request
    of the shape may have its leaves elsewhere: `filling._aligned`); its `FillPlan` when it
    has one; the token the programs filled in of it carry (`SessionProgram.token`: all
    made of its rules, the same but for the sessions' own values); the prefix lengths
    of the UE addresses of the PDRs it was learnt with (-1: none; `_fill_each` hands the
    token only to a program of these: an instance's IPv6 pools can give prefixes of
    other lengths); with a `FillPlan`, the octets of its sessions' answers
    (`answers.AnswerTemplate`, when they check out). Kept only for requests whose PDRs
    name no Application ID (their PFDs change)."""

    steps: tuple[PdrStep, ...]
    rest: tuple[bytes | int, ...]
    fars: tuple[Far | tuple[int, Far, int], ...]
    qers: tuple[Qer, ...]
    urrs: tuple[Urr, ...]
    bar: Bar | None
    urr_groups: dict[int, Grouped]
    ddn_delay: float
    fq_csids: tuple[FQCSID, ...]
    group_id: str | None
    layout: tuple[int, tuple[int, ...]]
    fill: FillPlan | None = None
    token: ShapeToken = field(default_factory=ShapeToken, compare=False)
    ue_lengths: tuple[int, ...] = ()
    answer: AnswerTemplate | None = None


class ShapeMemos:
    """The engine's memos by shape: the rule sets whose references were checked
    (`SessionEngine._check_references`), the `PdrPlan` of each PDR the CP sent with
    something to fill in (`SessionEngine._allocate`), by its octets, the establishment
    requests' shapes established once (``seen``) and twice or more (``establishments``,
    `EstablishmentShape`), by `establishment_key`, the rules compiled
    (`compile.CompileContext.compiled`, bounded there) and the tokens of the programs
    FAR updates make (``modified``)."""

    def __init__(self, compiled: dict[bytes, Any]) -> None:
        self.checked: dict[tuple[object, ...], None] = {}
        self.plans: dict[bytes, PdrPlan] = {}
        self.seen: dict[tuple[object, ...], None] = {}
        self.establishments: dict[tuple[object, ...], EstablishmentShape] = {}
        self.compiled: dict[bytes, Any] = compiled
        # (stored layout, FAR, update) and the PDRs' kinds -> the layout, the update and the
        # token of the programs a modification of them makes (`SessionEngine._modified_shape`)
        self.modified: dict[tuple[object, ...], tuple[object, object, ShapeToken]] = {}

    def clear(self) -> None:
        self.checked.clear()
        self.plans.clear()
        self.seen.clear()
        self.establishments.clear()
        self.compiled.clear()
        self.modified.clear()

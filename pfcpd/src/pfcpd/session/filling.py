"""Sessions of a known shape filled in (`Filling._fill`): an establishment of an
`EstablishmentShape` seen before takes only its allocations, as `_allocate` takes them, and
its rules' octets, program, UE addresses and answer's Created PDRs are made from the shape;
with a `FillPlan` and a datapath that keeps programs by shape, the session's own values in
place of its program (`_fill_values`, `_dp_install_filled`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ..datapath.interface import Far, IPAddress, IPNetwork, Pdr, SessionProgram
from ..pfcp import IE, Grouped, IEType, Message
from ..pfcp.ies_address import FTEID, UEIPAddress, remember_v4_octets
from .addresses import NETWORK_ENTRIES, SHARED_NETWORKS
from .allocation import Exhausted
from .choosing import Allocations, Choosing, created_pdrs
from .compile import add_pdrs, far_like, far_with, ohc_like
from .frozen import new_pdr, new_program
from .session import program_peers, ue_texts
from .shapes import EstablishmentShape, FarFill, FillPlan, PdrFill

T = IEType
# What a UE pool gives (`UeAddressPools.take_text`).
UeTaken = tuple[IPNetwork, str, str, int, bytes]
# A session filled in (`SessionEngine._fill`): the octets of its rules, its program, its UE
# addresses' texts (`Session.ue`), its answer's Created PDRs, its FARs' peers.
_Filled = tuple[
    bytes,
    SessionProgram,
    tuple[tuple[str, str], ...],
    list[IE],
    tuple[tuple[IPAddress, int], ...],
]
# The own values of a session of a `FillPlan` but its FARs' peers, as a datapath's
# `ShapedInstall` takes them: each PDR's local F-TEID and UE IP.
_Slots = tuple[list[tuple[IPAddress, int] | None], list[IPNetwork | None]]
# A session filled in from a `FillPlan` (`SessionEngine._fill`): `_Filled` with its program,
# or (when the datapath may install it from its own values) those values (`_Slots`).
# Its answer's Created PDRs: or, when its shape's `AnswerTemplate` makes the answer, the
# octets of its allocations (`FillPlan.takes`) that template takes, in a tuple.
_Created = list[IE] | tuple[bytes, ...]
_FilledAny = tuple[
    bytes,
    SessionProgram | _Slots,
    tuple[tuple[str, str], ...],
    _Created,
    tuple[tuple[IPAddress, int], ...],
]
# `_FilledAny` of the two kinds: with the session's program (`_filled`), with its own
# values (`_fill_values`).
_FilledProgram = tuple[
    bytes, SessionProgram, tuple[tuple[str, str], ...], _Created, tuple[tuple[IPAddress, int], ...]
]
_FilledSlots = tuple[
    bytes, _Slots, tuple[tuple[str, str], ...], _Created, tuple[tuple[IPAddress, int], ...]
]
pack_u32 = struct.Struct("!I").pack


class Filling(Choosing):
    def _dp_install_filled(
        self,
        seid: int,
        shape: EstablishmentShape,
        slots: _Slots,
        peers: tuple[tuple[IPAddress, int], ...],
    ) -> None:
        """Install a session of ``shape``'s `FillPlan` (its own values ``slots`` and its FARs'
        ``peers``: `_fill_values`): from those alone when the datapath keeps the shape by
        its token (`ShapedInstall.install_shaped`), else its program (`_fill_program`)."""
        shaped = self._shaped
        assert shaped is not None
        local_fteids, ue_ips = slots
        if shaped.install_shaped(seid, shape.token, local_fteids, ue_ips, peers, shape.bar):
            self._touched.append(seid)
            return
        fill = shape.fill
        assert fill is not None
        self._dp_install(seid, self._fill_program(shape, fill, slots, peers))

    def _fill(
        self, shape: EstablishmentShape, req: Message, alloc: Allocations, answer: bool = False
    ) -> _FilledAny:
        """The allocations of ``req``, of ``shape`` (as `_allocate` takes them, in the same
        order, refused the same way), filled in (`_filled`; `_fill_each` without a
        `FillPlan`); with a `FillPlan` and a datapath that has `ShapedInstall`, the
        session's own values in place of its program (`_fill_values`: the program is made
        only if the datapath does not keep the shape, `_dp_install_filled`). ``answer``:
        the shape's `AnswerTemplate` makes the answer (no Created PDRs made: the
        allocations' octets in their place)."""
        ies = _aligned(shape.layout, req.ies)
        fill = shape.fill
        if fill is None:
            return self._fill_each(shape, ies, alloc)
        values: list[bytes] = []  # per allocation: its octets
        made: list[Any] = []  # per allocation: its TEID, or what the pool gave (`UeTaken`)
        networks = SHARED_NETWORKS
        for instance, pdr_id in fill.takes:
            if instance is None:
                try:
                    teid = self.teids.take()
                except Exhausted:
                    raise self._teids_exhausted() from None
                alloc.teids.append(teid)
                values.append(pack_u32(teid))
                made.append(teid)
                continue
            try:
                ue = self.ue_pools.take_text(instance, 4)
            except Exhausted:
                raise self._ue_refusal(pdr_id, instance, 4, True) from None
            if ue is None:
                raise self._ue_refusal(pdr_id, instance, 4, False)
            net, text, _, _, octets = ue
            alloc.ue.append((instance, net))
            # (the PDRs naming the address find the object allocated (`shared_network`: a
            # modification's compile, 19 k instructions more without it; `remember_network`
            # inline), the encoders of the Created PDRs its octets: none when the
            # `AnswerTemplate` answers, which nothing else then encodes)
            networks[(text, 32)] = net
            if len(networks) > NETWORK_ENTRIES:
                networks.popitem(False)
            if not answer:
                remember_v4_octets(text, octets)
            values.append(octets)
            made.append(ue)
        if self._shaped is not None:
            return self._fill_values(fill, ies, values, made, answer)
        return self._filled(shape, fill, ies, values, made, answer)

    def _filled(
        self,
        shape: EstablishmentShape,
        fill: FillPlan,
        ies: list[IE],
        values: list[bytes],
        made: list[Any],
        answer: bool = False,
    ) -> _FilledProgram:
        """The session of ``shape`` from the request's IEs ``ies`` (`_aligned`) and, per
        allocation of `FillPlan.takes`, its octets (``values``: a TEID's, an IPv4
        address's) and its TEID or what the pool gave (``made``): the octets of its
        rules, its program, its UE addresses' texts, its Created PDRs (``answer``: the
        allocations' octets instead, `_fill`) and its FARs' peers."""
        raw, slots, ue, created, peers = self._fill_values(fill, ies, values, made, answer)
        return raw, self._fill_program(shape, fill, slots, peers), ue, created, peers

    def _fill_values(
        self,
        fill: FillPlan,
        ies: list[IE],
        values: list[bytes],
        made: list[Any],
        answer: bool = False,
    ) -> _FilledSlots:
        """`_filled`, with the session's own values (`_Slots`) in place of its program."""
        created: _Created = tuple(values) if answer else []
        for at in fill.far_octets:
            values.append(ies[at].raw)  # type: ignore[attr-defined]
        values += fill.constants
        order = fill.order  # (a call of ``fill.order(...)`` is no method: not specialized)
        raw = b"".join(order(values))
        n3 = fill.n3
        local_fteids: list[tuple[IPAddress, int] | None] = []
        ue_ips: list[IPNetwork | None] = []
        for fteid_at, ue_at, fteid, ue_ip in fill.slots:
            local_fteids.append((n3, made[fteid_at]) if fteid_at >= 0 else fteid)
            ue_ips.append(made[ue_at][0] if ue_at >= 0 else ue_ip)
        ctx = self._ctx
        peers: list[tuple[IPAddress, int]] = []
        for f in fill.peered:
            if type(f) is FarFill:  # (its group at ``at``: `_aligned`)
                peers.append(ohc_like(ctx, ies[f.at], f.far_id, f.ohc_at))  # type: ignore[arg-type]
            else:
                peers.append(f)  # type: ignore[arg-type]
        if not answer:
            ipv4, ipv6 = self._n3_text
            for pdr_ie, chosen in fill.created:
                children = [pdr_ie]
                for at, sd in chosen:
                    v = made[at]
                    children.append(
                        FTEID(v, ipv4, ipv6) if sd is None else UEIPAddress(v[1], None, sd)
                    )
                created.append(Grouped(_CREATED_PDR, children))  # type: ignore[union-attr]
        ues = fill.ues
        if len(ues) == 1:  # (the usual session)
            ((at, instance),) = ues
            ue: tuple[tuple[str, str], ...] = ((instance, made[at][2]),)
        else:  # (a loop, not a comprehension: ``made`` no closure's cell, read as a local)
            texts = []
            for at, instance in ues:
                texts.append((instance, made[at][2]))
            ue = tuple(texts)
        return raw, (local_fteids, ue_ips), ue, created, tuple(peers)

    def _fill_program(
        self,
        shape: EstablishmentShape,
        fill: FillPlan,
        slots: _Slots,
        peers: tuple[tuple[IPAddress, int], ...],
    ) -> SessionProgram:
        """The program of a session of ``shape``'s ``fill`` whose own values are ``slots``
        and ``peers`` (`_fill_values`)."""
        local_fteids, ue_ips = slots
        pdrs: list[Pdr] = []
        for p in fill.pdrs:
            if type(p) is PdrFill:
                pid, prec, source, far_id, inst, qfi, sdf, ohr, qers, urrs = p.fields
                i = len(pdrs)
                local, net = local_fteids[i], ue_ips[i]
                pdrs.append(
                    new_pdr(pid, prec, source, far_id, local, net, inst, qfi, sdf, ohr, qers, urrs)
                )
            else:
                pdrs += p  # type: ignore[arg-type]
        fars: list[Far] = []
        n = 0
        for f in fill.fars:
            if type(f) is FarFill:
                fars.append(far_with(f.base, peers[n]))
                n += 1
            else:
                if f.outer_header_creation is not None:  # type: ignore[union-attr]
                    n += 1
                fars.append(f)  # type: ignore[arg-type]
        # (its UE addresses IPv4 ones (`FillPlan`): the prefix lengths of the shape's)
        return new_program(tuple(pdrs), tuple(fars), shape.qers, shape.urrs, shape.bar, shape.token)

    def _fill_each(self, shape: EstablishmentShape, ies: list[IE], alloc: Allocations) -> _Filled:
        """`_fill` of a shape without `FillPlan` (``ies``: the request's, `_aligned`): each
        F-TEID and UE IP Address as `_allocate` fills it in, each PDR's octets made by its
        `PdrPlan`."""
        by_choose_id: dict[int, FTEID] = {}
        ue_by_family: dict[tuple[str, int], IPNetwork] = {}
        octets: list[bytes] = []
        pdrs: list[Pdr] = []
        ctx = self._ctx
        for step in shape.steps:
            plan = step.plan
            if plan is None:
                octets.append(step.octets)
                pdrs += step.pdrs
                continue
            pdr_id = step.pdr_id
            children = list(step.children)
            for at in plan.filled:
                child = children[at]
                if isinstance(child, FTEID):
                    children[at] = self._choose_fteid(pdr_id, child, by_choose_id, alloc, False)
                else:
                    assert isinstance(child, UEIPAddress)
                    pool, pool6 = step.pool, step.pool6
                    children[at] = self._choose_ue(pdr_id, child, pool, ue_by_family, alloc, pool6)
            pdr_octets = plan.octets(step.pdr_type, step.pdi_type, children)
            assert pdr_octets is not None  # (a shape's fit when it was learnt: `_learn`)
            octets.append(pdr_octets)
            add_pdrs(ctx, pdrs, pdr_id, step.common, *first_fteid_ue(children))
        for part in shape.rest:
            if isinstance(part, bytes):
                octets.append(part)
            else:  # (a FAR creating an outer header: the request's octets)
                octets.append(group_octets(ies[part]))
        fars: list[Far] = []
        for far in shape.fars:
            if isinstance(far, Far):
                fars.append(far)
            else:
                g = ies[far[0]]
                assert isinstance(g, Grouped)
                fars.append(far_like(ctx, far[1], g, far[2]))
        # (an IPv6 pool of another prefix length than when the shape was learnt: no token)
        token = shape.token if ue_lengths_of(pdrs) == shape.ue_lengths else None
        program = new_program(tuple(pdrs), tuple(fars), shape.qers, shape.urrs, shape.bar, token)
        ue = ue_texts(alloc.ue, alloc.texts)
        return b"".join(octets), program, ue, created_pdrs(alloc), program_peers(program)


_CREATED_PDR = T.CREATED_PDR


def _aligned(layout: tuple[int, tuple[int, ...]], ies: list[IE]) -> list[IE]:
    """A request's IEs ``ies`` with its groups where they were in the request an
    `EstablishmentShape` was learnt from (``layout``: its number of IEs, the positions of
    those that were no group): ``ies`` themselves when they are (the leaves that are not
    part of its shape, such as a User ID, may come anywhere)."""
    count, leaves = layout
    if len(ies) == count:
        for at in leaves:  # (a group: a Grouped, of no subclass; `type` tests no MRO)
            if type(ies[at]) is Grouped:
                break
        else:
            return ies
    groups = iter([ie for ie in ies if isinstance(ie, Grouped)])
    out = [ies[0]] * count  # (the leaves: not read)
    kept = set(leaves)
    for at in range(count):
        if at not in kept:
            out[at] = next(groups)
    return out


def group_octets(ie: IE) -> bytes:
    """The octets a decoded group kept (`Grouped.raw`)."""
    assert isinstance(ie, Grouped) and ie.raw is not None
    return ie.raw


def first_fteid_ue(children: list[IE]) -> tuple[IE | None, IE | None]:
    """The first F-TEID and the first UE IP Address among a PDI's ``children``."""
    fteid = ue = None
    for c in children:
        if fteid is None and isinstance(c, FTEID):
            fteid = c
        elif ue is None and isinstance(c, UEIPAddress):
            ue = c
    return fteid, ue


def ue_lengths_of(pdrs: Iterable[Pdr]) -> tuple[int, ...]:
    """The prefix length of each PDR's UE address (-1: none): `EstablishmentShape.ue_lengths`."""
    return tuple([-1 if p.ue_ip is None else p.ue_ip.prefixlen for p in pdrs])

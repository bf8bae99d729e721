"""Establishment shapes learnt: the second time a request of one shape is established the long
way, its `EstablishmentShape` is kept (`ShapeLearning._learn`), with its `FillPlan` and its
`AnswerTemplate` when filling them in with that session's allocations gives back the same
session and answer (`_shape_of`, `_fill_plan`).
"""

from __future__ import annotations

import logging
import operator
import struct
from dataclasses import replace
from typing import Any

from ..datapath.interface import Far, Pdr, SessionProgram
from ..pfcp import IE, Grouped, IEType, Message, encode_ies
from ..pfcp.ies_address import FTEID, NodeID, UEIPAddress
from .addresses import shared_network
from .answers import answer_template
from .choosing import pdr_id_ie
from .compile import add_pdrs, local_fteid, ohc_position, pdr_common
from .errors import RuleError
from .filling import Filling, first_fteid_ue, group_octets, pack_u32, ue_lengths_of
from .rules import RuleSet
from .session import Session, ue_network
from .shapes import (
    PER_SESSION_PDI,
    SHAPE_ENTRIES,
    EstablishmentShape,
    FarFill,
    FillPlan,
    PdrFill,
    PdrStep,
    far_shape,
    remember,
)
from .state import ACCEPTED

log = logging.getLogger("pfcpd.session")
T = IEType
_TL = struct.Struct("!HH")


class ShapeLearning(Filling):
    def _learn(
        self,
        key: tuple[object, ...],
        req: Message,
        rules: RuleSet,
        encoded: dict[int, bytes],
        program: SessionProgram,
        session: Session,
        created: list[IE],
        node_id: NodeID,
    ) -> None:
        """After establishing ``req`` the long way (answered naming ``node_id``): the
        second time a request of its shape is, keep its `EstablishmentShape` (the next ones
        take `_fill`'s way)."""
        memos = self.memos
        if key not in memos.seen:
            remember(memos.seen, key, None, SHAPE_ENTRIES)
            return
        shape = self._shape_of(req, rules, encoded, program, session, created, node_id)
        if shape is not None:
            remember(memos.establishments, key, shape, SHAPE_ENTRIES)

    def _shape_of(
        self,
        req: Message,
        rules: RuleSet,
        encoded: dict[int, bytes],
        program: SessionProgram,
        session: Session,
        created: list[IE],
        node_id: NodeID | None = None,
    ) -> EstablishmentShape | None:
        """The `EstablishmentShape` of ``req``, which made ``session`` (with ``rules``, their
        ``encoded`` octets and ``program``; ``created``: its answer's Created PDRs, which
        named ``node_id``); None when its PDRs name Application IDs, or when filling the
        shape in with this session's allocations does not give back the same octets and
        PDRs (then the request is not one `_fill` can take). Its `FillPlan`, when it has
        one, is kept only if filling it in with this session's allocations gives back the
        same session; so is its `AnswerTemplate` (made with ``node_id``) only if it gives
        back this session's answer."""
        if session.apps:
            return None
        ctx = self._ctx
        steps: list[PdrStep] = []
        octets: list[bytes] = []  # what `_fill` gives with this session's allocations
        pdrs: list[Pdr] = []
        try:
            for pdr_id, g in RuleSet.created_by(req).pdr.items():  # (the CP's PDRs)
                common, fteid, ue, same = pdr_common(ctx, pdr_id, g)
                raw = g.raw
                plan = self.memos.plans.get(raw) if raw is not None else None
                if plan is None:
                    plan = self._pdr_plan(pdr_id, g)
                if not same or raw is None or common is None:
                    return None
                if plan is None:
                    out: list[Pdr] = []
                    add_pdrs(ctx, out, pdr_id, common, fteid, ue)
                    steps.append(PdrStep(pdr_id, common, raw, tuple(out), None))
                    octets.append(raw)
                    pdrs += out
                    continue
                pdi = g.ies[plan.pdi_at]
                assert isinstance(pdi, Grouped)
                pool = plan.pool
                if pool is None and any(isinstance(c, UEIPAddress) for c in pdi.ies):
                    pool = self._ue_pool_instance(pdr_id, g, pdi)
                children = tuple(pdi.ies)
                step = (pdr_id, common, b"", (), plan, g.type, pdi.type, children)
                steps.append(PdrStep(*step, pool or "", plan.pool6))
                made = rules.pdr[pdr_id].ies[plan.pdi_at]  # (the PDI as filled in)
                assert isinstance(made, Grouped)
                pdr_octets = plan.octets(g.type, pdi.type, made.ies)
                if pdr_octets is None:
                    return None
                octets.append(pdr_octets)
                add_pdrs(ctx, pdrs, pdr_id, common, *first_fteid_ue(made.ies))
        except RuleError:
            return None
        # The FARs creating an outer header: by their group's position in the request.
        at = {id(ie): i for i, ie in enumerate(req.ies) if ie.type == T.CREATE_FAR}
        own = {id(g) for g in rules.far.values() if far_shape(encoded[id(g)]) is not None}
        groups = rules.groups()
        rest = tuple(
            [at[id(g)] if id(g) in own else encoded[id(g)] for g in groups[len(rules.pdr) :]]
        )
        fars = tuple(
            [
                (at[id(g)], far, fid) if id(g) in own else far
                for (fid, g), far in zip(rules.far.items(), program.fars, strict=True)
            ]
        )
        shape = EstablishmentShape(
            tuple(steps),
            rest,
            fars,
            program.qers,
            program.urrs,
            program.bar,
            dict(rules.urr),
            session.ddn_delay,
            session.fq_csids,
            session.group_id,
            (
                len(req.ies),
                tuple([i for i, ie in enumerate(req.ies) if not isinstance(ie, Grouped)]),
            ),
            ue_lengths=ue_lengths_of(program.pdrs),
        )
        # Filled in with this session's allocations, the shape gives back this session.
        octets += [p if isinstance(p, bytes) else group_octets(req.ies[p]) for p in rest]
        whole = b"".join([encoded[id(group)] for group in groups])
        if b"".join(octets) != whole or tuple(pdrs) != program.pdrs:
            log.debug("establishment shape not kept: filling it in gives another session")
            return None
        fill = self._fill_plan(shape, req.ies)
        if fill is None:
            return shape
        got = self._session_takes(fill, session)
        kept = (whole, program, session.ue, created, session.peers)
        if got is None:
            return shape
        values = list(got[0])  # (`_filled` appends to its list)
        if self._filled(shape, fill, req.ies, *got) != kept:
            log.debug("establishment fill plan not kept: filling it in gives another session")
            return shape
        answer = None
        if node_id is not None:
            fseid = self._up_fseid(session.up_seid)
            ordinary = encode_ies([node_id, ACCEPTED, fseid, *created])
            head = (node_id, ACCEPTED)
            answer = answer_template(fill, head, fseid, self._n3_text, (values, ordinary))
            if answer is None:
                log.debug("establishment answer template not kept: it gives another answer")
        return replace(shape, fill=fill, answer=answer)

    def _fill_plan(self, shape: EstablishmentShape, ies: list[IE]) -> FillPlan | None:
        """The `FillPlan` of ``shape`` (learnt from a request of IEs ``ies``), None when an
        F-TEID or UE IP Address to fill in is not of the usual kinds or the CP gave one."""
        ipv4, ipv6 = self._n3_text
        n3 = local_fteid(self._ctx, FTEID(0, ipv4, ipv6))
        assert n3 is not None
        takes: list[tuple[str | None, int]] = []
        by_choose_id: dict[int, int] = {}  # CHOOSE ID -> its allocation
        by_instance: dict[str, int] = {}  # network instance -> its UE address's allocation
        ues: list[tuple[int, str]] = []
        parts: list[bytes | int] = []  # the rules' octets: int: an allocation's
        pdrs: list[PdrFill | tuple[Pdr, ...]] = []
        created: list[tuple[IE, tuple[tuple[int, bool | None], ...]]] = []
        fteid_octets = FTEID(0, ipv4, ipv6).encode()  # (flags, TEID, address)
        for step in shape.steps:
            plan = step.plan
            if plan is None:
                parts.append(step.octets)
                pdrs.append(step.pdrs)
                continue
            pieces = plan.pieces
            kinds = [i for i, c in enumerate(step.children) if c.type in PER_SESSION_PDI]
            if plan.given or pieces is None or tuple(kinds) != plan.filled:
                return None
            body: list[bytes | int] = [pieces[0]]
            chosen: list[tuple[int, bool | None]] = []
            first_fteid = first_ue = -1
            for i, at in enumerate(plan.filled):
                child = step.children[at]
                if isinstance(child, FTEID):
                    cid = child.choose_id
                    take = by_choose_id.get(cid) if cid is not None else None
                    if take is None:
                        v4, v6 = child.choose_v4, child.choose_v6
                        if (v4 or v6) and not (v4 if ipv4 is not None else v6):
                            return None  # (refused: `_choose_fteid`; neither: our N3's)
                        take = len(takes)
                        takes.append((None, step.pdr_id))
                        if cid is not None:
                            by_choose_id[cid] = take
                    value = fteid_octets
                    source: bool | None = None
                    first_fteid = take if first_fteid < 0 else first_fteid
                elif (
                    isinstance(child, UEIPAddress)
                    and child.choose_v4
                    and not child.choose_v6
                    and child.ipv6 is None
                ):
                    take = by_instance.get(step.pool, -1)
                    if take < 0:
                        take = by_instance[step.pool] = len(takes)
                        takes.append((step.pool, step.pdr_id))
                        ues.append((take, step.pool))
                    source = child.source
                    value = UEIPAddress("0.0.0.0", None, source).encode()  # (flags, address)
                    first_ue = take if first_ue < 0 else first_ue
                else:
                    return None
                # (the TLV: its type and length, flags, the allocation's 4 octets, the rest)
                body += (_TL.pack(child.type, len(value)) + value[:1], take, value[5:])
                body.append(pieces[i + 1])
                chosen.append((take, source))
            length = 0
            for b in body:
                length += len(b) if isinstance(b, bytes) else 4
            pdr_length = len(plan.head) + 4 + length + len(plan.tail)
            if pdr_length > 0xFFFF:
                return None
            parts += (
                _TL.pack(step.pdr_type, pdr_length),
                plan.head,
                _TL.pack(step.pdi_type, length),
                *body,
                plan.tail,
            )
            pdrs.append(PdrFill(first_fteid, first_ue, (step.pdr_id, *step.common)))
            created.append((pdr_id_ie(step.pdr_id), tuple(chosen)))
        if not takes:
            return None
        far_octets: list[int] = []
        for part in shape.rest:
            if isinstance(part, int):
                far_octets.append(part)
                part = len(takes) + len(far_octets) - 1
            parts.append(part)
        fars: list[Far | FarFill] = []
        for far in shape.fars:
            if isinstance(far, Far):
                fars.append(far)
                continue
            g = ies[far[0]]
            assert isinstance(g, Grouped)
            ohc_at = ohc_position(g)
            if ohc_at is None:
                return None
            fars.append(FarFill(far[0], ohc_at, far[1], far[2]))
        # The constant octets run together, after the values.
        constants: list[bytes] = []
        order: list[int] = []
        first = len(takes) + len(far_octets)
        for part in parts:
            if type(part) is int:
                order.append(part)
            elif order and order[-1] >= first:
                constants[-1] += part  # type: ignore[operator]
            else:
                order.append(first + len(constants))
                constants.append(part)  # type: ignore[arg-type]
        if len(order) < 2:  # (itemgetter of one index gives the item, not a tuple)
            return None
        return FillPlan(
            tuple(takes),
            operator.itemgetter(*order),
            tuple(far_octets),
            tuple(constants),
            n3[0],
            tuple(pdrs),
            tuple(fars),
            tuple(created),
            tuple(ues),
            fill_slots(pdrs),
            fill_peered(fars),
        )

    def _session_takes(
        self, fill: FillPlan, session: Session
    ) -> tuple[list[bytes], list[Any]] | None:
        """``session``'s allocations as `_fill` takes them for ``fill`` (its ``values`` and
        ``made``), None when they are not what it takes."""
        teids = list(session.teids)
        ue = list(session.ue)
        values: list[bytes] = []
        made: list[Any] = []
        for instance, _ in fill.takes:
            if instance is None:
                if not teids:
                    return None
                teid = teids.pop(0)
                values.append(pack_u32(teid))
                made.append(teid)
                continue
            if not ue or ue[0][0] != instance:
                return None
            net_text = ue.pop(0)[1]
            net = ue_network(net_text)
            if net.version != 4 or net.prefixlen != 32:
                return None
            text, octets = str(net.network_address), net.network_address.packed
            values.append(octets)
            made.append((shared_network(text, 32), text, net_text, 32, octets))
        return (values, made) if not teids and not ue else None


def fill_slots(pdrs: list[PdrFill | tuple[Pdr, ...]]) -> tuple[tuple[int, int, Any, Any], ...]:
    """`FillPlan.slots` of its ``pdrs``."""
    slots: list[tuple[int, int, Any, Any]] = []
    for p in pdrs:
        if isinstance(p, PdrFill):
            slots.append((p.fteid, p.ue, None, None))
        else:
            slots += [(-1, -1, pdr.local_fteid, pdr.ue_ip) for pdr in p]
    return tuple(slots)


def fill_peered(fars: list[Far | FarFill]) -> tuple[FarFill | tuple[Any, int], ...]:
    """`FillPlan.peered` of its ``fars``."""
    peered: list[FarFill | tuple[Any, int]] = []
    for f in fars:
        if isinstance(f, FarFill):
            peered.append(f)
        elif f.outer_header_creation is not None:
            peered.append(f.outer_header_creation)
    return tuple(peered)

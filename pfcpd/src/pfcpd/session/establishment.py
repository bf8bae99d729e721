"""Session Establishment (TS 29.244 7.5.2): a request of a shape seen before is filled in
(`filling`), any other checked, allocated and compiled the long way (its shape learnt,
`learning`); the session is installed, staged for the next commit and answered.
"""

from __future__ import annotations

import logging

from ..datapath.interface import DatapathError, SessionProgram
from ..node.session_handler import Peer, cause_response
from ..pfcp import IE, Cause, IEType, Message, MessageType
from ..pfcp.ies_address import FSEID, NodeID
from ..pfcp.ies_flags import PFCPSEReqFlags
from ._record import copy_slots
from .choosing import Allocations, created_pdrs
from .compile import compile_program
from .errors import RuleError
from .learning import ShapeLearning
from .packing import pack_rules
from .rules import (
    UNSUPPORTED_RULES,
    RuleSet,
    check_ignored,
    check_references,
    check_supported,
    ie_value,
)
from .session import BLANK_SESSION, Session, program_peers, ue_texts
from .session_set import fq_csids, group_id
from .shapes import SHAPE_ENTRIES, establishment_key, remember
from .state import ACCEPTED, ESTABLISHED, Staged
from .usage import Books, OneBook, UrrBook

log = logging.getLogger("pfcpd.session")
new_book = UrrBook.created  # (`EngineState._new_book`, without its call)
M = MessageType
T = IEType
# (module names: an IEType member looked up on its class costs three times as much)
_F_SEID = T.F_SEID
_INACTIVITY_TIMER = T.USER_PLANE_INACTIVITY_TIMER
_PFCPSEREQ_FLAGS = T.PFCPSEREQ_FLAGS


class Establishment(ShapeLearning):
    def _establish(self, req: Message, peer: Peer, node_id: NodeID, now: float) -> Message:
        fseid = req.get(_F_SEID)  # (`establishment_peer_seid`, its IE looked up once)
        assert isinstance(fseid, FSEID)
        cp_seid, cp_node = fseid.seid, peer.node_id
        by_key = self._by_cp.get(cp_node)
        if (
            by_key is not None
            # (the usual new SEID of a CP with one address: no call)
            and (cp_seid in by_key or cp_node in self._cp_other)
            and self._cp_session(cp_node, cp_seid, fseid.ipv4, fseid.ipv6) is not None
        ):
            # The CP's F-SEID names a session it already has here (its SEID at one of its
            # addresses, TS 29.244 5.6.2): refused, as upg-vpp does ("Duplicate F-SEID");
            # the CP deletes it first or uses another SEID.
            return cause_response(req, Cause.REQUEST_REJECTED, cp_seid, node_id)
        if len(self.sessions) >= self.settings.max_sessions:
            return cause_response(req, Cause.NO_RESOURCES_AVAILABLE, cp_seid, node_id)
        # The request restores a session (PFCPSEReq-Flags RESTI, TS 29.244 8.2.136): its
        # F-TEIDs are the CP's to give, never a shape (`_take_restored`).
        flags = req.get(_PFCPSEREQ_FLAGS)
        restoring = isinstance(flags, PFCPSEReqFlags) and flags.has("RESTI")
        key = None if restoring else establishment_key(req)
        shape = self.memos.establishments.get(key) if key is not None else None
        alloc = Allocations()
        rules: RuleSet | None = None
        given = False  # (a UE address or F-TEID the CP gave, taken: no shape of it)
        try:
            if shape is not None:  # (checked and compiled before: only the allocations)
                # (answered from its octets when the shape's template names this Node ID)
                answer = shape.answer
                if answer is not None and answer.node_id is not node_id:
                    answer = None
                raw, filled, ue, created, peers = self._fill(shape, req, alloc, answer is not None)
            else:
                types = {ie.type for ie in req.ies}
                check_ignored(req)
                if not types.isdisjoint(UNSUPPORTED_RULES):
                    check_supported(req)  # (raises naming the first)
                rules = RuleSet.created_by(req)
                self._check_references(rules)
                if restoring:
                    self._take_restored(rules, alloc)
                else:
                    given = self._take_given_fteids(rules.pdr.values(), alloc)
                    given = self._take_given_ue(rules.pdr.values(), alloc) or given
                shapes = self._allocate(rules, alloc)
                encoded = rules.encoded()
                filled = program = compile_program(self._ctx, rules, encoded=encoded, shapes=shapes)
                ue, created, peers = ue_texts(alloc.ue, alloc.texts), created_pdrs(alloc), ()
        except RuleError as err:
            self._free(alloc)
            return self._refuse(req, err, cp_seid, node_id)
        seid = self._new_seid()
        established = self._ntp()  # (most books' period start: one float object)
        if shape is not None:
            urr_groups = shape.urr_groups
        else:
            assert rules is not None
            urr_groups = rules.urr
        books: Books
        if len(urr_groups) == 1:  # (the usual session: one book, no dict)
            ((urr_id, g),) = urr_groups.items()
            # (`OneBook(urr_id, book)` on a copy: no __init__ call, ~900 instructions fewer)
            books = copy_slots(_ONE_BOOK)
            books.urr_id = urr_id
            books.book = new_book(g, established, now)
        else:
            books = {u: new_book(g, established, now) for u, g in urr_groups.items()}
        if shape is not None:
            # (`Session.__init__` inline, on a copy of `BLANK_SESSION` holding what a shape's
            # session starts with but these: no constructor call, ~2,400 instructions fewer)
            session = copy_slots(BLANK_SESSION)
            session.up_seid = seid
            session.cp_seid = cp_seid
            session.cp_node_id = cp_node
            session.cp_ipv4 = fseid.ipv4
            session.cp_ipv6 = fseid.ipv6
            session.rules_blob = pack_rules(raw)
            session.peers_kept = peers[0] if len(peers) == 1 else peers
            teids = alloc.teids
            session.teids_kept = (
                teids[0] if len(teids) == 1 and type(teids[0]) is int else tuple(teids)
            )
            session.ue_kept = ue[0] if len(ue) == 1 and type(ue[0][0]) is str else ue
            session.urrs = books
            session.established_ntp = established
            session.fq_csids = shape.fq_csids
            session.group_id = shape.group_id
            session.ddn_delay = shape.ddn_delay
        else:
            session = Session(
                seid, cp_seid, cp_node, fseid, b"", peers, tuple(alloc.teids), ue, books,
                None, established,
            )  # fmt: skip
        if shape is None:
            assert rules is not None
            session.peers = program_peers(program)
            if T.FQ_CSID in types:
                session.fq_csids = fq_csids(req)
            if T.GROUP_ID in types:
                session.group_id = group_id(req)
            session.set_rules(rules, encoded)
        try:
            if isinstance(filled, SessionProgram):
                self._dp_install(seid, filled)
            else:  # (a shape's `FillPlan`, the datapath's `ShapedInstall`)
                assert shape is not None
                self._dp_install_filled(seid, shape, filled, peers)
        except DatapathError as err:
            self._free(alloc)
            return self._refused_by_datapath(req, err, cp_seid, node_id)
        self._add(session)
        self._dirty["s:%x" % seid] = session  # (`_write`, `Session.key` inline)  # noqa: UP031
        if self._vacated:  # (a session of this batch had this CP F-SEID: `_cp_follow`)
            self._cp_follow(cp_node, cp_seid, fseid.ipv4, fseid.ipv6)
        # (`_stage`, inline, on a copy of `_STAGED`: no constructor call, ~30 opcodes fewer;
        # the undo as data, `_unestablish` and its arguments: a closure cost a function
        # and a cell per variable it names)
        staged = copy_slots(_STAGED)
        staged.request = req
        staged.refusal = cp_seid, node_id
        staged.undo = _UNESTABLISH, self, session, alloc
        touched = self._touched
        if touched:
            self._touched = []
            staged.seids = touched
        idle = req.get(_INACTIVITY_TIMER)  # (TS 29.244 5.11.2)
        if idle is not None:  # (its undo staged first: `handle_request` finds this one last)
            self._idle_timer(session, int(idle.value))  # type: ignore[attr-defined]
        self._staged.append(staged)
        if type(created) is tuple:  # (the allocations' octets: `AnswerTemplate`)
            assert shape is not None and shape.answer is not None
            return shape.answer.answer(req.seq, cp_seid, created, seid)
        assert isinstance(created, list)
        ies: list[IE] = [node_id, ACCEPTED, self._up_fseid(seid), *created]
        if rules is not None and key is not None and not given:
            # (a request giving a UE address of a pool, or an F-TEID, is never taken by
            # shape: each one checks and takes it, `_take_given_ue`, `_take_given_fteids`;
            # its shape repeats that address or TEID)
            self._learn(key, req, rules, encoded, program, session, created, node_id)
        return Message(M.SESSION_ESTABLISHMENT_RESPONSE, req.seq, ies, cp_seid)

    def _unestablish(self, session: Session, alloc: Allocations) -> None:
        """The undo of an establishment: the session taken out again, its allocations
        freed."""
        self._detach(session)
        self._free(alloc)

    def _check_references(self, rules: RuleSet) -> None:
        """`check_references` of a new session's rules, once per shape: what it checks
        depends on the octets of the PDRs and URRs, the IDs of the FARs, QERs and BARs and
        the BAR IDs the FARs name (`_references_key`), kept when the check passed."""
        key = _references_key(rules)
        checked = self.memos.checked
        if key is not None and key in checked:
            return
        check_references(rules)
        if key is not None:
            remember(checked, key, None, SHAPE_ENTRIES)


_UNESTABLISH = Establishment._unestablish  # (`Staged.undo` of an establishment)
_ONE_BOOK = OneBook(0, UrrBook())  # (copied: `_establish`)
# (an establishment's `Staged`, copied: `_establish`; counted once durable by its label,
# no done step: `GroupCommit._commit`)
_STAGED = Staged(None, None, None, None, ESTABLISHED, None)


def _references_key(rules: RuleSet) -> tuple[object, ...] | None:
    """What `check_references` reads of ``rules``: the PDRs' and URRs' octets (the rule IDs
    they name), the FARs' IDs with the BAR ID each names, the QERs' and BARs' IDs (None
    when a PDR or URR has no octets: built here or changed)."""
    pdrs = tuple([g.raw for g in rules.pdr.values()])
    urrs = tuple([g.raw for g in rules.urr.values()])
    if None in pdrs or None in urrs:
        return None
    fars = tuple([(far_id, ie_value(g, T.BAR_ID)) for far_id, g in rules.far.items()])
    return (pdrs, urrs, fars, tuple(rules.qer), tuple(rules.bar))

"""Session Modification (TS 29.244 7.5.4): rules removed, updated and created on a copy,
checked, compiled and installed; the usage reports it asks for (and its removed URRs') read
before the new program replaces them. A rule removed and created again (Remove and Create
of one rule ID) is replaced: a URR's measurement ends with its final report, and the new
URR's starts afresh; a removed BAR's DL Buffering Duration goes with it. A request that
only updates FARs (the N3 path switch at a handover) changes the session's stored rules in
place (`Modification._modify_fars`). A CP F-SEID other than the session's moves the session
to it (`Modification._refer_cp`): the answer, and every request about the session after it,
carry its SEID, and Session Report Requests go to its address; an address of another
associated CP of the CP's SMF Set makes the session that CP's
(`Modification._fseid_owner`). Another SMF of the owner's SMF Set takes the session over
with such a request over its own association (TS 29.244 5.22.3:
`Modification._taken_over`); the session is then its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..datapath.interface import DatapathError, Far, SessionProgram
from ..node.session_handler import Peer, cause_response
from ..pfcp import (
    IE,
    Cause,
    Grouped,
    IEType,
    IgnoredIE,
    Message,
    MessageType,
    decode_ies,
    encode_groups,
)
from ..pfcp.ies_address import FSEID, FTEID, OuterHeaderCreation, UEIPAddress
from ..pfcp.ies_flags import PFCPSMReqFlags
from ..pfcp.ies_scalar import QueryURRReference
from ..pfcp.ies_traffic import RULE_ID_URR
from .choosing import Allocations, Choosing, created_pdrs, updated_pdrs
from .compile import compile_program, compile_stored, stored_parts
from .errors import RuleError
from .frozen import new_program
from .packing import pack_rules, unpack_rules
from .reports import Reporting
from .rules import (
    KINDS,
    RuleSet,
    check_far_references,
    check_far_values,
    check_references,
    check_supported,
    ie_value,
    merge_update,
    no_such_rule,
    null_removals,
    rule_id,
    rule_ies,
)
from .session import Session, kept_peers, program_peers, ue_network, ue_texts
from .session_set import fq_csids, group_id
from .shapes import SHAPE_ENTRIES, ShapeToken, pdr_shape, remember
from .state import ACCEPTED, KeptByUndo, blocked_urrs, urr_grants, urr_offsets
from .stored import FarUpdate, StoredLayout
from .usage import (
    NO_DROPS,
    ZERO,
    Books,
    Counts,
    Dropped,
    OneBook,
    UrrBook,
    is_before,
    kept_books,
    packet_times,
    report_counts,
    report_times,
)

log = logging.getLogger("pfcpd.session")
M = MessageType
T = IEType
# The rule groups that change a session's PDRs, its BAR.
_PDR_IE_TYPES = frozenset(KINDS["pdr"][:3])
_BAR_IE_TYPES = frozenset(KINDS["bar"][:3])
_CREATE_IE_TYPES = tuple(kind[0] for kind in KINDS.values())
_REMOVE_IE_TYPES = frozenset(kind[2] for kind in KINDS.values())
_NO_SM_FLAGS = PFCPSMReqFlags()
_F_SEID = int(T.F_SEID)  # (a module int: a lookup on the IntEnum class is a call)


class Modification(Choosing, Reporting):
    def _modify(self, req: Message, peer: Peer, now: float) -> Message:
        session = self._session_of(req, peer)
        taken = False  # (the requesting CP takes the session over, `_taken_over`)
        if session is None:
            session = self._taken_over(req, peer)
            if session is None:
                return cause_response(req, Cause.SESSION_CONTEXT_NOT_FOUND, 0, None)
            taken = True
        cp_seid = session.cp_seid
        # TS 29.244 7.5.4.1: the CP changes its F-SEID for the session (a SEID another of
        # its sessions has at one of the F-SEID's addresses is refused as an
        # establishment's duplicate F-SEID is)
        fseid = req.get(_F_SEID)
        new_fseid: FSEID | None = None
        owner = old_owner = session.cp_node_id
        if isinstance(fseid, FSEID) and (
            taken
            or (fseid.seid, fseid.ipv4, fseid.ipv6) != (cp_seid, session.cp_ipv4, session.cp_ipv6)
        ):
            # (taken over: the requesting CP's, its reports to the F-SEID's address)
            owner = peer.node_id if taken else self._fseid_owner(old_owner, fseid)
            held = self._cp_session(
                owner, fseid.seid, fseid.ipv4, fseid.ipv6, excluding=(session.up_seid,)
            )
            if held is not None:
                err = RuleError(
                    Cause.REQUEST_REJECTED,
                    f"CP F-SEID 0x{fseid.seid:x} is session 0x{held:x}'s",
                )
                return self._refuse(req, err, cp_seid, None)
            new_fseid = fseid
        by_type = rule_ies(req)
        if len(by_type) == 1 and T.UPDATE_FAR in by_type and not session.apps and new_fseid is None:
            answer = self._modify_fars(req, session, by_type[T.UPDATE_FAR])
            if answer is not None:
                return answer
        alloc = Allocations()
        # Only a request with PDR groups changes the PDRs: a stored PDR has no CHOOSE left
        # to allocate (`_allocate`), and its F-TEIDs and UE addresses are the session's.
        pdrs_changed = not by_type.keys().isdisjoint(_PDR_IE_TYPES)
        try:
            removals = null_removals(req)
            check_supported(req)
            rules = session.rules
            unlinked = _urrs_of_removed_pdrs(rules, by_type)  # (before they go)
            rules.remove(by_type)
            changed = rules.update(by_type, removals)
            rules.create(by_type)
            # The references of the rules the request leaves alone still hold, unless it
            # removes a rule.
            only: set[int] | None = None
            if by_type.keys().isdisjoint(_REMOVE_IE_TYPES):
                only = {id(g) for g in changed}
                only.update(id(g) for t in _CREATE_IE_TYPES for g in by_type.get(t, ()))
            check_references(rules, only)
            _check_queries(req, session)
            if pdrs_changed:
                given = (*by_type.get(T.CREATE_PDR, ()), *by_type.get(T.UPDATE_PDR, ()))
                self._take_given_fteids(given, alloc, session.teids)
                self._take_given_ue(given, alloc, {(n, ue_network(t)) for n, t in session.ue})
            shapes = self._allocate(rules, alloc) if pdrs_changed else {}
        except RuleError as err:
            self._free(alloc)
            return self._refuse(req, err, cp_seid, None)
        # The PDRs as they were decoded (or came) compile once per shape (`pdr_shape`).
        for g in rules.pdr.values():
            if g.raw is not None:
                shapes[id(g)] = pdr_shape(g.raw)
        flags = req.get(T.PFCPSMREQ_FLAGS)
        sm_flags = flags if isinstance(flags, PFCPSMReqFlags) else PFCPSMReqFlags()
        sndem = _end_marker_fars(by_type.get(T.UPDATE_FAR, ()))
        now_ntp = self._ntp()
        # Usage reports: of removed URRs (their counters go with them), of URRs whose last
        # PDR is removed, of URRs named in Query URR, and of every URR with QAURR; read
        # before the new program replaces them. A URR removed and created again (Remove URR
        # and Create URR of one ID) is replaced: the old one's measurement ends with its
        # final report (TERMR, TS 29.244 5.2.2.3.1), the new one's starts afresh with its own
        # rule (a new book: `_replaced_book`).
        before = session.urrs
        written = self._written(session)  # (before this change writes it)
        replaced = frozenset(
            u for u in (rule_id(r, "urr") for r in by_type.get(T.REMOVE_URR, ())) if u in rules.urr
        )
        wanted: dict[int, str] = {u: "TERMR" for u in before if u not in rules.urr or u in replaced}
        if unlinked:
            # TS 29.244 Table 7.5.5.1-1: a Usage Report also when "the last PDR associated
            # to a URR has been removed" and non-null usage is available for it (TERMR,
            # 8.2.41); the URR stays, its measurement starts again from 0.
            unlinked.difference_update(u for p in rules.pdr.values() for u in _urr_ids(p))
            for urr_id in sorted(unlinked):
                if (
                    urr_id in before
                    and urr_id not in wanted
                    and self._has_usage(session, urr_id, now_ntp)
                ):
                    wanted[urr_id] = "TERMR"
        for q in req.get_all(T.QUERY_URR):
            qid = ie_value(q, T.URR_ID) if isinstance(q, Grouped) else None
            if qid is not None:
                wanted.setdefault(qid, "IMMER")
        if sm_flags.has("QAURR"):
            for urr_id in before:
                wanted.setdefault(urr_id, "IMMER")
        updated = {rule_id(u, "urr"): u for u in by_type.get(T.UPDATE_URR, ())}
        # Copy on write: a book this request changes (a report, an update) is a copy; the
        # books before it (``before``, left as they are) are what its undo puts back.
        books: Books = before
        drops: dict[int, Dropped] = {}  # (the dropped DL counts the reads take: its undo's)
        if wanted or updated or len(rules.urr) != len(before):
            books = copy = dict(before)  # (every URR removed is reported: TERMR)
            for urr_id in wanted.keys() | updated.keys():
                copy[urr_id] = copy[urr_id].copy()
            session.urrs = copy  # (the reports read them there)
            read_ns = self.datapath.now_ns() if replaced else 0  # (before the reads)
            container = T.USAGE_REPORT_MODIFICATION_RESPONSE
            reference = req.get(T.QUERY_URR_REFERENCE)
            # TS 29.244 Table 7.5.5.2-1: in each Usage Report the query produced (IMMER; both
            # of a URR whose usage a Monitoring Time split), not in the final ones of the URRs
            # removed (TERMR)
            echo = reference if isinstance(reference, QueryURRReference) else None
            reports = []
            for urr_id, trigger in wanted.items():
                for group in self._report(
                    session, urr_id, (trigger,), now_ntp, container, drops=drops
                ):
                    if echo is not None and trigger == "IMMER":
                        group.ies.append(echo)
                    reports.append(group)
            for urr_id in wanted:
                if urr_id not in rules.urr or urr_id in replaced:
                    del copy[urr_id]
            for urr_id, g in rules.urr.items():
                if urr_id not in copy:
                    copy[urr_id] = book = self._new_book(g, now_ntp, now)
                    if urr_id in replaced:
                        _replaced_book(book, read_ns, before[urr_id])
                elif urr_id in updated:
                    book = copy[urr_id]
                    # The periodic reports keep their schedule (TS 29.244 5.2.2.2.1) unless
                    # the update gives a Measurement Period, or turns PERIO on or off: an
                    # SMF re-granting a quota or threshold more often than the period
                    # would otherwise never get one.
                    fresh = self._new_book(g, book.period_start_ntp, now)
                    if (
                        updated[urr_id].get(T.MEASUREMENT_PERIOD) is not None
                        or book.next_periodic is None
                        or fresh.next_periodic is None
                    ):
                        book.next_periodic = fresh.next_periodic
                    book.configure(g, now_ntp)
                    if book.inactive and not book.inam:
                        self._discard_paused(session, urr_id, drops)
                    if updated[urr_id].get(T.VOLUME_QUOTA) is not None:
                        self._grant_volume(session, urr_id, book)
                    if updated[urr_id].get(T.TIME_QUOTA) is not None:
                        book.grant_time(now_ntp)
                        book.time_granted_ns = self.datapath.now_ns()
                    if any(updated[urr_id].get(t) is not None for t in _GRANTS):
                        book.grant(now_ntp)
                    if any(updated[urr_id].get(t) is not None for t in _HOLDS):
                        book.hold_again(now)
                    gone = removals.get(id(updated[urr_id].ies)) if removals else None
                    if gone:
                        _lift_removed(book, gone, now_ntp)
        else:
            reports = []
        old = session.rules_blob, session.apps, session.ddn_delay, session.peers_kept
        # The DL Buffering Duration the CP gave the BAR (Update BAR of a Session Report
        # Response) is that BAR's: it goes with it, and a BAR created in its place (the same
        # ID too) has none until the CP gives it one.
        old_bar_duration, old_bar_grant = session.bar_duration_s, session.bar_grant
        bar_duration = None if T.REMOVE_BAR in by_type else old_bar_duration
        bar_grant = 0 if T.REMOVE_BAR in by_type else old_bar_grant
        old_allocations = session.teids_kept, session.ue_kept
        old_sets = session.fq_csids, session.group_id
        old_fseid = session.cp_fseid if new_fseid is not None else None
        encoded = rules.encoded()
        try:
            program = compile_program(
                self._ctx,
                rules,
                bar_duration,
                urr_offsets(books),
                blocked_urrs(books),
                encoded,
                shapes,
                urr_grants(books),
                bar_grant,
            )
            if sm_flags.has("DROBU"):
                self._drop_buffered(session)
            self._dp_install(session.up_seid, program, sndem)
        except (RuleError, DatapathError) as err:
            read = bool(reports or drops)
            kept = self._kept_by_undo(session, written) if read else None
            self._undo_reports(session, reports, before, kept, replaced, drops)
            if read:  # (the counts read are its books' now: its program and record too)
                self._reports_refused(session)
            self._free(alloc)
            if isinstance(err, RuleError):
                return self._refuse(req, err, cp_seid, None)
            return self._refused_by_datapath(req, err, cp_seid, None)
        freed_teids: set[int] = set()
        freed_ue: list[tuple[str, str]] = []
        if pdrs_changed:
            freed_teids, freed_ue = self._released(session, rules, alloc)
            session.teids = (*(t for t in session.teids if t not in freed_teids), *alloc.teids)
            session.ue = (*(u for u in session.ue if u not in freed_ue), *ue_texts(alloc.ue))
        session.rules_blob = pack_rules(b"".join([encoded[id(g)] for g in rules.groups()]))
        session.bar_duration_s, session.bar_grant = bar_duration, bar_grant
        if pdrs_changed or not by_type.keys().isdisjoint(_BAR_IE_TYPES):
            session.derive(rules)  # (what it derives comes from the PDRs and the BAR)
        self._modified(session, req, program)
        if new_fseid is not None:
            if taken:
                log.info(
                    "session 0x%x: CP %s takes it over from CP %s (SMF Set)",
                    session.up_seid,
                    owner,
                    old_owner,
                )
            self._refer_cp(session, owner, new_fseid)
            # (a session of the batch that left the entry: this change's too)
            self._cp_follow(session.cp_node_id, new_fseid.seid, new_fseid.ipv4, new_fseid.ipv6)
        if books is not before:
            session.urrs = kept_books(books)  # (one: a `OneBook`)
            self._refresh_timed(session)
        self._write(session)
        kept = self._kept_by_undo(session, written) if reports or drops else None

        def undo() -> None:
            session.rules_blob, session.apps, session.ddn_delay, old_peers = old
            session.bar_duration_s, session.bar_grant = old_bar_duration, old_bar_grant
            session.teids_kept, session.ue_kept = old_allocations
            session.fq_csids, session.group_id = old_sets
            if old_fseid is not None:
                self._refer_cp(session, old_owner, old_fseid)
            self._keep_peers(session, old_peers)
            self._undo_reports(session, reports, before, kept, replaced, drops)
            self._free(alloc)
            if self.sessions.get(session.up_seid) is session:  # (else removed since)
                self._reinstall(session)
                self._refresh_timed(session)

        def done() -> None:
            for teid in freed_teids:
                self.teids.free(teid)
            for name, net in freed_ue:
                self.ue_pools.free(name, ue_network(net))
            self._modification_done(session, now_ntp)
            if owner != old_owner and self.sessions.get(session.up_seid) is session:
                self._dldr_owe_capped(session.up_seid, session.cp_node_id)  # (never got them)

        refusal = (cp_seid, None)  # (undone: the session is the old CP F-SEID's again)
        self._stage(req, refusal, undo, done)
        # TS 29.244 Table 7.5.5.1-1: what was allocated for a PDR of a Create PDR goes in a
        # Created PDR, for one of an Update PDR in an Updated PDR (Rel-16 on).
        updated_ids = _updated_pdr_ids(by_type) if alloc.created else frozenset()
        ies: list[IE] = [ACCEPTED]
        ies += created_pdrs(alloc, updated_ids)
        ies += reports
        ies += updated_pdrs(alloc, updated_ids)
        return Message(M.SESSION_MODIFICATION_RESPONSE, req.seq, ies, session.cp_seid)

    def _refer_cp(self, session: Session, owner: str, fseid: FSEID) -> None:
        """``session`` is CP ``owner``'s session ``fseid`` (a Session Modification's CP
        F-SEID, its undo): the same CP under the same SEID takes its addresses
        (`_cp_readdress`); else the CP index moves it there (`_cp_move`; the CP's entries
        are put in order when next read)."""
        if owner == session.cp_node_id and fseid.seid == session.cp_seid:
            self._cp_readdress(session, fseid)
        else:
            self._cp_move(((session, owner, fseid),))

    def _taken_over(self, req: Message, peer: Peer) -> Session | None:
        """The session the request's SEID names when the requesting CP takes it over from
        its owner (TS 29.244 5.22.3, MPAS: another SMF of the owner's SMF Set, over its own
        association, with a CP F-SEID: the new SMF's for the session, 7.5.4.1): both CPs
        associated with the same SMF Set ID (`RequestSender.same_smf_set`). None otherwise:
        a CP outside the set, or one of the set whose request has no CP F-SEID (the session
        stays its owner's, and is as unknown to that CP as a missing one: 65)."""
        session = self.sessions.get(req.seid or 0)
        sender = self._sender
        if (
            session is None
            or sender is None
            or not isinstance(req.get(_F_SEID), FSEID)
            or not sender.same_smf_set(peer.node_id, session.cp_node_id)
        ):
            return None
        return session

    def _fseid_owner(self, owner: str, fseid: FSEID) -> str:
        """The CP whose session a Session Modification's new CP F-SEID makes the session:
        the associated CP at its address (its association's address, its Node ID or an
        Alternative SMF IP Address; IPv4 first, as a Session Set Modification's Alternative
        SMF IP Address is looked up) when it is another SMF of ``owner``'s SMF Set (TS
        29.244 5.22: an SMF of the set takes the session over with its own F-SEID, and the
        UPF sends the session's messages to it from then on; the session is then that CP's,
        as a Session Set Modification makes it, 7.4.7), else ``owner`` still: an address
        of no associated CP, or of a CP outside the set, changes where the session's
        requests go (7.5.4.1) and not whose the session is (its requests, its loss)."""
        sender = self._sender
        if sender is None:
            return owner
        for address in (fseid.ipv4, fseid.ipv6):
            if address is None:
                continue
            node = sender.peer_at(address)
            if node is not None:
                return node if sender.same_smf_set(owner, node) else owner
        return owner

    def _has_usage(self, session: Session, urr_id: int, now_ntp: float) -> bool:
        """URR ``urr_id`` of ``session`` has non-null usage to report: counts or time kept
        in its book, or counted by the datapath since its last read with reset (not while
        its measurement is paused: those are no usage). Read without reset."""
        book = session.urrs[urr_id]
        if book.baseline or book.before or (book.duration and book.metered(now_ntp) > 0):
            return True
        if book.inactive:
            return False
        try:
            return bool(Counts.of(self.datapath.read_usage(session.up_seid, urr_id)))
        except DatapathError as err:
            log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
            return False

    def _modify_fars(
        self, req: Message, session: Session, updates: list[Grouped]
    ) -> Message | None:
        """`_modify` of a request whose rule groups are all Update FARs (the N3 path switch
        at a handover): the same answer, record and program, made from the layout of the
        session's stored rules (`stored`): those FARs are decoded, updated and encoded
        again in place, and compiled again; the rest of the program is what the stored
        rules compiled to before (`compile.stored_parts`). None, having changed nothing:
        the long way does it (the request reports usage, the session's URRs are not its
        rules', the layout or what its rules compiled to is not at hand)."""
        flags = req.get(T.PFCPSMREQ_FLAGS)
        sm_flags = flags if isinstance(flags, PFCPSMReqFlags) else _NO_SM_FLAGS
        if sm_flags.has("QAURR") or req.get(T.QUERY_URR) is not None:
            return None
        raw = unpack_rules(session.rules_blob)
        layout = self._layouts.find(raw) or self._layouts.learn(raw)
        before = session.urrs
        if layout is None or not _same_ids(before, layout.urr_ids):
            return None
        cp_seid = session.cp_seid
        try:
            if null_removals(req) is not None:
                return None  # (zero-length IEs remove IEs: the long way takes them out)
            check_supported(req)
            # `RuleSet.update`, on the FARs named only (each decoded once, in place), or
            # what an update of that shape made of the FAR's shape (`StoredLayouts.far_update`)
            far_at, fars = layout.far_at, layout.fars
            merged: dict[int, Grouped] = {}
            quick, quick_at = None, -1  # (and the FAR's index)
            for update in updates:
                far_id = rule_id(update, "far")
                check_far_values(far_id, update)
                far = merged.get(far_id)
                if far is None:
                    at = far_at.get(far_id)
                    if at is None:
                        raise no_such_rule("far", far_id)
                    if len(updates) == 1:
                        quick = self._layouts.far_update(layout, at, raw, update)
                        if quick is not None:
                            merged[far_id] = quick[0].group
                            quick_at = at
                            break
                    far = _stored_group(raw, fars[at][1])
                    if far is None:
                        return None
                    merged[far_id] = far
                merge_update(far, update)
            # (`check_references` of the FARs updated, in the session's order)
            changed = {f[0]: merged[f[0]] for f in fars if f[0] in merged}
            for far_id, far in changed.items():
                check_far_references(far_id, far, layout.bars)
        except RuleError as err:
            return self._refuse(req, err, cp_seid, None)
        updated: dict[int, tuple[Grouped, bytes] | tuple[Far, OuterHeaderCreation]] = {}
        octets: dict[int, bytes] = {}
        if quick is not None:
            shaped, ohc = quick
            value = ohc.encode()
            base = self._ctx.compiled.get(shaped.key)
            if len(value) != shaped.length or not isinstance(base, Far):
                return None
            (far_id,) = changed
            updated[far_id] = base, ohc
            octets[far_id] = b"".join((shaped.head, value, shaped.tail))
        else:
            for far_id, g in changed.items():
                octets[far_id] = encoded = encode_groups([g])
                updated[far_id] = g, encoded
        offsets = urr_offsets(before)
        parts = stored_parts(self._ctx, layout, raw, changed, offsets)
        if parts is None:
            return None
        sndem = _end_marker_fars(updates)
        now_ntp = self._ntp()
        blocked = blocked_urrs(before)
        grants = urr_grants(before)
        try:
            program = compile_stored(
                self._ctx,
                layout,
                parts,
                updated,
                session.bar_duration_s,
                offsets,
                blocked,
                grants,
                session.bar_grant,
            )
            if quick is not None and not offsets and not blocked and not grants:
                program = self._modified_shape(program, layout, quick_at, quick[0])
            if sm_flags.has("DROBU"):
                self._drop_buffered(session)
            self._dp_install(session.up_seid, program, sndem)
        except (RuleError, DatapathError) as err:
            session.urrs = before  # (`_undo_reports`: nothing was read)
            if isinstance(err, RuleError):
                return self._refuse(req, err, cp_seid, None)
            return self._refused_by_datapath(req, err, cp_seid, None)
        old = session.rules_blob, session.peers_kept
        old_sets = session.fq_csids, session.group_id
        # The stored octets with the FARs' own in place (`RuleSet.groups` order)
        pieces: list[bytes] = []
        at = 0
        for far_id, (start, stop), _, _ in fars:
            change = octets.get(far_id)
            if change is not None:
                pieces += (raw[at:start], change)
                at = stop
        pieces.append(raw[at:])
        session.rules_blob = pack_rules(b"".join(pieces))
        self._modified(session, req, program)
        self._write(session)

        def undo() -> None:
            session.rules_blob, old_peers = old
            session.fq_csids, session.group_id = old_sets
            self._keep_peers(session, old_peers)
            session.urrs = before
            if self.sessions.get(session.up_seid) is session:  # (else removed since)
                self._reinstall(session)
                self._refresh_timed(session)

        def done() -> None:
            self._modification_done(session, now_ntp)

        self._stage(req, (cp_seid, None), undo, done)
        return Message(M.SESSION_MODIFICATION_RESPONSE, req.seq, [ACCEPTED], cp_seid)

    def _modified_shape(
        self, program: SessionProgram, layout: StoredLayout, at: int, update: FarUpdate
    ) -> SessionProgram:
        """``program`` with the token of its shape (`SessionProgram.token`, kept in
        ``memos.modified``): `compile_stored` made it of rules stored in ``layout``, FAR
        ``at`` updated as `FarUpdate` ``update`` has it, with no URR compiled with its
        offsets nor blocked. Such programs are the same but for the sessions' own values:
        their PDRs and FARs come from the rules kept by the layout's and the update's keys
        (`compile.stored_parts`), their QERs and URRs are the same objects; only how many
        PDRs a UE IP Address makes, and which have a local F-TEID and a UE address of
        which prefix length, may differ between two sessions of a layout (its leaves'
        values: a dual-stack address, a prefix of another length), and are in the key."""
        key: list[object] = [id(layout), at, id(update)]
        for p in program.pdrs:
            ue = p.ue_ip
            key += (p.local_fteid is None, -1 if ue is None else ue.prefixlen)
        memo = self.memos.modified
        shape = tuple(key)
        found = memo.get(shape)
        if found is None or found[0] is not layout or found[1] is not update:
            found = (layout, update, ShapeToken())  # (holds them: their ids stay theirs)
            remember(memo, shape, found, SHAPE_ENTRIES)
        return new_program(
            program.pdrs, program.fars, program.qers, program.urrs, program.bar, found[2]
        )

    def _pause_or_resume(self, session: Session, now_ntp: float) -> bool:
        """URRs whose rule now pauses (INAM) or resumes their measurement: pausing keeps
        the counts and the time metered so far for later; resuming discards what the
        datapath counted meanwhile, and time metering starts again with the next packet
        (TS 29.244 5.2.2.3.1). True when one did."""
        changed = False
        for urr_id, book in session.urrs.items():
            if book.inam == book.inactive:
                continue
            try:
                usage = self._read_reset(session.up_seid, urr_id)
            except DatapathError as err:
                log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
                continue
            counts = Counts.of(usage)
            if book.inam:
                book.baseline = book.baseline + counts
                book.taken(counts)
                times = packet_times(usage, self.datapath.now_ns(), now_ntp)
                book.saw(times, now_ntp)
                book.hold_times(times)  # (reported with those counts)
                book.stop_metering(now_ntp)
            else:
                book.taken(ZERO)
                book.last_packet_ntp = 0.0  # (the datapath's counts start afresh)
                book.seen_ntp = now_ntp
            book.inactive, changed = book.inam, True
        return changed

    def _released(
        self, session: Session, rules: RuleSet, alloc: Allocations
    ) -> tuple[set[int], list[tuple[str, str]]]:
        """Allocations of ``session`` that ``rules`` no longer use."""
        used_teids: set[int] = set()
        used_ue: set[str] = set()  # UE addresses (prefixes: their first address) as text
        for pdr in rules.pdr.values():
            pdi = pdr.get(T.PDI)
            assert isinstance(pdi, Grouped)
            fteid = pdi.get(T.F_TEID)
            if isinstance(fteid, FTEID) and fteid.teid is not None:
                used_teids.add(fteid.teid)
            ue_ie = pdi.get(T.UE_IP_ADDRESS)
            if isinstance(ue_ie, UEIPAddress):
                used_ue.update(a for a in (ue_ie.ipv4, ue_ie.ipv6) if a is not None)
        teids = {t for t in session.teids if t not in used_teids}
        ue = [(name, net) for name, net in session.ue if net.partition("/")[0] not in used_ue]
        return teids, ue

    def _undo_reports(
        self,
        session: Session,
        reports: list[Grouped],
        snapshot: Books,
        kept: KeptByUndo | None = None,
        replaced: frozenset[int] = frozenset(),
        drops: dict[int, Dropped] | None = None,
    ) -> None:
        """Reports read but not sent: the URRs' books as before, with the counts the reads
        took from the datapath kept as baseline (and as consumed), and their packet times
        held for the next report (`UrrBook.held_times`); the dropped DL counts the change's
        reads with reset took (``drops``, by URR ID: those of its reports and of
        `_discard_paused`) count on towards the Dropped DL Traffic Threshold of the books
        put back (`UrrBook.dropped_taken`); ``kept``: of the undo of a staged change, where
        it notes them (`_kept_by_undo`). The times of the checked
        reads (`Reporting._report`) that the books it replaces hold go over to the books
        put back of the same URRs (`_carry_checked`), but for the URRs ``replaced`` (removed
        and created again): their books are the new URRs', not the old ones' continued."""
        _carry_checked(session.urrs, snapshot, replaced)
        session.urrs = snapshot
        for group in reports:
            urr_id = ie_value(group, T.URR_ID) or 0
            book = snapshot.get(urr_id)
            if book is None or group.get(T.VOLUME_MEASUREMENT) is None or is_before(group):
                continue  # (a report without measurement read nothing with reset; the usage
                # before a Monitoring Time is the snapshot's still)
            counts = report_counts(group)
            taken = counts.minus(book.baseline)
            book.baseline = counts
            book.hold_times(report_times(group))  # (the read reset the datapath's too)
            book.taken(taken)  # (the read reset the datapath's counts: no `dp_seen` left)
            if kept is not None:
                kept[urr_id] = book, taken, NO_DROPS
        for urr_id, dropped in (drops or {}).items():
            book = snapshot.get(urr_id)
            if book is None:
                continue  # (a URR the change created)
            book.dropped_taken(dropped)
            if kept is not None:
                read = kept[urr_id][1] if urr_id in kept else None
                kept[urr_id] = book, read, dropped

    def _grant_volume(self, session: Session, urr_id: int, book: UrrBook) -> None:
        """The CP grants the URR a Volume Quota now: it has consumed nothing (a new quota
        counts from its grant), less what the datapath has counted since its last reset
        and compares the quota with (those counts belong to the quota before, and go into
        the URR's next report). Those counts are the datapath's not yet read with reset
        (``dp_seen``, as a checkpoint takes them now): the journal holds them as usage not
        reported and none as consumed, so a restart that loses the datapath's counts gives
        the new quota whole. Not read with reset, so a rollback has nothing to put back; a
        paused measurement (INAM) discards the datapath's counts. A read that fails leaves
        the last checkpoint's counts (``dp_seen``: still in the datapath, none read with
        reset since) as those the quota before had: the journal then holds none of them as
        consumed either (a restart that loses the datapath's counts gives the new quota
        whole, not less them); the datapath's counts since the checkpoint, which no read
        told, count towards the new quota."""
        book.consumed = ZERO
        if book.inactive:
            return
        try:
            usage = self.datapath.read_usage(session.up_seid, urr_id)
        except DatapathError as err:
            log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)
            counted, times = book.dp_seen, book.seen_times
        else:
            counted = Counts.of(usage)
            if not counted:
                return
            times = packet_times(usage, self.datapath.now_ns(), self._ntp())
        if counted:
            book.consumed = ZERO.minus(counted)
            book.set_dp_seen(counted, times)

    def _discard_paused(self, session: Session, urr_id: int, drops: dict[int, Dropped]) -> None:
        """The URR's measurement resumes: what the datapath counted while it was paused is
        not usage (`_pause_or_resume` discards it once the change is durable). It is
        discarded now too, so that the program this change installs has its quota compared
        with what is counted from the resumption (a quota the paused counts reach would
        drop at once); a rollback leaves the URR paused, whose counts are not usage, and
        the dropped DL counts the read took (noted in ``drops``) counting on towards the
        Dropped DL Traffic Threshold of the book put back (`_undo_reports`)."""
        try:
            self._read_reset(session.up_seid, urr_id, taken=drops)
        except DatapathError as err:
            log.error("session 0x%x URR %d: %s", session.up_seid, urr_id, err)

    def _reports_refused(self, session: Session) -> None:
        """A refused modification read ``session``'s counts for its reports: they are the
        URRs' baseline and consumption now (`_undo_reports`), and the datapath counts from
        0 again. Its program is installed again with them (what is left of a quota or to a
        threshold), no change's (nothing was staged), and its record journaled with the
        batch (no checkpoint sees those counts)."""
        touched = len(self._touched)
        self._reinstall(session)
        del self._touched[touched:]
        self._commit_quietly(session)

    def _modification_done(self, session: Session, now_ntp: float) -> None:
        """After a modification of ``session`` is committed: its URRs' measurement paused or
        resumed as its rules now ask."""
        if session.up_seid not in self.sessions:
            return  # (deleted since, in the same commit)
        if self._pause_or_resume(session, now_ntp):
            self._write(session)

    def _drop_buffered(self, session: Session) -> None:
        """PFCPSMReq-Flags DROBU (TS 29.244 8.2.58): the UP function drops the packets
        buffered for the session "prior to further applying the action specified in the
        Apply Action value of the FARs": before the modification's program is installed
        (one whose FARs no longer buffer would send them on), so before any later request
        of the session is applied too. Not undone: a modification refused after it (by the
        datapath, or by the journal with its batch) has dropped them all the same, as the
        CP asked."""
        self.datapath.drop_buffered(session.up_seid)
        self._dldr_ended(session.up_seid)  # (every DL data report re-armed)

    def _modified(self, session: Session, req: Message, program: SessionProgram) -> None:
        """What a modification changes in ``session`` besides its rules and books: the
        peers of its new ``program``, the FQ-CSIDs, Group Id and User Plane Inactivity
        Timer ``req`` gives."""
        peers = kept_peers(program_peers(program))
        if peers != session.peers_kept:
            self._keep_peers(session, peers)
        if req.get(T.FQ_CSID) is not None:
            session.fq_csids = fq_csids(req, session.fq_csids)
        session.group_id = group_id(req, session.group_id)
        idle = req.get(T.USER_PLANE_INACTIVITY_TIMER)  # (TS 29.244 5.11.2)
        if idle is not None:
            self._idle_timer(session, int(idle.value))  # type: ignore[attr-defined]


# What grants a URR a new quota (its Quota Validity Time counts again).
_GRANTS = (T.VOLUME_QUOTA, T.TIME_QUOTA, T.QUOTA_VALIDITY_TIME)
# What starts a URR's Quota Holding Time again (TS 32.299 7.2.160: a new grant; a new QHT).
_HOLDS = (T.VOLUME_QUOTA, T.TIME_QUOTA, T.QUOTA_HOLDING_TIME)


def _lift_removed(book: UrrBook, gone: frozenset[int], now_ntp: float) -> None:
    """An Update URR's zero-length IEs removed ``gone`` from the URR's rule (the book is
    configured with what is left): a quota removed no longer limits its traffic. A Volume
    Quota, Time Quota or Quota Validity Time removed ends the validity time's drop (the
    validity counts again from now, if the rule still has one); a Time Quota removed, its
    use up (the engine's, or the datapath's event of it) and what was used of it."""
    if not gone.isdisjoint(_GRANTS):
        book.grant(now_ntp)
    if T.TIME_QUOTA in gone:
        book.time_quota_over = False
        book.time_quota_used = 0.0


def _carry_checked(books: Books, onto: Books, replaced: frozenset[int] = frozenset()) -> None:
    """The times of the checked reads of ``books`` (`UrrBook.volth_checked_ns`,
    ``volqu_checked_ns``) onto the books of the same URRs in ``onto``, which replace them
    and continue their measurement (an undo puts them back): a read of the datapath's counts
    is not undone, and the late event of a limit a checked report took is no more a report
    after the undo than before (TS 29.244 5.2.2.2.1: reported once). Not those of the URRs
    ``replaced``: their books in ``books`` are new URRs' (`_replaced_book`), whose times
    are not about the URRs of ``onto``."""
    if books is onto:
        return
    for urr_id, book in onto.items():
        if urr_id in replaced:
            continue
        now = books.get(urr_id)
        if now is not None and now is not book:
            book.volth_checked_ns = now.volth_checked_ns
            book.volqu_checked_ns = now.volqu_checked_ns


def _replaced_book(book: UrrBook, read_ns: int, old: UrrBook) -> None:
    """``book``, new, is that of a URR that replaces one of the same ID (Remove URR and
    Create URR in one request), ``old``'s, whose final report read its counts with reset at
    the datapath's clock ``read_ns`` or later: an event of a volume threshold or quota
    (VOLTH, VOLQU) the datapath raised before is the old URR's, its counts in that report
    (late, `Reporting._late`), and a Time Quota event raised before is about no quota of
    the new URR's (`Reporting._time_quota_ended`). Its Time Quota is a new grant: its count
    of grants differs from the old URR's, so that the datapath, which keeps a URR's state
    by ID, re-arms a quota the old one used up (the same value included)."""
    book.volth_checked_ns = book.volqu_checked_ns = read_ns
    book.time_granted_ns = read_ns
    book.time_grants = (old.time_grants + 1) & 0xFFFFFFFF


def _updated_pdr_ids(by_type: dict[int, list[Grouped]]) -> frozenset[int]:
    """The IDs of the PDRs of a request's Update PDRs (none created by it: a PDR removed
    and created again is a created one)."""
    updates = by_type.get(T.UPDATE_PDR)
    if not updates:
        return frozenset()
    created = {rule_id(c, "pdr") for c in by_type.get(T.CREATE_PDR, ())}
    return frozenset(p for p in (rule_id(u, "pdr") for u in updates) if p not in created)


def _same_ids(books: Books, urr_ids: frozenset[int]) -> bool:
    """``books`` are those of the URRs ``urr_ids``."""
    if type(books) is OneBook:
        return len(urr_ids) == 1 and books.urr_id in urr_ids
    return books.keys() == urr_ids


def _urr_ids(pdr: Grouped) -> Iterable[int]:
    """The IDs of the URRs PDR ``pdr`` names."""
    return (int(ie.value) for ie in pdr.get_all(T.URR_ID))  # type: ignore[attr-defined]


def _urrs_of_removed_pdrs(rules: RuleSet, by_type: dict[int, list[Grouped]]) -> set[int]:
    """The IDs of the URRs that the PDRs a request's Remove PDRs name (those of ``rules``)
    are associated with."""
    out: set[int] = set()
    for g in by_type.get(T.REMOVE_PDR, ()):
        pdr = rules.pdr.get(rule_id(g, "pdr"))
        if pdr is not None:
            out.update(_urr_ids(pdr))
    return out


def _check_queries(req: Message, session: Session) -> None:
    for q in req.get_all(T.QUERY_URR):
        qid = ie_value(q, T.URR_ID) if isinstance(q, Grouped) else None
        if qid is not None and qid not in session.urrs:
            raise RuleError(
                Cause.RULE_CREATION_MODIFICATION_FAILURE,
                f"Query URR {qid}: no such URR",
                failed_rule=(RULE_ID_URR, qid),
            )


def _stored_group(raw: bytes, span: tuple[int, int]) -> Grouped | None:
    """The rule group at ``span`` of a session's stored octets, decoded as `Session.rules`
    decodes it; None when its decoding sets an IE aside (it then keeps no octets)."""
    ignored: list[IgnoredIE] = []
    ies = decode_ies(raw, span[0], span[1], ignored)
    if ignored or len(ies) != 1:
        return None
    g = ies[0]
    return g if isinstance(g, Grouped) and g.raw is not None else None


def _end_marker_fars(update_fars: Iterable[IE]) -> frozenset[int]:
    """The FAR IDs of ``update_fars`` whose Update Forwarding Parameters have
    PFCPSMReq-Flags with SNDEM (TS 29.244 7.5.4.3, 8.2.58: End Markers on that FAR's old
    tunnel before the switch; a per-FAR instruction)."""
    return frozenset(
        far_id
        for g in update_fars
        if isinstance(g, Grouped) and (far_id := ie_value(g, T.FAR_ID)) is not None
        for ufp in g.get_all(T.UPDATE_FORWARDING_PARAMETERS)
        if isinstance(ufp, Grouped)
        for f in ufp.ies
        if isinstance(f, PFCPSMReqFlags) and f.has("SNDEM")
    )

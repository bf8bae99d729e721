"""Session Deletion (TS 29.244 7.5.6) and Session Set Deletion (7.4.6): a session is taken out
of the datapath and the engine at once and its final usage reported; its allocations are
freed once the deletion is durable, and an undo puts it back with no count lost.
"""

from __future__ import annotations

from collections.abc import Callable

from ..node.session_handler import Peer, cause_response
from ..pfcp import IE, Cause, IEType, Message, MessageType
from ..pfcp.ies_address import NodeID
from ..pfcp.ies_flags import PFCPSDRspFlags
from .errors import RuleError
from .session import Session
from .session_set import csid_keys, deletion_csids
from .state import ACCEPTED, EngineState
from .usage import NO_DROPS, Counts, Dropped, PacketTimes, usage_reports

M = MessageType
T = IEType
_PURU = PFCPSDRspFlags.of("PURU")


class Deletion(EngineState):
    def _delete(self, req: Message, peer: Peer, now: float) -> Message:
        session = self._session_of(req, peer)
        if session is None:
            return cause_response(req, Cause.SESSION_CONTEXT_NOT_FOUND, 0, None)
        now_ntp = self._ntp()
        final = self._delete_staged(session, "cp", now_ntp, req)
        ies: list[IE] = [ACCEPTED]
        for urr_id, (counts, times) in final.items():
            book = session.urrs[urr_id]
            container = T.USAGE_REPORT_DELETION_RESPONSE
            ies += usage_reports(container, urr_id, book, counts, ("TERMR",), now_ntp, times)
        # (TS 29.244 Table 7.5.7.1-1: PURU when a Session Report Request of the session is
        # still unanswered, in T1/N1 retransmission; its entry goes at the commit, `_release`)
        up_seid = session.up_seid
        if up_seid in self._pending_of:
            ies.append(_PURU)
        return Message(M.SESSION_DELETION_RESPONSE, req.seq, ies, session.cp_seid)

    def _delete_staged(
        self, session: Session, reason: str, now_ntp: float, req: Message
    ) -> dict[int, tuple[Counts, PacketTimes | None]]:
        """Take ``session`` out of the datapath and the engine now; its allocations are
        freed once the deletion is durable. Its final counts per URR (see `_detach`)."""
        marks = _report_marks(session)
        written = self._written(session)
        dropped: dict[int, Dropped] = {}
        final = self._detach(session, now_ntp, dropped)
        self._erase(session.key)
        refusal = (session.cp_seid, None)
        self._stage(
            req,
            refusal,
            self._undelete(session, marks, final, written, dropped),
            lambda: self._release(session, reason),
        )
        return final

    def _undelete(
        self,
        session: Session,
        marks: dict[int, tuple[float, ...]],
        final: dict[int, tuple[Counts, PacketTimes | None]],
        written: bool,
        dropped: dict[int, Dropped],
    ) -> Callable[[], None]:
        """How to undo the deletion of ``session``: back in the engine and the datapath,
        its URRs as before its final reports (``marks``, `_report_marks`), with the counts
        the datapath had (``final``) as their baseline and its times of their first and
        last packets held for their next report, and the DL traffic it had dropped
        (``dropped``) counting on towards their Dropped DL Traffic Threshold
        (`UrrBook.dropped_taken`), so that no count is lost, also when the undo of an
        earlier change of the batch (``written``: `_written`) puts back older books
        (`_kept_by_undo`)."""
        kept = self._kept_by_undo(session, written)

        def undo() -> None:
            for urr_id, (counts, times) in final.items():
                book = session.urrs[urr_id]
                book.restore_marks(marks[urr_id])
                book.hold_times(times)  # (the datapath's were reset with its counts)
                used = counts.minus(book.baseline)
                book.taken(used)  # (a fresh datapath counts from 0)
                book.baseline = counts
                drops = dropped.get(urr_id, NO_DROPS)
                book.dropped_taken(drops)  # (and its drops from 0 too)
                kept[urr_id] = book, used, drops
            self._add(session)
            self._reinstall(session)

        return undo

    def _set_delete(self, req: Message, peer: Peer, node_id: NodeID, now: float) -> Message:
        """Session Set Deletion (TS 29.244 7.4.6): the requesting CP's sessions of the
        FQ-CSIDs named (a partial failure), or all of them when it carries no FQ-CSID; 69
        (Offending IE FQ-CSID) when one names no CSID of a node (`deletion_csids`)."""
        try:
            named = deletion_csids(req)
        except RuleError as err:
            return self._refuse(req, err, 0, node_id)
        sessions = self.sessions
        undos: list[Callable[[], None]] = []
        deleted: list[Session] = []
        for seid in self._cp_seids(peer.node_id):  # (the CP's own, from the CP index)
            session = sessions[seid]
            if named is not None and not named & csid_keys(session.fq_csids):
                continue
            marks = _report_marks(session)
            written = self._written(session)
            dropped: dict[int, Dropped] = {}
            final = self._detach(session, dropped=dropped)
            self._erase(session.key)
            undos.append(self._undelete(session, marks, final, written, dropped))
            deleted.append(session)

        def undo() -> None:
            for step in reversed(undos):
                step()

        def done() -> None:
            for session in deleted:
                self._release(session, "session_set")

        refusal = (0, node_id)
        self._stage(req, refusal, undo, done)
        return cause_response(req, Cause.REQUEST_ACCEPTED, 0, node_id)


def _report_marks(session: Session) -> dict[int, tuple[float, ...]]:
    """What a Usage Report changes in its URR's book (`usage_report`), per URR."""
    return {u: b.report_marks() for u, b in session.urrs.items()}

"""Group commit (`GroupCommit.commit`): every change staged since the last commit made durable
in one journal transaction, after the datapath's barrier. A change the datapath refused
(and every change touching its sessions), or every change when the journal fails, is
undone, newest first, and its request refused with cause 77 (the node swaps the answers).
"""

from __future__ import annotations

import logging
from collections import Counter
from operator import attrgetter

from ..datapath.interface import DatapathError
from ..node.session_handler import cause_response
from ..pfcp import Cause, Message
from .dldr import Episode, dldr_key, episodes_record
from .inactivity import idle_key
from .journal import JournalError
from .marks import MARKS_KEY
from .session import Session, write_usual
from .state import ESTABLISHED, EngineState, Staged

log = logging.getLogger("pfcpd.session")
_LABEL, _DONE = attrgetter("label"), attrgetter("done")  # (of a `Staged`)


class GroupCommit(EngineState):
    def commit(self) -> list[tuple[Message, Message]]:
        """Make every change staged since the last call durable in one journal transaction
        (SessionHandler.commit). When the journal fails, the changes are undone, newest
        first, and (request, refusal) returned for each request that was answered; the
        records are written at the next call, as the engine then holds them.
        First the datapath's barrier (`Datapath.settle`): a change the datapath refused is
        undone and refused the same way, the others go on."""
        try:
            return self._commit()
        finally:
            if self._vacated:  # (the batch's changes hold what depended on them)
                self._vacated.clear()
            if self._cp_rewritten:
                self._cp_rewritten.clear()

    def _commit(self) -> list[tuple[Message, Message]]:
        unprogrammed = self.datapath.settle()
        if self._touched:  # (datapath work after the last staged change: of no change)
            self._touched = []
        ended = self._dldr_unsettled  # (the DLDR episodes the settled installs ended)
        if ended:
            self._dldr_unsettled = {}
        if (
            not self._staged
            and not self._dirty
            and not self._pfd_dirty
            and not self._marks_dirty
            and not self._idle_dirty
            and not self._dldr_dirty
        ):
            return []
        dirty, self._dirty = self._dirty, {}
        staged, self._staged = self._staged, []
        pfd, self._pfd_dirty = self._pfd_dirty, False
        marks, self._marks_dirty = self._marks_dirty, False
        refused: list[tuple[Message, Message]] = []
        if unprogrammed:
            staged, refused = self._unprogrammed(staged, dirty, unprogrammed, ended)
        idle = self._idle_dirty  # (after the undos of the changes the datapath refused)
        if idle:
            self._idle_dirty = set()
        dldr = self._dldr_dirty
        if dldr:
            self._dldr_dirty = set()
        # (one loop, `Session.record` inline: no call per session, ~20 opcodes fewer each)
        puts: dict[str, bytes] = {}
        deletes: list[str] = []
        for key, s in dirty.items():
            if s is None:
                deletes.append(key)
            else:
                puts[key] = write_usual(s) or s.python_record()
        if pfd:
            puts["pfd"] = self.pfds.record()
        if marks:  # (as they are now: at or past every value handed out)
            puts[MARKS_KEY] = self._marks().record()
        if idle:  # (the inactivity watches as they are now: after the refused changes' undos)
            self._idle_records(idle, puts, deletes)
        if dldr:  # (the open DLDR episodes as they are now)
            self._dldr_records(dldr, puts, deletes)
        try:
            if puts or deletes:
                self.journal.commit(puts, deletes)
        except JournalError as err:
            # (the changes: not the steps that put counts back after their undos)
            changes = sum(1 for change in staged if change.request is not None)
            self._journal_failed(err, max(1, changes))
            failed = self._undo(staged)
            self._settle_undone()
            self._journal_again(dirty, pfd, marks)
            self._idle_dirty |= idle
            self._dldr_dirty |= dldr
            return refused + failed
        if idle:  # (the watches of the sessions gone for good: their records deleted)
            sessions, watches = self.sessions, self._idle
            for seid in idle:
                if seid not in sessions:
                    watches.pop(seid, None)
        # Answer's name -> how many (counted once each, "" of no answer's), and the done
        # steps: both by C iterators, no opcode per change without a done step (~15 each
        # in a loop)
        accepted: Counter[str] = Counter(map(_LABEL, staged))
        for done in filter(None, map(_DONE, staged)):
            self._run_step(done, "commit")
        metrics = self.metrics
        for label, count in accepted.items():
            if label:
                metrics.requests.inc(label, "request_accepted", amount=count)
        # (the sessions established, from their label: no done step per establishment,
        # ~35 opcodes and two calls each)
        established = accepted.get(ESTABLISHED)
        if established:
            metrics.established.inc(amount=established)
        if self._dirty or self._pfd_dirty or self._marks_dirty:
            self._commit()  # (what the done steps changed: no answer waits for it)
        return refused

    def _idle_records(self, seids: set[int], puts: dict[str, bytes], deletes: list[str]) -> None:
        """The journal's records of the inactivity watches of ``seids`` (inactivity.py): as
        they are now, deleted for a session without one or gone."""
        sessions, watches = self.sessions, self._idle
        for seid in seids:
            watch = watches.get(seid)
            if watch is not None and seid in sessions:
                puts[idle_key(seid)] = watch.record()
            else:
                deletes.append(idle_key(seid))

    def _dldr_records(self, seids: set[int], puts: dict[str, bytes], deletes: list[str]) -> None:
        """The journal's records of the open DLDR episodes of ``seids`` (dldr.py): as they
        are now, deleted for a session without one or gone."""
        sessions, episodes = self.sessions, self._dldr_open
        for seid in seids:
            open_ = episodes.get(seid)
            if open_ and seid in sessions:
                puts[dldr_key(seid)] = episodes_record(open_.values())
            else:
                deletes.append(dldr_key(seid))

    def _journal_again(self, dirty: dict[str, Session | None], pfd: bool, marks: bool) -> None:
        """The records a refused commit did not write are written at the next one, as the
        engine holds them then: the undone changes' as they were before, and what changed
        beside them (a checkpoint's counts, a report's UR-SEQN, a report's counts back
        into a baseline) still to be made durable; the allocators' marks as they are (the
        undone changes' values freed, the marks past them: the next value handed out
        needs them durable)."""
        sessions = self.sessions
        for key in dirty:
            self._dirty[key] = sessions.get(int(key[2:], 16))  # (gone: its record too)
        if pfd:
            self._pfd_dirty = True
        if marks:
            self._marks_dirty = True

    def _unprogrammed(
        self,
        staged: list[Staged],
        dirty: dict[str, Session | None],
        failed: dict[int, DatapathError],
        ended: dict[int, dict[int, Episode]],
    ) -> tuple[list[Staged], list[tuple[Message, Message]]]:
        """The datapath refused the changes of the sessions ``failed``: every change of the
        batch that touched one of them (and, in turn, every change touching a session of
        those) is undone, newest first, its request refused with cause 77, and its records
        left as the sessions are now. The DLDR episodes the batch's installs of a session
        of ``failed`` ended (``ended``) are open again (`_dldr_refused`). Returns the
        changes that go on, and the refusals."""
        bad = set(failed)
        doomed = [False] * len(staged)
        grew = True
        while grew:
            grew = False
            for i, change in enumerate(staged):
                if not doomed[i] and change.seids and not bad.isdisjoint(change.seids):
                    doomed[i] = grew = True
                    bad.update(change.seids)
        self._refused_installs = frozenset(failed)
        try:
            refused = self._undo([c for i, c in enumerate(staged) if doomed[i]])
        finally:
            self._refused_installs = frozenset()
        if ended:
            self._dldr_refused(failed, ended)
        for seid in bad:
            key = f"s:{seid:x}"
            if key in dirty:
                dirty[key] = self.sessions.get(seid)
        log.warning(
            "%d change(s) of %d session(s) refused by the datapath, rolled back: %s",
            len(refused),
            len(bad),
            "; ".join(f"0x{seid:x}: {err}" for seid, err in sorted(failed.items())),
        )
        self._settle_undone()
        return [c for i, c in enumerate(staged) if not doomed[i]], refused

    def _dldr_refused(
        self, failed: dict[int, DatapathError], ended: dict[int, dict[int, Episode]]
    ) -> None:
        """The DLDR episodes (dldr.py) the batch's installs of the sessions ``failed`` ended
        (``ended``: SEID -> token -> episode) are open again, as they were: a refused
        install changes nothing in the datapath, nor do that session's later ones of the
        batch, so it holds their buffered packets and reported marks still and no packet
        raises their reports again (TS 29.244 5.2.3.1). Their records are written as they
        are then; those owed are owed again. (The datapath names the session, not the
        install it refused: an install of the batch before that one, which it took, counts
        as refused too.)"""
        for seid in failed:
            episodes = ended.get(seid)
            session = self.sessions.get(seid)
            if not episodes or session is None:
                continue
            open_ = self._dldr_open.setdefault(seid, {})
            for token, episode in episodes.items():
                open_.setdefault(token, episode)
            self._dldr_dirty.add(seid)
            if any(e.owed for e in episodes.values()):
                self._dldr_owed.setdefault(session.cp_node_id, set()).add(seid)

    def _undo(self, changes: list[Staged]) -> list[tuple[Message, Message]]:
        """Undo ``changes``, newest first; (request, its cause 77 refusal) of each that
        answered a request, in their order."""
        failed: list[tuple[Message, Message]] = []
        for change in reversed(changes):
            self._run_step(change.undo, "undo")
            if change.request is not None and change.refusal is not None:
                seid, node_id = change.refusal
                refusal = cause_response(change.request, Cause.SYSTEM_FAILURE, seid, node_id)
                failed.append((change.request, refusal))
                if change.label:
                    self.metrics.requests.inc(refusal.name, "system_failure")
        failed.reverse()
        return failed

    def _settle_undone(self) -> None:
        """Wait for the datapath to take what the undo steps reinstalled (logged if not)."""
        self._touched = []
        self._dldr_unsettled = {}  # (the undos' installs: of no change)
        for seid, err in self.datapath.settle().items():
            log.error("session 0x%x: datapath undo: %s", seid, err)

    def _journal_failed(self, err: JournalError, changes: int = 1) -> None:
        log.error("%d session change(s) not durable, rolled back: %s", changes, err)
        self.metrics.journal_failures.inc(amount=changes)

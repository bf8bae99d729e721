"""The session engine: the node's :class:`SessionHandler` (TS 29.244 clauses 5 and 7.5).

Sans-IO like the node: it is called with ``now`` (node clock, seconds) and returns messages;
its two effects, the datapath and the journal, are objects handed to it. Every request is
all or nothing: rules are checked and compiled on a copy, allocations are taken, the
datapath installs the new program atomically, the journal makes the change durable, and
only then does the answer confirm it; a failure at any step undoes the earlier ones.

Group commit: a request's change is staged (the records to write, how to undo it, what to
do once it is durable) and the answer returned; :meth:`SessionEngine.commit`, which the node
calls before any datagram leaves, writes every change staged since the last call in one
journal transaction. When that fails, each change is undone, newest first, and each request
is answered with cause 77 instead (the node swaps the answers). Allocations a change gives
back are freed only once it is durable, so an undo never finds them taken by another.

`SessionEngine` is one class made of parts, a module each, on `state.EngineState` (the
sessions, their indexes, the allocators, the memos, the changes staged, and the steps every
request shares): `establishment` (with `filling`: sessions of a known shape filled in;
`learning`: shapes learnt; `choosing`: F-TEIDs and UE addresses chosen), `modification`,
`deletion` (and Session Set Deletion), `set_modification`, `reports` (USAR, DLDR, ERIR and
the CP's answers), `timers` (time triggers, checkpoints), `restore` (from the journal),
`commit` (group commit and rollback) and `inspection` (``pfcpd show sessions``); `session`
holds `Session` and its journal record. Here: where each request goes, PFD management and
the loss of a peer.
"""

from __future__ import annotations

import logging

from ..datapath.interface import DatapathError
from ..node.session_handler import Peer, PeerGone, RequestSender, cause_response
from ..pfcp import Cause, IEType, Message, MessageType
from ..pfcp.ies_address import NodeID
from ..pfcp.message_types import message_type_name
from .commit import GroupCommit
from .deletion import Deletion
from .errors import RuleError
from .establishment import Establishment
from .inspection import Inspection
from .modification import Modification
from .restore import Restoring
from .rules import ie_value
from .session import Session
from .set_modification import SetModification
from .timers import Timers

log = logging.getLogger("pfcpd.session")
M = MessageType
T = IEType
# UP Function Features (TS 29.244 8.2.25) the engine implements, each with its tests.
UP_FEATURES = frozenset(
    {"FTUP", "UEIP", "BUCP", "DDND", "DLBD", "EMPU", "PFDM", "MNOP", "RESPS", "VTIME"}
)
# (module names: a MessageType member looked up on its class costs three times as much)
_ESTABLISHMENT = M.SESSION_ESTABLISHMENT_REQUEST
_MODIFICATION = M.SESSION_MODIFICATION_REQUEST
_DELETION = M.SESSION_DELETION_REQUEST


class SessionEngine(
    Establishment,
    Modification,
    Deletion,
    SetModification,
    Timers,
    Restoring,
    GroupCommit,
    Inspection,
):
    """The node's `SessionHandler`: the parts above, one class (see the module)."""

    def attach(self, sender: RequestSender) -> None:
        self._sender = sender

    def up_features(self) -> frozenset[str]:
        return UP_FEATURES

    def handle_request(
        self, request: Message, peer: Peer, local_node_id: NodeID, now: float
    ) -> Message:
        t = request.msg_type
        try:
            if t == _ESTABLISHMENT:
                response = self._establish(request, peer, local_node_id, now)
            elif t == _MODIFICATION:
                response = self._modify(request, peer, now)
            elif t == _DELETION:
                response = self._delete(request, peer, now)
            elif t == M.SESSION_SET_DELETION_REQUEST:
                response = self._set_delete(request, peer, local_node_id, now)
            elif t == M.SESSION_SET_MODIFICATION_REQUEST:
                response = self._set_modify(request, peer, local_node_id)
            else:
                response = cause_response(request, Cause.SERVICE_NOT_SUPPORTED, 0, local_node_id)
        except Exception:
            log.exception("session engine: %s seq %d", request.name, request.seq)
            self.metrics.errors.inc("request")
            raise
        staged = self._staged
        if staged:
            last = staged[-1]
            if last.request is request:
                # (counted by commit, with its final cause; `Message.name` without the
                # property; an establishment's staged with it)
                if not last.label:
                    last.label = message_type_name(response.msg_type)
                return response
        self.metrics.requests.inc(response.name, _cause_label(response))
        return response

    def handle_pfd_management(self, request: Message, now: float) -> Message:
        """Replace the PFDs of the Application IDs named; sessions whose PDRs match one of
        them are recompiled and reinstalled. Refused (64, Offending IE PFD Contents) when
        the new PFDs do not compile for one of those sessions (more SDF filters than a PDR
        may have) or the datapath refuses its program (more rules than a direction may
        have): it would keep the old PFDs, and its record would not restore. (A datapath
        that refuses at the group commit's barrier, vpp, has the request undone there and
        answered 77.)"""
        try:
            changes = self.pfds.parse(request)
        except RuleError as err:
            return self._refuse(request, err, 0, None)
        before = self.pfds.apply(changes)
        affected = [s for s in self.sessions.values() if s.apps & changes.keys()]
        touched = len(self._touched)
        for done, session in enumerate(affected):  # (one program at a time: many sessions)
            try:
                program = self._program(session)
                self._dp_install(session.up_seid, program)
            except (RuleError, DatapathError) as err:
                # (a session that cannot follow the new PFDs would keep the old ones, and
                # could not be restored: the request is refused, nothing changes)
                self.pfds.undo(before)
                for installed in affected[:done]:
                    self._reinstall(installed)
                del self._touched[touched:]  # (no change's: nothing is staged)
                cannot = RuleError(
                    Cause.REQUEST_REJECTED,
                    f"session 0x{session.up_seid:x} cannot take the new PFDs: {err}",
                    offending_ie=T.PFD_CONTENTS,
                )
                return self._refuse(request, cannot, 0, None)
            self._set_program(session, program)
        self._pfd_dirty = True

        def undo() -> None:
            self.pfds.undo(before)
            for session in affected:
                if session.up_seid in self.sessions:
                    self._reinstall(session)

        refusal = (0, None)
        self._stage(request, refusal, undo)
        return cause_response(request, Cause.REQUEST_ACCEPTED, 0, None)

    def peer_seid(self, up_seid: int) -> int | None:
        s = self.sessions.get(up_seid)
        return None if s is None else s.cp_seid

    def peer_gone(
        self,
        peer: Peer,
        reason: PeerGone,
        keep_sessions: bool,
        now: float,
        kept_at: frozenset[str] | None = None,
    ) -> None:
        try:
            self._peer_gone(peer, reason, keep_sessions, kept_at)
        except Exception:  # a bug: logged and counted, the node's association work goes on
            log.exception("session engine: peer %s %s", peer.node_id, reason.value)
            self.metrics.errors.inc("peer_gone")

    def peer_recovered(self, peer: Peer, now: float) -> None:
        """CP ``peer`` answers heartbeats again: the DLDRs it left unanswered meanwhile, up
        to `DLDR_RESENDS` per episode, are owed again (`dldrs_owed_again`), sent at the next
        poll."""
        try:
            self.dldrs_owed_again(peer.node_id)
        except Exception:  # a bug: logged and counted, the node's association work goes on
            log.exception("session engine: peer %s recovered", peer.node_id)
            self.metrics.errors.inc("peer_recovered")

    def _peer_gone(
        self, peer: Peer, reason: PeerGone, keep_sessions: bool, kept_at: frozenset[str] | None
    ) -> None:
        if keep_sessions and kept_at is None:
            log.info("CP %s %s: its sessions are kept", peer.node_id, reason.value)
            self.dldrs_owed_again(peer.node_id)
            return
        seids = self._cp_seids(peer.node_id)  # (from the CP index, not every session)
        if keep_sessions and kept_at is not None:  # (those whose CP F-SEID has none of them)
            sessions = self.sessions
            seids = [
                seid
                for seid in seids
                if sessions[seid].cp_ipv4 not in kept_at and sessions[seid].cp_ipv6 not in kept_at
            ]
        label = f"peer_{reason.value}"
        for seid in seids:
            self._remove_local(seid, label)
        if seids:
            log.info("CP %s %s: %d sessions deleted", peer.node_id, reason.value, len(seids))
        if keep_sessions:  # (the sessions at its CP PFCP Entity IP Addresses kept)
            self.dldrs_owed_again(peer.node_id)


def _cause_label(msg: Message) -> str:
    value = ie_value(msg, T.CAUSE)
    try:
        return Cause(value or 0).name.lower()
    except ValueError:
        return str(value)


__all__ = ["Session", "SessionEngine"]

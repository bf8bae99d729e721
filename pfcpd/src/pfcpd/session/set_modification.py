"""Session Set Modification (TS 29.244 7.4.7, see `session_set`): the sessions each PFCP
Session Change Info names go to the associated CP at its Alternative SMF IP Address, all of
them or none.
"""

from __future__ import annotations

import logging

from ..node.session_handler import Peer, cause_response
from ..pfcp import Cause, IEType, Message
from ..pfcp.ies_address import FSEID, NodeID
from .errors import RuleError
from .session_set import moved_fseid, selectors
from .state import EngineState

log = logging.getLogger("pfcpd.session")
T = IEType


class SetModification(EngineState):
    def _set_modify(self, req: Message, peer: Peer, node_id: NodeID) -> Message:
        """Session Set Modification (TS 29.244 7.4.7, see session_set): the sessions of the
        requesting CP and of its SMF set named by each PFCP Session Change Info go to the
        associated CP at its Alternative SMF IP Address, all of them or none (journaled
        before the answer)."""
        moves: dict[int, tuple[str, FSEID]] = {}
        try:
            for selector in selectors(req):
                target = self._peer_at(selector.alternative.ipv4, selector.alternative.ipv6)
                for s in self.sessions.values():
                    if s.up_seid in moves or not self._may_move(peer.node_id, s.cp_node_id):
                        continue
                    if not selector.matches(s.fq_csids, s.group_id, s.cp_fseid):
                        continue
                    if target is None:
                        raise RuleError(
                            Cause.REQUEST_REJECTED,
                            f"no CP associated at {selector.alternative}",
                            offending_ie=T.ALTERNATIVE_SMF_IP_ADDRESS,
                        )
                    moves[s.up_seid] = (target, moved_fseid(s.cp_fseid, selector.alternative))
            # (a CP F-SEID another session keeps, or two moved sessions take: TS 29.244
            # 5.6.2, a SEID names one session at an address of the CP)
            taken: set[tuple[str, int, str | None, str | None]] = set()
            for target, fseid in moves.values():
                key = (target, fseid.seid, fseid.ipv4, fseid.ipv6)
                other = self._cp_session(*key, excluding=moves)
                if key in taken or other is not None:
                    raise RuleError(
                        Cause.REQUEST_REJECTED,
                        f"CP {target} already has a session with CP SEID 0x{fseid.seid:x}",
                        offending_ie=T.PFCP_SESSION_CHANGE_INFO,
                    )
                taken.add(key)
        except RuleError as err:
            return self._refuse(req, err, 0, node_id)
        moved = {seid: self.sessions[seid] for seid in moves}
        before = {seid: (s.cp_node_id, s.cp_fseid) for seid, s in moved.items()}
        # A session whose CP reference an earlier change of the batch rewrote (a move, a CP
        # F-SEID with other addresses: `_cp_rewritten`): should the datapath refuse that
        # change, its undo puts the session back as it was before it, this move's part
        # included, so the move (all of it: its undo puts every session back) is undone
        # and refused with it, not answered 1 and lost in part.
        after_moves = not self._cp_rewritten.isdisjoint(moved)

        def move(to: dict[int, tuple[str, FSEID]]) -> None:
            # (the entries in the order of the sessions at once: moves of many sessions)
            self._cp_order(self._cp_move((s, *to[seid]) for seid, s in moved.items()))

        move(moves)
        for s in moved.values():
            self._write(s)
        followed = False
        for s in moved.values():  # (a target entry another session left in this batch)
            # (not one the session left itself: a session already at the target left its
            # entry in this move, or in an earlier change of the batch, `after_moves`)
            key = s.cp_node_id, s.cp_seid, s.cp_ipv4, s.cp_ipv6
            if self._vacated.get(key) != s.up_seid:
                followed |= self._cp_follow(*key)
        if followed or after_moves:
            # The move depends on other changes of the batch: undone with them, it puts
            # its sessions back on the entries they left, which a later change of the
            # batch may have taken (`_cp_follow`: that change touched the session); the
            # sessions are the move's too, so that such a change is undone with it
            # (`_unprogrammed`), and so that it is undone with an earlier move it followed.
            self._touched.extend(moved)

        def done() -> None:  # (committed: the moved sessions' new CPs never got these)
            sessions = self.sessions
            for seid, s in moved.items():
                if sessions.get(seid) is s and before[seid][0] != s.cp_node_id:
                    self._dldr_owe_capped(seid, s.cp_node_id)

        refusal = (0, node_id)
        self._stage(req, refusal, lambda: move(before), done)
        if moved:
            log.info(
                "CP %s: %d sessions moved (session set modification)", peer.node_id, len(moved)
            )
        return cause_response(req, Cause.REQUEST_ACCEPTED, 0, node_id)

    def _may_move(self, requester: str, owner: str) -> bool:
        """A CP moves its own sessions and those of CPs of its SMF set (5.22.4)."""
        if requester == owner:
            return True
        return self._sender is not None and self._sender.same_smf_set(requester, owner)

    def _peer_at(self, *addresses: str | None) -> str | None:
        """The Node ID of the associated CP at one of ``addresses``."""
        if self._sender is None:
            return None
        for address in addresses:
            if address is not None and (node := self._sender.peer_at(address)) is not None:
                return node
        return None

"""The buffering episodes of Downlink Data Reports (DLDR, TS 29.244 5.2.3.1): the datapath
raises a report for the first downlink packet of a PDR (and QFI) that its FAR buffers with
NOCP, then marks the pair reported until it re-arms it (a discard, DROBU or the DL Buffering
Duration's end, or an install that moves the PDR to another FAR or changes its FAR's Apply
Action). Between the two is one buffering episode: the engine keeps each report's episode
open from the datapath's event while the datapath has not re-armed the pair
(`episodes_ended`, at each install and discard; an install the datapath refuses ends none:
its change rolled back, the episodes it ended open again, `GroupCommit._dldr_refused`). A
report delayed by the BAR's Downlink Data Notification Delay whose episode ended is not sent
(TS 23.401 5.3.4.3: the UE became reachable meanwhile, its data went or was discarded); a
report sent and never answered whose episode goes on is sent again while the datapath holds
buffered packets of the session (`Datapath.buffered`), up to `DLDR_RESENDS` times (past them
the episode goes on unreported, its data buffered, until it ends or the association with
the CP ends, is set up again or recovers (LOST, then heartbeats answered), its sessions
kept, or the session moves to another CP: then its report is owed, its re-sends counted
anew, `EngineState._dldr_owe_capped`), else has the pair
re-armed in the datapath (`Datapath.rearm_dl_data_report`), so that its next buffered packet
raises it again. A report not sent (no association with the session's CP: its sessions kept)
is owed: the pair stays reported (no report, re-arm or log line per buffered packet while
the CP is away) and the report is sent as soon as the CP can be told, while its episode goes
on (its data still buffered).

An episode whose report the CP answered stays open, marked answered, until it ends. A
session's open episodes are journaled apart from its record under `KEY_PREFIX` (`dldr_key`,
`episodes_record`), written at the commit after they change, deleted once none is open (a
deleted session's with its record, in the deletion's commit: `EngineState._detach`). At a
restore (`Restoring._restore_dldr`), a session the datapath held across pfcpd's restart with
buffered packets (`Datapath.held_buffers`: VPP keeps the session, its buffer and its
reported marks, so no packet raises those reports again) has each PDR whose FAR buffers
with NOCP: its journaled episodes open again, those not answered owed to the CP (one whose
notification delay had not run out at the restart when it runs out: its due time is
journaled). A pair of such a PDR and a QFI without any journaled episode is asked of the
datapath (`Datapath.rearm_dl_data_report`: whether it was marked reported, the mark taken
off; the datapath's count of buffered packets is the session's, its marks are the pairs'):
one marked (its report raised while pfcpd was away, the event lost) owes its report, its
episode `Episode.rearmed` (the pair's next packet raises the report again in the datapath:
the same episode's); one not marked never buffered and is not reported. So the CP hears of
each pair's data it was never told about, and an episode it answered is not reported again.
A datapath that did not keep the session (the local one: its buffers die with the process)
has nothing buffered: no report is owed, the next buffered packet raises one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..datapath.interface import ApplyAction, DatapathEvent, Interface, Pdr, SessionProgram

KEY_PREFIX = "d:"  # the journal's key of a session's open episodes: "d:<UP SEID hex>"
# How many times an episode's report goes again, at most, after the CP left it unanswered
# (every retransmission, TS 29.244 6.4) while its data stays buffered: past them the
# episode goes on without a report until it ends (TS 29.244 5.2.3.1: one per episode), or
# until the CP's association ends, is set up again or recovers (its sessions kept), or the
# session moves to another CP: then it is owed.
DLDR_RESENDS = 3


def dldr_key(seid: int) -> str:
    return "d:%x" % seid  # noqa: UP031  (as `Session.key`)


@dataclass(frozen=True, slots=True)
class Episode:
    """The buffering episode of a DLDR: the datapath's event and the PDR's FAR (ID, Apply
    Action) when it was raised; ``owed``: its report could not be sent (no association
    with the CP), to send when it can be (`Reporting._send_owed_dldrs`); ``answered``: the
    CP answered its report (kept until the episode ends, journaled: not reported again
    after a restart); ``due_ntp``: when its report is due (NTP seconds), for one the BAR's
    Downlink Data Notification Delay holds back (else 0.0): journaled, so that a restart
    waits out what is left of the delay (`Restoring._held_episodes`); ``resends``: how many
    times its report went again after one the CP left unanswered (at most `DLDR_RESENDS`,
    `Reporting._dldr_done`; none again once owed at an association change or a move to
    another CP, `EngineState._dldr_owe_capped`); ``rearmed``: opened again at a restore
    of a session the datapath held, whose pair's reported mark a restore may have taken
    off to learn it was marked (`Restoring._held_episodes`): the report the pair's next
    buffered packet raises then is this episode's."""

    event: DatapathEvent
    far: tuple[int, ApplyAction]
    owed: bool = False
    answered: bool = False
    due_ntp: float = 0.0
    resends: int = 0
    rearmed: bool = False


def pdr_far(program: SessionProgram, pdr_id: int) -> tuple[int, ApplyAction] | None:
    """The FAR (ID, Apply Action) of PDR ``pdr_id`` (the datapath's ID) in ``program``; None
    when the program has no such PDR or FAR."""
    far_id = next((p.far_id for p in program.pdrs if p.pdr_id == pdr_id), None)
    far = next((f for f in program.fars if f.far_id == far_id), None)
    return None if far is None else (far.far_id, far.apply_action)


def pdr_qfis(program: SessionProgram, pdr: Pdr) -> set[int]:
    """The QFIs (0: none) the datapath's DL data reports of ``pdr`` can carry: none (a
    buffered packet comes from the N6 side, without one) or one its QERs set; a PDR of a
    tunnel into the session (a local F-TEID, another source interface than Access) whose
    QERs set none carries the received PDU Session Container's: its PDI's QFI, or any."""
    qers = {q.qer_id: q.qfi for q in program.qers}
    set_by_qers = {qfi for qer_id in pdr.qer_ids if (qfi := qers.get(qer_id))}
    if set_by_qers or pdr.local_fteid is None or pdr.source_interface is Interface.ACCESS:
        return {0} | set_by_qers
    return {0, pdr.qfi} if pdr.qfi else set(range(64))


def episodes_ended(episodes: dict[int, Episode], program: SessionProgram) -> dict[int, Episode]:
    """``program`` is installed: the episodes whose PDR it maps to another FAR, or to a FAR
    with another Apply Action, or no longer has, are over (the datapath re-arms their
    reports), and taken out of ``episodes``. Those taken out (token -> episode)."""
    ended: dict[int, Episode] = {}
    for token, episode in list(episodes.items()):
        if pdr_far(program, episode.event.id) != episode.far:
            ended[token] = episodes.pop(token)
    return ended


def episodes_record(episodes: Iterable[Episode]) -> bytes:
    """The journal's record of a session's open episodes: each one's PDR (the datapath's
    ID) and event value (QFI, DSCP), as ``id:value``, ``id:value:a`` when answered,
    ``id:value:d<NTP seconds>`` when not answered and held back by a notification delay
    (when its report is due), separated by spaces."""
    return b" ".join(_item(e) for e in episodes)


def _item(e: Episode) -> bytes:
    if e.answered:
        return b"%d:%d:a" % (e.event.id, e.event.value)
    if e.due_ntp:
        return b"%d:%d:d%.3f" % (e.event.id, e.event.value, e.due_ntp)
    return b"%d:%d" % (e.event.id, e.event.value)


def read_episodes(value: bytes) -> list[tuple[int, int, bool, float]]:
    """The (PDR, event value, answered, when its report is due: NTP seconds, 0.0 when not
    delayed) of each episode of an `episodes_record`."""
    out = []
    for item in value.split():
        pdr, event_value, *rest = item.split(b":")
        due = next((float(f[1:]) for f in rest if f.startswith(b"d")), 0.0)
        out.append((int(pdr), int(event_value), b"a" in rest, due))
    return out

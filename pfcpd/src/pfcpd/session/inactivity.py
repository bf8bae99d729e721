"""User plane inactivity detection (TS 29.244 5.11.2): a session's User Plane Inactivity
Timer (8.2.83, seconds; 0 stops the detection) and its watch (`IdleWatch`), kept by the
engine in a dict by UP SEID for the sessions that have one (no slot on every `Session`),
journaled apart from the session's record under `KEY_PREFIX` (`idle_key`, `IdleWatch.record`)
and read back at a restart (`IdleWatch.read`).

The engine watches the packets the session's URRs count: the latest time of last packet of
its URRs (`Usage.last_packet_ns`, on the datapath's clock). A session without a URR, or the
packets of a PDR no URR measures, give it nothing to watch (see docs/pfcpd.md).
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_PREFIX = "u:"  # the journal's key of a session's watch: "u:<UP SEID hex>"


def idle_key(seid: int) -> str:
    return "u:%x" % seid  # noqa: UP031  (as `Session.key`)


@dataclass(slots=True, init=False)
class IdleWatch:
    """``timer``: seconds without a packet after which the session is reported (UPIR);
    ``since_ns``: the start of the inactivity period on the datapath's clock (the timer's
    start, the last packet seen since); ``reported``: its report went (once per period: a
    packet starts the next one); ``check_ns``: when the engine reads the session's counts
    next (`Timers._idle_check`): the end of the timer, not before (a packet before it
    moves it on; a read with reset in between shows its packet, `_read_reset`); a timer
    after a report (a packet since starts the next period)."""

    timer: int
    since_ns: int
    reported: bool
    check_ns: int

    def __init__(self, timer: int, since_ns: int, reported: bool = False) -> None:
        self.timer = timer
        self.since_ns = since_ns
        self.reported = reported
        self.check_ns = since_ns + timer * 1_000_000_000

    def record(self) -> bytes:
        """The journal's record: the timer and whether the period is reported (its start
        is on the datapath's clock, which a restart may not keep: the period counts from
        the restore)."""
        return b"%d %d" % (self.timer, self.reported)

    @classmethod
    def read(cls, value: bytes, now_ns: int) -> IdleWatch:
        timer, reported = value.split()
        return cls(int(timer), now_ns, bool(int(reported)))

    def saw(self, last_packet_ns: int) -> bool:
        """The time of last packet of the session's URRs (0: none since their counters were
        read with reset): a packet after the period's start starts a new period. True when
        that ends a reported period (its record changes)."""
        if last_packet_ns <= self.since_ns:
            return False
        self.since_ns = last_packet_ns
        self.check_ns = last_packet_ns + self.timer * 1_000_000_000
        reported, self.reported = self.reported, False
        return reported

    def due(self, now_ns: int) -> bool:
        """The period without a packet lasts longer than the timer, not reported yet (else
        the counts are read again a timer later)."""
        if self.reported or now_ns - self.since_ns <= self.timer * 1_000_000_000:
            if self.check_ns <= now_ns:
                self.check_ns = now_ns + (self.timer * 1_000_000_000 if self.reported else 1)
            return False
        return True

    def report(self, now_ns: int) -> None:
        """Its report went: the next read a timer later."""
        self.reported = True
        self.check_ns = now_ns + self.timer * 1_000_000_000

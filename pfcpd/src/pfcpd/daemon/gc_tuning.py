"""Keep Python's cyclic garbage collector away from pfcpd's long-lived state.

A full (generation 2) collection walks every tracked object: with 20,000 sessions it took
up to 0.9 s (measured with the session engine in one process, 2026-12-02), a pause every
answer in flight waits for, growing with the number of sessions. Sessions form no reference
cycles (2,000 established, modified and deleted left 0 cyclic garbage), so what outlives a
few seconds is moved out of the collector's reach: every FREEZE_INTERVAL seconds a young
collection (generations 0 and 1, cheap) clears the recent cyclic garbage, then
``gc.freeze()`` moves the survivors to the permanent generation, which the collector never
walks. Freed by reference counting as usual, such objects cost nothing to keep; the price is
that cyclic garbage made of objects older than a freeze is not reclaimed.

Measured (20,000 establishments into the engine in one process): without freezing 534/s,
4.2 s spent in the collector, the longest pause 893 ms; freezing every 2,000 sessions
1,009/s, 0.39 s, 76 ms.

Between two freezes the automatic full collections still walked what arrived since the last
one: at a thousand establishments a second, four per 10,000 sessions, 40 ms each, 16-18 us
per establishment; spaced to one per 100 generation-1 collections, one still came every few
seconds under load and took 22 ms with 20,000 sessions unfrozen (2,000 paced establishments
a second: 46 of the 100 slowest answers waited for it). So while the freezer runs there are
no automatic full collections (the third threshold is FULL_COLLECTION_EVERY, out of reach):
the young collections (generations 0 and 1; generation 1 every MIDDLE_COLLECTION_EVERY
collections of generation 0, under 1.5 ms each) and the freezes are the only pauses. The
cyclic garbage a full collection would reclaim is what outlived two young collections; a
freeze puts that out of reach anyway, and pfcpd makes little of it (measured:
after 20,000 establishments and deletions, an unfreeze and a full collection at exit found
44,733 unreachable objects, against 42,832 with full collections every 100: most of it
garbage of the start-up, frozen by the first freeze).

A batch of requests (the datagrams of one socket read, handled one after another, then
committed and answered together: `pfcp_socket.PfcpSocket`) runs with automatic collections
paused (`BatchPause`). Between a request and its batch's commit, its decoded message, staged
change, undo and answer are alive; a young collection in that time walked them, and the
generation-1 collection after it walked them again, though most die at the commit. Paused,
the first allocation after the batch starts a young collection that finds only what outlived
the batch (the new sessions): measured with bench/engine_instructions.py (2,000 requests
of each kind in batches of 64, 2026-12-04), 328.9k -> 309.1k instructions per establishment,
373.8k -> 364.5k per modification, 249.2k -> 243.9k per deletion; the objects young
collections walk per establishment 54 -> 25. What a paused batch makes grows with its work,
usually its RECV_BATCH datagrams (a restarted CP's sessions purged within it: with those
sessions), and its cyclic garbage is collected after it like any other.

Young collections are also started by the count of requests, not only by the collector's
own count. That count (generation 0's) is allocations minus deallocations of tracked
objects, whichever generation they were in: deleting frozen sessions lowers it as much as
new objects raise it. So while sessions were deleted (or deleted as fast as others were
established) no young collection came, and generation 0 kept everything that outlived its
request meanwhile: after 10,000 deletions 42,000 objects (the response cache's entries,
ints and bytes since then, which the collector does not track), and the collection that
finally came took 4-10 ms (bench/session_rate.py, its paced phase after the deletions,
2026-12-05), a pause every answer in flight waited for; in steady
churn (as many deletions as establishments) the sessions of the last FREEZE_INTERVAL
seconds would have waited for the freezer's collection. Now, once YOUNG_EVERY requests
were handled in paused batches (`BatchPause.handled`: `PfcpSocket` counts the datagrams it
read, nearly all of them requests), the end of the batch collects
generations 0 and 1 at once: what outlived those requests is walked once, in a pause
bounded by their number. In a burst this replaces the collections that came anyway: the
first allocation after a batch of 64 establishments started a young collection walking
the new sessions, and every second one a generation-1 collection walked them again; now
one collection walks them once.
"""

from __future__ import annotations

import asyncio
import gc
from typing import ClassVar

FREEZE_INTERVAL = 10.0  # seconds
# Young (generation 0) collections per generation-1 collection (gc's second threshold;
# Python: 10). A generation-1 collection walks what survived the young ones since the last:
# at 1,500 paced establishments a second, ten young collections' worth of sessions took
# 1.4 ms (p50) to 4 ms, a pause every answer in flight waits for; two young collections'
# worth, 0.45 ms, five times as often (the same objects walked in all).
MIDDLE_COLLECTION_EVERY = 2
# Generation-1 collections between two full ones (gc's third threshold; Python: 10): never,
# in practice, while the freezer runs.
FULL_COLLECTION_EVERY = 1 << 30
# Requests handled in paused batches between two collections of generations 0 and 1 run at
# a batch's end. Under the young threshold's worth of survivors (an establishment leaves
# ~17 tracked objects, its session's: 32 of them ~540, Python's threshold 700), so a paced
# load's automatic young collections seldom come between two of these and walk the same
# objects first.
YOUNG_EVERY = 32


class BatchPause:
    """``with pause:`` runs the body with the collector's automatic collections paused,
    and restores them after it (unless they were off before: tests, or a caller's own
    pause). The body says how many requests (datagrams) it handled (`handled`); once
    YOUNG_EVERY were handled since the last time (counted over every reader: one collector
    per process), the restore collects generations 0 and 1. One per reader: not
    reentrant."""

    __slots__ = ("_resume",)
    _requests: ClassVar[int] = 0  # handled in paused batches since the last collection

    def __init__(self) -> None:
        self._resume = False

    def __enter__(self) -> None:
        self._resume = gc.isenabled()
        gc.disable()

    def handled(self, requests: int) -> None:
        """The body handled ``requests`` more requests."""
        BatchPause._requests += requests

    def __exit__(self, *exc: object) -> None:
        end_pause(self._resume, 0)


def end_pause(resume: bool, requests: int) -> None:
    """A `BatchPause`'s exit, for a caller that pauses without one (``gc.isenabled()``,
    then ``gc.disable()``: no calls of its methods): its body handled ``requests`` more
    requests; ``resume``: the collector was enabled before, and is again now (then
    collecting generations 0 and 1 once YOUNG_EVERY were handled since the last time)."""
    requests += BatchPause._requests
    if not resume:
        BatchPause._requests = requests
        return
    gc.enable()
    if requests >= YOUNG_EVERY:
        BatchPause._requests = 0
        gc.collect(1)
    else:
        BatchPause._requests = requests


def freeze_now() -> None:
    gc.collect(1)
    gc.freeze()


class PeriodicFreeze:
    """Freeze now and every FREEZE_INTERVAL seconds until stopped."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handle: asyncio.TimerHandle | None = None
        self._thresholds: tuple[int, int, int] | None = None  # gc's, before start()

    def start(self) -> None:
        young, _, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, MIDDLE_COLLECTION_EVERY, FULL_COLLECTION_EVERY)
        freeze_now()
        self.handle = self.loop.call_later(FREEZE_INTERVAL, self._tick)

    def _tick(self) -> None:
        freeze_now()
        self.handle = self.loop.call_later(FREEZE_INTERVAL, self._tick)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

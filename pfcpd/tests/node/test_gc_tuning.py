"""The daemon's garbage collector tuning (pfcpd.daemon.gc_tuning)."""

from __future__ import annotations

import asyncio
import gc

from pfcpd.daemon.gc_tuning import (
    FREEZE_INTERVAL,
    FULL_COLLECTION_EVERY,
    MIDDLE_COLLECTION_EVERY,
    BatchPause,
    PeriodicFreeze,
)


def test_freezer_stops_full_collections_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    loop = asyncio.new_event_loop()
    try:
        freezer = PeriodicFreeze(loop)
        gc.unfreeze()
        freezer.start()
        try:
            young, middle, full = gc.get_threshold()
            assert young == before[0]
            assert middle == MIDDLE_COLLECTION_EVERY < before[1]  # shorter young pauses
            assert full == FULL_COLLECTION_EVERY >= 1 << 30  # no automatic full collection
            assert gc.get_freeze_count() > 0  # what lived then is out of the collector's reach
            assert freezer.handle is not None
            assert freezer.handle.when() >= loop.time() + FREEZE_INTERVAL - 1
        finally:
            freezer.stop()
        assert gc.get_threshold() == before
        assert freezer.handle is None
    finally:
        loop.close()
        gc.unfreeze()


def test_batch_pause_pauses_and_restores_what_was_there() -> None:
    was_enabled = gc.isenabled()
    pause = BatchPause()
    try:
        gc.enable()
        with pause:
            assert not gc.isenabled()
        assert gc.isenabled()
        try:
            with pause:
                raise RuntimeError("a failed batch")
        except RuntimeError:
            pass
        assert gc.isenabled()  # (resumed after a failure too)
        gc.disable()
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()  # (off before: left off)
    finally:
        (gc.enable if was_enabled else gc.disable)()

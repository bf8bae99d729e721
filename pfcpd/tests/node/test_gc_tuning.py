"""The daemon's garbage collector tuning (pfcpd.daemon.gc_tuning)."""

from __future__ import annotations

import asyncio
import gc

from pfcpd.daemon.gc_tuning import (
    FREEZE_INTERVAL,
    FULL_COLLECTION_EVERY,
    MIDDLE_COLLECTION_EVERY,
    YOUNG_EVERY,
    BatchPause,
    PeriodicFreeze,
    end_pause,
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


def _young_objects() -> int:
    return len(gc.get_objects(0)) + len(gc.get_objects(1))


def test_batches_collect_the_young_generations_by_requests_handled() -> None:
    """Deallocations of old objects lower the collector's own count as much as new ones
    raise it: with sessions deleted meanwhile, no automatic young collection comes and what
    outlived the requests piles up in generation 0. The batches' requests start one."""
    was_enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    old: list[list[int]] = [[] for _ in range(20_000)]  # the sessions to delete
    gc.collect()
    gc.freeze()  # (out of reach, as the freezer puts them)
    kept: list[list[int]] = []
    pause = BatchPause()
    gc.callbacks.append(seen)
    try:
        gc.enable()
        gc.set_threshold(700, MIDDLE_COLLECTION_EVERY, FULL_COLLECTION_EVERY)
        gc.collect(1)
        BatchPause._requests = 0
        collections.clear()
        most = 0
        for _ in range(YOUNG_EVERY * 8 // 4):  # batches of 4 requests
            with pause:
                for _ in range(4):
                    kept.extend([[], [], []])  # what outlives a request
                    del old[-4:]  # a deleted session, older than the batch
                pause.handled(4)
            most = max(most, _young_objects())
        assert collections and set(collections) == {1}  # generations 0 and 1 at once
        assert len(collections) == 8  # one per YOUNG_EVERY requests
        assert most < 4 * YOUNG_EVERY  # never more than about YOUNG_EVERY requests' worth
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        BatchPause._requests = 0
        (gc.enable if was_enabled else gc.disable)()


def test_no_collection_before_young_every_requests() -> None:
    was_enabled = gc.isenabled()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    pause = BatchPause()
    gc.callbacks.append(seen)
    try:
        gc.enable()
        BatchPause._requests = 0
        for _ in range(YOUNG_EVERY - 1):
            with pause:
                pause.handled(1)
        assert 1 not in collections  # (an automatic young one may come; none of ours)
        with pause:
            pause.handled(1)
        assert collections[-1] == 1
        assert BatchPause._requests == 0
        gc.disable()
        with pause:
            pause.handled(YOUNG_EVERY)
        assert collections[-1] == 1 and len([g for g in collections if g == 1]) == 1
    finally:
        gc.callbacks.remove(seen)
        BatchPause._requests = 0
        (gc.enable if was_enabled else gc.disable)()


def test_end_pause_is_a_batch_pause_exit() -> None:
    """`end_pause` (the pause the sockets make without a BatchPause's calls) ends it as a
    BatchPause's exit does, the requests handled told at once."""
    was_enabled = gc.isenabled()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        BatchPause._requests = 0
        gc.disable()
        end_pause(False, YOUNG_EVERY)  # (off before: left off, the requests counted)
        assert not gc.isenabled()
        assert BatchPause._requests == YOUNG_EVERY and 1 not in collections
        end_pause(True, 0)  # enabled again, and the requests counted before collect
        assert gc.isenabled()
        assert collections[-1] == 1 and BatchPause._requests == 0
        gc.disable()
        end_pause(True, YOUNG_EVERY - 1)
        assert gc.isenabled()
        assert BatchPause._requests == YOUNG_EVERY - 1
        assert len([g for g in collections if g == 1]) == 1
        gc.disable()
        end_pause(True, 1)
        assert collections[-1] == 1 and BatchPause._requests == 0
        assert len([g for g in collections if g == 1]) == 2
    finally:
        gc.callbacks.remove(seen)
        BatchPause._requests = 0
        (gc.enable if was_enabled else gc.disable)()

"""The session engine's timer (`Timers.get_timer`): the earliest of its poll, its
checkpoint, its first delayed DLDR and its GTP-U path monitor's next work, whichever are
set; with sessions and none of them set, at once (0.0)."""

from __future__ import annotations

import itertools

import pytest
from session_harness import Harness, cause

CANDIDATES = (None, 5.0, 7.5, 12.0)


def test_the_timer_is_the_earliest_of_what_is_set(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cause(h.establish()) == 1
    engine = h.engine
    for poll, checkpoint, delayed, paths in itertools.product(CANDIDATES, repeat=4):
        monkeypatch.setattr(engine, "_next_poll", poll)
        monkeypatch.setattr(engine, "_next_checkpoint", checkpoint)
        heap = [] if delayed is None else [(delayed, 1, 1, None)]
        monkeypatch.setattr(engine, "_delayed_dldr", heap)
        monkeypatch.setattr(engine, "_paths_timer", lambda paths=paths: paths)
        set_ = [t for t in (poll, checkpoint, delayed, paths) if t is not None]
        expected = min(set_) if set_ else 0.0
        assert engine.get_timer() == expected, (poll, checkpoint, delayed, paths)

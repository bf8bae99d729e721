"""Fixtures of the session engine tests: the engine on the real local datapath (skipped,
naming the library, when libupfcore.so is absent), inside a sans-IO node. ``ht``: the same
with the datapath's clock and the engine's NTP clock following the harness's node clock
(time-driven reports). ``hp``: the engine on the local datapath behind a pipeline
(`pipelined_datapath.Pipelined`: a change the datapath refuses comes back at the barrier)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from datapath.conftest import (
    datapath,  # noqa: F401  (the LocalDatapath fixture)
    require_core,
)
from pipelined_datapath import Pipelined
from session_harness import NTP_NOW, Harness

from pfcpd.datapath.local.engine import LocalDatapath


@pytest.fixture
def h(datapath: LocalDatapath) -> Iterator[Harness]:  # noqa: F811
    harness = Harness(datapath)
    yield harness
    harness.check_sent_with_tshark()
    errors = harness.engine.metrics.errors
    wheres = ("request", "timer", "peer_gone", "peer_recovered", "response", "undo", "commit")
    assert [errors.get(w) for w in wheres] == [0] * len(wheres)


@pytest.fixture
def ht() -> Iterator[Harness]:
    require_core()
    clock: dict[str, Harness | None] = {"h": None}
    dp = LocalDatapath(
        expected_sessions=16,
        clock=lambda: int(h.now * 1e9) + 1 if (h := clock["h"]) else 1,
    )
    harness = Harness(dp)
    clock["h"] = harness
    harness.engine._ntp = lambda: NTP_NOW + harness.now  # type: ignore[method-assign]
    yield harness
    harness.check_sent_with_tshark()
    dp.close()


@pytest.fixture
def hp() -> Iterator[Harness]:
    require_core()
    inner = LocalDatapath(expected_sessions=16)
    harness = Harness(Pipelined(inner))  # type: ignore[arg-type]
    yield harness
    errors = harness.engine.metrics.errors
    assert [errors.get(w) for w in ("request", "undo", "commit")] == [0, 0, 0]
    inner.close()

"""Fixtures of the session engine tests: the engine on the real local datapath (skipped,
naming the library, when libupfcore.so is absent), inside a sans-IO node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from datapath.conftest import datapath  # noqa: F401  (the LocalDatapath fixture)
from session_harness import Harness

from pfcpd.datapath.local.engine import LocalDatapath


@pytest.fixture
def h(datapath: LocalDatapath) -> Iterator[Harness]:  # noqa: F811
    harness = Harness(datapath)
    yield harness
    harness.check_sent_with_tshark()
    errors = harness.engine.metrics.errors
    assert [errors.get(w) for w in ("request", "timer", "peer_gone", "response")] == [0] * 4

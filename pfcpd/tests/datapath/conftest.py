"""Fixtures for the datapath tests: the local engine on libupfcore.so.

The library comes from $UPF_CORE_LIB or <repo>/build/core/libupfcore.so (`make test-core`
builds it before `make test-pfcpd` runs). When it is absent the tests skip, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pfcpd.datapath.local import corelib


def require_core() -> None:
    """Skip the test, naming the library, when libupfcore.so cannot be loaded."""
    try:
        corelib.load()
    except corelib.CoreLibNotFound as e:
        pytest.skip(f"libupfcore.so missing: {e}")


@pytest.fixture
def datapath() -> Iterator[object]:
    require_core()
    from pfcpd.datapath.local.engine import LocalDatapath

    dp = LocalDatapath(expected_sessions=64)
    yield dp
    dp.close()

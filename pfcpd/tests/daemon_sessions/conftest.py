"""Tests of ``pfcpd run`` with its datapath and session engine: a real pfcpd process (the
node tests' harness, tests/node/node_harness.py) and CP peers whose datagrams tshark checks
(the node tests' fixtures, re-exported here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NODE_TESTS = Path(__file__).resolve().parents[1] / "node"
if str(NODE_TESTS) not in sys.path:
    sys.path.insert(0, str(NODE_TESTS))


def _node_conftest() -> object:
    spec = importlib.util.spec_from_file_location("node_conftest", NODE_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_node = _node_conftest()
start_pfcpd = _node.start_pfcpd  # type: ignore[attr-defined]
make_peer = _node.make_peer  # type: ignore[attr-defined]

from sessions_harness import smf  # noqa: E402  (after the path set-up above)

__all__ = ["make_peer", "smf", "start_pfcpd"]

"""The PFCP session engine (sans-IO): the node's SessionHandler, compiling PFCP rules into
the datapath's SessionProgram.

- ``engine.py``: :class:`SessionEngine` (requests, reports, timers, restore, operator view);
- ``rules.py``: a session's rules as PFCP groups, Create/Update/Remove, references;
- ``shapes.py``: what sessions of one shape share (where a PDR's F-TEID and UE address
  are in its octets, the engine's memos by shape);
- ``compile.py``: rules to the datapath's program; ``flow_description.py``: SDF filters;
- ``allocation.py``: TEIDs and UE addresses; ``addresses.py``: shared address objects;
- ``usage.py``: URR bookkeeping and Usage Reports; ``pfd.py``: PFDs per Application ID;
- ``journal.py``: what the daemon provides to make changes durable; ``settings.py``: the
  configuration keys the engine reads; ``metrics.py``; ``errors.py``.

docs/pfcpd.md ("Sessions") says what the engine implements and refuses.
"""

from .engine import Session, SessionEngine
from .journal import Journal, JournalError, MemoryJournal
from .metrics import SessionMetrics
from .settings import EngineSettings

__all__ = [
    "EngineSettings",
    "Journal",
    "JournalError",
    "MemoryJournal",
    "Session",
    "SessionEngine",
    "SessionMetrics",
]

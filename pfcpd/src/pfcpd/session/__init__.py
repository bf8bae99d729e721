"""The PFCP session engine (sans-IO): the node's SessionHandler, compiling PFCP rules into
the datapath's SessionProgram.

- ``engine.py``: :class:`SessionEngine`, made of parts on ``state.py``'s `EngineState` (the
  engine's state, the steps requests share): ``establishment.py`` (with ``filling.py``,
  ``learning.py``, ``choosing.py``: sessions of a known shape filled in, shapes learnt,
  F-TEIDs and UE addresses chosen), ``modification.py``, ``deletion.py``,
  ``set_modification.py``, ``reports.py``, ``timers.py``, ``restore.py``, ``commit.py``
  (group commit), ``inspection.py`` (``show sessions``);
- ``session.py``: a session as the engine keeps it and its journal record (``record.py``:
  the binary form);
- ``rules.py``: a session's rules as PFCP groups, Create/Update/Remove, references, and the
  rule groups a request may not carry;
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

"""The PFCP session engine (sans-IO): the node's SessionHandler, compiling PFCP rules into
the datapath's SessionProgram. See ``engine.py``; the daemon's side is described in
``notes`` of the project (journal, restore, timers)."""

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

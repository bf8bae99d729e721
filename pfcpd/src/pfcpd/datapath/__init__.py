"""Datapaths pfcpd programs: one interface (`interface.Datapath`), two kinds.

- ``local``: the C rule engine (``upf_plugin/core``, ``libupfcore.so``) embedded in pfcpd,
  with its own packet I/O on Linux interfaces (`pfcpd.datapath.local`).
- ``vpp``: the VPP plugin through its binary API (another issue).
"""

from pfcpd.datapath.interface import (
    Bar,
    Datapath,
    DatapathError,
    DatapathEvent,
    EventType,
    Far,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
    Usage,
)

__all__ = [
    "Bar",
    "Datapath",
    "DatapathError",
    "DatapathEvent",
    "EventType",
    "Far",
    "Pdr",
    "Qer",
    "SdfFilter",
    "SessionProgram",
    "Urr",
    "Usage",
]

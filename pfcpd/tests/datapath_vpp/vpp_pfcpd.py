"""pfcpd (datapath vpp) on a private VPP with 2 workers, driven over PFCP by the SMF
simulator: what the tests that run it share (`conftest.pfcpd_vpp2w` makes one)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node_harness import Pfcpd  # (tests/node: on the path once the conftests ran)
    from vpp_instance import VppInstance

    from pfcpd.smfsim.client import SmfClient


@dataclass
class PfcpdOnVpp:
    """``daemon`` (pfcpd, `test_vpp_churn.overrides`: N3 on pg1, N6 on pg0) on ``vpp``
    (`vpp2w`), the gNB's and the DN's neighbours static on pg1 and pg0 (a pg interface
    answers no ARP), and ``cp``, the SMF simulator, associated with it."""

    vpp: VppInstance
    daemon: Pfcpd
    cp: SmfClient

    def kill(self) -> None:
        """pfcpd killed with -9 (VPP keeps its sessions; the events VPP raises while pfcpd
        is away are lost: no client subscribed); ``daemon.start()`` brings it back."""
        self.daemon.signal(signal.SIGKILL)
        assert self.daemon.proc is not None and self.daemon.proc.wait(10) == -signal.SIGKILL
        self.daemon.proc = None

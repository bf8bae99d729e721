"""What the session engine takes from the configuration (one home: the keys are read here)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..config import Config
from ..datapath.interface import IPAddress, IPNetwork
from .gtpu_path import PathSettings


@dataclass(frozen=True, slots=True)
class EngineSettings:
    n3_address: IPAddress  # interfaces.n3.address: local F-TEIDs, outer header sources
    pfcp_address: IPAddress  # the address in our UP F-SEID
    # network_instances: name -> UE pools, in configuration order; a name's index in this
    # order is the datapath's network instance number (TUN i of the local datapath).
    ue_pools: dict[str, tuple[IPNetwork, ...]] = field(default_factory=dict)
    poll_interval: float = 0.05  # seconds between datapath event polls while sessions exist
    checkpoint_interval: float = 1.0  # seconds between URR counter checkpoints
    checkpoint_batch: int = 2000  # sessions checkpointed per timer run
    activity_interval: float = 0.5  # seconds between traffic activity checks (START/STOPT)
    max_sessions: int = 1_000_000
    # GTP-U path management (pfcp.gtpu_echo; None: off) and the Node ID its Node Reports
    # carry (node_id; None: the PFCP address)
    gtpu_path: PathSettings | None = None
    node_id: str | None = None
    # pfcp.cp_allocated_fteids: a PDR's F-TEID the CP allocated (no CH) is taken when free
    # on our N3 address (True), or refused with 71 (False: TS 29.244 5.5.1)
    accept_cp_fteids: bool = False

    @property
    def network_instance_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.ue_pools)}

    @classmethod
    def from_config(cls, cfg: Config) -> EngineSettings:
        n3 = ipaddress.ip_address(cfg.interfaces["n3"].address)
        pfcp = _pfcp_address(cfg, n3)
        pools = {name: ni.ue_pools for name, ni in cfg.network_instances.items()}
        echo = cfg.pfcp.gtpu_echo
        path = (
            PathSettings(echo.interval, echo.t3_response, echo.n3_requests, echo.report_recovery)
            if echo.interval > 0
            else None
        )
        return cls(
            n3_address=n3,
            pfcp_address=pfcp,
            ue_pools=pools,
            gtpu_path=path,
            node_id=cfg.node_id,
            accept_cp_fteids=cfg.pfcp.cp_allocated_fteids == "accept",
        )


def _pfcp_address(cfg: Config, fallback: IPAddress) -> IPAddress:
    """The first specific PFCP listen address; else the Node ID when it is an address; else
    the N3 address."""
    for ep in cfg.pfcp.listen:
        try:
            addr = ipaddress.ip_address(ep.host)
        except ValueError:
            continue
        if not addr.is_unspecified:
            return addr
    try:
        return ipaddress.ip_address(cfg.node_id)
    except ValueError:
        return fallback

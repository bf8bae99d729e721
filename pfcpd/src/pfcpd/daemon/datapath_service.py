"""The datapath ``pfcpd run`` owns: built from ``datapath.kind``, started before PFCP opens,
stopped after it closes.

``local``: libupfcore.so inside pfcpd (`pfcpd.datapath.local`): GTP-U on
``interfaces.n3.address`` port 2152, one TUN device per network instance, a packet thread.
``vpp``: the VPP plugin's datapath, not available yet: ``pfcpd run`` refuses to start.
"""

from __future__ import annotations

import logging

from ..config import Config
from ..datapath.interface import Datapath
from ..datapath.local.corelib import CoreLibNotFound
from ..datapath.local.settings import LocalDatapathSettings, LocalUpf

log = logging.getLogger("pfcpd.datapath")


class DatapathStartError(Exception):
    """The datapath cannot start; the message says why (for the log, then exit 1)."""


class DatapathService:
    """One datapath and its packet I/O."""

    def __init__(self, upf: LocalUpf) -> None:
        self.upf = upf

    @property
    def datapath(self) -> Datapath:
        return self.upf.datapath

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> index (TUN i serves index i)."""
        return self.upf.settings.network_instances

    def stop(self) -> None:
        self.upf.stop()
        log.info("datapath stopped")


def local_settings(config: Config) -> LocalDatapathSettings:
    """The local datapath's settings (already validated with the rest of the file)."""
    return LocalDatapathSettings.from_config(
        config.datapath,
        config.interfaces["n3"].address,
        {name: ni.ue_pools for name, ni in config.network_instances.items()},
    )


def start_datapath(config: Config) -> DatapathService:
    """Build and start the datapath ``config`` names; DatapathStartError when it cannot."""
    if config.datapath_kind != "local":
        raise DatapathStartError(
            f"datapath.kind {config.datapath_kind}: this pfcpd has no such datapath yet "
            "(only local)"
        )
    settings = local_settings(config)
    try:
        upf = LocalUpf(settings)
    except CoreLibNotFound as exc:
        raise DatapathStartError(f"local datapath: {exc}") from None
    try:
        upf.start()
    except OSError as exc:
        upf.datapath.close()
        raise DatapathStartError(
            f"local datapath: cannot open GTP-U on {settings.n3_address}:2152 or the TUN "
            f"devices {', '.join(settings.n6_tuns) or '(none)'} (root or CAP_NET_ADMIN "
            f"needed): {exc}"
        ) from None
    log.info(
        "local datapath: GTP-U on %s:2152, N6 %s",
        settings.n3_address,
        ", ".join(f"{ni.name} on {ni.tun}" for ni in settings.n6) or "(no network instance)",
    )
    return DatapathService(upf)

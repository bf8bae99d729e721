"""The datapath ``pfcpd run`` owns: built from ``datapath.kind``, its packet I/O started once
the sessions are restored into it and before PFCP opens, stopped after PFCP closes.

``local``: libupfcore.so inside pfcpd (`pfcpd.datapath.local`): GTP-U on
``interfaces.n3.address`` port 2152, one TUN device per network instance, a packet thread.
``vpp``: the VPP plugin's datapath, not available yet: ``pfcpd run`` refuses to start.
"""

from __future__ import annotations

import logging

from ..config import Config, LocalDatapathConfig
from ..datapath.interface import Datapath
from ..datapath.local.corelib import CoreLibNotFound
from ..datapath.local.settings import LocalDatapathSettings, LocalUpf

log = logging.getLogger("pfcpd.datapath")


class DatapathStartError(Exception):
    """The datapath cannot start; the message says why (for the log, then exit 1)."""


class DatapathService:
    """One datapath and its packet I/O: built first (the session engine restores the
    journaled sessions into it), then started (packets flow only once every restored session
    is installed: no Error Indication for a TEID that is about to come back)."""

    def __init__(self, upf: LocalUpf) -> None:
        self.upf = upf

    @property
    def datapath(self) -> Datapath:
        return self.upf.datapath

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> index (TUN i serves index i)."""
        return self.upf.settings.network_instances

    def start(self) -> None:
        """Open GTP-U and the TUN devices and start the packet thread."""
        settings = self.upf.settings
        try:
            self.upf.start()
        except OSError as exc:
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

    def packet_counters(self) -> dict[str, int]:
        """The packet loop's counts (none before it starts)."""
        loop = self.upf.loop
        return loop.counters() if loop is not None else {}

    def stop(self) -> None:
        """Stop the packet I/O (if started) and free the datapath."""
        self.upf.stop()
        log.info("datapath stopped")


def local_settings(config: Config, datapath: LocalDatapathConfig) -> LocalDatapathSettings:
    """The local datapath's settings (already validated with the rest of the file)."""
    return LocalDatapathSettings.from_config(
        datapath,
        config.interfaces["n3"].address,
        {name: ni.ue_pools for name, ni in config.network_instances.items()},
    )


def open_datapath(config: Config) -> DatapathService:
    """Build the datapath ``config`` names, without packet I/O yet (`DatapathService.start`);
    DatapathStartError when it cannot."""
    if not isinstance(config.datapath, LocalDatapathConfig):
        raise DatapathStartError(
            f"datapath.kind {config.datapath.kind}: this pfcpd has no such datapath yet "
            "(only local)"
        )
    try:
        return DatapathService(LocalUpf(local_settings(config, config.datapath)))
    except CoreLibNotFound as exc:
        raise DatapathStartError(f"local datapath: {exc}") from None

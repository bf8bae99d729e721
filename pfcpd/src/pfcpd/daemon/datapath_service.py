"""The datapath ``pfcpd run`` owns: built from ``datapath.kind``, its packet I/O started once
the sessions are restored into it and before PFCP opens, stopped after PFCP closes.

``local``: libupfcore.so inside pfcpd (`pfcpd.datapath.local`): GTP-U on
``interfaces.n3.address`` port 2152, one TUN device per network instance, a packet thread.
``vpp``: the UPF plugin inside VPP (`pfcpd.datapath.vpp`): built = connected to VPP's API
socket (waiting up to ``datapath.vpp.connect_timeout``), interfaces bound, VPP's sessions
dumped; started = the restored sessions reconciled with VPP's. Pipelined: each session
change is sent without waiting for VPP's reply, and the group commit's barrier
(`Datapath.settle`) collects the replies of the batch before the journal commit. VPP does
the packet I/O: stopping pfcpd leaves VPP forwarding.
"""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING

from ..config import Config, LocalDatapathConfig, VppDatapathConfig
from ..datapath.interface import Datapath, DatapathError
from ..datapath.local.corelib import CoreLibNotFound
from ..datapath.local.settings import LocalDatapathSettings, LocalUpf
from ..datapath.vpp.settings import VppDatapathSettings
from ..metrics import Gauge, ReadCounter, Registry
from .packet_loop_metrics import register_core_counters, register_packet_loop

if TYPE_CHECKING:
    from ..datapath.vpp.datapath import VppDatapath

log = logging.getLogger("pfcpd.datapath")


class DatapathStartError(Exception):
    """The datapath cannot start; the message says why (for the log, then exit 1)."""


class DatapathService(abc.ABC):
    """One datapath and its packet I/O: built first (the session engine restores the
    journaled sessions into it), then started (packets flow only once every restored session
    is installed: no Error Indication for a TEID that is about to come back)."""

    @property
    @abc.abstractmethod
    def datapath(self) -> Datapath:
        """The Datapath the session engine programs."""

    @property
    @abc.abstractmethod
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> index (the datapath's number for it)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the packet I/O."""

    @abc.abstractmethod
    def register_metrics(self, registry: Registry) -> None:
        """Export the datapath's own metrics."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the packet I/O (if started) and free the datapath."""


class LocalDatapathService(DatapathService):
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

    def register_metrics(self, registry: Registry) -> None:
        register_packet_loop(registry, self.packet_counters)
        core = self.upf.datapath
        register_core_counters(
            registry, core.counters, core.core.drop_names, core.core.malformed_names
        )

    def stop(self) -> None:
        """Stop the packet I/O (if started) and free the datapath."""
        self.upf.stop()
        log.info("datapath stopped")


class VppDatapathService(DatapathService):
    def __init__(self, vpp: VppDatapath) -> None:
        self.vpp = vpp

    @property
    def datapath(self) -> Datapath:
        return self.vpp

    @property
    def network_instances(self) -> dict[str, int]:
        return self.vpp.settings.network_instances

    def start(self) -> None:
        """Reconcile VPP's sessions with the restored ones."""
        try:
            self.vpp.start()
        except DatapathError as exc:
            raise DatapathStartError(f"vpp datapath: {exc}") from None

    def register_metrics(self, registry: Registry) -> None:
        vpp = self.vpp
        for metric in (
            Gauge(
                "pfcpd_vpp_connected",
                "1 while VPP's API answers and every session is programmed, 0 otherwise",
                lambda: float(vpp.ready),
            ),
            ReadCounter(
                "pfcpd_vpp_reconnects_total",
                "VPP restarts after which every session was re-programmed",
                lambda: float(vpp.reconnects),
            ),
            ReadCounter(
                "pfcpd_vpp_program_failures_total",
                "Sessions VPP refused while reconciling after a pfcpd restart, "
                "re-programming after a VPP restart, or in a batch of PFCP changes (then "
                "answered 77 and rolled back; each logged)",
                lambda: float(vpp.program_failures),
            ),
            ReadCounter(
                "pfcpd_vpp_usage_refresh_failures_total",
                "Rounds of the background usage refresh that failed (VPP's error or no "
                "answer in time; each cause logged once while it repeats); the next round "
                "comes a refresh period later",
                lambda: float(vpp.refresh_failures),
            ),
            ReadCounter(
                "pfcpd_vpp_unknown_events_total",
                "Event records of the upf plugin of a type this pfcpd does not know (skipped)",
                lambda: float(vpp.unknown_events),
            ),
        ):
            registry.add(metric)

    def stop(self) -> None:
        """Disconnect from VPP; it keeps forwarding every session."""
        self.vpp.close()
        log.info("disconnected from VPP (its sessions stay)")


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
    if isinstance(config.datapath, VppDatapathConfig):
        return open_vpp(config, config.datapath)
    if not isinstance(config.datapath, LocalDatapathConfig):
        raise DatapathStartError(f"datapath.kind {config.datapath.kind}: no such datapath")
    try:
        return LocalDatapathService(LocalUpf(local_settings(config, config.datapath)))
    except CoreLibNotFound as exc:
        raise DatapathStartError(f"local datapath: {exc}") from None


def open_vpp(config: Config, datapath: VppDatapathConfig) -> DatapathService:
    """Connect to VPP as ``datapath.vpp`` says (already validated with the whole file)."""
    from ..datapath.vpp.datapath import VppDatapath, VppStartError

    settings = VppDatapathSettings.from_config(datapath, list(config.network_instances))
    try:
        return VppDatapathService(VppDatapath(settings, pipelined=True))
    except (DatapathError, VppStartError) as exc:
        raise DatapathStartError(f"vpp datapath: {exc}") from None

"""The local datapath's settings and the service that runs it.

The local datapath takes its N3 address from ``interfaces.n3.address`` and serves each
network instance of ``network_instances`` through a TUN device (index 0, 1, ... in the
order the instances are written); its own keys (``datapath.n6_tun``, ``core_lib``,
``expected_sessions``) and their checks are `pfcpd.config.LocalDatapathConfig`'s.

Starting the datapath creates each TUN, brings it up and routes the instance's UE pools to
it (``ip route replace``), so packets the kernel routes to a UE come to pfcpd as downlink;
uplink packets leave through the TUN of their FAR's network instance for the kernel to route
(IP forwarding and the routes towards the data network are the host's).
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pfcpd.config import LocalDatapathConfig
from pfcpd.datapath.interface import IPAddress, IPNetwork
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.datapath.local.io import PacketLoop

log = logging.getLogger("pfcpd.datapath")


@dataclass(frozen=True)
class N6Instance:
    """A network instance as the local datapath serves it."""

    name: str
    tun: str
    ue_pools: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True)
class LocalDatapathSettings:
    n3_address: IPAddress
    n6: tuple[N6Instance, ...] = ()  # index = position
    core_lib: str | None = None
    expected_sessions: int = 1024

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> index the session compiler puts in PDRs and FARs."""
        return {ni.name: i for i, ni in enumerate(self.n6)}

    @property
    def n6_tuns(self) -> tuple[str, ...]:
        """TUN device per network instance index."""
        return tuple(ni.tun for ni in self.n6)

    @classmethod
    def from_config(
        cls,
        datapath: LocalDatapathConfig,
        n3_address: str | IPAddress,
        network_instances: Mapping[str, Sequence[IPNetwork]],
    ) -> LocalDatapathSettings:
        """``datapath``: the validated ``datapath`` section; ``n3_address``:
        ``interfaces.n3.address``; ``network_instances``: name -> UE pools, in the
        configuration's order."""
        n6 = tuple(
            N6Instance(name, datapath.tun(name), tuple(pools))
            for name, pools in network_instances.items()
        )
        return cls(
            n3_address=ipaddress.ip_address(str(n3_address)),
            n6=n6,
            core_lib=datapath.core_lib,
            expected_sessions=datapath.expected_sessions,
        )


class LocalUpf:
    """The local datapath engine plus its packet thread."""

    def __init__(self, settings: LocalDatapathSettings) -> None:
        self.settings = settings
        self.datapath = LocalDatapath(settings.core_lib, settings.expected_sessions)
        self.loop: PacketLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open N3 and the TUNs (needs CAP_NET_ADMIN), bring the TUNs up with routes to their
        UE pools, and start forwarding."""
        self.loop = PacketLoop(self.datapath, self.settings.n3_address, self.settings.n6_tuns)
        try:
            for ni in self.settings.n6:
                _ip("link", "set", "dev", ni.tun, "up")
                for pool in ni.ue_pools:
                    _ip(f"-{pool.version}", "route", "replace", str(pool), "dev", ni.tun)
        except OSError:
            self.loop.close()
            self.loop = None
            raise
        self._thread = threading.Thread(target=self.loop.run, name="upf-local", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.loop and self._thread:
            self.loop.stop()
            self._thread.join()
            self.loop.close()
        self.loop = self._thread = None
        self.datapath.close()


def _ip(*args: str) -> None:
    """Run ``ip ARGS``; OSError with ip's message when it fails."""
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"ip {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    log.debug("ip %s", " ".join(args))

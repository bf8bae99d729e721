"""The ``datapath`` keys of the local datapath and the service that runs it.

The local datapath takes its N3 address from ``interfaces.n3.address`` and serves each
network instance of ``network_instances`` through a TUN device (index 0, 1, ... in the
order the instances are written); its own keys are few:

    datapath:
      kind: local                 # checked by pfcpd.config
      n6_tun:                     # optional: TUN device per network instance; the default
        internet: upf-internet    # is upf-<name> (names longer than 11 characters need one)
      core_lib: /usr/lib/upf/libupfcore.so   # optional; $UPF_CORE_LIB wins, and pfcpd
                                  # carries its own (see corelib.find_library)
      expected_sessions: 1024     # optional; sizes the lookup tables (they grow anyway)

Starting the datapath creates each TUN, brings it up and routes the instance's UE pools to
it (``ip route replace``), so packets the kernel routes to a UE come to pfcpd as downlink;
uplink packets leave through the TUN of their FAR's network instance for the kernel to route
(IP forwarding and the routes towards the data network are the host's).

Problems are reported as ``datapath.<key>: <problem>`` lines, all at once
(`pfcpd.config.ConfigError`).
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pfcpd.config import ConfigError
from pfcpd.datapath.interface import IPAddress, IPNetwork
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.datapath.local.io import PacketLoop

log = logging.getLogger("pfcpd.datapath")

KNOWN_KEYS = ("kind", "n6_tun", "core_lib", "expected_sessions")
IFNAMSIZ = 16
TUN_PREFIX = "upf-"


def _is_ifname(name: object) -> bool:
    return (
        isinstance(name, str) and 0 < len(name) < IFNAMSIZ and "/" not in name and " " not in name
    )


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
        datapath: Mapping[str, Any],
        n3_address: str | IPAddress,
        network_instances: Mapping[str, Sequence[IPNetwork]],
    ) -> LocalDatapathSettings:
        """``datapath``: the ``datapath`` mapping; ``n3_address``: ``interfaces.n3.address``;
        ``network_instances``: name -> UE pools, in the configuration's order."""
        errors: list[str] = []
        for key in datapath:
            if key not in KNOWN_KEYS:
                errors.append(f"datapath.{key}: unknown key (known: {', '.join(KNOWN_KEYS)})")
        n3 = ipaddress.ip_address(str(n3_address))
        tuns = datapath.get("n6_tun", {})
        if not isinstance(tuns, dict):
            errors.append(
                f"datapath.n6_tun: must be a mapping of network instance to TUN device, "
                f"got {tuns!r}"
            )
            tuns = {}
        for name in tuns:
            if name not in network_instances:
                errors.append(
                    f"datapath.n6_tun.{name}: no such network instance in network_instances"
                )
        n6: list[N6Instance] = []
        for name, pools in network_instances.items():
            dev = tuns.get(name, f"{TUN_PREFIX}{name}")
            if not _is_ifname(dev):
                where = f"datapath.n6_tun.{name}"
                if name in tuns:
                    errors.append(f"{where}: not an interface name (1-15 chars): {dev!r}")
                else:
                    errors.append(f"{where}: is required: the default {dev!r} is no interface name")
                continue
            n6.append(N6Instance(name, dev, tuple(pools)))
        devs = [ni.tun for ni in n6]
        for dev in sorted({d for d in devs if devs.count(d) > 1}):
            errors.append(f"datapath.n6_tun: TUN {dev!r} used by several network instances")
        lib = datapath.get("core_lib")
        if lib is not None and not isinstance(lib, str):
            errors.append(f"datapath.core_lib: must be a path string: {lib!r}")
        expected = datapath.get("expected_sessions", 1024)
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
            errors.append(f"datapath.expected_sessions: must be a positive integer: {expected!r}")
        if errors:
            raise ConfigError(errors)
        return cls(n3_address=n3, n6=tuple(n6), core_lib=lib, expected_sessions=int(expected))


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

"""The ``datapath`` configuration keys of the local datapath and the service that runs it.

    datapath:
      kind: local                 # checked by pfcpd.config
      n3_address: 10.200.0.2      # our GTP-U (N3/N9) address; UDP port 2152
      n6_tun: upf-n6              # TUN device for N6 (created; routes to the UE pool are the
                                  # operator's, e.g. `ip route add 10.45.0.0/16 dev upf-n6`)
      n6_network_instance: internet   # the network instance name N6 belongs to (index 0)
      core_lib: /usr/lib/upf/libupfcore.so   # optional; $UPF_CORE_LIB wins
      expected_sessions: 1024     # optional; sizes the lookup tables (they grow anyway)

Several N6 network instances: `n6_tun` is then a mapping of network instance name to TUN
device (one TUN each; indexes 0, 1, ... in the mapping's order), without
`n6_network_instance`:

      n6_tun:
        internet: upf-n6          # UE pool routed here: DL lookups in "internet"
        ims: upf-ims              # and here in "ims"; UL to a FAR's network instance
                                  # leaves through its TUN

Problems are reported as ``datapath.<key>: <problem>`` lines, all at once
(`pfcpd.config.ConfigError`).
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

from pfcpd.config import ConfigError
from pfcpd.datapath.interface import IPAddress
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.datapath.local.io import PacketLoop

KNOWN_KEYS = (
    "kind",
    "n3_address",
    "n6_tun",
    "n6_network_instance",
    "core_lib",
    "expected_sessions",
)
IFNAMSIZ = 16


def _is_ifname(name: object) -> bool:
    return (
        isinstance(name, str) and 0 < len(name) < IFNAMSIZ and "/" not in name and " " not in name
    )


@dataclass(frozen=True)
class LocalDatapathSettings:
    n3_address: IPAddress
    # (network instance name, TUN device) per N6 network instance, index = position
    n6: tuple[tuple[str, str], ...] = (("internet", "upf-n6"),)
    core_lib: str | None = None
    expected_sessions: int = 1024

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> index the session compiler puts in PDRs and FARs."""
        return {name: i for i, (name, _tun) in enumerate(self.n6)}

    @property
    def n6_tuns(self) -> tuple[str, ...]:
        """TUN device per network instance index."""
        return tuple(tun for _name, tun in self.n6)

    @classmethod
    def from_mapping(cls, m: dict[str, Any]) -> LocalDatapathSettings:
        errors: list[str] = []
        for key in m:
            if key not in KNOWN_KEYS:
                errors.append(f"datapath.{key}: unknown key (known: {', '.join(KNOWN_KEYS)})")
        n3: IPAddress | None = None
        raw = m.get("n3_address")
        if raw is None:
            errors.append("datapath.n3_address: required for the local datapath")
        else:
            try:
                n3 = ipaddress.ip_address(str(raw))
            except ValueError:
                errors.append(f"datapath.n3_address: not an IP address: {raw!r}")
        n6: list[tuple[str, str]] = []
        tun = m.get("n6_tun", "upf-n6")
        ni = m.get("n6_network_instance", "internet")
        if isinstance(tun, dict):
            if "n6_network_instance" in m:
                errors.append(
                    "datapath.n6_network_instance: not with an n6_tun mapping (its keys are "
                    "the network instances)"
                )
            if not tun:
                errors.append("datapath.n6_tun: the mapping is empty")
            for name, dev in tun.items():
                if not isinstance(name, str) or not name:
                    errors.append(f"datapath.n6_tun: network instance must be a name: {name!r}")
                elif not _is_ifname(dev):
                    errors.append(
                        f"datapath.n6_tun.{name}: not an interface name (1-15 chars): {dev!r}"
                    )
                else:
                    n6.append((name, dev))
            devs = [dev for _name, dev in n6]
            for dev in sorted({d for d in devs if devs.count(d) > 1}):
                errors.append(f"datapath.n6_tun: TUN {dev!r} used by several network instances")
        else:
            if not _is_ifname(tun):
                errors.append(f"datapath.n6_tun: not an interface name (1-15 chars): {tun!r}")
            if not isinstance(ni, str) or not ni:
                errors.append(f"datapath.n6_network_instance: must be a non-empty string: {ni!r}")
            n6.append((str(ni), str(tun)))
        lib = m.get("core_lib")
        if lib is not None and not isinstance(lib, str):
            errors.append(f"datapath.core_lib: must be a path string: {lib!r}")
        expected = m.get("expected_sessions", 1024)
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
            errors.append(f"datapath.expected_sessions: must be a positive integer: {expected!r}")
        if errors or n3 is None:
            raise ConfigError(errors)
        return cls(
            n3_address=n3,
            n6=tuple(n6),
            core_lib=lib,
            expected_sessions=int(expected),
        )


class LocalUpf:
    """The local datapath engine plus its packet thread."""

    def __init__(self, settings: LocalDatapathSettings) -> None:
        self.settings = settings
        self.datapath = LocalDatapath(settings.core_lib, settings.expected_sessions)
        self.loop: PacketLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open N3 and the TUN (needs CAP_NET_ADMIN) and start forwarding."""
        self.loop = PacketLoop(self.datapath, self.settings.n3_address, self.settings.n6_tuns)
        self._thread = threading.Thread(target=self.loop.run, name="upf-local", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.loop and self._thread:
            self.loop.stop()
            self._thread.join()
            self.loop.close()
        self.loop = self._thread = None
        self.datapath.close()

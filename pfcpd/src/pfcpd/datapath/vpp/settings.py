"""The ``datapath`` keys of the ``vpp`` datapath.

VPP does the packet work; pfcpd programs it through VPP's binary API socket. The N3 address
stays ``interfaces.n3.address`` (the session engine's F-TEIDs carry it; VPP must own that
address on one of its interfaces: the operator configures VPP's interfaces). What pfcpd
needs to know of VPP is which of its interfaces play which role and which FIB tables each
network instance uses:

    datapath:
      kind: vpp
      vpp:
        api_socket: /run/vpp/api.sock   # VPP's socksvr socket-name (the default)
        connect_timeout: 60             # s pfcpd waits at start-up for VPP to answer
        call_timeout: 2                 # s one API call may take before it fails
        usage_refresh: 1.0              # s between background reads of the URR counters
        n3_interfaces: [GigabitEthernet0/8/0]   # role N3 (GTP-U from the RAN); optional
        n9_interfaces: []               # role N9 (GTP-U from/to other UPFs); optional
        network_instances:              # one entry per name of `network_instances`
          internet:
            n6_interfaces: [GigabitEthernet0/9/0]   # DL enters the UPF here (role N6)
            ip4_table_id: 0             # FIB tables of the instance (0: VPP's default)
            ip6_table_id: 0

Interfaces are VPP's names (``show interface``). A network instance without an entry uses
tables 0 and has no N6 interface (it can still forward uplink and N9 traffic; pfcpd logs
that it receives no downlink). Problems are reported as ``datapath.vpp.<key>: <problem>``
lines, all at once (`pfcpd.config.ConfigError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pfcpd.config import ConfigError

KNOWN_KEYS = ("kind", "vpp")
VPP_KEYS = (
    "api_socket",
    "connect_timeout",
    "call_timeout",
    "usage_refresh",
    "n3_interfaces",
    "n9_interfaces",
    "network_instances",
)
NI_KEYS = ("n6_interfaces", "ip4_table_id", "ip6_table_id")
DEFAULT_API_SOCKET = "/run/vpp/api.sock"
MAX_TABLE_ID = 0xFFFFFFFE  # ~0 is VPP's "no table"


@dataclass(frozen=True)
class VppNetworkInstance:
    """A network instance as VPP serves it; its index is its position in the config."""

    name: str
    n6_interfaces: tuple[str, ...] = ()
    ip4_table_id: int = 0
    ip6_table_id: int = 0


@dataclass(frozen=True)
class VppDatapathSettings:
    api_socket: str = DEFAULT_API_SOCKET
    connect_timeout: float = 60.0
    call_timeout: float = 2.0
    usage_refresh: float = 1.0
    n3_interfaces: tuple[str, ...] = ()
    n9_interfaces: tuple[str, ...] = ()
    instances: tuple[VppNetworkInstance, ...] = ()  # index = position

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> the index the session compiler puts in PDRs and FARs
        (and the plugin's network instance number)."""
        return {ni.name: i for i, ni in enumerate(self.instances)}

    @classmethod
    def from_config(
        cls, datapath: Mapping[str, Any], network_instances: Sequence[str]
    ) -> VppDatapathSettings:
        """``datapath``: the ``datapath`` mapping; ``network_instances``: the names of
        ``network_instances``, in the configuration's order."""
        errors: list[str] = []
        for key in datapath:
            if key not in KNOWN_KEYS:
                errors.append(f"datapath.{key}: unknown key (known: {', '.join(KNOWN_KEYS)})")
        vpp = datapath.get("vpp", {})
        if vpp is None:
            vpp = {}
        if not isinstance(vpp, dict):
            errors.append(f"datapath.vpp: must be a mapping, got {type(vpp).__name__}")
            vpp = {}
        for key in vpp:
            if key not in VPP_KEYS:
                errors.append(f"datapath.vpp.{key}: unknown key (known: {', '.join(VPP_KEYS)})")
        socket_path = vpp.get("api_socket", DEFAULT_API_SOCKET)
        if not isinstance(socket_path, str) or not socket_path.startswith("/"):
            errors.append(f"datapath.vpp.api_socket: must be an absolute path, got {socket_path!r}")
            socket_path = DEFAULT_API_SOCKET
        timeouts = {}
        for key, default in (("connect_timeout", 60.0), ("call_timeout", 2.0)):
            timeouts[key] = _seconds(vpp, key, default, errors)
        refresh = _seconds(vpp, "usage_refresh", 1.0, errors)
        n3 = _ifnames(vpp.get("n3_interfaces", []), "datapath.vpp.n3_interfaces", errors)
        n9 = _ifnames(vpp.get("n9_interfaces", []), "datapath.vpp.n9_interfaces", errors)
        nis = vpp.get("network_instances", {})
        if nis is None:
            nis = {}
        if not isinstance(nis, dict):
            errors.append(
                f"datapath.vpp.network_instances: must be a mapping of network instance name "
                f"to its VPP settings, got {type(nis).__name__}"
            )
            nis = {}
        for name in nis:
            if name not in network_instances:
                errors.append(
                    f"datapath.vpp.network_instances.{name}: no such network instance in "
                    "network_instances"
                )
        instances = []
        for name in network_instances:
            instances.append(_instance(name, nis.get(name), errors))
        roles: dict[str, str] = {}
        for role, names in [("N3", n3), ("N9", n9)] + [
            (f"N6 of {ni.name}", ni.n6_interfaces) for ni in instances
        ]:
            for ifname in names:
                if ifname in roles:
                    errors.append(
                        f"datapath.vpp: interface {ifname!r} is both {roles[ifname]} and {role}"
                    )
                roles.setdefault(ifname, role)
        if errors:
            raise ConfigError(errors)
        return cls(
            api_socket=socket_path,
            connect_timeout=timeouts["connect_timeout"],
            call_timeout=timeouts["call_timeout"],
            usage_refresh=refresh,
            n3_interfaces=tuple(n3),
            n9_interfaces=tuple(n9),
            instances=tuple(instances),
        )


def _seconds(m: Mapping[str, Any], key: str, default: float, errors: list[str]) -> float:
    value = m.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        errors.append(f"datapath.vpp.{key}: must be a number of seconds > 0, got {value!r}")
        return default
    return float(value)


def _ifnames(value: object, path: str, errors: list[str]) -> list[str]:
    if not isinstance(value, list):
        errors.append(f"{path}: must be a list of VPP interface names, got {value!r}")
        return []
    out = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name or len(name) > 63 or " " in name:
            errors.append(f"{path}[{i}]: not a VPP interface name: {name!r}")
        elif name in out:
            errors.append(f"{path}[{i}]: {name!r} is listed twice")
        else:
            out.append(name)
    return out


def _instance(name: str, value: object, errors: list[str]) -> VppNetworkInstance:
    path = f"datapath.vpp.network_instances.{name}"
    if value is None:
        return VppNetworkInstance(name)
    if not isinstance(value, dict):
        errors.append(f"{path}: must be a mapping, got {type(value).__name__}")
        return VppNetworkInstance(name)
    for key in value:
        if key not in NI_KEYS:
            errors.append(f"{path}.{key}: unknown key (known: {', '.join(NI_KEYS)})")
    tables = []
    for key in ("ip4_table_id", "ip6_table_id"):
        t = value.get(key, 0)
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= MAX_TABLE_ID:
            errors.append(f"{path}.{key}: must be a FIB table id (0-{MAX_TABLE_ID}), got {t!r}")
            t = 0
        tables.append(t)
    n6 = _ifnames(value.get("n6_interfaces", []), f"{path}.n6_interfaces", errors)
    return VppNetworkInstance(name, tuple(n6), tables[0], tables[1])

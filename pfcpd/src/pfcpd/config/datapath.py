"""The ``datapath`` section: one model per ``kind``, the one ``kind`` names is checked.

Each datapath's keys are its model's fields; what they mean for packets is the datapath's
module's (`pfcpd.datapath.local.settings` builds the local datapath from
`LocalDatapathConfig`). Checks that need other sections (a TUN per network instance) are
`checks_with`, run by `pfcpd.config.models.Config` with ``network_instances``.

A new kind is a model here with ``kind: Literal["<name>"]``, added to `DatapathConfig` and
`KINDS`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeGuard

from pydantic import BeforeValidator, Field, PlainValidator, WithJsonSchema
from pydantic.dataclasses import dataclass
from pydantic_core import InitErrorDetails

from ..datapath.interface import IPNetwork
from .errors import problem, raise_collected, type_name
from .types import SECTION, AbsolutePath, PositiveInt, PositiveSeconds, also_null, null_is_empty

IFNAMSIZ = 16
TUN_PREFIX = "upf-"


class NetworkInstance(Protocol):
    """What `checks_with` reads of a network instance (`models.NetworkInstanceConfig`)."""

    @property
    def ue_pools(self) -> tuple[IPNetwork, ...]: ...


def is_ifname(name: object) -> TypeGuard[str]:
    return (
        isinstance(name, str) and 0 < len(name) < IFNAMSIZ and "/" not in name and " " not in name
    )


def _ifname(value: object) -> str:
    if not is_ifname(value):
        raise problem(f"not an interface name (1-15 chars): {value!r}")
    return value


IfName = Annotated[
    str,
    PlainValidator(_ifname),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": IFNAMSIZ - 1}),
]


@dataclass(frozen=True, slots=True, config=SECTION)
class LocalDatapathConfig:
    """``kind: local``: libupfcore.so inside pfcpd, one TUN device per network instance."""

    kind: Annotated[Literal["local"], Field(description="the datapath pfcpd programs")]
    n6_tun: Annotated[
        dict[str, IfName],
        Field(description="network instance -> its TUN device (default upf-<name>)"),
    ] = field(default_factory=dict)
    core_lib: Annotated[
        str | None,
        Field(description="libupfcore.so to load (default: pfcpd's own; $UPF_CORE_LIB wins)"),
    ] = None
    expected_sessions: Annotated[
        PositiveInt, Field(description="sizes the rule tables at start (they grow anyway)")
    ] = 1024

    def tun(self, network_instance: str) -> str:
        """The TUN device of ``network_instance``."""
        return self.n6_tun.get(network_instance, f"{TUN_PREFIX}{network_instance}")

    @staticmethod
    def checks_with(
        value: Mapping[str, Any], network_instances: Mapping[str, NetworkInstance]
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        """(loc under ``datapath``, problem) of the TUN devices against ``network_instances``,
        and of UE pools of two network instances that overlap: the local datapath routes
        each instance's pools to its TUN in the host's routing table, which sends an
        address to one TUN only (the other instance's downlink to it would reach the wrong
        TUN and be dropped). ``value`` is the section as written (it may have errors of its
        own)."""
        seen: list[tuple[str, IPNetwork]] = []
        for name, instance in network_instances.items():
            for net in instance.ue_pools:
                for other_name, other in seen:
                    if other_name == name or other.version != net.version:
                        continue
                    if net.overlaps(other):
                        text = (
                            f"kind local: UE pool {net} of network instance {name!r} overlaps"
                            f" {other} of {other_name!r}; the local datapath routes both to"
                            " their TUN devices in the host's one routing table"
                        )
                        yield (), text
                seen.append((name, net))
        tuns = value.get("n6_tun", {})
        if not isinstance(tuns, dict):
            return
        for name in tuns:
            if name not in network_instances:
                yield ("n6_tun", name), "no such network instance in network_instances"
        devs = []
        for name in network_instances:
            dev = tuns.get(name, f"{TUN_PREFIX}{name}")
            if name not in tuns and not is_ifname(dev):
                yield ("n6_tun", name), f"is required: the default {dev!r} is no interface name"
            devs.append(dev)
        for dev in sorted({d for d in devs if devs.count(d) > 1 and isinstance(d, str)}):
            yield ("n6_tun",), f"TUN {dev!r} used by several network instances"


MAX_VPP_IFNAME = 63
MAX_TABLE_ID = 0xFFFFFFFE  # ~0 is VPP's "no table"
DEFAULT_VPP_API_SOCKET = "/run/vpp/api.sock"


def _vpp_ifnames(value: object) -> tuple[str, ...]:
    """A list of VPP interface names (``show interface``), each once."""
    if isinstance(value, tuple):
        return value
    if not isinstance(value, list):
        raise problem(f"must be a list of VPP interface names, got {type_name(value)}")
    errors: list[InitErrorDetails] = []
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 0 < len(name) <= MAX_VPP_IFNAME or " " in name:
            text = f"not a VPP interface name: {name!r}"
        elif name in out:
            text = f"{name!r} is listed twice"
        else:
            out.append(name)
            continue
        errors.append({"type": problem(text), "loc": (i,), "input": name})
    raise_collected(errors)
    return tuple(out)


VppInterfaces = Annotated[
    tuple[str, ...],
    PlainValidator(_vpp_ifnames),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_VPP_IFNAME},
            "uniqueItems": True,
        }
    ),
]


def _table_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TABLE_ID:
        raise problem(f"must be a FIB table id (0-{MAX_TABLE_ID}), got {value!r}")
    return value


TableId = Annotated[
    int,
    PlainValidator(_table_id),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_TABLE_ID}),
]


@dataclass(frozen=True, slots=True, config=SECTION)
class VppNetworkInstanceConfig:
    """A network instance as VPP serves it (without an entry: tables 0, no N6 interface)."""

    n6_interfaces: Annotated[
        VppInterfaces, Field(description="role N6 interfaces: downlink enters here")
    ] = ()
    ip4_table_id: Annotated[TableId, Field(description="IPv4 FIB table of the instance")] = 0
    ip6_table_id: Annotated[TableId, Field(description="IPv6 FIB table of the instance")] = 0


@dataclass(frozen=True, slots=True, config=SECTION)
class VppConfig:
    """What pfcpd needs to know of VPP: its API socket and which interfaces play which role."""

    api_socket: Annotated[
        AbsolutePath, Field(description="VPP's binary API socket (startup.conf socksvr)")
    ] = Path(DEFAULT_VPP_API_SOCKET)
    connect_timeout: Annotated[
        PositiveSeconds, Field(description="seconds `pfcpd run` waits at start for VPP")
    ] = 60.0
    call_timeout: Annotated[
        PositiveSeconds, Field(description="seconds one API call may take before it fails")
    ] = 2.0
    usage_refresh: Annotated[
        PositiveSeconds, Field(description="seconds between background reads of URR counters")
    ] = 1.0
    n3_interfaces: Annotated[VppInterfaces, Field(description="role N3: GTP-U from the RAN")] = ()
    n9_interfaces: Annotated[
        VppInterfaces, Field(description="role N9: GTP-U from/to other UPFs")
    ] = ()
    network_instances: Annotated[
        dict[str, Annotated[VppNetworkInstanceConfig, BeforeValidator(null_is_empty)]],
        BeforeValidator(null_is_empty),
        Field(
            description="per name of network_instances: its VPP interfaces and tables",
            json_schema_extra=also_null,
        ),
    ] = field(default_factory=dict)

    def instance(self, name: str) -> VppNetworkInstanceConfig:
        """The VPP settings of network instance ``name`` (the defaults without an entry)."""
        return self.network_instances.get(name) or VppNetworkInstanceConfig()


@dataclass(frozen=True, slots=True, config=SECTION)
class VppDatapathConfig:
    """``kind: vpp``: the VPP plugin, programmed through VPP's binary API."""

    kind: Annotated[Literal["vpp"], Field(description="the datapath pfcpd programs")]
    vpp: Annotated[
        VppConfig,
        BeforeValidator(null_is_empty),
        Field(description="the vpp datapath's settings", json_schema_extra=also_null),
    ] = field(default_factory=VppConfig)

    @staticmethod
    def checks_with(
        value: Mapping[str, Any], network_instances: Collection[str]
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        """Entries for network instances that exist; one role per VPP interface."""
        vpp = value.get("vpp") or {}
        if not isinstance(vpp, dict):
            return
        entries = vpp.get("network_instances") or {}
        if not isinstance(entries, dict):
            entries = {}
        for name in entries:
            if name not in network_instances:
                where = ("vpp", "network_instances", name)
                yield where, "no such network instance in network_instances"
        roles = [("N3", vpp.get("n3_interfaces")), ("N9", vpp.get("n9_interfaces"))]
        for name in network_instances:
            entry = entries.get(name)
            if isinstance(entry, dict):
                roles.append((f"N6 of {name}", entry.get("n6_interfaces")))
        role_of: dict[str, str] = {}
        for role, names in roles:
            if not isinstance(names, list):
                continue
            for ifname in dict.fromkeys(n for n in names if isinstance(n, str)):
                if ifname in role_of:
                    yield ("vpp",), f"interface {ifname!r} is both {role_of[ifname]} and {role}"
                role_of.setdefault(ifname, role)


DatapathConfig = Annotated[LocalDatapathConfig | VppDatapathConfig, Field(discriminator="kind")]
KINDS: dict[str, type[LocalDatapathConfig] | type[VppDatapathConfig]] = {
    "local": LocalDatapathConfig,
    "vpp": VppDatapathConfig,
}

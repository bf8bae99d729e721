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
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.dataclasses import dataclass

from .errors import problem
from .types import PositiveInt

SECTION = ConfigDict(extra="forbid")
IFNAMSIZ = 16
TUN_PREFIX = "upf-"


def is_ifname(name: object) -> bool:
    return (
        isinstance(name, str) and 0 < len(name) < IFNAMSIZ and "/" not in name and " " not in name
    )


def _ifname(value: object) -> str:
    if not is_ifname(value):
        raise problem(f"not an interface name (1-15 chars): {value!r}")
    assert isinstance(value, str)
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
        value: Mapping[str, Any], network_instances: Collection[str]
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        """(loc under ``datapath``, problem) of the TUN devices against ``network_instances``;
        ``value`` is the section as written (it may have errors of its own)."""
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


@dataclass(frozen=True, config=ConfigDict(extra="allow"))
class VppDatapathConfig:
    """``kind: vpp``: the VPP plugin through its binary API. Its keys are not checked yet
    (``pfcpd run`` refuses this kind); they are kept as attributes."""

    kind: Annotated[Literal["vpp"], Field(description="the datapath pfcpd programs")]

    @staticmethod
    def checks_with(
        value: Mapping[str, Any], network_instances: Collection[str]
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        return iter(())


DatapathConfig = Annotated[LocalDatapathConfig | VppDatapathConfig, Field(discriminator="kind")]
KINDS: dict[str, type[LocalDatapathConfig] | type[VppDatapathConfig]] = {
    "local": LocalDatapathConfig,
    "vpp": VppDatapathConfig,
}

"""The configuration's sections as typed models: keys, defaults, checks.

Each section is a frozen pydantic dataclass whose fields are its keys (unknown keys are
errors). Checks between keys run as the later key's validator with the earlier keys that
are valid (``info.data``), so a document with several problems gets them all in one run.
"""

from __future__ import annotations

import ipaddress
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import InitErrorDetails

from ..datapath.interface import IPNetwork
from .datapath import KINDS, DatapathConfig
from .endpoint import PFCP_PORT, Endpoint
from .errors import passed_on, problem, raise_collected, type_name, unknown_key
from .types import (
    DOCUMENT,
    SECTION,
    AbsolutePath,
    HostPort,
    IPAddressText,
    ListenEndpoint,
    Network,
    NodeId,
    NonNegativeSeconds,
    PeerEndpoint,
    PositiveInt,
    PositiveNumber,
    PositiveSeconds,
    also_null,
    null_is_empty,
    one_of,
)

DEFAULT_METRICS_LISTEN = Endpoint("127.0.0.1", 9805)
DEFAULT_ADMIN_SOCKET = "/run/pfcpd/admin.sock"

PeerLostAction = Literal["release", "keep"]
PeerRestartAction = Literal["purge", "keep"]
CpFteidAction = Literal["refuse", "accept"]
LogFormat = Literal["human", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]


def _collect(
    errors: list[InitErrorDetails], loc: tuple[int | str, ...], text: str, value: object
) -> None:
    errors.append({"type": problem(text), "loc": loc, "input": value})


def _no_duplicates(endpoints: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    errors: list[InitErrorDetails] = []
    for i, ep in enumerate(endpoints):
        if ep in endpoints[:i]:
            _collect(errors, (i,), f"{ep} is listed twice", str(ep))
    raise_collected(errors)
    return endpoints


def _allowed_peers(value: object, info: ValidationInfo) -> object:
    """``any`` (None in Python) admits every peer; a document's empty list or null is an
    error, never "no check"."""
    if value == "any" or (value is None and info.context != DOCUMENT):
        return None
    if isinstance(value, list | tuple) and not value:
        raise problem(
            "an empty list admits no peer; list CIDRs, or write `any` to admit every peer"
        )
    if isinstance(value, str):
        raise problem(f"must be a list of CIDRs or `any`, got {value!r}")
    if value is None:
        raise problem("must be a list of CIDRs or `any`, got null")
    return value


_CIDR_LIST = {"type": "array", "items": {"type": "string", "format": "ipvanynetwork"}}


@dataclass(frozen=True, slots=True, config=SECTION)
class RateLimitConfig:
    """Requests accepted per peer IP address: a token bucket."""

    requests_per_second: Annotated[PositiveNumber, Field(description="tokens added per second")] = (
        1000.0
    )
    burst: Annotated[PositiveInt, Field(description="tokens at most")] = 2000


@dataclass(frozen=True, slots=True, config=SECTION)
class GtpuEchoConfig:
    """GTP-U path management (TS 29.281 7.2.1): Echo Requests to the remote GTP-U peers of
    the sessions' FARs; a peer that leaves them unanswered is reported to the CPs whose
    sessions use it (PFCP Node Report Request, UPFR)."""

    interval: Annotated[
        NonNegativeSeconds,
        Field(
            description="seconds between Echo Requests to each GTP-U peer in use (TS 29.281:"
            " at least 60); 0 turns path management off"
        ),
    ] = 0.0
    t3_response: Annotated[
        PositiveSeconds,
        Field(description="seconds an Echo Request waits for its response (T3-RESPONSE)"),
    ] = 3.0
    n3_requests: Annotated[
        PositiveInt,
        Field(description="attempts of an Echo Request before the path fails (N3-REQUESTS)"),
    ] = 3
    report_recovery: Annotated[
        bool,
        Field(description="report a failed path that answers again (Node Report Type UPRR)"),
    ] = True


@dataclass(frozen=True, slots=True, kw_only=True, config=SECTION)
class PfcpConfig:
    """N4: where pfcpd listens, who may talk to it, its timers and limits."""

    # The checks between keys are the document's (`DOCUMENT`): settings built in Python,
    # such as the reload's running copy (old associate_to, new allowed_peers), are taken as
    # they are; each key's own check still applies.

    listen: Annotated[
        tuple[ListenEndpoint, ...], Field(description="where pfcpd receives PFCP")
    ] = (Endpoint("0.0.0.0", PFCP_PORT),)
    allowed_peers: Annotated[
        tuple[Network, ...] | None,
        BeforeValidator(_allowed_peers),
        WithJsonSchema(
            {
                "anyOf": [{"const": "any"}, {**_CIDR_LIST, "minItems": 1}],
                "description": "CIDRs of the peers allowed to talk to pfcpd, or `any`",
            }
        ),
    ]
    associate_to: Annotated[
        tuple[PeerEndpoint, ...], Field(description="SMFs to associate to at start-up")
    ] = ()
    heartbeat_interval: Annotated[
        PositiveSeconds, Field(description="seconds between heartbeats to each associated CP")
    ] = 10.0
    t1: Annotated[
        PositiveSeconds, Field(description="seconds before a request of pfcpd is sent again")
    ] = 3.0
    n1: Annotated[PositiveInt, Field(description="retransmissions before pfcpd gives up")] = 3
    associate_retry_interval: Annotated[
        PositiveSeconds, Field(description="seconds between association attempts to associate_to")
    ] = 10.0
    response_cache_time: Annotated[
        PositiveSeconds, Field(description="seconds an answer is kept for retransmitted requests")
    ] = 30.0
    on_peer_lost: Annotated[
        PeerLostAction,
        one_of(PeerLostAction),
        Field(description="what becomes of a lost CP's sessions"),
    ] = "release"
    graceful_release_period: Annotated[
        NonNegativeSeconds, Field(description="seconds a lost CP may come back before the release")
    ] = 0.0
    on_peer_restart: Annotated[
        PeerRestartAction,
        one_of(PeerRestartAction),
        Field(
            description="sessions of a CP whose heartbeat, or answer to pfcpd's Association"
            " Setup Request, shows a new Recovery Time Stamp (a new Association Setup Request"
            " of the CP's: TS 29.244 6.2.6.2.2 instead)"
        ),
    ] = "purge"
    cp_allocated_fteids: Annotated[
        CpFteidAction,
        one_of(CpFteidAction),
        Field(
            description="a PDR's F-TEID the CP allocated (no CH): refused with cause 71 (TS"
            " 29.244 5.5.1), or accepted when it is on the N3 address and its TEID is free"
            " (SMFs that allocate F-TEIDs themselves)"
        ),
    ] = "refuse"
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    drain_timeout: Annotated[
        NonNegativeSeconds,
        Field(description="seconds SIGTERM waits for pfcpd's requests in flight"),
    ] = 5.0
    max_associations: Annotated[PositiveInt, Field(description="CP associations at most")] = 64
    gtpu_echo: GtpuEchoConfig = field(default_factory=GtpuEchoConfig)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: tuple[Endpoint, ...], info: ValidationInfo) -> tuple[Endpoint, ...]:
        if not value and info.context == DOCUMENT:
            raise problem("must name at least one address")
        return _no_duplicates(value)

    @field_validator("associate_to")
    @classmethod
    def _associate_to(
        cls, value: tuple[Endpoint, ...], info: ValidationInfo
    ) -> tuple[Endpoint, ...]:
        value = _no_duplicates(value)
        if info.context != DOCUMENT:
            return value  # e.g. the reload's merge of running and reloaded settings
        listen: tuple[Endpoint, ...] = info.data.get("listen", ())
        has_v6 = any(ep.family == 6 for ep in listen)
        allowed: tuple[IPNetwork, ...] | None = info.data.get("allowed_peers")
        errors: list[InitErrorDetails] = []
        for i, ep in enumerate(value):
            if ep.is_name:
                continue  # checked when resolved: addresses outside allowed_peers are skipped
            if listen and ep.family == 6 and not has_v6:
                text = f"{ep.host} is IPv6 but pfcp.listen has no IPv6 address to send from"
                _collect(errors, (i,), text, str(ep))
            if allowed is not None and not any(
                ipaddress.ip_address(ep.host) in net for net in allowed
            ):
                text = f"{ep.host} is not in pfcp.allowed_peers (its answers would be dropped)"
                _collect(errors, (i,), text, str(ep))
        raise_collected(errors)
        return value

    @field_validator("max_associations")
    @classmethod
    def _max_associations(cls, value: int, info: ValidationInfo) -> int:
        entries = len(info.data.get("associate_to", ()))
        if entries > value and info.context == DOCUMENT:
            raise problem(f"is {value}, fewer than the {entries} associate_to entries")
        return value


@dataclass(frozen=True, slots=True, config=SECTION)
class InterfaceConfig:
    """An interface of the UPF (n3: GTP-U, the datapath's N3/N9 address)."""

    address: Annotated[IPAddressText, Field(description="the interface's IP address")]


@dataclass(frozen=True, slots=True, config=SECTION)
class NetworkInstanceConfig:
    """An N6 network (data network) the UPF serves."""

    ue_pools: Annotated[
        tuple[Network, ...], Field(description="UE addresses handed out (CHV4/CHV6)")
    ] = ()


@dataclass(frozen=True, slots=True, config=SECTION)
class LoggingConfig:
    """pfcpd's log (stderr, the journal under systemd)."""

    format: Annotated[
        LogFormat, one_of(LogFormat), Field(description="log lines for people or as JSON")
    ] = "human"
    level: Annotated[
        LogLevel, one_of(LogLevel), Field(description="the least severe level logged")
    ] = "info"


@dataclass(frozen=True, slots=True, config=SECTION)
class MetricsConfig:
    """The Prometheus metrics endpoint (HTTP, /metrics)."""

    listen: Annotated[
        HostPort | None,
        Field(description="the Prometheus endpoint, loopback only; null turns metrics off"),
    ] = DEFAULT_METRICS_LISTEN

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: Endpoint | None) -> Endpoint | None:
        if value is not None and not ipaddress.ip_address(value.host).is_loopback:
            raise problem(f"must be a loopback address, got {value.host}")
        return value


@dataclass(frozen=True, slots=True, config=SECTION)
class AdminConfig:
    """The admin socket `pfcpd show` and `pfcpd release` talk to."""

    socket: Annotated[AbsolutePath, Field(description="root-only Unix socket of `pfcpd show`")] = (
        Path(DEFAULT_ADMIN_SOCKET)
    )


@dataclass(frozen=True, slots=True, kw_only=True, config=SECTION)
class Config:
    """pfcpd's configuration file (YAML)."""

    # Field order is the order problems are reported in, and what the checks between
    # sections see: a key's check sees the valid keys before it (datapath: network_instances).

    node_id: Annotated[NodeId, Field(description="the UPF's PFCP Node ID")]
    network_instances: Annotated[
        dict[str, NetworkInstanceConfig],
        BeforeValidator(null_is_empty),
        Field(description="N6 networks, the first is the default", json_schema_extra=also_null),
    ] = field(default_factory=dict)
    datapath: DatapathConfig
    state_dir: Annotated[
        AbsolutePath, Field(description="node state and session journal directory")
    ]
    pfcp: PfcpConfig
    interfaces: Annotated[
        dict[str, InterfaceConfig], Field(description="at least n3: the GTP-U address")
    ]
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)

    @property
    def datapath_kind(self) -> str:
        return self.datapath.kind

    @property
    def metrics_listen(self) -> Endpoint | None:
        return self.metrics.listen

    @property
    def admin_socket(self) -> Path:
        return self.admin.socket

    @field_validator("network_instances")
    @classmethod
    def _network_instances(
        cls, value: dict[str, NetworkInstanceConfig]
    ) -> dict[str, NetworkInstanceConfig]:
        """The pools of one network instance share no address: each would hand it out. (The
        same addresses in pools of two instances are two data networks' own spaces: the
        allocator and the datapath's downlink lookup key UE addresses by instance; the
        local datapath refuses them, `LocalDatapathConfig.checks_with`.)"""
        errors: list[InitErrorDetails] = []
        for name, instance in value.items():
            pools = instance.ue_pools
            for j, net in enumerate(pools):
                for i, other in enumerate(pools[:j]):
                    if net.version == other.version and net.overlaps(other):
                        text = (
                            f"{net} {_relation(net, other)} {other} (ue_pools[{i}]) of network"
                            f" instance {name!r}: its UE pools must not share addresses"
                        )
                        _collect(errors, (name, "ue_pools", j), text, str(net))
        raise_collected(errors)
        return value

    @field_validator("datapath", mode="wrap")
    @classmethod
    def _datapath(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not isinstance(value, dict):
            if info.context == DOCUMENT:
                raise problem(f"must be a mapping, got {type_name(value)}")
            return handler(value)
        kind = value.get("kind")
        if "kind" not in value:
            raise _at(("kind",), f"is required: one of {', '.join(KINDS)}", value)
        if not isinstance(kind, str) or kind not in KINDS:
            raise _at(("kind",), f"must be one of {', '.join(KINDS)}, got {kind!r}", value)
        model = KINDS[kind]
        errors: list[InitErrorDetails] = []
        result = None
        try:
            result = handler(value)
        except ValidationError as exc:
            for e in exc.errors():
                loc = e["loc"][1:]  # without the kind pydantic puts first
                if e["type"] == "unexpected_keyword_argument":
                    _collect(errors, loc, unknown_key(model, loc[:-1]), e["input"])
                else:
                    errors.append(passed_on(e, loc))
        if "network_instances" in info.data:
            for loc, text in model.checks_with(value, info.data["network_instances"]):
                _collect(errors, loc, text, value)
        raise_collected(errors)
        return result

    @field_validator("interfaces", mode="wrap")
    @classmethod
    def _interfaces(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> dict[str, InterfaceConfig]:
        errors: list[InitErrorDetails] = []
        result: dict[str, InterfaceConfig] = {}
        try:
            result = handler(value)
        except ValidationError as exc:
            errors += [passed_on(e, e["loc"]) for e in exc.errors()]
        if isinstance(value, dict) and "n3" not in value:
            _collect(errors, ("n3",), "is required", value)
        raise_collected(errors)
        return result


def _relation(net: IPNetwork, other: IPNetwork) -> str:
    """How two overlapping networks overlap (CIDRs that overlap: one holds the other, the
    one with the longer prefix)."""
    if net.prefixlen == other.prefixlen:
        return "is the same network as"
    return "is inside" if net.prefixlen > other.prefixlen else "contains"


def _at(loc: tuple[str, ...], text: str, value: object) -> ValidationError:
    return ValidationError.from_exception_data(
        "pfcpd configuration", [{"type": problem(text), "loc": loc, "input": value}]
    )

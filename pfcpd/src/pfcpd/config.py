"""pfcpd's YAML configuration: the typed settings and their validation.

Every problem found is reported with the dotted key it concerns (``pfcp.t1: must be a
positive number, got 'x'``), all of them at once, so ``pfcpd check-config`` lists everything an
operator has to fix in one run.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

PFCP_PORT = 8805
DEFAULT_METRICS_LISTEN = "127.0.0.1:9805"
DEFAULT_ADMIN_SOCKET = "/run/pfcpd/admin.sock"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("human", "json")
DATAPATH_KINDS = ("local", "vpp")
PEER_LOST_ACTIONS = ("release", "keep")
PEER_RESTART_ACTIONS = ("purge", "keep")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` holds one ``key: problem`` line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A UDP/TCP endpoint: an IP literal (no brackets) and a port; for ``pfcp.associate_to``
    the host may also be a DNS name, resolved when pfcpd runs."""

    host: str
    port: int

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.host).version

    @property
    def is_name(self) -> bool:
        return is_dns_name(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_dns_name(host: str) -> bool:
    """True for a DNS name, False for an IPv4/IPv6 literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    requests_per_second: float = 1000.0
    burst: int = 2000


@dataclass(frozen=True, slots=True)
class PfcpConfig:
    listen: tuple[Endpoint, ...]
    allowed_peers: tuple[IPNetwork, ...] | None  # None: any peer (written as `any`)
    associate_to: tuple[Endpoint, ...] = ()
    heartbeat_interval: float = 10.0
    t1: float = 3.0
    n1: int = 3
    associate_retry_interval: float = 10.0
    response_cache_time: float = 30.0
    on_peer_lost: str = "release"
    graceful_release_period: float = 0.0
    on_peer_restart: str = "purge"
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    drain_timeout: float = 5.0
    max_associations: int = 64


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    address: str


@dataclass(frozen=True, slots=True)
class NetworkInstanceConfig:
    ue_pools: tuple[IPNetwork, ...]


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: str = "human"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    node_id: str
    pfcp: PfcpConfig
    datapath_kind: str
    datapath: dict[str, Any]  # the whole `datapath` mapping (its other keys: the datapath's)
    interfaces: dict[str, InterfaceConfig]
    network_instances: dict[str, NetworkInstanceConfig]
    state_dir: Path
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics_listen: Endpoint | None = None
    admin_socket: Path = Path(DEFAULT_ADMIN_SOCKET)


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}: YAML syntax error{where}: {problem}"]) from None
    return parse_config(data)


def parse_config(data: object) -> Config:
    """Validate an already parsed YAML document."""
    v = _Validator()
    config = v.config(data)
    if v.errors or config is None:
        raise ConfigError(v.errors or ["(document): empty configuration"])
    return config


def is_fqdn(text: str) -> bool:
    """A syntactically valid DNS name (letters, digits, hyphens; labels of 1-63)."""
    labels = text.rstrip(".").split(".")
    return 0 < len(text) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def parse_endpoint(
    text: str, default_port: int | None = PFCP_PORT, allow_name: bool = False
) -> Endpoint:
    """``host:port``, ``[v6]:port``, or a bare address when ``default_port`` is set; with
    ``allow_name`` the host may be a DNS name (``smf.example.net:8805``)."""
    text = text.strip()
    host, port_text = text, None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        host = ipaddress.ip_address(host).compressed
    except ValueError:
        if not allow_name:
            raise ValueError(f"{text!r}: {host!r} is not an IPv4 or IPv6 address") from None
        if text.startswith("[") or not is_fqdn(host) or host.replace(".", "").isdigit():
            raise ValueError(
                f"{text!r}: {host!r} is neither an IPv4/IPv6 address nor a DNS name"
            ) from None
        host = host.rstrip(".").lower()
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{text!r}: a port is required (host:port or [v6]:port)")
        port = default_port
    else:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port {port_text!r} is not a number in 0-65535")
        port = int(port_text)
    return Endpoint(host, port)


def _type_name(value: object) -> str:
    return type(value).__name__ if value is not None else "null"


def _finite(value: object) -> TypeGuard[int | float]:
    """A YAML number that is one: not a bool, not .nan, not .inf (a timer of .nan or .inf
    would compare false everywhere and never fire, or fire at once)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Validator:
    """Walks the document, collecting ``key: problem`` errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, key: str, problem: str) -> None:
        self.errors.append(f"{key}: {problem}")

    # -- generic readers ---------------------------------------------------------------------

    def mapping(self, value: object, key: str, known: tuple[str, ...] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(key, f"must be a mapping, got {_type_name(value)}")
            return {}
        if known is not None:
            for k in value:
                if k not in known:
                    self.error(f"{key}.{k}" if key else str(k), "unknown key")
        return value

    def number(
        self, m: dict[str, Any], key: str, path: str, default: float | None, minimum: float = 0
    ) -> float:
        if key not in m and default is None:
            self.error(path, "is required")
            return 0.0
        value = m.get(key, default)
        if not _finite(value) or value <= minimum:
            self.error(path, f"must be a finite number greater than {minimum:g}, got {value!r}")
            return 0.0
        return float(value)

    def non_negative(self, m: dict[str, Any], key: str, path: str, default: float) -> float:
        value = m.get(key, default)
        if not _finite(value) or value < 0:
            self.error(path, f"must be a finite number >= 0, got {value!r}")
            return 0.0
        return float(value)

    def integer(self, m: dict[str, Any], key: str, path: str, default: int | None) -> int:
        if key not in m and default is None:
            self.error(path, "is required")
            return 0
        value = m.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.error(path, f"must be an integer >= 1, got {value!r}")
            return 0
        return value

    def choice(
        self, m: dict[str, Any], key: str, path: str, default: str, allowed: tuple[str, ...]
    ) -> str:
        value = m.get(key, default)
        if value not in allowed:
            self.error(path, f"must be one of {', '.join(allowed)}, got {value!r}")
            return default
        return str(value)

    def string_list(self, value: object, path: str) -> list[str]:
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_type_name(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(f"{path}[{i}]", f"must be a string, got {_type_name(item)}")
            else:
                out.append(item)
        return out

    def endpoints(
        self, value: object, path: str, default_port: int | None, allow_name: bool = False
    ) -> list[Endpoint]:
        out: list[Endpoint] = []
        for i, text in enumerate(self.string_list(value, path)):
            try:
                ep = parse_endpoint(text, default_port, allow_name)
            except ValueError as exc:
                self.error(f"{path}[{i}]", str(exc))
                continue
            if ep in out:
                self.error(f"{path}[{i}]", f"{ep} is listed twice")
                continue
            out.append(ep)
        return out

    def networks(self, value: object, path: str) -> list[IPNetwork]:
        out = []
        for i, text in enumerate(self.string_list(value, path)):
            try:
                out.append(ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                self.error(f"{path}[{i}]", f"not a CIDR network: {exc}")
        return out

    # -- sections ------------------------------------------------------------------------------

    def config(self, data: object) -> Config | None:
        if data is None:
            self.error("(document)", "empty configuration")
            return None
        top = self.mapping(
            data,
            "",
            (
                "node_id",
                "pfcp",
                "datapath",
                "interfaces",
                "network_instances",
                "state_dir",
                "logging",
                "metrics",
                "admin",
            ),
        )
        if not top:
            return None
        for key in ("node_id", "datapath", "state_dir"):
            if key not in top:
                self.error(key, "is required")
        node_id = self.node_id(top["node_id"]) if "node_id" in top else ""
        pfcp = self.pfcp(top.get("pfcp"))
        datapath = self.mapping(top["datapath"], "datapath", None) if "datapath" in top else {}
        kind = ""
        if "datapath" in top and isinstance(top["datapath"], dict):
            if "kind" not in datapath:
                self.error("datapath.kind", f"is required: one of {', '.join(DATAPATH_KINDS)}")
            else:
                kind = self.choice(datapath, "kind", "datapath.kind", "", DATAPATH_KINDS)
        interfaces = self.interfaces(top.get("interfaces"))
        instances = self.network_instances(top.get("network_instances"))
        state_dir = top.get("state_dir", "/")
        if not isinstance(state_dir, str) or not state_dir.startswith("/"):
            self.error("state_dir", f"must be an absolute path, got {state_dir!r}")
            state_dir = "/"
        if kind == "local" and "n3" in interfaces:
            self.local_datapath(datapath, interfaces["n3"].address, instances)
        if kind == "vpp":
            self.vpp_datapath(datapath, instances)
        logging = self.logging(top.get("logging", {}))
        metrics = self.metrics(top.get("metrics", {}))
        admin = self.mapping(top.get("admin", {}), "admin", ("socket",))
        socket_path = admin.get("socket", DEFAULT_ADMIN_SOCKET)
        if not isinstance(socket_path, str) or not socket_path.startswith("/"):
            self.error("admin.socket", f"must be an absolute path, got {socket_path!r}")
            socket_path = DEFAULT_ADMIN_SOCKET
        if pfcp is None:
            return None
        return Config(
            node_id=node_id,
            pfcp=pfcp,
            datapath_kind=kind,
            datapath=dict(datapath),
            interfaces=interfaces,
            network_instances=instances,
            state_dir=Path(state_dir),
            logging=logging,
            metrics_listen=metrics,
            admin_socket=Path(socket_path),
        )

    def local_datapath(
        self,
        datapath: dict[str, Any],
        n3_address: str,
        instances: dict[str, NetworkInstanceConfig],
    ) -> None:
        """The local datapath's own keys (its module is their home)."""
        from .datapath.local.settings import LocalDatapathSettings

        try:
            LocalDatapathSettings.from_config(
                datapath, n3_address, {k: v.ue_pools for k, v in instances.items()}
            )
        except ConfigError as exc:
            self.errors.extend(exc.errors)

    def vpp_datapath(
        self, datapath: dict[str, Any], instances: dict[str, NetworkInstanceConfig]
    ) -> None:
        """The vpp datapath's own keys (its module is their home)."""
        from .datapath.vpp.settings import VppDatapathSettings

        try:
            VppDatapathSettings.from_config(datapath, list(instances))
        except ConfigError as exc:
            self.errors.extend(exc.errors)

    def node_id(self, value: object) -> str:
        if not isinstance(value, str) or not value:
            self.error("node_id", f"must be an IPv4/IPv6 address or an FQDN, got {value!r}")
            return ""
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            pass
        if not is_fqdn(value):
            self.error("node_id", f"must be an IPv4/IPv6 address or an FQDN, got {value!r}")
        return value

    def pfcp(self, value: object) -> PfcpConfig | None:
        known = (
            "listen",
            "allowed_peers",
            "associate_to",
            "heartbeat_interval",
            "t1",
            "n1",
            "associate_retry_interval",
            "response_cache_time",
            "on_peer_lost",
            "graceful_release_period",
            "on_peer_restart",
            "rate_limit",
            "drain_timeout",
            "max_associations",
        )
        if value is None:
            self.error("pfcp", "is required")
            return None
        m = self.mapping(value, "pfcp", known)
        listen = self.endpoints(m.get("listen", [f"0.0.0.0:{PFCP_PORT}"]), "pfcp.listen", PFCP_PORT)
        if "listen" in m and not listen and isinstance(m["listen"], list) and not m["listen"]:
            self.error("pfcp.listen", "must name at least one address")
        allowed = self.allowed_peers(m)
        associate_to = self.endpoints(
            m.get("associate_to", []), "pfcp.associate_to", PFCP_PORT, allow_name=True
        )
        has_v6 = any(ep.family == 6 for ep in listen)
        for i, ep in enumerate(associate_to):
            if listen and not ep.is_name and ep.family == 6 and not has_v6:
                self.error(
                    f"pfcp.associate_to[{i}]",
                    f"{ep.host} is IPv6 but pfcp.listen has no IPv6 address to send from",
                )
        if allowed is not None:
            for i, ep in enumerate(associate_to):
                if ep.is_name:
                    continue  # checked when resolved: addresses outside allowed_peers are skipped
                if not any(ipaddress.ip_address(ep.host) in net for net in allowed):
                    self.error(
                        f"pfcp.associate_to[{i}]",
                        f"{ep.host} is not in pfcp.allowed_peers (its answers would be dropped)",
                    )
        t1 = self.number(m, "t1", "pfcp.t1", 3.0)
        heartbeat = self.number(m, "heartbeat_interval", "pfcp.heartbeat_interval", 10.0)
        n1 = self.integer(m, "n1", "pfcp.n1", 3)
        max_associations = self.integer(m, "max_associations", "pfcp.max_associations", 64)
        if max_associations and len(associate_to) > max_associations:
            self.error(
                "pfcp.max_associations",
                f"is {max_associations}, fewer than the {len(associate_to)} associate_to entries",
            )
        rate = self.mapping(
            m.get("rate_limit", {}), "pfcp.rate_limit", ("requests_per_second", "burst")
        )
        rate_limit = RateLimitConfig(
            requests_per_second=self.number(
                rate, "requests_per_second", "pfcp.rate_limit.requests_per_second", 1000.0
            ),
            burst=self.integer(rate, "burst", "pfcp.rate_limit.burst", 2000),
        )
        return PfcpConfig(
            listen=tuple(listen),
            allowed_peers=allowed,
            associate_to=tuple(associate_to),
            heartbeat_interval=heartbeat,
            t1=t1,
            n1=n1,
            associate_retry_interval=self.number(
                m, "associate_retry_interval", "pfcp.associate_retry_interval", 10.0
            ),
            response_cache_time=self.number(
                m, "response_cache_time", "pfcp.response_cache_time", 30.0
            ),
            on_peer_lost=self.choice(
                m, "on_peer_lost", "pfcp.on_peer_lost", "release", PEER_LOST_ACTIONS
            ),
            graceful_release_period=self.non_negative(
                m, "graceful_release_period", "pfcp.graceful_release_period", 0.0
            ),
            on_peer_restart=self.choice(
                m, "on_peer_restart", "pfcp.on_peer_restart", "purge", PEER_RESTART_ACTIONS
            ),
            rate_limit=rate_limit,
            drain_timeout=self.non_negative(m, "drain_timeout", "pfcp.drain_timeout", 5.0),
            max_associations=max_associations,
        )

    def allowed_peers(self, m: dict[str, Any]) -> tuple[IPNetwork, ...] | None:
        if "allowed_peers" not in m:
            self.error("pfcp.allowed_peers", "is required: a list of CIDRs, or `any`")
            return ()
        value = m["allowed_peers"]
        if value == "any":
            return None
        if isinstance(value, list) and not value:
            self.error(
                "pfcp.allowed_peers",
                "an empty list admits no peer; list CIDRs, or write `any` to admit every peer",
            )
            return ()
        if isinstance(value, str):
            self.error("pfcp.allowed_peers", f"must be a list of CIDRs or `any`, got {value!r}")
            return ()
        return tuple(self.networks(value, "pfcp.allowed_peers"))

    def interfaces(self, value: object) -> dict[str, InterfaceConfig]:
        if value is None:
            self.error("interfaces", "is required (at least interfaces.n3.address)")
            return {}
        out = {}
        for name, item in self.mapping(value, "interfaces", None).items():
            path = f"interfaces.{name}"
            m = self.mapping(item, path, ("address",))
            address = m.get("address")
            try:
                out[str(name)] = InterfaceConfig(ipaddress.ip_address(str(address)).compressed)
            except ValueError:
                self.error(f"{path}.address", f"must be an IPv4 or IPv6 address, got {address!r}")
        if isinstance(value, dict) and "n3" not in value:
            self.error("interfaces.n3", "is required")
        return out

    def network_instances(self, value: object) -> dict[str, NetworkInstanceConfig]:
        if value is None:
            return {}
        out = {}
        for name, item in self.mapping(value, "network_instances", None).items():
            path = f"network_instances.{name}"
            m = self.mapping(item, path, ("ue_pools",))
            pools = self.networks(m.get("ue_pools", []), f"{path}.ue_pools")
            out[str(name)] = NetworkInstanceConfig(tuple(pools))
        return out

    def logging(self, value: object) -> LoggingConfig:
        m = self.mapping(value, "logging", ("format", "level"))
        return LoggingConfig(
            format=self.choice(m, "format", "logging.format", "human", LOG_FORMATS),
            level=self.choice(m, "level", "logging.level", "info", LOG_LEVELS),
        )

    def metrics(self, value: object) -> Endpoint | None:
        m = self.mapping(value, "metrics", ("listen",))
        text = m.get("listen", DEFAULT_METRICS_LISTEN)
        if text is None:
            return None  # metrics disabled
        if not isinstance(text, str):
            self.error("metrics.listen", f"must be host:port or null, got {text!r}")
            return None
        try:
            ep = parse_endpoint(text, default_port=None)
        except ValueError as exc:
            self.error("metrics.listen", str(exc))
            return None
        if not ipaddress.ip_address(ep.host).is_loopback:
            self.error("metrics.listen", f"must be a loopback address, got {ep.host}")
            return None
        return ep

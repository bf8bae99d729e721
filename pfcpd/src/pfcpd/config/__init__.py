"""pfcpd's YAML configuration: the typed settings (pydantic models) and their validation.

Every problem found is reported with the dotted key it concerns (``pfcp.t1: must be a
positive number, got 'x'``), all of them at once, so ``pfcpd check-config`` lists everything an
operator has to fix in one run. `config_schema` is the document's JSON Schema.

- `models`: the sections and their keys; `datapath`: the ``datapath`` section per kind;
- `types`: the keys' value types and checks; `endpoint`: ``host:port`` endpoints;
- `errors`: `ConfigError` and the wording of problems; `loading`: YAML in, `Config` out.
"""

from .datapath import (
    LocalDatapathConfig,
    VppConfig,
    VppDatapathConfig,
    VppNetworkInstanceConfig,
)
from .endpoint import PFCP_PORT, Endpoint, is_dns_name, is_fqdn, parse_endpoint
from .errors import ConfigError
from .loading import config_schema, load_config, parse_config
from .models import (
    DEFAULT_ADMIN_SOCKET,
    DEFAULT_METRICS_LISTEN,
    AdminConfig,
    Config,
    GtpuEchoConfig,
    InterfaceConfig,
    LoggingConfig,
    MetricsConfig,
    NetworkInstanceConfig,
    PfcpConfig,
    RateLimitConfig,
)

__all__ = [
    "DEFAULT_ADMIN_SOCKET",
    "DEFAULT_METRICS_LISTEN",
    "PFCP_PORT",
    "AdminConfig",
    "Config",
    "ConfigError",
    "Endpoint",
    "GtpuEchoConfig",
    "InterfaceConfig",
    "LocalDatapathConfig",
    "LoggingConfig",
    "MetricsConfig",
    "NetworkInstanceConfig",
    "PfcpConfig",
    "RateLimitConfig",
    "VppConfig",
    "VppDatapathConfig",
    "VppNetworkInstanceConfig",
    "config_schema",
    "is_dns_name",
    "is_fqdn",
    "load_config",
    "parse_config",
    "parse_endpoint",
]

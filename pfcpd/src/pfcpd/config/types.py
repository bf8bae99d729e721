"""The value types of the configuration's keys, each with its check, its error text and its
JSON Schema.

A check accepts what YAML gives (a number that is no bool, a string) and also the value it
produces (an `Endpoint`, an ``ip_network``), so settings built in Python and copies made with
``dataclasses.replace`` validate the same way. Every problem names what was given:
``must be a finite number greater than 0, got 'soon'``.
"""

from __future__ import annotations

import ipaddress
import math
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from ..datapath.interface import IPNetwork
from .endpoint import PFCP_PORT, Endpoint, is_fqdn, parse_endpoint
from .errors import problem, type_name

# Parsing a document (not settings built in Python): its null is never a default.
DOCUMENT = "document"
# Every section: unknown keys are errors. Its keys are declared as
# ``name: Annotated[T, Field(description=...)] = default``, not ``= Field(default=...)``:
# in a kw_only section pydantic validates Field()-assigned keys first, and the checks
# between keys rely on declaration order (`ValidationInfo.data`).
SECTION = ConfigDict(extra="forbid")


def finite(value: object) -> typing.TypeGuard[int | float]:
    """A YAML number that is one: not a bool, not .nan, not .inf (a timer of .nan or .inf
    would compare false everywhere and never fire, or fire at once)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive_number(value: object) -> float:
    if not finite(value) or value <= 0:
        raise problem(f"must be a finite number greater than 0, got {value!r}")
    return float(value)


def _non_negative_number(value: object) -> float:
    if not finite(value) or value < 0:
        raise problem(f"must be a finite number >= 0, got {value!r}")
    return float(value)


def _positive_integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise problem(f"must be an integer >= 1, got {value!r}")
    return value


# Seconds (timers, periods): YAML's .nan and .inf are refused with the key's name.
PositiveSeconds = Annotated[
    float, Field(gt=0, allow_inf_nan=False), BeforeValidator(_positive_number)
]
NonNegativeSeconds = Annotated[
    float, Field(ge=0, allow_inf_nan=False), BeforeValidator(_non_negative_number)
]
PositiveNumber = PositiveSeconds
PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_positive_integer)]


def one_of(choices: Any) -> BeforeValidator:
    """The check of a ``Literal[...]`` key: ``must be one of a, b, got 'c'``."""
    allowed = typing.get_args(choices)

    def check(value: object) -> object:
        if value not in allowed:
            raise problem(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return BeforeValidator(check)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise problem(f"must be a string, got {type_name(value)}")
    return value


def _endpoint(default_port: int | None, allow_name: bool = False) -> Callable[[object], Endpoint]:
    def check(value: object) -> Endpoint:
        if isinstance(value, Endpoint):
            return value
        try:
            return parse_endpoint(_string(value), default_port, allow_name)
        except ValueError as exc:
            raise problem(str(exc)) from None

    return check


def _endpoint_type(check: Callable[[object], Endpoint], form: str) -> Any:
    return Annotated[
        Endpoint,
        PlainValidator(check),
        PlainSerializer(str, return_type=str),
        WithJsonSchema({"type": "string", "description": form}),
    ]


ListenEndpoint = _endpoint_type(
    _endpoint(PFCP_PORT), f"IP address, host:port or [v6]:port (port {PFCP_PORT} by default)"
)
PeerEndpoint = _endpoint_type(
    _endpoint(PFCP_PORT, allow_name=True),
    f"IP address or DNS name, with :port or [v6]:port (port {PFCP_PORT} by default)",
)
HostPort = _endpoint_type(_endpoint(None), "host:port or [v6]:port")


def _network(value: object) -> IPNetwork:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    try:
        return ipaddress.ip_network(_string(value), strict=True)
    except ValueError as exc:
        raise problem(f"not a CIDR network: {exc}") from None


Network = Annotated[
    IPNetwork,
    PlainValidator(_network),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "ipvanynetwork"}),
]


def _address(value: object) -> str:
    try:
        return ipaddress.ip_address(value if isinstance(value, str) else "?").compressed
    except ValueError:
        raise problem(f"must be an IPv4 or IPv6 address, got {value!r}") from None


IPAddressText = Annotated[
    str, PlainValidator(_address), WithJsonSchema({"type": "string", "format": "ipvanyaddress"})
]


def _node_id(value: object) -> str:
    if isinstance(value, str) and value:
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            if is_fqdn(value):
                return value
    raise problem(f"must be an IPv4/IPv6 address or an FQDN, got {value!r}")


NodeId = Annotated[
    str,
    PlainValidator(_node_id),
    WithJsonSchema({"type": "string", "description": "IPv4 or IPv6 address, or FQDN"}),
]


def _absolute_path(value: object) -> Path:
    if isinstance(value, Path) and value.is_absolute():
        return value
    if not isinstance(value, str) or not value.startswith("/"):
        raise problem(f"must be an absolute path, got {value!r}")
    return Path(value)


AbsolutePath = Annotated[
    Path,
    PlainValidator(_absolute_path),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^/"}),
]


def null_is_empty(value: object) -> object:
    """A section or mapping written as null (``vpp:`` with nothing after it) is empty."""
    return {} if value is None else value


def also_null(schema: dict[str, Any]) -> None:
    """JSON Schema of a key `null_is_empty` applies to: its schema, or null."""
    kept = ("title", "description", "default")
    body = {k: schema.pop(k) for k in list(schema) if k not in kept}
    schema["anyOf"] = [body, {"type": "null"}]

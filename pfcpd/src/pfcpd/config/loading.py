"""Reading and validating the YAML document: every problem at once, as `ConfigError`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema

from .endpoint import Endpoint
from .errors import ConfigError, config_errors, type_name
from .models import Config
from .types import DOCUMENT

_ADAPTER: TypeAdapter[Config] = TypeAdapter(Config)


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
    if data is None:
        raise ConfigError(["(document): empty configuration"])
    if not isinstance(data, dict):
        raise ConfigError([f"(document): must be a mapping, got {type_name(data)}"])
    try:
        return _ADAPTER.validate_python(data, context=DOCUMENT)
    except ValidationError as exc:
        raise ConfigError(config_errors(exc, Config)) from None


def config_schema() -> dict[str, object]:
    """The JSON Schema of the document (what `pfcpd check-config --schema` prints)."""
    schema = _ADAPTER.json_schema(schema_generator=_SchemaWithYamlDefaults)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pfcpd configuration"
    return schema


class _SchemaWithYamlDefaults(GenerateJsonSchema):
    """Defaults written as in the YAML (``"0.0.0.0:8805"``), not as the objects they are."""

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_as_written(dft))


def _as_written(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_as_written(v) for v in value]
    if isinstance(value, Endpoint | Path | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    return value

"""``pfcpd check-config FILE``: validate and exit 0, or print every error and exit 1.
``pfcpd check-config --schema``: print the configuration's JSON Schema (docs/ carries it as
docs/pfcpd-config.schema.json, `make config-schema`)."""

from __future__ import annotations

import json
from typing import TextIO

from .config import ConfigError, config_schema, load_config


def schema_text() -> str:
    """The JSON Schema as published: indented, one trailing newline."""
    return json.dumps(config_schema(), indent=2) + "\n"


def run_check_config(path: str, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{path}: {line}", file=err)
        print(f"{path}: {len(exc.errors)} error(s)", file=err)
        return 1
    listen = ", ".join(str(ep) for ep in config.pfcp.listen)
    print(f"{path}: OK (node_id {config.node_id}, PFCP on {listen})", file=out)
    return 0

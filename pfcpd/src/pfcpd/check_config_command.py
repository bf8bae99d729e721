"""``pfcpd check-config FILE``: validate and exit 0, or print every error and exit 1."""

from __future__ import annotations

from typing import TextIO

from .config import ConfigError, load_config


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

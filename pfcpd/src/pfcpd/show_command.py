"""``pfcpd show associations|sessions|paths``: ask the running daemon over its admin
socket."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .config import DEFAULT_ADMIN_SOCKET, ConfigError, load_config
from .daemon.admin import admin_request
from .daemon.state_store import NTP_UNIX_OFFSET

COLUMNS = ("NODE ID", "ADDRESS", "STATE", "INITIATOR", "SINCE", "LAST HEARTBEAT", "CP RECOVERY")
SESSION_COLUMNS = (
    "UP SEID",
    "CP SEID",
    "CP NODE ID",
    "SINCE",
    "UE",
    "F-TEIDS",
    "PDRS",
    "FARS",
    "QERS",
    "URRS",
    "BYTES UL/DL",
)


def admin_socket_path(config: str | None, socket_path: str | None) -> Path:
    if socket_path:
        return Path(socket_path)
    if config:
        return load_config(config).admin_socket
    return Path(DEFAULT_ADMIN_SOCKET)


def _when(unix: object) -> str:
    if not isinstance(unix, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix)) + "Z"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _ids(values: object) -> str:
    return ",".join(str(v) for v in values) if isinstance(values, list | dict) and values else "-"


def format_sessions(reply: dict[str, Any]) -> str:
    rows = [SESSION_COLUMNS]
    for s in reply.get("sessions", []):
        ul = dl = 0
        for urr in s.get("urrs", {}).values():
            counted = urr.get("bytes") or [0, 0, 0]
            ul, dl = max(ul, counted[1]), max(dl, counted[2])
        established = s.get("established_ntp")
        rows.append(
            (
                f"0x{s['up_seid']:x}",
                f"0x{s['cp_seid']:x}",
                str(s["cp_node_id"]),
                _when(established - NTP_UNIX_OFFSET) if isinstance(established, int) else "-",
                _ids(s.get("ue_addresses")),
                _ids([f"0x{t:x}" for t in s.get("teids", [])]),
                _ids(s.get("pdrs")),
                _ids(s.get("fars")),
                _ids(s.get("qers")),
                _ids(s.get("urrs")),
                f"{ul}/{dl}",
            )
        )
    return _table(rows)


PATH_COLUMNS = ("PEER", "STATE", "FARS", "UNANSWERED")


def format_paths(reply: dict[str, Any]) -> str:
    if not reply.get("enabled"):
        return "GTP-U path management is off (pfcp.gtpu_echo.interval 0)\n"
    rows = [PATH_COLUMNS]
    for p in reply.get("paths", []):
        rows.append((str(p["peer"]), str(p["state"]), str(p["fars"]), str(p["unanswered"])))
    head = (
        f"GTP-U path management: Echo Requests every {reply.get('interval')} s,"
        f" T3 {reply.get('t3_response')} s, N3 {reply.get('n3_requests')}\n"
    )
    return head + _table(rows)


def format_table(reply: dict[str, Any]) -> str:
    rows = [COLUMNS]
    for a in reply.get("associations", []):
        host = str(a["address"])
        addr = f"[{host}]:{a['port']}" if ":" in host else f"{host}:{a['port']}"
        cp_ts = a.get("cp_recovery_time_stamp")
        rows.append(
            (
                str(a["node_id"]),
                addr,
                str(a["state"]),
                str(a["initiator"]),
                _when(a.get("established_at")),
                _when(a.get("last_heartbeat_ok_at")),
                _when(cp_ts - NTP_UNIX_OFFSET) if isinstance(cp_ts, int) else "-",
            )
        )
    return _table(rows)


def run_show(
    what: str,
    *,
    seid: int | None = None,
    config: str | None,
    socket_path: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    try:
        path = admin_socket_path(config, socket_path)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"pfcpd: {line}", file=err)
        return 1
    try:
        request: dict[str, Any] = {"command": f"show {what}"}
        if seid is not None:
            request["seid"] = seid
        reply = admin_request(path, request)
    except (OSError, ValueError) as exc:
        print(f"pfcpd: cannot reach the daemon at {path}: {exc}", file=err)
        return 1
    if "error" in reply:
        print(f"pfcpd: {reply['error']}", file=err)
        return 1
    if as_json:
        json.dump(reply, out, indent=1)
        out.write("\n")
    elif what == "sessions":
        out.write(format_sessions(reply))
    elif what == "paths":
        out.write(format_paths(reply))
    else:
        out.write(format_table(reply))
    return 0


def run_release(
    node_id: str, *, config: str | None, socket_path: str | None, out: TextIO, err: TextIO
) -> int:
    try:
        path = admin_socket_path(config, socket_path)
        reply = admin_request(path, {"command": "release association", "node_id": node_id})
    except ConfigError as exc:
        for line in exc.errors:
            print(f"pfcpd: {line}", file=err)
        return 1
    except (OSError, ValueError) as exc:
        print(f"pfcpd: cannot reach the daemon: {exc}", file=err)
        return 1
    if "error" in reply:
        print(f"pfcpd: {reply['error']}", file=err)
        return 1
    print(f"release of the association with {node_id} requested", file=out)
    return 0

"""The root-only admin endpoint: a Unix stream socket speaking one JSON line each way.

Requests: ``{"command": "show associations"}`` and
``{"command": "release association", "node_id": "..."}``. Only root (or the daemon's own user)
may connect: the socket is mode 0600 and the peer's credentials are checked (SO_PEERCRED).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_REQUEST = 64 * 1024
log = logging.getLogger("pfcpd.admin")


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    uid: int = struct.unpack("3i", creds)[1]
    return uid


async def start_admin_server(path: Path, handle: Handler) -> asyncio.AbstractServer:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a previous run

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = _peer_uid(writer)
            if uid not in (0, os.geteuid()):
                log.warning("admin connection from uid %s refused", uid)
                return
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=5)
            except ValueError:  # no newline within MAX_REQUEST octets
                reply: dict[str, Any] = {"error": f"bad request: longer than {MAX_REQUEST} octets"}
            else:
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not a JSON object")
                    reply = handle(request)
                except ValueError as exc:
                    reply = {"error": f"bad request: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(serve, path=str(path), limit=MAX_REQUEST)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server


def admin_request(path: Path, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Client side (blocking): send ``request``, return the daemon's reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    reply = json.loads(b"".join(chunks) or b"{}")
    if not isinstance(reply, dict):
        raise ValueError("reply is not a JSON object")
    return reply

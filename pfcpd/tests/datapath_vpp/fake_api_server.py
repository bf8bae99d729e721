"""A stand-in for VPP's API socket server (socksvr), for testing `ApiClient` with the real
vpp_papi_async client: VPP's framing (16-byte header, then the message), the connect
handshake (sockclnt_create -> message table, get_api_json -> the API definitions), replies
matched by context, dumps ended by the control_ping the client sends after them, events
pushed unasked, and the socket closed under the client (a VPP crash). Messages are packed
and unpacked with vpp_papi's serializer from the bundled memclnt.api.json and upf.api's
JSON. What it answers to upf messages is recorded, not interpreted (fake_plugin models the
plugin's behaviour).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.resources
import json
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fake_plugin import FakeVpp
from vpp_papi.vpp_papi_async import VPPApiJSONFiles
from vpp_papi.vpp_serializer import FixedList

FRAME = struct.Struct(">QII")
CLIENT_CREATE_ID, CLIENT_CREATE_REPLY_ID = 15, 16  # fixed by vpp_papi's connect


class FakeApiServer:
    def __init__(self, path: Path, modules: list[dict[str, Any]]) -> None:
        """``modules``: the API modules served besides memclnt (upf, interface, ...)."""
        memclnt = json.loads(
            importlib.resources.files("vpp_papi.data").joinpath("memclnt.api.json").read_text()
        )
        self.modules = [memclnt, *modules]
        self.messages: dict[str, Any] = {}
        for module in self.modules:
            msgs, _ = VPPApiJSONFiles.process_json_str(json.dumps(copy.deepcopy(module)))
            self.messages.update(msgs)
        self.ids: dict[str, int] = {"sockclnt_create": CLIENT_CREATE_ID}
        self.ids["sockclnt_create_reply"] = CLIENT_CREATE_REPLY_ID
        for name in sorted(self.messages):
            self.ids.setdefault(name, 100 + len(self.ids))
        self.names = {i: n for n, i in self.ids.items()}
        self.received: list[tuple[str, Any]] = []
        self.errors: list[Exception] = []  # what the stand-in failed on (tests assert none)
        self.closed = 0  # connections ended
        self.handlers: dict[str, Callable[[Any], list[tuple[str, dict[str, Any]]]]] = {}
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- test controls -------------------------------------------------------------------
    def push(self, name: str, **fields: Any) -> None:
        """Send a message nobody asked for (an event) to the latest client."""
        self._send(self.conn, name, fields)

    def drop(self) -> None:
        """Close the client's connection: what a VPP crash looks like to it."""
        with self._lock:
            if self.conn is not None:
                with contextlib.suppress(OSError):  # (the client may have closed it)
                    self.conn.shutdown(socket.SHUT_RDWR)
                self.conn.close()
                self.conn = None

    def close(self) -> None:
        self.drop()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # (wakes the accepting thread)
        self.listener.close()
        self._thread.join(5)

    # -- serving -------------------------------------------------------------------------
    def _serve(self) -> None:
        """Accept clients; each is served by a thread of its own (pushes and drops go to the
        latest)."""
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.conn = conn
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            while True:
                header = self._read(conn, FRAME.size)
                _, length, _ = FRAME.unpack(header)
                self._handle(conn, self._read(conn, length))
        except (OSError, EOFError):
            pass
        except Exception as exc:  # a bug of the stand-in or the test: the test sees it
            self.errors.append(exc)
        conn.close()
        self.closed += 1

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _send(self, conn: socket.socket | None, name: str, fields: dict[str, Any]) -> None:
        msg = self.messages[name]
        full = {"_vl_msg_id": self.ids[name], **fields}
        for field, packer in zip(msg.fields, msg.packers, strict=True):
            if field not in full and isinstance(packer, FixedList):
                full[field] = [0] * packer.num  # (vpp_papi packs no default for these)
        data = msg.pack(full)
        with self._lock:
            if conn is not None:
                conn.sendall(FRAME.pack(0, len(data), 0) + data)

    def _handle(self, conn: socket.socket, data: bytes) -> None:
        (msg_id,) = struct.unpack_from(">H", data)
        name = self.names[msg_id]
        msg, _ = self.messages[name].unpack(data, ntc=True)
        self.received.append((name, msg))
        ctx = {"context": getattr(msg, "context", 0)}
        if name == "sockclnt_create":
            table = [
                {"index": i, "name": f"{n}_{self.messages[n].crc[2:]}"} for n, i in self.ids.items()
            ]
            self._send(
                conn,
                "sockclnt_create_reply",
                {**ctx, "response": 0, "index": 7, "count": len(table), "message_table": table},
            )
        elif name == "get_api_json":
            self._send(
                conn, "get_api_json_reply", {**ctx, "retval": 0, "json": json.dumps(self.modules)}
            )
        elif name == "control_ping":
            self._send(conn, "control_ping_reply", {**ctx, "retval": 0, "vpe_pid": 1})
        elif name == "sockclnt_delete":
            self._send(conn, "sockclnt_delete_reply", {**ctx, "response": 0})
        elif name in self.handlers:
            for reply, fields in self.handlers[name](msg):
                self._send(conn, reply, {**ctx, **fields})


HANDLED = (
    "sw_interface_dump",
    "upf_nwi_add_del",
    "upf_interface_dump",
    "upf_interface_add_del",
    "want_upf_events",
    "upf_session_dump",
    "upf_session_add_del",
    "upf_usage_get",
    "upf_session_usage_dump",
    "upf_session_drop_buffered",
    "upf_counters_get",
)


def plain(value: Any) -> Any:
    """A decoded message as dicts and lists (what FakeVpp reads)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def fields(obj: Any) -> dict[str, Any]:
    """A FakeVpp answer as message fields, array lengths added."""
    out = {}
    for key, value in vars(obj).items():
        if isinstance(value, list):
            out[f"n_{key}"] = len(value)
            value = [fields(v) if isinstance(v, SimpleNamespace) else v for v in value]
        out[key] = value
    return out


def serve_plugin(server: FakeApiServer, vpp: FakeVpp) -> None:
    """Answer the upf and interface requests ``server`` receives as ``vpp`` says."""

    def handler(name: str) -> Callable[[Any], list[tuple[str, dict[str, Any]]]]:
        def handle(msg: Any) -> list[tuple[str, dict[str, Any]]]:
            answer = vpp.handle(name, plain(msg))
            if isinstance(answer, tuple):  # a dump: the details (the client's ping ends it)
                details = name.replace("_dump", "_details")
                return [(details, fields(d)) for d in answer[1]]
            return [(f"{name}_reply", fields(answer))]

        return handle

    for name in HANDLED:
        server.handlers[name] = handler(name)

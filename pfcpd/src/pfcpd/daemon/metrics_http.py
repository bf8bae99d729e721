"""Serves the Prometheus text exposition on ``GET /metrics`` (plain HTTP/1.0, loopback only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..config import Endpoint
from ..metrics import CONTENT_TYPE


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def start_metrics_server(
    endpoint: Endpoint, render: Callable[[], str]
) -> asyncio.AbstractServer:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while True:  # skip the headers
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1] in ("/metrics", "/"):
                body = render().encode()
                out = _response("200 OK", CONTENT_TYPE, body)
                if parts[0] == "HEAD":
                    out = out[: len(out) - len(body)]
            else:
                out = _response("404 Not Found", "text/plain", b"try /metrics\n")
            writer.write(out)
            await writer.drain()
        except (TimeoutError, OSError, UnicodeDecodeError, asyncio.LimitOverrunError):
            pass
        except ValueError:  # line too long
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, host=endpoint.host, port=endpoint.port)

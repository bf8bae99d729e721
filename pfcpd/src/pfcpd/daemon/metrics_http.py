"""Serves the metrics on ``GET /metrics`` (loopback only), on the daemon's event loop.

prometheus_client writes the exposition (text format 0.0.4, or OpenMetrics when the scrape's
Accept header asks for it). The server is this small asyncio one rather than the library's
threaded one so that the metrics are collected on the event loop's thread: the gauges read the
node's and the session engine's state, which only that thread changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..config import Endpoint

HEADER_LIMIT = 100  # header lines read before a request is given up


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def start_metrics_server(
    endpoint: Endpoint, exposition: Callable[[str], tuple[bytes, str]]
) -> asyncio.AbstractServer:
    """``exposition(accept)`` gives (body, content type) for a request's Accept header
    (:meth:`pfcpd.metrics.Registry.exposition`)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            accept = ""
            for _ in range(HEADER_LIMIT):
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "accept":
                    accept = value.strip()
            parts = request_line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1] in ("/metrics", "/"):
                body, content_type = exposition(accept)
                out = _response("200 OK", content_type, body)
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

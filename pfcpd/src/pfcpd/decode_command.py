"""``pfcpd decode FILE``: PFCP messages of a capture as JSON lines; exit 1 if any failed."""

from __future__ import annotations

import json
from typing import TextIO

from .capture import CaptureError, read_datagrams
from .pfcp import CodecError, decode_datagram
from .pfcp.jsonview import message_to_json


def run_decode(path: str, *, port: int, out: TextIO, err: TextIO) -> int:
    failed = 0
    try:
        for dgram in read_datagrams(path, port):
            where: dict[str, object] = {"frame": dgram.frame}
            if dgram.src:
                where.update(src=f"{dgram.src}:{dgram.sport}", dst=f"{dgram.dst}:{dgram.dport}")
            try:
                messages = decode_datagram(dgram.payload)
            except CodecError as exc:
                failed += 1
                line = {
                    **where,
                    "error": str(exc),
                    "cause": exc.cause,
                    "offending_ie": exc.offending_ie,
                }
                out.write(json.dumps(line) + "\n")
                continue
            for msg in messages:
                out.write(json.dumps({**where, **message_to_json(msg)}) + "\n")
    except (OSError, CaptureError) as exc:
        err.write(f"pfcpd decode: {path}: {exc}\n")
        return 2
    if failed:
        err.write(f"pfcpd decode: {failed} malformed message(s)\n")
        return 1
    return 0

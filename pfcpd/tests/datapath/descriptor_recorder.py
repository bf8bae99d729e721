"""What tests compare of a `LocalDatapath`'s installs: each descriptor it hands the
library (`DescriptorRecorder`), its pointers made offsets into it (`relative`, so that
descriptors at other addresses compare), whichever way it was packed: made for a program,
a kept shape's with a program's slots, or a kept shape's with a session's own values
(`install_shaped`)."""

from __future__ import annotations

from typing import Any

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import LocalDatapath

_POINTERS = 7  # (the descriptor's table pointers, first in it)


def relative(buf: bytes, base: int) -> bytes:
    """``buf`` (a descriptor's octets, at address ``base``) with its pointers made offsets
    into it."""
    n = _POINTERS * 8
    ptrs = [int.from_bytes(buf[i : i + 8], "little") for i in range(0, n, 8)]
    rel = b"".join(((p - base) if p else 0).to_bytes(8, "little", signed=True) for p in ptrs)
    return rel + buf[n:]


class DescriptorRecorder:
    """Spies on ``dp``'s packing (`_packed`) and library call (`_session_put`):
    ``descriptors``, each descriptor the library installs (`relative`; a kept one as the
    library has written the session's slots into it); ``kept``, for each program packed,
    whether it went through a shape kept before it."""

    def __init__(self, dp: LocalDatapath) -> None:
        self.descriptors: list[bytes] = []
        self.kept: list[bool] = []
        packed, put = dp._packed, dp._session_put
        last: list[Any] = []  # (the descriptor `_packed` gave, until the library call)

        def spied(program: SessionProgram, sess: int, seid: int) -> tuple[object, ...]:
            before = set(map(id, dp._shapes.values()))
            desc, *rest = packed(program, sess, seid)
            self.kept.append(any(s.desc is desc for s in dp._shapes.values() if id(s) in before))
            last[:] = [desc]
            return (desc, *rest)

        def library(args: object) -> object:
            got = put(args)
            if last:
                desc = last.pop()
                assert dp._put.desc == desc.addr
            else:  # (install_shaped: a kept shape's descriptor)
                (desc,) = [s.desc for s in dp._shapes.values() if s.desc.addr == dp._put.desc]
            self.descriptors.append(relative(bytes(desc.buf), desc.addr))
            return got

        dp._packed = spied  # type: ignore[method-assign,assignment]
        dp._session_put = library  # type: ignore[assignment]

"""Network namespaces for the simulators: the whole process (``--netns``) or one thread.

setns(2) acts on the calling thread; a socket belongs to the namespace of the thread that
created it, so one process can keep sockets in several namespaces (the lab's smoke does).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")
CLONE_NEWNET = 0x40000000


def enter(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (/run/netns/NAME, as
    `ip netns add` makes them). Needs CAP_SYS_ADMIN."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(name: str, fn: Callable[..., R], *args: object) -> R:
    """``fn(*args)`` in a short-lived thread inside namespace ``name``; the sockets it
    creates stay in that namespace."""
    result: list[R] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            enter(name)
            result.append(fn(*args))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]

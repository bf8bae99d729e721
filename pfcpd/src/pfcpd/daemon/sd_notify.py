"""systemd's readiness protocol (sd_notify): one datagram to the socket in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import time


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``); False when not run by systemd (or it failed)."""
    path = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def reloading() -> str:
    """The reload notice: RELOADING=1 with the CLOCK_MONOTONIC time it began, which systemd
    needs to tell this reload's READY=1 from an earlier one (and requires for notify-reload)."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"

"""`Receiver`: a thread handing every datagram of a UDP socket to a callback until stopped."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Handler = Callable[[bytes, tuple[str, int]], None]


class Receiver:
    def __init__(self, sock: socket.socket, handle: Handler, name: str) -> None:
        self.sock = sock
        self.handle = handle
        sock.settimeout(0.1)  # how soon stop() is noticed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.handle(data, peer[:2])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

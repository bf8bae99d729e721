"""Logging to stderr as human-readable lines or JSON lines, and rate-limited log calls."""

from __future__ import annotations

import json
import logging
import sys
import time

LOGGER_NAME = "pfcpd"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str, level: str) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger(LOGGER_NAME)
    root.handlers[:] = [handler]
    root.propagate = False
    set_level(level)
    return root


def set_level(level: str) -> None:
    logging.getLogger(LOGGER_NAME).setLevel(level.upper())


class RateLimitedLog:
    """At most one line per key every ``interval`` seconds, and at most ``max_lines`` lines
    per ``interval`` in all: keys are per peer, and a flood from many (spoofed) sources must
    not become a flood of log lines. A line says how many were suppressed before it."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        max_keys: int = 1024,
        max_lines: int = 50,
    ):
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self.max_lines = max_lines
        self._last: dict[object, tuple[float, int]] = {}  # key -> (last line at, suppressed)
        self._window_start = float("-inf")
        self._window_lines = 0
        self._over_budget = 0  # lines suppressed by max_lines since the last line logged

    def suppressed(self, key: object, now: float) -> bool:
        """True (and counted) when a line for ``key`` now would be suppressed: callers check
        this before they format a line, so suppressed lines cost next to nothing."""
        entry = self._last.get(key)
        if entry is not None and now - entry[0] < self.interval:
            self._last[key] = (entry[0], entry[1] + 1)
            return True
        return False

    def log(
        self,
        key: object,
        level: int,
        message: str,
        now: float,
        exc_info: BaseException | None = None,
        **fields: object,
    ) -> None:
        if self.suppressed(key, now):
            return
        suppressed = self._last.get(key, (None, 0))[1]
        if now - self._window_start >= self.interval:
            self._window_start, self._window_lines = now, 0
        if self._window_lines >= self.max_lines:
            self._over_budget += 1
            return
        self._window_lines += 1
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        if self._over_budget:
            message += f" ({self._over_budget} other lines suppressed: too many peers)"
            fields["suppressed_lines"] = self._over_budget
            self._over_budget = 0
        if key not in self._last and len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = (now, 0)
        self.logger.log(level, message, extra={"fields": fields}, exc_info=exc_info)

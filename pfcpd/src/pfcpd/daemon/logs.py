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
    """At most one line per key every ``interval`` seconds; says how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0, max_keys: int = 1024):
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[object, tuple[float, int]] = {}

    def log(self, key: object, level: int, message: str, now: float, **fields: object) -> None:
        last, suppressed = self._last.get(key, (None, 0))
        if last is not None and now - last < self.interval:
            self._last[key] = (last, suppressed + 1)
            return
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        if key not in self._last and len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = (now, 0)
        self.logger.log(level, message, extra={"fields": fields})

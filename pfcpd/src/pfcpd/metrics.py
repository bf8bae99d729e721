"""Counters, gauges and histograms rendered in the Prometheus text exposition format 0.0.4.

Pure data, no I/O: the node increments them, the daemon serves :meth:`Registry.render`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    """A label value: backslash, newline and double quote escaped."""
    return _escape_help(value).replace('"', '\\"')


def _escape_help(text: str) -> str:
    """HELP text: only backslash and newline are escaped (a parser rejects any other escape,
    so a quote escaped here would make the whole exposition unreadable)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + inner + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def samples(self) -> list[str]:
        if not self.labelnames and not self.values:
            return [f"{self.name} 0"]
        return [
            f"{self.name}{_labels(self.labelnames, k)} {_number(v)}"
            for k, v in sorted(self.values.items())
        ]


class Gauge(_Metric):
    """A gauge whose value is read from ``read`` when rendered."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        super().__init__(name, help_text)
        self.read = read

    def samples(self) -> list[str]:
        return [f"{self.name} {_number(self.read())}"]


class ReadCounter(Gauge):
    """A counter kept elsewhere (e.g. by another thread), whose value is read from ``read``
    when rendered."""

    kind = "counter"


class LabelledGauge(_Metric):
    """Gauges read together when rendered: ``read`` returns label value -> value."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, labelname: str, read: Callable[[], dict[str, float]]
    ) -> None:
        super().__init__(name, help_text, (labelname,))
        self.read = read

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, (label,))} {_number(value)}"
            for label, value in sorted(self.read().items())
        ]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.bounds = sorted(buckets)
        # labels -> (per-bucket counts incl. +Inf, sum)
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts, total = self.series.setdefault(labels, ([0] * (len(self.bounds) + 1), [0.0]))
        counts[bisect.bisect_left(self.bounds, value)] += 1
        total[0] += value

    def count(self, *labels: str) -> int:
        entry = self.series.get(labels)
        return sum(entry[0]) if entry else 0

    def samples(self) -> list[str]:
        out = []
        for labels, (counts, total) in sorted(self.series.items()):
            cumulative = 0
            for bound, n in zip([*self.bounds, math.inf], counts, strict=True):
                cumulative += n
                names = (*self.labelnames, "le")
                out.append(
                    f"{self.name}_bucket{_labels(names, (*labels, _number(bound)))} {cumulative}"
                )
            lab = _labels(self.labelnames, labels)
            out.append(f"{self.name}_sum{lab} {_number(total[0])}")
            out.append(f"{self.name}_count{lab} {cumulative}")
        return out


_M = TypeVar("_M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: _M) -> _M:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"

"""pfcpd's metrics: counted by the event loop, collected and written by prometheus_client.

The node counts in plain numbers (a dict addition per event: an increment of a
prometheus_client Counter child takes a lock and several calls, about 1 us more per increment
here, which the per-message path pays 3 to 4 times; the node's per-request counts are
tallies folded in when a counter is read: `Counter.settle`); each metric is a prometheus_client
collector that hands those numbers to the library as metric families when it collects. The
registry, the text exposition (0.0.4, or OpenMetrics when the scrape asks), escaping, the
process and GC collectors are the library's; the daemon serves :meth:`Registry.exposition`
(daemon/metrics_http.py). Everything is counted and collected on the event loop's thread.

Series named ``*_created`` are not exported: the counters start with the process, whose
start time is ``process_start_time_seconds``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.utils import floatToGoString

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class Counter:
    """A counter; ``inc(*label_values)`` adds to the count of that label combination."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.counts: dict[tuple[str, ...], float] = {}
        # Called before the counts are read: folds in counts kept elsewhere (e.g. the node's
        # `PeerTally`s), so that every read sees them.
        self.settle: Callable[[], None] | None = None
        self._collector = _Read(self._family(), self._collect)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        counts = self.counts
        counts[labels] = counts.get(labels, 0.0) + amount

    def inc_key(self, key: tuple[str, ...]) -> None:
        """``inc(*key)``, for a caller that has the label values in a tuple already (no
        argument tuple made per call, no keyword default)."""
        counts = self.counts
        counts[key] = counts.get(key, 0.0) + 1.0

    @property
    def values(self) -> dict[tuple[str, ...], float]:
        """label values -> count, for the label combinations counted so far."""
        if self.settle is not None:
            self.settle()
        return dict(self.counts)

    def get(self, *labels: str) -> float:
        if self.settle is not None:
            self.settle()
        return self.counts.get(labels, 0.0)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.help, labels=self.labelnames)

    def _collect(self) -> list[Metric]:
        if self.settle is not None:
            self.settle()
        family = self._family()
        if not self.labelnames:
            family.add_metric([], self.counts.get((), 0.0))
        for labels, count in sorted(self.counts.items()):
            if labels:
                family.add_metric(list(labels), count)
        return [family]

    def collectors(self) -> list[_Collector]:
        return [self._collector]


class Histogram:
    """A histogram; ``observe(value, *label_values)``. Buckets are upper bounds, inclusive."""

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.bounds = sorted(buckets)
        self._les = [*(floatToGoString(b) for b in self.bounds), "+Inf"]  # type: ignore[no-untyped-call]
        # labels -> [count per bucket, +Inf included, ..., sum of the values]
        self.series: dict[tuple[str, ...], list[float]] = {}
        if not self.labelnames:  # (its one series, zeros until the first observation)
            self.series[()] = [0.0] * (len(self.bounds) + 2)
        self._collector = _Read(self._family(), self._collect)

    def observe(self, value: float, *labels: str) -> None:
        self.observe_key(value, labels)

    def observe_key(self, value: float, key: tuple[str, ...]) -> None:
        """``observe(value, *key)``, for a caller that has the label values in a tuple
        already (no argument tuple made per call)."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def series_of(self, key: tuple[str, ...]) -> list[float]:
        """The series of ``key`` (made when missing: it is then exported, as after an
        observation), for a caller that observes into it itself, as `observe_key` does: its
        count per bucket (the index ``bisect_left(bounds, value)``), +Inf included, then the
        sum of the values."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.bounds) + 2)
        return series

    def count(self, *labels: str) -> int:
        series = self.series.get(labels)
        return int(sum(series[:-1])) if series else 0

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.help, labels=self.labelnames)

    def _collect(self) -> list[Metric]:
        family = self._family()
        for labels, series in sorted(self.series.items()):
            cumulative, buckets = 0.0, []
            for le, n in zip(self._les, series[:-1], strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, series[-1])
        return [family]

    def collectors(self) -> list[_Collector]:
        return [self._collector]


class Gauge:
    """A gauge whose value is read from ``read`` when the metrics are collected."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name = name
        self.metric = prometheus_client.Gauge(name, help_text, registry=None)
        self.metric.set_function(read)

    def collectors(self) -> list[_Collector]:
        return [self.metric]


class _Read:
    """A collector of one family read from a callback at collection time."""

    def __init__(self, describe: Metric, read: Callable[[], Iterable[Metric]]) -> None:
        self._describe = describe
        self._read = read

    def describe(self) -> list[Metric]:
        return [self._describe]

    def collect(self) -> Iterable[Metric]:
        return self._read()


class ReadCounter:
    """A counter kept elsewhere (e.g. by another thread), read from ``read`` when collected."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name = name

        def collect() -> list[Metric]:
            return [CounterMetricFamily(name, help_text, value=read())]

        self._collector = _Read(CounterMetricFamily(name, help_text), collect)

    def collectors(self) -> list[_Collector]:
        return [self._collector]


class LabelledCounters:
    """Counters kept elsewhere, read together when collected: ``read`` returns label values
    (a tuple, in ``labelnames``' order) -> count."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        read: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> None:
        self.name = name
        labels = list(labelnames)

        def collect() -> list[Metric]:
            family = CounterMetricFamily(name, help_text, labels=labels)
            for values, count in sorted(read().items()):
                family.add_metric(list(values), count)
            return [family]

        self._collector = _Read(CounterMetricFamily(name, help_text, labels=labels), collect)

    def collectors(self) -> list[_Collector]:
        return [self._collector]


class LabelledGauge:
    """Gauges read together when collected: ``read`` returns label value -> value."""

    def __init__(
        self, name: str, help_text: str, labelname: str, read: Callable[[], dict[str, float]]
    ) -> None:
        self.name = name

        def collect() -> list[Metric]:
            family = GaugeMetricFamily(name, help_text, labels=[labelname])
            for label, value in sorted(read().items()):
                family.add_metric([label], value)
            return [family]

        self._collector = _Read(GaugeMetricFamily(name, help_text, labels=[labelname]), collect)

    def collectors(self) -> list[_Collector]:
        return [self._collector]


class _ProcessCollector(ProcessCollector):
    """The library's process collector (process_*), which needs the boot time for
    process_start_time_seconds and exports nothing without it: when /proc/stat is hidden
    (systemd's ProcSubset=pid, as pfcpd's unit runs), the boot time is read from
    CLOCK_BOOTTIME instead."""

    def _boot_time(self) -> float:
        try:
            return float(super()._boot_time())  # type: ignore[no-untyped-call]
        except OSError:
            return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class _Registered(Protocol):
    def collectors(self) -> list[_Collector]: ...


_M = TypeVar("_M", bound=_Registered)


class Registry:
    """The metrics of one pfcpd; a name registered twice is an error (ValueError)."""

    def __init__(self) -> None:
        self.collector_registry = CollectorRegistry()

    def add(self, metric: _M) -> _M:
        for collector in metric.collectors():
            self.collector_registry.register(collector)
        return metric

    def add_process_metrics(self) -> None:
        """The library's process_* (CPU, memory, open files, start time), python_gc_* and
        python_info families."""
        _ProcessCollector(registry=self.collector_registry)
        GCCollector(registry=self.collector_registry)
        PlatformCollector(registry=self.collector_registry)

    def render(self) -> str:
        """The text exposition format 0.0.4."""
        return generate_latest(self.collector_registry).decode()

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """(body, content type) for a scrape sending ``Accept: accept``: OpenMetrics when it
        asks for it, else the text format 0.0.4."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.collector_registry), content_type

"""pfcpd's metrics, kept and rendered by prometheus_client.

The classes here are thin handles on prometheus_client's metrics for the sans-IO node: a
labelled metric binds each label combination's child once (a dict lookup on the per-message
path instead of ``labels()`` with its validation and lock), and reads back a value for tests.
The text exposition, its escaping and content negotiation are the library's; the daemon serves
:meth:`Registry.exposition` (daemon/metrics_http.py).

Series named ``*_created`` are not exported: the counters start with the process, whose
start time is ``process_start_time_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, generate_latest

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Child(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _Observer(Protocol):
    def observe(self, amount: float) -> None: ...


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


def _sample_values(
    metric: Metric, suffix: str, labelnames: Sequence[str]
) -> dict[tuple[str, ...], float]:
    """label values (in ``labelnames``' order) -> value of the samples ``<family><suffix>``."""
    name = metric.name + suffix
    return {
        tuple(s.labels[n] for n in labelnames): float(s.value)
        for s in metric.samples
        if s.name == name
    }


class Counter:
    """A counter; ``inc(*label_values)``. Label children are bound at their first use."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.labelnames = tuple(labelnames)
        self.metric = prometheus_client.Counter(name, help_text, self.labelnames, registry=None)
        self._children: dict[tuple[str, ...], _Child] = {}
        if not self.labelnames:
            self._children[()] = self.metric

    def child(self, *labels: str) -> _Child:
        """The child of ``labels``, bound once: hold it where one series is counted often."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.metric.labels(*labels)
        return child

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self.child(*labels)
        child.inc(amount)

    @property
    def values(self) -> dict[tuple[str, ...], float]:
        """label values -> count, for the label combinations counted so far."""
        (family,) = self.metric.collect()
        return {
            k: v
            for k, v in _sample_values(family, "_total", self.labelnames).items()
            if self.labelnames or v
        }

    def get(self, *labels: str) -> float:
        (family,) = self.metric.collect()
        return _sample_values(family, "_total", self.labelnames).get(labels, 0.0)

    def collectors(self) -> list[_Collector]:
        return [self.metric]


class Histogram:
    """A histogram; ``observe(value, *label_values)``, children bound at their first use."""

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.labelnames = tuple(labelnames)
        self.metric = prometheus_client.Histogram(
            name, help_text, self.labelnames, registry=None, buckets=tuple(buckets)
        )
        self._children: dict[tuple[str, ...], _Observer] = {}
        if not self.labelnames:
            self._children[()] = self.metric

    def observe(self, value: float, *labels: str) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.metric.labels(*labels)
        child.observe(value)

    def count(self, *labels: str) -> int:
        (family,) = self.metric.collect()
        return int(_sample_values(family, "_count", self.labelnames).get(labels, 0))

    def collectors(self) -> list[_Collector]:
        return [self.metric]


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
    """Counters kept elsewhere, read together when collected: ``read`` returns label values ->
    count (one label value, or a tuple for several labels)."""

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

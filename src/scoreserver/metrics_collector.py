"""The Prometheus view of the shared counts: a prometheus_client collector over every worker's block.

All workers' counts are summed into one series per label set (Prometheus sums anyway, and a
worker's slot number means nothing to a dashboard); what describes one process (in flight,
queued, CPU, memory) is labelled with the worker's slot and pid.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from scoreserver.metrics import (
    CELLS,
    CRASH_ANSWERS,
    DURATION_BOUNDS,
    HISTOGRAM_SIZE,
    IN_FLIGHT,
    MAX_ROUTES,
    METHODS,
    OTHER_STATUS,
    PID,
    RESTARTS,
    ROUTE_HISTOGRAMS,
    RUN_FAILURES,
    RUN_HISTOGRAM,
    RUN_OUTSTANDING,
    RUN_TIMEOUTS,
    MetricsMemory,
    Values,
    decode_key,
)

__all__ = ["PREFIX", "ScoreserverCollector"]

PREFIX = "scoreserver"
"""The common prefix of every metric name."""

_BUCKET_LABELS = [f"{bound:g}" for bound in DURATION_BOUNDS] + ["+Inf"]


# Hashable by identity: the registry keeps its collectors in a dictionary.
@dataclass(eq=False)
class ScoreserverCollector(Collector):
    """Reads every worker slot's shared block at each scrape."""

    memory: MetricsMemory
    routes: Sequence[str]
    """The route labels, by route index (the same table in every worker)."""
    queue_limit: float
    """run() calls a worker makes at once; beyond that they wait (inf for an async run())."""
    _processes: dict[int, ProcessUsage] = field(default_factory=dict)

    def collect(self) -> Iterator[Metric]:
        """The current values of every scoreserver metric."""
        blocks = [self.memory.block(slot) for slot in range(self.memory.slots)]
        yield self._requests(blocks)
        yield self._route_durations(blocks)
        run = HistogramMetricFamily(
            f"{PREFIX}_run_duration_seconds", "Duration of run() calls that returned."
        )
        _add_histogram(run, [], blocks, RUN_HISTOGRAM)
        yield run
        yield CounterMetricFamily(
            f"{PREFIX}_run_failures", "run() calls that raised.", _sum(blocks, RUN_FAILURES)
        )
        yield CounterMetricFamily(
            f"{PREFIX}_run_timeouts",
            "run() calls that outlasted SCORING_TIMEOUT_MS.",
            _sum(blocks, RUN_TIMEOUTS),
        )
        supervisor = self.memory.supervisor()
        yield CounterMetricFamily(
            f"{PREFIX}_worker_restarts",
            "Workers that died and were replaced.",
            supervisor[RESTARTS],
        )
        yield CounterMetricFamily(
            f"{PREFIX}_crash_answers",
            "Requests a dead worker left unanswered, answered 500 by the supervisor.",
            supervisor[CRASH_ANSWERS],
        )
        yield from self._workers(blocks)

    def _requests(self, blocks: Sequence[Values]) -> Metric:
        counts: dict[tuple[str, str, str], float] = {}
        for values in blocks:
            for offset in range(CELLS, len(values), 2):
                key = values[offset]
                if key == 0:
                    break
                route, method, status = decode_key(key)
                labels = self._cell_labels(route, method, status)
                counts[labels] = counts.get(labels, 0.0) + values[offset + 1]
        family = CounterMetricFamily(
            f"{PREFIX}_requests",
            "Requests answered, by route, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    def _cell_labels(self, route: int, method: int, status: int) -> tuple[str, str, str]:
        if route >= MAX_ROUTES and status == OTHER_STATUS:
            return "other", "other", "other"
        return self._route_label(route), METHODS[method], str(status)

    def _route_label(self, route: int) -> str:
        if route == MAX_ROUTES - 1 and len(self.routes) > MAX_ROUTES:
            return "other"
        return self.routes[route] if route < len(self.routes) else "other"

    def _route_durations(self, blocks: Sequence[Values]) -> Metric:
        family = HistogramMetricFamily(
            f"{PREFIX}_request_duration_seconds",
            "Time from a request's arrival to its response's start, by route.",
            labels=["route"],
        )
        for route in range(min(len(self.routes), MAX_ROUTES)):
            offset = ROUTE_HISTOGRAMS + route * HISTOGRAM_SIZE
            if any(values[offset + i] for values in blocks for i in range(HISTOGRAM_SIZE - 1)):
                _add_histogram(family, [self._route_label(route)], blocks, offset)
        return family

    def _workers(self, blocks: Sequence[Values]) -> Iterator[Metric]:
        labels = ["worker", "pid"]
        in_flight = GaugeMetricFamily(
            f"{PREFIX}_requests_in_flight", "Requests being served, by worker.", labels=labels
        )
        queued = GaugeMetricFamily(
            f"{PREFIX}_requests_queued",
            "Requests waiting for a free run() slot, by worker.",
            labels=labels,
        )
        cpu = CounterMetricFamily(
            f"{PREFIX}_worker_cpu_seconds",
            "User and system CPU time of the worker process.",
            labels=labels,
        )
        memory = GaugeMetricFamily(
            f"{PREFIX}_worker_resident_memory_bytes",
            "Resident memory of the worker process.",
            labels=labels,
        )
        live: dict[int, ProcessUsage] = {}
        for slot, values in enumerate(blocks):
            pid = int(values[PID])
            if not pid:
                continue
            process = self._processes.get(pid) or ProcessUsage.of(pid)
            usage = process.read()
            if usage is None:
                # Gone without clearing its slot (a drained worker re-raises SIGTERM; a killed
                # one cannot): no series for a process that no longer exists.
                continue
            live[pid] = process
            names = [str(slot), str(pid)]
            in_flight.add_metric(names, values[IN_FLIGHT])
            queued.add_metric(names, max(0.0, values[RUN_OUTSTANDING] - self.queue_limit))
            cpu.add_metric(names, usage[0])
            memory.add_metric(names, usage[1])
        # Replaced workers' collectors go with them.
        self._processes = live
        yield from (in_flight, queued, cpu, memory)


@dataclass
class ProcessUsage:
    """A worker's CPU seconds and resident bytes: read from /proc by prometheus_client where
    there is one (Linux), else by psutil (macOS, Windows: a dependency only there)."""

    pid: int
    collector: ProcessCollector | None

    @classmethod
    def of(cls, pid: int) -> ProcessUsage:
        """The reader for one process."""
        # As the dependency's marker says: psutil is installed wherever this is not Linux.
        linux = sys.platform == "linux"
        return cls(pid, ProcessCollector(pid=lambda: pid, registry=None) if linux else None)

    def read(self) -> tuple[float, float] | None:
        """(CPU seconds, resident bytes); None once the process is gone."""
        if self.collector is not None:
            found = {
                sample.name: sample.value
                for family in self.collector.collect()
                for sample in family.samples
            }
            cpu = found.get("process_cpu_seconds_total")
            rss = found.get("process_resident_memory_bytes")
            return None if cpu is None or rss is None else (cpu, rss)
        import psutil  # imported at the first scrape, as prometheus_client is

        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                times, rss = process.cpu_times(), process.memory_info().rss
        except psutil.Error:
            return None
        return times.user + times.system, float(rss)


def _sum(blocks: Sequence[Values], offset: int) -> float:
    return sum(values[offset] for values in blocks)


def _add_histogram(
    family: HistogramMetricFamily, labels: list[str], blocks: Sequence[Values], offset: int
) -> None:
    """One histogram series: the blocks' per-bucket counts made cumulative, and their sum."""
    cumulative = 0.0
    buckets: list[tuple[str, float]] = []
    for index, label in enumerate(_BUCKET_LABELS):
        cumulative += _sum(blocks, offset + index)
        buckets.append((label, cumulative))
    family.add_metric(labels, buckets, _sum(blocks, offset + HISTOGRAM_SIZE - 1))

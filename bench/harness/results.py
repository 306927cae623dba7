"""Everything one benchmark run measured, and the statistics the report is made of."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.loadgen import LoadResult
from harness.probes import Liveness, Memory


@dataclass(frozen=True)
class Spread:
    """The median and the range of a few samples."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        """The spread of the values, or None for none."""
        if not values:
            return None
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class LoadRun:
    """One measured load run: which cell of the matrix, which round, what came out."""

    workload: str
    workers: int
    connections: int
    contender: str
    round: int
    result: LoadResult
    others_cpu: float = 0.0
    """CPUs' worth of time other processes on the machine used during the run."""


@dataclass
class Results:
    """The whole run, filled in as the benchmark goes."""

    machine: dict[str, str]
    setup: dict[str, str]
    loads: list[LoadRun] = field(default_factory=list)
    cold_start: dict[str, list[float]] = field(default_factory=dict)
    """Keyed "contender/workers"."""
    memory: dict[str, list[Memory]] = field(default_factory=dict)
    """Keyed "contender/workers"."""
    liveness: dict[str, Liveness] = field(default_factory=dict)
    """Keyed "contender/busy kind"."""
    notes: list[str] = field(default_factory=list)

    def runs(self, workload: str, workers: int, connections: int, contender: str) -> list[LoadRun]:
        """The rounds of one cell, in order."""
        return [
            r
            for r in self.loads
            if (r.workload, r.workers, r.connections, r.contender)
            == (workload, workers, connections, contender)
        ]

    def load_spread(
        self,
        workload: str,
        workers: int,
        connections: int,
        contender: str,
        metric: Callable[[LoadResult], float],
    ) -> Spread | None:
        """The spread of a metric over a cell's rounds."""
        runs = self.runs(workload, workers, connections, contender)
        return Spread.of([metric(r.result) for r in runs])

    def others_spread(
        self, workload: str, workers: int, connections: int, contender: str
    ) -> Spread | None:
        """The spread of the CPU the rest of the machine took over a cell's rounds."""
        runs = self.runs(workload, workers, connections, contender)
        return Spread.of([r.others_cpu for r in runs])

    def paired_ratios(
        self,
        workload: str,
        workers: int,
        connections: int,
        numerator: str,
        denominator: str,
        metric: Callable[[LoadResult], float],
    ) -> list[float]:
        """numerator/denominator round by round (the rounds ran back to back, so they pair)."""
        top = {
            r.round: metric(r.result) for r in self.runs(workload, workers, connections, numerator)
        }
        bottom = {
            r.round: metric(r.result)
            for r in self.runs(workload, workers, connections, denominator)
        }
        return [top[k] / bottom[k] for k in sorted(top) if bottom.get(k)]

    def ratio(
        self,
        workload: str,
        workers: int,
        connections: int,
        numerator: str,
        denominator: str,
        metric: Callable[[LoadResult], float],
    ) -> float | None:
        """The ratio of the two cells' medians."""
        top = self.load_spread(workload, workers, connections, numerator, metric)
        bottom = self.load_spread(workload, workers, connections, denominator, metric)
        if top is None or bottom is None or not bottom.median:
            return None
        return top.median / bottom.median

    def to_json(self) -> str:
        """All raw numbers, for bench/results/."""
        return json.dumps(dataclasses.asdict(self), indent=1, default=str)

    def save(self, path: Path) -> None:
        """Write the raw numbers as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())


def rps(result: LoadResult) -> float:
    """Requests per second."""
    return result.rps


def p50(result: LoadResult) -> float:
    """Median latency in ms."""
    return result.p50_ms


def p99(result: LoadResult) -> float:
    """99th percentile latency in ms."""
    return result.p99_ms


def key(contender: str, variant: Any) -> str:
    """The dictionary key of a per-contender measurement."""
    return f"{contender}/{variant}"

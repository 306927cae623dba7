"""Request, run() and restart counts in memory that the supervisor and its workers share.

Each worker slot owns a block of doubles in one shared array (multiprocessing's RawArray, so that
workers started by fork or by spawn share it) that the supervisor makes before starting them.
Only the worker serving at a slot writes its block (the supervisor only between two workers), so
nothing is locked. A replacement worker takes its slot's block over and counts on from where the
dead worker stopped: a dead worker's counts neither vanish nor count
twice, and the gauges it left (in flight, running) are zeroed by the supervisor. Any worker reads
every block when scraped (metrics_collector.py). Aligned 8-byte stores are not torn on the
platforms served, so a reader sees each value either before or after an update.

Why not prometheus_client's own multiprocess mode: every observation there takes a lock and packs
a value into a file-backed mapping (about 1 us per counter, several per histogram); counted
here, a request costs a few plain stores, and prometheus_client still does all the exposition.

This module imports nothing beyond the standard library: the supervisor uses it too.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from bisect import bisect_left
from multiprocessing.context import BaseContext
from typing import Any, Protocol, cast

__all__ = [
    "DURATION_BOUNDS",
    "METHODS",
    "MetricsMemory",
    "RouteMeter",
    "RunMeter",
    "Values",
    "WorkerMeters",
]

DURATION_BOUNDS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Histogram bucket upper bounds in seconds (+Inf follows): sub-millisecond requests are common."""

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other")
"""The method label's values; any other method counts as "other"."""
_METHOD_INDEX = {name: index for index, name in enumerate(METHODS)}

MAX_ROUTES = 64
"""Routes with a latency histogram of their own; any further route shares the last one."""
MAX_CELLS = 1024
"""(route, method, status) combinations counted per worker; further ones count as "other"."""

# A worker block: scalars, the run() histogram, one histogram per route, then the counter
# cells, each a (key, count) pair whose key 0 means "free".
PID = 0
IN_FLIGHT = 1
RUN_OUTSTANDING = 2
RUN_FAILURES = 3
RUN_TIMEOUTS = 4
HISTOGRAM_SIZE = len(DURATION_BOUNDS) + 2
"""Each histogram: one count per bucket (+Inf last, not cumulative), then the sum."""
RUN_HISTOGRAM = 5
ROUTE_HISTOGRAMS = RUN_HISTOGRAM + HISTOGRAM_SIZE
CELLS = ROUTE_HISTOGRAMS + MAX_ROUTES * HISTOGRAM_SIZE
BLOCK_SIZE = CELLS + 2 * MAX_CELLS
# The supervisor's block, after the workers'.
RESTARTS = 0
CRASH_ANSWERS = 1
SUPERVISOR_SIZE = 2

OTHER_STATUS = 0
"""The status of the cell that counts combinations beyond MAX_CELLS."""


class Values(Protocol):
    """A block of doubles (a memoryview cast to "d", which typeshed types as holding ints)."""

    def __getitem__(self, index: int, /) -> float: ...

    def __setitem__(self, index: int, value: float, /) -> None: ...

    def __len__(self) -> int: ...


def cell_key(route: int, method: int, status: int) -> float:
    """A (route, method, status) combination as one number, never 0."""
    return float((route * len(METHODS) + method) * 1000 + status + 1)


def decode_key(key: float) -> tuple[int, int, int]:
    """The (route index, method index, status) a cell key stands for."""
    rest, status = divmod(int(key) - 1, 1000)
    route, method = divmod(rest, len(METHODS))
    return route, method, status


class MetricsMemory:
    """The shared blocks: one per worker slot and the supervisor's; made before the workers fork."""

    def __init__(self, slots: int, context: BaseContext | None = None) -> None:
        self.slots = slots
        context = context or multiprocessing.get_context()
        self._array = context.RawArray(ctypes.c_double, slots * BLOCK_SIZE + SUPERVISOR_SIZE)
        self._values = _doubles(self._array)

    def __getstate__(self) -> dict[str, Any]:
        """For a spawned worker: the shared array (which multiprocessing passes on), no view."""
        return {"slots": self.slots, "array": self._array}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """In a spawned worker: the same shared array, viewed as doubles again."""
        self.slots = state["slots"]
        self._array = state["array"]
        self._values = _doubles(self._array)

    def block(self, slot: int) -> Values:
        """The values of one worker slot."""
        return cast("Values", self._values[slot * BLOCK_SIZE : (slot + 1) * BLOCK_SIZE])

    def supervisor(self) -> Values:
        """The supervisor's own counts: restarts and crash answers."""
        return cast("Values", self._values[self.slots * BLOCK_SIZE :])

    def worker_replaced(self, slot: int) -> None:
        """A worker died: count the restart, and zero what it had in progress (not its counts)."""
        values = self.block(slot)
        values[PID] = values[IN_FLIGHT] = values[RUN_OUTSTANDING] = 0.0
        self.supervisor()[RESTARTS] += 1

    def crash_answered(self, requests: int) -> None:
        """The supervisor answered a dead worker's requests with 500."""
        self.supervisor()[CRASH_ANSWERS] += requests


def _doubles(array: Any) -> memoryview[float]:
    """A ctypes array of doubles as a flat memoryview (item access costs less than ctypes')."""
    return memoryview(array).cast("B").cast("d")


class WorkerMeters:
    """A worker's side of its slot's block: the meters of its routes and of run()."""

    def __init__(self, memory: MetricsMemory, slot: int, pid: int) -> None:
        self.memory = memory
        self.values = memory.block(slot)
        self.values[PID] = float(pid)
        self._cells: dict[float, int] = {}
        # A predecessor's cells keep counting: take them over.
        for offset in range(CELLS, BLOCK_SIZE, 2):
            key = self.values[offset]
            if key == 0:
                break
            self._cells[key] = offset + 1
        self._next_cell = CELLS + 2 * len(self._cells)

    def route(self, index: int) -> RouteMeter:
        """The meter of the route with this index (routes past MAX_ROUTES share the last)."""
        return RouteMeter(self, min(index, MAX_ROUTES - 1))

    def run(self) -> RunMeter:
        """The meter of run() calls."""
        return RunMeter(self.values)

    def cell(self, route: int, method: str, status: int) -> int:
        """Where the count of this combination is, claiming a cell the first time it is seen."""
        key = cell_key(route, _METHOD_INDEX.get(method, len(METHODS) - 1), status % 1000)
        offset = self._cells.get(key)
        if offset is not None:
            return offset
        if self._next_cell >= BLOCK_SIZE - 2:
            key = cell_key(MAX_ROUTES, len(METHODS) - 1, OTHER_STATUS)
            if key in self._cells:
                return self._cells[key]
        offset = self._next_cell + 1
        # The count is in place before the key makes the cell visible to readers.
        self.values[offset] = 0.0
        self.values[self._next_cell] = key
        self._next_cell += 2
        self._cells[key] = offset
        return offset

    def stopped(self) -> None:
        """This worker is exiting normally: its slot no longer names a live process."""
        self.values[PID] = 0.0


class RouteMeter:
    """Counts one route's requests: in flight, by method and status, and their duration."""

    __slots__ = ("_cells", "_histogram", "_meters", "_route", "_sum", "_values")

    def __init__(self, meters: WorkerMeters, route: int) -> None:
        self._meters = meters
        self._values = meters.values
        self._route = route
        self._histogram = ROUTE_HISTOGRAMS + route * HISTOGRAM_SIZE
        self._sum = self._histogram + HISTOGRAM_SIZE - 1
        self._cells: dict[tuple[str, int], int] = {}

    def enter(self) -> None:
        """A request arrived."""
        self._values[IN_FLIGHT] += 1

    def leave(self) -> None:
        """A request ended unanswered (its client went away)."""
        self._values[IN_FLIGHT] -= 1

    def record(self, method: str, status: int, seconds: float) -> None:
        """A request was answered with this status after this many seconds."""
        values = self._values
        values[IN_FLIGHT] -= 1
        cell = self._cells.get((method, status))
        if cell is None:
            cell = self._cells[method, status] = self._meters.cell(self._route, method, status)
        values[cell] += 1
        values[self._histogram + bisect_left(DURATION_BOUNDS, seconds)] += 1
        values[self._sum] += seconds


class RunMeter:
    """Counts run() calls: outstanding, their duration, failures and timeouts."""

    __slots__ = ("values",)

    def __init__(self, values: Values) -> None:
        self.values = values

    def begin(self) -> None:
        """A run() call was asked for (it may wait for a thread)."""
        self.values[RUN_OUTSTANDING] += 1

    def end(self) -> None:
        """A run() call is over, whatever its outcome."""
        self.values[RUN_OUTSTANDING] -= 1

    def ran(self, elapsed_ms: float) -> None:
        """run() returned after elapsed_ms."""
        seconds = elapsed_ms / 1000
        values = self.values
        values[RUN_HISTOGRAM + bisect_left(DURATION_BOUNDS, seconds)] += 1
        values[RUN_HISTOGRAM + HISTOGRAM_SIZE - 1] += seconds

    def failed(self) -> None:
        """run() raised."""
        self.values[RUN_FAILURES] += 1

    def timed_out(self) -> None:
        """run() took longer than the scoring timeout."""
        self.values[RUN_TIMEOUTS] += 1

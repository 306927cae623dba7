"""The shared counts and their Prometheus exposition, in one process."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from scoreserver.metrics import MAX_CELLS, MetricsMemory, WorkerMeters
from scoreserver.metrics_collector import ProcessUsage, ScoreserverCollector


def _scrape(memory: MetricsMemory, routes: list[str], queue_limit: float = 1) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScoreserverCollector(memory, routes, queue_limit))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _requests(samples: dict, route: str, method: str, status: str) -> float:
    key = tuple(sorted({"route": route, "method": method, "status": status}.items()))
    return samples.get(("scoreserver_requests_total", key), 0.0)


def test_two_workers_are_summed_and_histograms_are_cumulative() -> None:
    memory = MetricsMemory(2)
    first, second = WorkerMeters(memory, 0, 101), WorkerMeters(memory, 1, 102)
    for meters, seconds in ((first, 0.0002), (second, 0.003), (second, 7.0)):
        meter = meters.route(1)
        meter.enter()
        meter.record("POST", 200, seconds)
    samples = _scrape(memory, ["/", "/score"])
    assert _requests(samples, "/score", "POST", "200") == 3
    bucket = "scoreserver_request_duration_seconds_bucket"
    assert samples[(bucket, (("le", "0.0005"), ("route", "/score")))] == 1
    assert samples[(bucket, (("le", "0.005"), ("route", "/score")))] == 2
    assert samples[(bucket, (("le", "10"), ("route", "/score")))] == 3
    assert samples[(bucket, (("le", "+Inf"), ("route", "/score")))] == 3
    assert (
        abs(samples[("scoreserver_request_duration_seconds_sum", (("route", "/score"),))] - 7.0032)
        < 1e-9
    )
    # A route nobody asked for has no series.
    assert not any(ls == (("route", "/"),) for _, ls in samples)


def test_a_replacement_counts_on_and_the_dead_workers_gauges_are_zeroed() -> None:
    memory = MetricsMemory(1)
    dead = WorkerMeters(memory, 0, 201)
    meter = dead.route(0)
    for status in (200, 200, 503):
        meter.enter()
        meter.record("GET", status, 0.001)
    meter.enter()  # in flight when it died
    run = dead.run()
    run.begin()
    memory.worker_replaced(0)
    memory.crash_answered(1)
    replacement = WorkerMeters(memory, 0, os.getpid())  # a live process, as a worker is
    again = replacement.route(0)
    again.enter()
    again.record("GET", 200, 0.001)
    samples = _scrape(memory, ["/score"])
    assert _requests(samples, "/score", "GET", "200") == 3
    assert _requests(samples, "/score", "GET", "503") == 1
    assert samples[("scoreserver_worker_restarts_total", ())] == 1
    assert samples[("scoreserver_crash_answers_total", ())] == 1
    labels = (("pid", str(os.getpid())), ("worker", "0"))
    assert samples[("scoreserver_requests_in_flight", labels)] == 0
    assert samples[("scoreserver_requests_queued", labels)] == 0


def test_run_meter_and_queue() -> None:
    memory = MetricsMemory(1)
    run = WorkerMeters(memory, 0, os.getpid()).run()
    for _ in range(3):
        run.begin()
    run.ran(20.0)
    run.failed()
    run.timed_out()
    samples = _scrape(memory, ["/score"], queue_limit=1)
    assert samples[("scoreserver_run_duration_seconds_count", ())] == 1
    assert samples[("scoreserver_run_duration_seconds_sum", ())] == 0.02
    assert samples[("scoreserver_run_failures_total", ())] == 1
    assert samples[("scoreserver_run_timeouts_total", ())] == 1
    labels = (("pid", str(os.getpid())), ("worker", "0"))
    assert samples[("scoreserver_requests_queued", labels)] == 2


def test_combinations_beyond_the_cells_count_as_other_and_methods_are_bounded() -> None:
    memory = MetricsMemory(1)
    meters = WorkerMeters(memory, 0, 401)
    meter = meters.route(0)
    meter.enter()
    meter.record("BREW", 200, 0.0)
    # More distinct (method, status) pairs than there are cells.
    for i in range(MAX_CELLS + 100):
        meter.enter()
        meter.record(("GET", "POST", "PUT")[i % 3], 100 + (i // 3) % 500, 0.0)
    samples = _scrape(memory, ["/score"])
    counted = sum(v for (n, _), v in samples.items() if n == "scoreserver_requests_total")
    assert counted == MAX_CELLS + 101
    assert _requests(samples, "/score", "other", "200") == 1
    assert _requests(samples, "other", "other", "other") > 0


def test_a_workers_cpu_and_memory_read_alike_from_proc_and_from_psutil() -> None:
    busy = sum(i * i for i in range(300_000))  # some CPU time of our own
    assert busy
    here = ProcessUsage.of(os.getpid()).read()  # /proc on Linux
    elsewhere = ProcessUsage(os.getpid(), None).read()  # psutil, as on macOS and Windows
    assert here is not None and elsewhere is not None
    assert here[0] > 0 and abs(here[0] - elsewhere[0]) < 1.0
    assert here[1] > 10 * 2**20 and abs(here[1] - elsewhere[1]) < 32 * 2**20


def test_a_process_that_is_gone_has_no_reading() -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                           capture_output=True, check=True)  # fmt: skip
    pid = int(ended.stdout)
    assert ProcessUsage.of(pid).read() is None
    assert ProcessUsage(pid, None).read() is None


def test_a_slot_whose_process_is_gone_has_no_series() -> None:
    # A worker drained after a reload ends by SIGTERM, without clearing its slot: its pid stays.
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                           capture_output=True, check=True)  # fmt: skip
    memory = MetricsMemory(2)
    gone, alive = WorkerMeters(memory, 0, int(ended.stdout)), WorkerMeters(memory, 1, os.getpid())
    for meters in (gone, alive):
        meter = meters.route(0)
        meter.enter()
        meter.record("GET", 200, 0.001)
    samples = _scrape(memory, ["/score"])
    workers = {dict(ls)["pid"] for name, ls in samples if name == "scoreserver_requests_in_flight"}
    assert workers == {str(os.getpid())}
    assert _requests(samples, "/score", "GET", "200") == 2  # its counts stay in the totals

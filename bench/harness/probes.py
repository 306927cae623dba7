"""The measurements that are not throughput: cold start, idle memory, liveness while busy."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from harness.client import fetch
from harness.loadgen import percentile, run_coroutine
from harness.servers import Server, process_tree

IDLE_S = 2.0
PROBE_PERIOD_S = 0.020
# A probe that has no answer after this long counts as timed out (Kubernetes' default timeout).
PROBE_TIMEOUT_S = 1.0
# Lets the busy request reach run() before probing starts.
BUSY_SETTLE_S = 0.1
BUSY_LIMIT_S = 15.0


def cold_start_seconds(server: Server) -> float:
    """Seconds from process start to the first 200 on POST /score, less the script's init()."""
    return server.wait_ready("POST") - server.workload.init_s


@dataclass(frozen=True)
class Memory:
    """RSS and PSS summed over a server's process tree, in MiB."""

    processes: int
    rss_mib: float
    pss_mib: float
    rss_each_mib: tuple[float, ...] = ()
    """Per process, the root first."""


def _rollup(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process in kB, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def idle_memory(server: Server) -> Memory:
    """The tree's memory after readiness and IDLE_S seconds without traffic."""
    server.wait_ready("POST")
    time.sleep(IDLE_S)
    found = []
    for pid in process_tree(server.process.pid):
        try:
            found.append(_rollup(pid))
        except OSError:
            continue
    return Memory(
        processes=len(found),
        rss_mib=sum(r for r, _ in found) / 1024,
        pss_mib=sum(p for _, p in found) / 1024,
        rss_each_mib=tuple(r / 1024 for r, _ in found),
    )


@dataclass(frozen=True)
class Liveness:
    """GET / latencies while the only worker is inside a long run()."""

    probes: int
    timeouts: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    busy_s: float
    busy_status: int


async def _probe(port: int) -> float | None:
    """Seconds one GET / took on a fresh connection; None if it timed out or failed."""
    try:
        reply, seconds = await fetch(port, "GET", "/", timeout=PROBE_TIMEOUT_S)
    except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
        return None
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return -1.0
    return seconds if reply.status == 200 else -1.0


async def _busy_period(port: int, body: bytes) -> tuple[list[float | None], float, int]:
    busy = asyncio.create_task(fetch(port, "POST", "/score", body, timeout=BUSY_LIMIT_S))
    await asyncio.sleep(BUSY_SETTLE_S)
    probes: list[asyncio.Task[float | None]] = []
    start = time.perf_counter()
    # Open loop: a probe every period whether or not the last one was answered, as kubelet does.
    while not busy.done() and time.perf_counter() - start < BUSY_LIMIT_S:
        probes.append(asyncio.create_task(_probe(port)))
        next_at = start + len(probes) * PROBE_PERIOD_S
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    results = list(await asyncio.gather(*probes))
    try:
        reply, busy_s = await busy
        status = reply.status
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        busy_s, status = BUSY_LIMIT_S, 0
    return results, busy_s, status


def liveness_while_busy(server: Server, repeats: int) -> Liveness:
    """Probe GET / every PROBE_PERIOD_S during `repeats` long run() calls; pool the samples."""
    server.wait_ready("GET")
    samples: list[float | None] = []
    busy_times: list[float] = []
    statuses: list[int] = []
    for _ in range(repeats):
        results, busy_s, status = run_coroutine(_busy_period(server.port, server.workload.body))
        samples += results
        busy_times.append(busy_s)
        statuses.append(status)
        time.sleep(0.5)  # let a blocked server work through the probes queued behind run()
    timeouts = sum(1 for s in samples if s is None)
    errors = sum(1 for s in samples if s is not None and s < 0)
    # A timed-out probe counts at the cap: the real latency was at least that.
    latencies = sorted(PROBE_TIMEOUT_S if s is None else s for s in samples if s is None or s >= 0)
    return Liveness(
        probes=len(samples),
        timeouts=timeouts,
        errors=errors,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] if latencies else 0.0) * 1000,
        busy_s=statistics.median(busy_times),
        busy_status=next((s for s in statuses if s != 200), 200),
    )

"""The order things are measured in: the load matrix round by round, then start-up and probes.

Within a workload and worker count all contenders run side by side (idle ones cost nothing) and
are loaded in turn, A B C A B C ..., so that noise from the rest of the machine falls on all of
them alike rather than on whichever ran during a burst.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.client import fetch_blocking
from harness.cpuload import CpuMeter
from harness.loadgen import PythonLoad, WrkLoad
from harness.probes import cold_start_seconds, idle_memory, liveness_while_busy
from harness.results import LoadRun, Results, key
from harness.servers import (
    BUSY,
    CONTENDERS,
    V2_ONLY,
    WORKLOADS,
    Contender,
    Server,
    Toolchain,
    Workload,
    start,
)

PAUSE_S = 0.3


@dataclass(frozen=True)
class Plan:
    """What to measure and for how long."""

    rounds: int
    duration_s: int
    warmup_s: int
    workloads: tuple[str, ...]
    connections: tuple[int, ...]
    workers: tuple[int, ...]
    contenders: tuple[str, ...]
    """Base contenders; scoreserver brings its concurrency-64 variant to W3."""
    busy: tuple[str, ...]
    liveness_repeats: int


@dataclass(frozen=True)
class Cpus:
    """Which CPUs the servers and the load generator get, per worker count."""

    pin: bool
    all_cpus: str

    def server(self, workers: int) -> str | None:
        """One worker: CPU 0 only. More: every CPU (shared with the load generator)."""
        if not self.pin:
            return None
        return "0" if workers == 1 else self.all_cpus

    def load(self, workers: int) -> str | None:
        """One worker: CPU 1 only. More: every CPU."""
        if not self.pin:
            return None
        return "1" if workers == 1 else self.all_cpus


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Campaign:
    """Runs a Plan against the contenders and fills a Results."""

    def __init__(
        self,
        plan: Plan,
        tools: Toolchain,
        load: WrkLoad | PythonLoad,
        cpus: Cpus,
        log_dir: Path,
        results: Results,
    ) -> None:
        self.plan = plan
        self.tools = tools
        self.load = load
        self.cpus = cpus
        self.log_dir = log_dir
        self.results = results

    def contenders_for(self, workload: str) -> list[Contender]:
        """The contenders of one workload, in the order they take turns."""
        chosen = [CONTENDERS[k] for k in self.plan.contenders]
        if workload == "v2":
            # The reference and the raw ASGI limit do not speak the Open Inference Protocol.
            return [c for c in chosen if c.key == "scoreserver" or c.key in V2_ONLY]
        chosen = [c for c in chosen if c.key not in V2_ONLY]
        if workload == "w3" and "scoreserver" in self.plan.contenders:
            chosen.insert(
                chosen.index(CONTENDERS["scoreserver"]) + 1, CONTENDERS["scoreserver-c64"]
            )
        return chosen

    def run(self) -> Results:
        """Everything in the plan."""
        for workload in self.plan.workloads:
            # The V2 comparison is one worker each (MLServer's parallel pool is another design).
            for workers in (1,) if workload == "v2" else self.plan.workers:
                self._load_matrix(WORKLOADS[workload], workers)
        self._start_up()
        for busy in self.plan.busy:
            self._liveness(BUSY[busy])
        return self.results

    @contextmanager
    def _serving(
        self, contenders: list[Contender], workload: Workload, workers: int, method: str = "POST"
    ) -> Iterator[list[Server]]:
        """The contenders started and ready (those that fail are noted and left out)."""
        started: list[Server] = []
        ready: list[Server] = []
        try:
            for c in contenders:
                started.append(
                    start(self.tools, c, workload, workers, self.cpus.server(workers), self.log_dir)
                )
            for server in started:
                try:
                    server.wait_ready(method)
                    ready.append(server)
                except RuntimeError as exc:
                    self.results.notes.append(
                        f"{server.contender.key} did not start for {workload.module} "
                        f"(worker_count {workers}): {str(exc).splitlines()[0]}"
                    )
            yield ready
        finally:
            for server in started:
                server.stop()

    def _check_bodies(self, servers: list[Server], workload: Workload) -> None:
        """Note any contender whose answer differs from the first one's (V2: the output data)."""
        bodies = {
            s.contender.key: _answer(
                workload, fetch_blocking(s.port, "POST", workload.path, workload.body).body
            )
            for s in servers
        }
        first_key, first = next(iter(bodies.items()))
        for name, body in bodies.items():
            if body != first:
                self.results.notes.append(
                    f"{workload.module}: {name} answers {body[:80]!r}, {first_key} {first[:80]!r}"
                )

    def _load_matrix(self, workload: Workload, workers: int) -> None:
        contenders = self.contenders_for(workload.key)
        _say(f"{workload.key} worker_count {workers}: starting {[c.key for c in contenders]}")
        with self._serving(contenders, workload, workers) as servers:
            if not servers:
                return
            self._check_bodies(servers, workload)
            for rnd in range(self.plan.rounds):
                for conns in self.plan.connections:
                    for server in servers:
                        self._measure(server, workload, workers, conns, rnd)

    def _measure(
        self, server: Server, workload: Workload, workers: int, conns: int, rnd: int
    ) -> None:
        cpus = self.cpus.load(workers)
        if rnd == 0 and self.plan.warmup_s:
            self.load.run(
                server.port, workload.body, conns, self.plan.warmup_s, cpus, workload.path
            )
        meter = CpuMeter(server.process.pid)
        result = self.load.run(
            server.port, workload.body, conns, self.plan.duration_s, cpus, workload.path
        )
        others = meter.others()
        self.results.loads.append(
            LoadRun(workload.key, workers, conns, server.contender.key, rnd, result, others)
        )
        errors = f" errors {result.errors}" if result.errors else ""
        _say(
            f"{workload.key} workers {workers} conns {conns:<3} round {rnd + 1}/{self.plan.rounds} "
            f"{server.contender.key:<16} {result.rps:9.1f} req/s  p50 {result.p50_ms:8.2f} ms  "
            f"p99 {result.p99_ms:8.2f} ms  others {others:4.0%} CPU{errors}"
        )
        time.sleep(PAUSE_S)

    def _start_up(self) -> None:
        """Cold start and idle memory, one fresh process each time, contenders in turn."""
        workload = WORKLOADS["w1"]
        contenders = [CONTENDERS[k] for k in self.plan.contenders if k not in V2_ONLY]
        for rnd in range(self.plan.rounds):
            for workers in self.plan.workers:
                for contender in contenders:
                    server = start(
                        self.tools,
                        contender,
                        workload,
                        workers,
                        self.cpus.server(workers),
                        self.log_dir,
                    )
                    try:
                        cold = cold_start_seconds(server)
                        memory = idle_memory(server)
                    except RuntimeError as exc:
                        self.results.notes.append(f"start-up of {contender.key} failed: {exc}")
                        continue
                    finally:
                        server.stop()
                    name = key(contender.key, workers)
                    self.results.cold_start.setdefault(name, []).append(cold)
                    self.results.memory.setdefault(name, []).append(memory)
                    _say(
                        f"start-up round {rnd + 1} {name:<16} cold {cold * 1000:7.0f} ms  "
                        f"RSS {memory.rss_mib:6.1f} MiB  PSS {memory.pss_mib:6.1f} MiB"
                    )
                    time.sleep(PAUSE_S)

    def _liveness(self, busy: Workload) -> None:
        contenders = [CONTENDERS[k] for k in self.plan.contenders if k not in V2_ONLY]
        for contender in contenders:
            with self._serving([contender], busy, 1, method="GET") as servers:
                if not servers:
                    continue
                found = liveness_while_busy(servers[0], self.plan.liveness_repeats)
            self.results.liveness[key(contender.key, busy.key)] = found
            _say(
                f"liveness {busy.key:<5} {contender.key:<12} p50 {found.p50_ms:7.2f} ms  "
                f"p99 {found.p99_ms:7.2f} ms  max {found.max_ms:7.2f} ms  "
                f"timeouts {found.timeouts}/{found.probes}"
            )


def _answer(workload: Workload, body: bytes) -> object:
    """What must agree between contenders: the body, or for V2 the outputs' data."""
    if workload.key != "v2":
        return body
    try:
        return [output["data"] for output in json.loads(body)["outputs"]]
    except (ValueError, KeyError, TypeError):
        return body

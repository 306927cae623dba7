"""Load generators: wrk (the real one) and a small asyncio fallback, with one result type.

Both are closed-loop: each connection sends its next request when the last answer arrived, for a
fixed time. Both keep connections alive unless the server says Connection: close (the reference's
gunicorn does, so it pays a TCP handshake per request, as its users do).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from harness.client import HOST, read_reply, request_bytes
from harness.servers import BENCH_DIR, taskset

__all__ = ["LoadResult", "PythonLoad", "WrkLoad", "percentile", "run_coroutine"]

LUA_SCRIPT = BENCH_DIR / "wrk" / "post.lua"
REQUEST_TIMEOUT_S = 10
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass(frozen=True)
class LoadResult:
    """One measured run against one server."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        """Socket errors, timeouts and non-2xx/3xx answers together."""
        return sum(self.errors.values())


class WrkLoad:
    """wrk with bench/wrk/post.lua, one thread, pinned to the load generator's CPUs."""

    name = "wrk"

    def __init__(self, wrk: str) -> None:
        self.wrk = wrk

    def run(
        self,
        port: int,
        body: bytes,
        connections: int,
        seconds: int,
        cpus: str | None,
        path: str = "/score",
    ):
        """Load the server's path (/score) and return what wrk measured."""
        with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json") as body_file:
            body_file.write(body)
            body_file.flush()
            argv = [self.wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, seconds)}s"]
            argv += ["--timeout", f"{REQUEST_TIMEOUT_S}s", "-s", str(LUA_SCRIPT)]
            argv.append(f"http://{HOST}:{port}{path}")
            done = subprocess.run(
                taskset(cpus) + argv,
                capture_output=True,
                text=True,
                env={**os.environ, "BENCH_BODY_FILE": body_file.name},
                timeout=seconds + REQUEST_TIMEOUT_S + 30,
            )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
        data = json.loads(line.split(" ", 1)[1])
        return LoadResult(
            requests=int(data["requests"]),
            duration_s=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p90_ms=data["p90_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            errors={k: int(data[k]) for k in ERROR_KINDS if data[k]},
        )


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


class PythonLoad:
    """The fallback: asyncio connections in this process (which bench/run.py pins to the load CPU)."""

    name = "python (asyncio)"

    def run(
        self,
        port: int,
        body: bytes,
        connections: int,
        seconds: float,
        cpus: str | None,
        path: str = "/score",
    ):
        """Load the server's path (/score) for `seconds` over `connections` connections."""
        return _run_loop(self._load(port, body, connections, seconds, path))

    async def _load(
        self, port: int, body: bytes, connections: int, seconds: float, path: str
    ) -> LoadResult:
        payload = request_bytes("POST", path, port, body)
        latencies: list[float] = []
        errors = dict.fromkeys(ERROR_KINDS, 0)
        start = time.perf_counter()
        deadline = start + seconds
        tasks = [
            asyncio.create_task(_connection(port, payload, deadline, latencies, errors))
            for _ in range(connections)
        ]
        _, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT_S + 5)
        for task in pending:
            task.cancel()
        latencies.sort()
        return LoadResult(
            requests=len(latencies),
            duration_s=seconds,
            p50_ms=percentile(latencies, 50) * 1000,
            p90_ms=percentile(latencies, 90) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            max_ms=(latencies[-1] if latencies else 0.0) * 1000,
            errors={k: v for k, v in errors.items() if v},
        )


async def _connection(
    port: int, payload: bytes, deadline: float, latencies: list[float], errors: dict[str, int]
) -> None:
    """One client connection, looping request → response until the deadline."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < deadline:
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError:
                    errors["connect"] += 1
                    await asyncio.sleep(0.01)
                    continue
            sent = time.perf_counter()
            try:
                writer.write(payload)
                reply = await asyncio.wait_for(read_reply(reader), REQUEST_TIMEOUT_S)
            except asyncio.TimeoutError:
                errors["timeout"] += 1
                writer.close()
                reader = writer = None
                continue
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors["read"] += 1
                writer.close()
                reader = writer = None
                continue
            answered = time.perf_counter()
            if answered > deadline:
                break
            latencies.append(answered - sent)
            if reply.status >= 400:
                errors["status"] += 1
            if reply.closes:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def _run_loop(coroutine):
    """Run a coroutine on uvloop when it is installed (the client should be cheap), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run_coroutine(coroutine):
    """Run a coroutine to completion on a fresh loop (used by the probes too)."""
    return _run_loop(coroutine)

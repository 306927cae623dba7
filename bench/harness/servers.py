"""What is measured: the workloads, the contending servers, and their processes.

A contender is started from the command line its users would type, pinned with taskset, on a
free loopback port, with its output in a log file; stopping it ends its whole process tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.client import fetch_blocking
from scoreserver.settings import known_keys

BENCH_DIR = Path(__file__).resolve().parents[1]
WORKLOADS_DIR = BENCH_DIR / "workloads"
BASELINE_DIR = BENCH_DIR / "baseline"

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# Variables that configure either server; a developer's shell must not leak them into a run.
# scoreserver's own list (every settings alias) covers the reference's variables too.
SERVER_VARIABLES = frozenset(known_keys()) | {
    "SERVER_PORT",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "PYTHONUNBUFFERED",
    "PYTHONPATH",
}


def _matrix_rows() -> list[list[float]]:
    return [[round(((r * 10 + c) * 0.37) % 7 - 3.5, 3) for c in range(10)] for r in range(10)]


def _matrix_body() -> bytes:
    return json.dumps({"data": _matrix_rows()}).encode()


def _v2_matrix_body() -> bytes:
    """The W2 numbers as one Open Inference Protocol (V2) tensor named data."""
    flat = [v for row in _matrix_rows() for v in row]
    tensor = {"name": "data", "shape": [10, 10], "datatype": "FP64", "data": flat}
    return json.dumps({"inputs": [tensor]}).encode()


@dataclass(frozen=True)
class Workload:
    """A score.py (and its raw ASGI twin) with the request body it is loaded with."""

    key: str
    title: str
    module: str
    body: bytes
    init_s: float = 0.0
    """What init() takes; subtracted from cold start. The bench scripts keep init() empty."""
    path: str = "/score"
    """Where the body is POSTed."""


_HELLO_BODY = json.dumps(
    {"inputs": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], "request_id": "bench-00000001"}
).encode()

WORKLOADS = {
    "w1": Workload("w1", "W1 hello (~100-byte JSON body)", "w1_hello", _HELLO_BODY),
    "w2": Workload("w2", "W2 10x10 float matrix, numpy matmul", "w2_matrix", _matrix_body()),
    "w3": Workload("w3", "W3 run() sleeps 50 ms (releases the GIL)", "w3_sleep", _HELLO_BODY),
    "v2": Workload(
        "v2",
        "V2 infer: the W2 matrix as an Open Inference Protocol tensor",
        "w2_matrix",
        _v2_matrix_body(),
        path="/v2/models/model/infer",
    ),
}
BUSY = {
    "sleep": Workload("sleep", "2 s run() that sleeps", "busy_sleep", b"{}"),
    "gil": Workload("gil", "2 s run() that holds the GIL", "busy_gil", b"{}"),
}


@dataclass(frozen=True)
class Contender:
    """One server under test."""

    key: str
    title: str
    kind: str
    concurrency: int | None = None


SCORESERVER = Contender("scoreserver", "scoreserver", "scoreserver")
SCORESERVER_C64 = Contender(
    "scoreserver-c64", "scoreserver, concurrency 64", "scoreserver", concurrency=64
)
REFERENCE = Contender("reference", "reference (azmlinfsrv 1.5.1)", "reference")
LIMIT = Contender("limit", "limit (raw ASGI, uvicorn)", "limit")
MLSERVER = Contender("mlserver", "MLServer (V2, custom numpy runtime)", "mlserver")
CONTENDERS = {c.key: c for c in (SCORESERVER, SCORESERVER_C64, REFERENCE, LIMIT, MLSERVER)}
V2_ONLY = frozenset({"mlserver"})
"""Contenders that speak only the Open Inference Protocol: they serve the V2 workload alone."""


@dataclass(frozen=True)
class Toolchain:
    """Where each contender's interpreter lives, and what scoreserver's CLI accepts."""

    scoreserver_python: str
    reference_command: str | None
    limit_python: str | None
    concurrency_flag: bool
    scoreserver_source: str | None = None
    """A copy of src/ put first on PYTHONPATH, so the whole run measures one version."""
    mlserver_command: str | None = None

    def scoreserver_env(self) -> dict[str, str]:
        """What scoreserver's processes get on top of the cleaned environment."""
        return {"PYTHONPATH": self.scoreserver_source} if self.scoreserver_source else {}


def scoreserver_cli(
    python: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m scoreserver ARGS` as the benchmark would start it, and capture its output."""
    return subprocess.run(
        [python, "-m", "scoreserver", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(env),
    )


def _scoreserver_argv(tools: Toolchain, c: Contender, w: Workload, port: int, workers: int):
    argv = [tools.scoreserver_python, "-m", "scoreserver", "--host", "127.0.0.1"]
    argv += ["--entry_script", str(WORKLOADS_DIR / f"{w.module}.py"), "--port", str(port)]
    argv += ["--worker_count", str(workers)]
    env = tools.scoreserver_env()
    if c.concurrency is not None:
        # The variable is always set; the flag only where the CLI knows it (it may not yet).
        env["SCORESERVER_CONCURRENCY"] = str(c.concurrency)
        if tools.concurrency_flag:
            argv += ["--concurrency", str(c.concurrency)]
    return argv, env


def _reference_argv(tools: Toolchain, c: Contender, w: Workload, port: int, workers: int):
    assert tools.reference_command is not None
    # azmlinfsrv has no --host: its gunicorn binds 0.0.0.0; the benchmark only talks to loopback.
    argv = [tools.reference_command]
    argv += ["--entry_script", str(WORKLOADS_DIR / f"{w.module}.py"), "--port", str(port)]
    argv += ["--worker_count", str(workers)]
    return argv, {}


def _limit_argv(tools: Toolchain, c: Contender, w: Workload, port: int, workers: int):
    assert tools.limit_python is not None
    argv = [tools.limit_python, "-m", "uvicorn", "--app-dir", str(BASELINE_DIR)]
    argv += [f"{w.module}:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--lifespan", "off", "--no-access-log", "--no-server-header", "--log-level", "warning"]
    return argv, {}


def _mlserver_argv(tools: Toolchain, c: Contender, w: Workload, port: int, workers: int):
    assert tools.mlserver_command is not None
    # No parallel inference pool: one process, as the other contenders' one worker; its gRPC
    # and metrics servers are left on, as users run it, on ports of their own. (Its default, one
    # inference worker process, does not start with the uvloop installed here: the worker's
    # asyncio.get_event_loop() raises, and the model is never loaded.)
    env = {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_PARALLEL_WORKERS": "0",
    }
    return [tools.mlserver_command, "start", str(BASELINE_DIR / "mlserver_w2")], env


_COMMANDS: dict[str, Callable[..., tuple[list[str], dict[str, str]]]] = {
    "scoreserver": _scoreserver_argv,
    "reference": _reference_argv,
    "limit": _limit_argv,
    "mlserver": _mlserver_argv,
}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def taskset(cpus: str | None) -> list[str]:
    """The prefix that pins a command to the CPUs, or nothing when pinning is off."""
    return ["taskset", "-c", cpus] if cpus else []


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_tree(root: int) -> list[int]:
    """The root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


@dataclass
class Server:
    """A started contender."""

    contender: Contender
    workload: Workload
    workers: int
    port: int
    process: subprocess.Popen[bytes]
    started_at: float
    log_path: Path
    _known: dict[int, str | None] = field(default_factory=dict)

    def output(self) -> str:
        """What the server printed."""
        return self.log_path.read_text(errors="replace")

    def remember_tree(self) -> list[int]:
        """Note the current process tree (so stop() can end children the root leaves behind)."""
        pids = process_tree(self.process.pid)
        for pid in pids:
            self._known.setdefault(pid, _start_time(pid))
        return pids

    def wait_ready(self, method: str = "POST", timeout: float = READY_TIMEOUT_S) -> float:
        """Poll until a request answers 200; return the seconds since the process started."""
        body = self.workload.body if method == "POST" else b""
        path = self.workload.path if method == "POST" else "/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.contender.key} exited with {self.process.returncode}:\n"
                    + self.output()[-3000:]
                )
            try:
                if fetch_blocking(self.port, method, path, body, timeout=5).status == 200:
                    ready = time.perf_counter() - self.started_at
                    self.remember_tree()
                    return ready
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError(
            f"{self.contender.key} not ready in {timeout}s:\n{self.output()[-3000:]}"
        )

    def stop(self) -> None:
        """SIGTERM the root, wait, then SIGKILL whatever of its tree is still alive."""
        self.remember_tree()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for pid, started in self._known.items():
            if pid != self.process.pid and started is not None and _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    return {**env, **extra}


def start(
    tools: Toolchain,
    contender: Contender,
    workload: Workload,
    workers: int,
    cpus: str | None,
    log_dir: Path,
) -> Server:
    """Start a contender without waiting for it."""
    port = free_port()
    argv, extra = _COMMANDS[contender.kind](tools, contender, workload, port, workers)
    return launch(contender, workload, workers, port, argv, extra, cpus, log_dir)


def launch(
    contender: Contender,
    workload: Workload,
    workers: int,
    port: int,
    argv: list[str],
    extra: dict[str, str],
    cpus: str | None,
    log_dir: Path,
) -> Server:
    """Start a command line as a contender serving a workload on port, without waiting for it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{contender.key}-{workload.module}-w{workers}-{port}.log"
    with log_path.open("wb") as sink:
        started_at = time.perf_counter()
        process = subprocess.Popen(
            taskset(cpus) + argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_environment(extra),
            cwd=WORKLOADS_DIR,
        )
    return Server(contender, workload, workers, port, process, started_at, log_path)


def current_python() -> str:
    """The interpreter running the harness: scoreserver comes from this environment."""
    return sys.executable

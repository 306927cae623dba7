"""Measure adaptive batching on a real model: scoreserver batched and not, and MLServer's batching.

    python bench/batching.py [--quick] [--rounds N] [--duration S] [--out docs/performance-batching.md]

The model is the sklearn example's (examples/sklearn/train.py: a logistic regression on iris),
trained here into the results folder. One worker each, on CPU 0 (wrk on CPU 1), one row per
request. Contenders take turns, A B C ... per round, so noise from the rest of the machine falls
on all of them alike:

- scoreserver, workloads/iris.py: run() predicts one request's row (`/score`);
- scoreserver, workloads/iris_batched.py: the same model, @scoreserver.batch(max_batch_size=64,
  max_latency_ms=5), on `/score` and on the V2 infer route;
- MLServer 1.7.1 with the same model file in a custom runtime (baseline/mlserver_iris), with
  its adaptive batching (max_batch_size 64, max_batch_time 5 ms) and without.

Needs `pip install -e ".[examples]"` (scikit-learn) in the environment running it; MLServer is
installed into bench/.venvs/ with the same scikit-learn version, so it loads the same file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.campaign import Cpus
from harness.client import fetch_blocking
from harness.cpuload import CpuMeter, tree_cpu_s
from harness.environments import VenvSpec, ensure_venv, ensure_wrk, package_version, wrk_version
from harness.loadgen import LoadResult, PythonLoad, WrkLoad
from harness.machine import code_version, load_average, machine_info
from harness.servers import (
    BASELINE_DIR,
    BENCH_DIR,
    WORKLOADS_DIR,
    Contender,
    Server,
    Workload,
    current_python,
    free_port,
    launch,
)

MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 5.0
ROW = [5.1, 3.5, 1.4, 0.2]
SCORE_BODY = json.dumps({"data": [ROW]}).encode()
V2_BODY = json.dumps(
    {"inputs": [{"name": "data", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
).encode()
V2_PATH = "/v2/models/model/infer"


@dataclass(frozen=True)
class Entry:
    """One line of the report: a server, and the route and body it is loaded with."""

    key: str
    title: str
    server: str
    """The key of the started server it loads."""
    path: str
    body: bytes


ENTRIES = (
    Entry("unbatched", "scoreserver, run() per request", "scoreserver", "/score", SCORE_BODY),
    Entry(
        "batched", "scoreserver, @scoreserver.batch", "scoreserver-batched", "/score", SCORE_BODY
    ),
    Entry(
        "batched-v2",
        "scoreserver, @scoreserver.batch, V2 infer",
        "scoreserver-batched",
        V2_PATH,
        V2_BODY,
    ),
    Entry(
        "mlserver-batched",
        "MLServer 1.7.1, adaptive batching",
        "mlserver-batched",
        V2_PATH,
        V2_BODY,
    ),
    Entry("mlserver", "MLServer 1.7.1, no batching", "mlserver", V2_PATH, V2_BODY),
)


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _mlserver_folder(into: Path, model_dir: Path, batched: bool) -> Path:
    """A model repository for `mlserver start`: the runtime and its settings."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(BASELINE_DIR / "mlserver_iris" / "iris.py", into / "iris.py")
    settings: dict[str, object] = {"name": "model", "implementation": "iris.Iris"}
    if batched:
        settings.update(max_batch_size=MAX_BATCH_SIZE, max_batch_time=MAX_LATENCY_MS / 1000)
    (into / "model-settings.json").write_text(json.dumps(settings))
    return into


def _start_all(
    python: str, mlserver: str | None, model_dir: Path, work: Path, cpus: str | None
) -> dict[str, Server]:
    """Every server of the comparison, started and ready."""
    commands: dict[str, tuple[list[str], dict[str, str]]] = {}
    for key, script in (("scoreserver", "iris.py"), ("scoreserver-batched", "iris_batched.py")):
        port = free_port()
        argv = [python, "-m", "scoreserver", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--entry_script", str(WORKLOADS_DIR / script), "--model_dir", str(model_dir)]
        commands[key] = (argv, {"OPENBLAS_NUM_THREADS": "1"})
    if mlserver is not None:
        for key, batched in (("mlserver-batched", True), ("mlserver", False)):
            folder = _mlserver_folder(work / key, model_dir, batched)
            commands[key] = (
                [mlserver, "start", str(folder)],
                {
                    "MLSERVER_HOST": "127.0.0.1",
                    "MLSERVER_HTTP_PORT": str(free_port()),
                    "MLSERVER_GRPC_PORT": str(free_port()),
                    "MLSERVER_METRICS_PORT": str(free_port()),
                    "MLSERVER_PARALLEL_WORKERS": "0",
                    "BENCH_MODEL_DIR": str(model_dir),
                    "OPENBLAS_NUM_THREADS": "1",
                },
            )
    servers: dict[str, Server] = {}
    try:
        for key, (argv, env) in commands.items():
            port = int(env.get("MLSERVER_HTTP_PORT") or argv[argv.index("--port") + 1])
            path, body = (
                (V2_PATH, V2_BODY) if key.startswith("mlserver") else ("/score", SCORE_BODY)
            )
            workload = Workload("b1", "B1 iris", key, body, path=path)
            servers[key] = launch(
                Contender(key, key, key), workload, 1, port, argv, env, cpus, work / "logs"
            )
        for server in servers.values():
            server.wait_ready()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def _answers_agree(servers: dict[str, Server], entries: list[Entry]) -> list[str]:
    """Every entry predicts the same label for the row (V2: the output's data)."""
    notes = []
    for entry in entries:
        reply = fetch_blocking(servers[entry.server].port, "POST", entry.path, entry.body)
        data = json.loads(reply.body)
        label = data["outputs"][0]["data"] if entry.path == V2_PATH else data
        if reply.status != 200 or label != [0]:
            notes.append(f"{entry.key} answered {reply.status} {reply.body[:120]!r}, not label 0")
    return notes


@dataclass
class Measured:
    """An entry's runs at one number of connections."""

    runs: list[LoadResult]
    others: list[float]
    cpu_us: list[float]
    """The server's CPU time per request served, in microseconds: steadier than requests per
    second when others load the machine too."""

    def median(self, field: str) -> float:
        """The median over rounds of one of LoadResult's numbers, or of cpu_us."""
        if field == "cpu_us":
            return statistics.median(self.cpu_us)
        return statistics.median(getattr(run, field) for run in self.runs)


def _measure(
    servers: dict[str, Server], entries: list[Entry], args: argparse.Namespace, cpus: Cpus
) -> dict[tuple[str, int], Measured]:
    wrk = ensure_wrk() if args.loadgen == "wrk" else None
    load: WrkLoad | PythonLoad = WrkLoad(wrk) if wrk else PythonLoad()
    found: dict[tuple[str, int], Measured] = {}
    for rnd in range(args.rounds):
        for conns in args.connections:
            for entry in entries:
                server = servers[entry.server]
                if rnd == 0:
                    load.run(server.port, entry.body, conns, 1, cpus.load(1), entry.path)
                meter = CpuMeter(server.process.pid)
                used = tree_cpu_s(server.process.pid)
                result = load.run(
                    server.port, entry.body, conns, args.duration, cpus.load(1), entry.path
                )
                used = tree_cpu_s(server.process.pid) - used
                measured = found.setdefault((entry.key, conns), Measured([], [], []))
                measured.runs.append(result)
                measured.others.append(meter.others())
                measured.cpu_us.append(used / max(result.requests, 1) * 1e6)
                errors = f" errors {result.errors}" if result.errors else ""
                _say(
                    f"round {rnd + 1}/{args.rounds} conns {conns:<3} {entry.key:<17} "
                    f"{result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                    f"  {measured.cpu_us[-1]:6.1f} us CPU/req  others {measured.others[-1]:4.0%} CPU"
                    f"{errors}"
                )
                time.sleep(0.3)
    return found


def _targets(found: dict[tuple[str, int], Measured], connections: tuple[int, ...]) -> list[str]:
    """The issue's three goals, each with the numbers that decide it."""
    lines = []
    top = max(connections)
    if ("batched", top) in found and ("unbatched", top) in found:
        b, u = found[("batched", top)], found[("unbatched", top)]
        ratio = b.median("rps") / u.median("rps")
        lines.append(
            f"- {top} connections, throughput: batched {b.median('rps'):.0f} req/s, unbatched "
            f"{u.median('rps'):.0f} req/s: **{ratio:.2f}x** (goal >= 3x: "
            f"{'met' if ratio >= 3 else 'not met'}); server CPU per request: batched "
            f"{b.median('cpu_us'):.1f} µs, unbatched {u.median('cpu_us'):.1f} µs, "
            f"{u.median('cpu_us') / b.median('cpu_us'):.2f}x the requests per CPU second"
        )
        lines.append(
            f"- {top} connections, p99: batched {b.median('p99_ms'):.2f} ms, unbatched "
            f"{u.median('p99_ms'):.2f} ms (goal: no worse: "
            f"{'met' if b.median('p99_ms') <= u.median('p99_ms') else 'not met'})"
        )
    if ("batched", 1) in found and ("unbatched", 1) in found:
        b, u = found[("batched", 1)], found[("unbatched", 1)]
        extra = b.median("p50_ms") - u.median("p50_ms")
        bound = MAX_LATENCY_MS + 1
        lines.append(
            f"- 1 connection, median latency: batched {b.median('p50_ms'):.2f} ms, unbatched "
            f"{u.median('p50_ms'):.2f} ms: +{extra:.2f} ms (goal <= max_latency_ms + 1 = "
            f"{bound:g} ms: {'met' if extra <= bound else 'not met'})"
        )
    return lines


def _render(
    found: dict[tuple[str, int], Measured],
    entries: list[Entry],
    args: argparse.Namespace,
    setup: dict[str, str],
    machine: dict[str, str],
    notes: list[str],
) -> str:
    command = " ".join(["python bench/batching.py", *sys.argv[1:]])
    out = [
        "# Adaptive batching on a real model",
        "",
        f"Written by `{command}` (see its docstring for what runs). The sklearn example's model "
        "(logistic regression on iris), one row per request, one worker each on CPU 0 with wrk "
        f"on CPU 1; {args.rounds} rounds of {args.duration} s, contenders in turn; medians over "
        "rounds. `@scoreserver.batch(max_batch_size=64, max_latency_ms=5)`; MLServer's "
        '`max_batch_size` 64, `max_batch_time` 5 ms. "others" is the CPU the rest of the '
        "shared machine used meanwhile (1.0 = a whole core): numbers measured beside a busy "
        "neighbour are less certain. Server CPU per request (the server's process tree's utime "
        "+ stime over the requests it served) is steadier under such load than requests per "
        "second: its ratio is the throughput ratio the server would reach with a core to itself.",
        "",
        "## Goals",
        "",
        *_targets(found, args.connections),
        "",
    ]
    for conns in args.connections:
        out += [
            f"## {conns} connection{'s' if conns > 1 else ''}",
            "",
            "| server | req/s | vs unbatched | p50 ms | p99 ms | server CPU µs/request "
            "| others (CPU) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        base = found.get(("unbatched", conns))
        for entry in entries:
            m = found.get((entry.key, conns))
            if m is None:
                continue
            ratio = f"{m.median('rps') / base.median('rps'):.2f}x" if base else ""
            out.append(
                f"| {entry.title} | {m.median('rps'):.0f} | {ratio} | {m.median('p50_ms'):.2f} "
                f"| {m.median('p99_ms'):.2f} | {m.median('cpu_us'):.1f} | {max(m.others):.2f} |"
            )
        out.append("")
    out += ["## Setup", ""]
    out += [f"- {k}: {v}" for k, v in {**machine, **setup}.items()]
    if notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(
        prog="python bench/batching.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (smoke test)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--connections", type=lambda v: tuple(int(c) for c in v.split(",")), default=(1, 64)
    )
    parser.add_argument("--no-mlserver", action="store_true", help="leave MLServer out")
    parser.add_argument(
        "--loadgen", choices=("wrk", "python"), default="wrk", help="python: no wrk needed (smoke)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR.parent / "docs" / "performance-batching.md"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Set up, measure, write the report."""
    args = build_parser().parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (2 if args.quick else 5)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        import sklearn
    except ImportError:
        raise SystemExit('scikit-learn is missing: pip install -e ".[examples]"') from None
    allowed = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and {0, 1} <= set(allowed) and shutil.which("taskset") is not None
    if pin:
        os.sched_setaffinity(0, {1})
    cpus = Cpus(pin=pin, all_cpus=",".join(map(str, allowed)))
    machine = machine_info()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = (BENCH_DIR / "results" / f"batching-{stamp}").resolve()
    model_dir = work / "model"
    python = current_python()
    train = BENCH_DIR.parent / "examples" / "sklearn" / "train.py"
    subprocess.run(
        [python, str(train), str(model_dir)], check=True, timeout=300, capture_output=True
    )
    setup = {
        "scoreserver": f"git {code_version()}, {python}",
        "scikit-learn": sklearn.__version__,
        "load generator": wrk_version(ensure_wrk() or "wrk")
        if args.loadgen == "wrk"
        else PythonLoad.name,
        "pinning": "servers on CPU 0, wrk on CPU 1" if pin else "none",
    }
    mlserver = None
    entries = [e for e in ENTRIES if not (args.no_mlserver and e.server.startswith("mlserver"))]
    if not args.no_mlserver:
        spec = VenvSpec(
            "mlserver-sklearn",
            ("mlserver==1.7.1", "numpy", f"scikit-learn=={sklearn.__version__}", "joblib"),
        )
        venv = ensure_venv(spec)
        mlserver = str(venv / "bin" / "mlserver")
        setup["mlserver"] = (
            f"mlserver {package_version(venv, 'mlserver')}, MLSERVER_PARALLEL_WORKERS=0 "
            "(inference in the server process), custom runtime baseline/mlserver_iris/iris.py"
        )
    servers = _start_all(python, mlserver, model_dir, work, cpus.server(1))
    try:
        notes = _answers_agree(servers, entries)
        found = _measure(servers, entries, args, cpus)
    finally:
        for server in servers.values():
            server.stop()
    machine["load average at end"] = load_average()
    report = _render(found, entries, args, setup, machine, notes)
    args.out.write_text(report)
    shutil.rmtree(work, ignore_errors=True)
    print(report)
    _say(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

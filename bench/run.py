"""Benchmark scoreserver against the reference azmlinfsrv and a raw ASGI limit, side by side.

    python bench/run.py [--quick] [--rounds N] [--duration S] [--out docs/performance.md]

Sets up the reference, the limit and MLServer in venvs under bench/.venvs/, installs wrk if it is missing,
runs scoreserver from the current environment, and writes a markdown report (also printed).
Every server it starts is stopped before it exits, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.campaign import Campaign, Cpus, Plan
from harness.environments import (
    LIMIT_VENV,
    MLSERVER_VENV,
    REFERENCE_VENV,
    ensure_venv,
    ensure_wrk,
    package_version,
    wrk_version,
)
from harness.loadgen import PythonLoad, WrkLoad
from harness.machine import code_version, load_average, machine_info, source_fingerprint
from harness.report import render
from harness.results import Results
from harness.servers import (
    BENCH_DIR,
    WORKLOADS,
    Toolchain,
    current_python,
    scoreserver_cli,
)

BASE_CONTENDERS = ("scoreserver", "reference", "limit", "mlserver")


def _csv(kind: Callable[[str], object]) -> Callable[[str], tuple[object, ...]]:
    def parse(value: str) -> tuple[object, ...]:
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 1 s, 16 conns, worker_count 1 (smoke test)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of the A B C ... alternation (default 3)"
    )
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--warmup", type=int, help="seconds of warm-up per server and conns (default 1)"
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR.parent / "docs" / "performance.md", help="the report"
    )
    parser.add_argument(
        "--only",
        type=_csv(str),
        default=BASE_CONTENDERS,
        help="contenders, e.g. scoreserver,reference",
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--workloads", type=_csv(str), help="e.g. w1,w3 (default w1,w2,w3,v2)")
    parser.add_argument("--connections", type=_csv(int), help="e.g. 1,16,64 (default)")
    parser.add_argument("--workers", type=_csv(int), help="worker counts, e.g. 1,2 (default)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--results", type=Path, default=BENCH_DIR / "results", help="raw JSON and server logs"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--live-source",
        action="store_true",
        help="run scoreserver from the work tree as it changes, not from a copy of src/ made at start",
    )
    return parser


def make_plan(args: argparse.Namespace) -> Plan:
    """The plan from the flags, --quick changing the defaults."""
    quick = args.quick
    unknown = set(args.only) - set(BASE_CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders {sorted(unknown)}; choose from {BASE_CONTENDERS}")
    if args.workloads and set(args.workloads) - set(WORKLOADS):
        raise SystemExit(f"unknown workloads in {args.workloads}; choose from {sorted(WORKLOADS)}")
    return Plan(
        rounds=args.rounds or (1 if quick else 3),
        duration_s=args.duration or (1 if quick else 5),
        warmup_s=args.warmup if args.warmup is not None else (0 if quick else 1),
        workloads=args.workloads or ("w1", "w2", "w3", "v2"),
        connections=args.connections or ((16,) if quick else (1, 16, 64)),
        workers=args.workers or ((1,) if quick else (1, 2)),
        contenders=tuple(c for c in BASE_CONTENDERS if c in args.only),
        busy=("sleep",) if quick else ("sleep", "gil"),
        liveness_repeats=1 if quick else (args.rounds or 3),
    )


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _pinning(args: argparse.Namespace) -> Cpus:
    """Pin when there are CPUs 0 and 1 to pin to; this process moves to the load CPU."""
    allowed = sorted(os.sched_getaffinity(0))
    all_cpus = ",".join(map(str, allowed))
    pin = not args.no_pin and {0, 1} <= set(allowed) and shutil.which("taskset") is not None
    if pin:
        # The python load generator, the probes and the pollers run here, beside wrk.
        os.sched_setaffinity(0, {1})
    return Cpus(pin=pin, all_cpus=all_cpus)


def _snapshot(into: Path | None) -> Path | None:
    """A copy of the repository's src/, or None when not asked for or not there."""
    source = BENCH_DIR.parent / "src"
    if into is None or not (source / "scoreserver").is_dir():
        return None
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def _toolchain(plan: Plan, setup: dict[str, str], snapshot: Path | None) -> Toolchain:
    python = current_python()
    source = str(snapshot) if snapshot else None
    probe = Toolchain(python, None, None, False, source)
    version = scoreserver_cli(python, probe.scoreserver_env(), "--version")
    if version.returncode != 0:
        raise SystemExit(f"scoreserver is not runnable with {python}:\n{version.stderr}")
    where = (
        f"src/ copied at start, fingerprint {source_fingerprint(snapshot)}"
        if snapshot
        else "the environment's install"
    )
    setup["scoreserver"] = f"{version.stdout.strip()}, git {code_version()}; {where}; {python}"
    reference = limit = None
    if "reference" in plan.contenders:
        venv = ensure_venv(REFERENCE_VENV)
        reference = str(venv / "bin" / "azmlinfsrv")
        setup["reference"] = (
            f"azureml-inference-server-http {package_version(venv, 'azureml-inference-server-http')}"
            f", gunicorn {package_version(venv, 'gunicorn')}, Flask {package_version(venv, 'flask')}"
        )
    if "limit" in plan.contenders:
        venv = ensure_venv(LIMIT_VENV)
        limit = str(venv / "bin" / "python")
        setup["limit"] = (
            f"uvicorn {package_version(venv, 'uvicorn')}, uvloop {package_version(venv, 'uvloop')}"
            f", httptools {package_version(venv, 'httptools')}"
        )
    mlserver = None
    if "mlserver" in plan.contenders and "v2" in plan.workloads:
        venv = ensure_venv(MLSERVER_VENV)
        mlserver = str(venv / "bin" / "mlserver")
        setup["mlserver"] = (
            f"mlserver {package_version(venv, 'mlserver')}, uvicorn {package_version(venv, 'uvicorn')}"
            ", MLSERVER_PARALLEL_WORKERS=0 (inference in the server process)"
        )
    flag = "--concurrency" in scoreserver_cli(python, probe.scoreserver_env(), "--help").stdout
    setup["scoreserver concurrency setting"] = (
        "--concurrency 64 and SCORESERVER_CONCURRENCY=64"
        if flag
        else "SCORESERVER_CONCURRENCY=64 only (--concurrency is not in --help)"
    )
    return Toolchain(python, reference, limit, flag, source, mlserver)


def _load_generator(choice: str, setup: dict[str, str], notes: list[str]) -> WrkLoad | PythonLoad:
    wrk = ensure_wrk() if choice in ("auto", "wrk") else None
    if wrk:
        setup["load generator"] = wrk_version(wrk)
        return WrkLoad(wrk)
    if choice == "wrk":
        raise SystemExit("wrk is not installed and could not be installed with apt-get")
    if choice == "auto":
        notes.append("wrk could not be had: the python load generator stood in for it.")
    setup["load generator"] = f"{PythonLoad.name}, in the harness process"
    return PythonLoad()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every server that was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cpus = _pinning(args)
    results = Results(machine=machine_info(), setup={})
    setup = results.setup
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work_dir = (args.results / stamp).resolve()
    snapshot = _snapshot(None if args.live_source else work_dir / "src")
    tools = _toolchain(plan, setup, snapshot)
    load = _load_generator(args.loadgen, setup, results.notes)
    setup["pinning"] = (
        "worker_count 1: servers on CPU 0 (`taskset -c 0`), load generator on CPU 1; "
        f"worker_count 2: both on CPUs {cpus.all_cpus}"
        if cpus.pin
        else "none"
    )
    setup["rounds"] = str(plan.rounds)
    setup["duration"] = f"{plan.duration_s} s"
    setup["warmup"] = f"{plan.warmup_s} s"
    log_dir = work_dir / "logs"
    _say(f"plan: {plan}")
    try:
        Campaign(plan, tools, load, cpus, log_dir, results).run()
    finally:
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)
    results.machine["load average at end"] = load_average()
    command = shlex.join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    report = render(results, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    results.save(args.results / f"{stamp}.json")
    if not args.keep_logs and not results.notes:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(report)
    _say(f"report written to {args.out}; raw numbers in {args.results / f'{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

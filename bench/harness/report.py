"""The markdown report: targets with PASS/FAIL, a table per workload, start-up, memory, liveness."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.probes import PROBE_PERIOD_S, PROBE_TIMEOUT_S
from harness.results import Results, Spread, key, p50, p99, rps
from harness.servers import BUSY, CONTENDERS, WORKLOADS

SECTIONS = (
    "## Machine",
    "## Targets",
    "## Throughput and latency",
    "## Cold start",
    "## Idle memory",
    "## Liveness while busy",
    "## Method",
)

COSTS = Path(__file__).parents[1] / "costs.md"
"""What single guarantees cost, measured A/B by hand; appended to the report as it is."""


# An en dash, for ranges and for "nothing here" in tables.
DASH = "\u2013"
_COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Measured:
    """A target's measured value, how it is shown, and its round-by-round range if any."""

    value: float
    shown: str
    rounds: str = ""


@dataclass(frozen=True)
class Target:
    """One goal from the issue, as a check on the results."""

    text: str
    compare: str
    threshold: float
    measure: Callable[[Results], Measured | None]

    def verdict(self, measured: Measured | None) -> str:
        """PASS, FAIL, or n/a when it was not measured."""
        if measured is None:
            return "n/a"
        return "PASS" if _COMPARE[self.compare](measured.value, self.threshold) else "FAIL"


def _load_ratio(workload: str, conns: int, top: str, bottom: str, metric) -> Callable:
    def measure(results: Results) -> Measured | None:
        ratio = results.ratio(workload, 1, conns, top, bottom, metric)
        if ratio is None:
            return None
        paired = results.paired_ratios(workload, 1, conns, top, bottom, metric)
        rounds = f"{min(paired):.2f}{DASH}{max(paired):.2f}" if len(paired) > 1 else ""
        return Measured(ratio, f"{ratio:.2f}x", rounds)

    return measure


def _liveness_p99(results: Results) -> Measured | None:
    found = results.liveness.get(key("scoreserver", "sleep"))
    return None if found is None else Measured(found.p99_ms, f"{found.p99_ms:.1f} ms")


def _startup_ratio(table: str, attribute: str | None) -> Callable:
    def measure(results: Results) -> Measured | None:
        samples = getattr(results, table)
        mine, theirs = samples.get(key("scoreserver", 1)), samples.get(key("reference", 1))
        if not mine or not theirs:
            return None
        values = (
            ([getattr(m, attribute) for m in mine], [getattr(m, attribute) for m in theirs])
            if attribute
            else (mine, theirs)
        )
        ratio = statistics.median(values[0]) / statistics.median(values[1])
        return Measured(ratio, f"{ratio:.2f}x")

    return measure


def _cost_ratio(slow: str, fast: str, conns: int) -> Callable:
    """How many times scoreserver's per-request cost on `slow` is its cost on `fast` (req/s)."""

    def measure(results: Results) -> Measured | None:
        slow_rps = [rps(r.result) for r in results.runs(slow, 1, conns, "scoreserver")]
        fast_rps = [rps(r.result) for r in results.runs(fast, 1, conns, "scoreserver")]
        if not slow_rps or not fast_rps or not statistics.median(slow_rps):
            return None
        ratio = statistics.median(fast_rps) / statistics.median(slow_rps)
        return Measured(ratio, f"{ratio:.2f}x")

    return measure


TARGETS = (
    Target(
        "W1, 16 conns: req/s ≥ 6x reference",
        ">=",
        6.0,
        _load_ratio("w1", 16, "scoreserver", "reference", rps),
    ),
    Target(
        "W1, 16 conns: req/s ≥ 0.5x limit",
        ">=",
        0.5,
        _load_ratio("w1", 16, "scoreserver", "limit", rps),
    ),
    Target(
        "W1, 1 conn: p50 ≤ 0.5x reference",
        "<=",
        0.5,
        _load_ratio("w1", 1, "scoreserver", "reference", p50),
    ),
    Target(
        "W2, 16 conns: req/s ≥ 3x reference",
        ">=",
        3.0,
        _load_ratio("w2", 16, "scoreserver", "reference", rps),
    ),
    Target(
        "W3, 16 conns, concurrency 64: req/s ≥ 10x reference",
        ">=",
        10.0,
        _load_ratio("w3", 16, "scoreserver-c64", "reference", rps),
    ),
    Target(
        "V2 infer (W2 as a tensor), 16 conns: req/s ≥ 5x MLServer",
        ">=",
        5.0,
        _load_ratio("v2", 16, "scoreserver", "mlserver", rps),
    ),
    Target(
        "V2 infer, 16 conns: cost per request ≤ 1.5x W2 on /score",
        "<=",
        1.5,
        _cost_ratio("v2", "w2", 16),
    ),
    Target("Liveness p99 while a sleeping run() is busy < 25 ms", "<", 25.0, _liveness_p99),
    Target(
        "Cold start (less init()) ≤ 0.6x reference", "<=", 0.6, _startup_ratio("cold_start", None)
    ),
    Target(
        "Idle RSS, worker_count 1 ≤ 0.7x reference", "<=", 0.7, _startup_ratio("memory", "rss_mib")
    ),
)


def _num(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(spread: Spread | None) -> str:
    if spread is None:
        return DASH
    if spread.n == 1:
        return _num(spread.median)
    return f"{_num(spread.median)} ({_num(spread.low)}{DASH}{_num(spread.high)})"


def _percent(spread: Spread | None) -> str:
    """Median and worst round, as a percentage of one CPU."""
    if spread is None:
        return DASH
    return (
        f"{spread.median:.0%} (max {spread.high:.0%})" if spread.n > 1 else f"{spread.median:.0%}"
    )


def _ratio(results: Results, cell: tuple[str, int, int], top: str, bottom: str, metric) -> str:
    if top == bottom:
        return DASH
    ratio = results.ratio(*cell, top, bottom, metric)
    return DASH if ratio is None else f"{ratio:.2f}x"


def _targets(results: Results) -> list[str]:
    lines = [
        "| target | measured | per-round range | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for target in TARGETS:
        measured = target.measure(results)
        shown = measured.shown if measured else "not measured"
        rounds = measured.rounds if measured and measured.rounds else DASH
        lines.append(f"| {target.text} | {shown} | {rounds} | {target.verdict(measured)} |")
    return lines


def _load_tables(results: Results) -> list[str]:
    lines: list[str] = []
    workloads = list(dict.fromkeys(r.workload for r in results.loads))
    for workload in workloads:
        lines += ["", f"### {WORKLOADS[workload].title}", ""]
        lines.append(
            "| workers | conns | server | req/s | p50 ms | p99 ms | errors "
            "| req/s vs reference | req/s vs limit | p50 vs reference | others' CPU |"
        )
        lines.append(
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        runs = [r for r in results.loads if r.workload == workload]
        cells = list(dict.fromkeys((r.workers, r.connections, r.contender) for r in runs))
        for workers, conns, contender in sorted(cells, key=lambda c: (c[0], c[1])):
            cell = (workload, workers, conns)
            errors = sum(r.result.error_count for r in results.runs(*cell, contender))
            lines.append(
                f"| {workers} | {conns} | {CONTENDERS[contender].title} "
                f"| {_spread(results.load_spread(*cell, contender, rps))} "
                f"| {_spread(results.load_spread(*cell, contender, p50))} "
                f"| {_spread(results.load_spread(*cell, contender, p99))} | {errors} "
                f"| {_ratio(results, cell, contender, 'reference', rps)} "
                f"| {_ratio(results, cell, contender, 'limit', rps)} "
                f"| {_ratio(results, cell, contender, 'reference', p50)} "
                f"| {_percent(results.others_spread(*cell, contender))} |"
            )
    return lines or ["", "Not measured."]


def _start_up(results: Results) -> list[str]:
    cold = ["| server | workers | cold start ms (less init()) |", "| --- | ---: | ---: |"]
    memory = [
        "| server | workers | processes | RSS MiB | PSS MiB | RSS per process MiB |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, samples in results.cold_start.items():
        contender, workers = name.split("/")
        cold.append(
            f"| {CONTENDERS[contender].title} | {workers} "
            f"| {_spread(Spread.of([s * 1000 for s in samples]))} |"
        )
    for name, found in results.memory.items():
        contender, workers = name.split("/")
        memory.append(
            f"| {CONTENDERS[contender].title} | {workers} | {found[0].processes} "
            f"| {_spread(Spread.of([m.rss_mib for m in found]))} "
            f"| {_spread(Spread.of([m.pss_mib for m in found]))} "
            f"| {' + '.join(f'{r:.1f}' for r in found[-1].rss_each_mib)} |"
        )
    return ["## Cold start", "", *cold, "", "## Idle memory", "", *memory]


def _liveness(results: Results) -> list[str]:
    lines = [
        "| run() | server | probes | p50 ms | p99 ms | max ms | timeouts | run() took s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, found in results.liveness.items():
        contender, busy = name.split("/")
        lines.append(
            f"| {BUSY[busy].title} | {CONTENDERS[contender].title} | {found.probes} "
            f"| {_num(found.p50_ms)} | {_num(found.p99_ms)} | {_num(found.max_ms)} "
            f"| {found.timeouts} | {found.busy_s:.2f} |"
        )
    return lines


def _method(results: Results) -> list[str]:
    setup = results.setup
    return [
        "## Method",
        "",
        f"- Load generator: {setup.get('load generator', '?')}; closed loop, one thread, "
        f"{setup.get('duration', '?')} per measurement after {setup.get('warmup', '?')} of "
        f"warm-up in the first round, {setup.get('rounds', '?')} round(s).",
        "- All contenders of a workload and worker count run side by side and are loaded in "
        "turn (A B C A B C ...); a cell shows the median of its rounds and, in brackets, the "
        "range. Ratios are ratios of medians; the targets' per-round range pairs rounds that "
        "ran back to back.",
        f"- Pinning: {setup.get('pinning', '?')}",
        "- The reference is `azmlinfsrv` from azureml-inference-server-http 1.5.1 (gunicorn, "
        "sync worker, Flask) in its own venv; it answers `Connection: close`, so each of its "
        "requests pays a TCP handshake, as its clients do. wrk's latency excludes the connect.",
        "- The limit is a bare ASGI callable per workload (bench/baseline/) on uvicorn with "
        "httptools and uvloop, giving the same JSON bytes; W3 sleeps in a 64-thread pool.",
        "- V2 infer: scoreserver serves w2_matrix.py unchanged on POST /v2/models/model/infer "
        '(the input tensor reaches run() as {"data": [[...]]}); MLServer 1.7.1 serves a custom '
        "runtime (bench/baseline/mlserver_w2/) that decodes the tensor with its numpy codec and "
        "multiplies it, one process (MLSERVER_PARALLEL_WORKERS=0), both answering the same data.",
        "- Cold start: from spawning the command to the first 200 on POST /score (polled every "
        "5 ms), less init() (empty in bench/workloads/). Idle memory: RSS and PSS from "
        "/proc/PID/smaps_rollup summed over the process tree, 2 s after readiness (RSS counts "
        "pages shared between a supervisor and its forked workers once per process; PSS does not).",
        f"- Liveness: one POST /score to a 2 s run(), then a GET / on a fresh connection every "
        f"{PROBE_PERIOD_S * 1000:.0f} ms until it returns; a probe unanswered after "
        f"{PROBE_TIMEOUT_S:.0f} s counts as a timeout and at {PROBE_TIMEOUT_S * 1000:.0f} ms in "
        "the percentiles.",
        "- The machine is shared: other engineers run test suites on it at the same time, so "
        'single numbers are noisy. "others\' CPU" is the CPU time (in CPUs, median and worst '
        "round) that processes other than the measured server, the load generator and the "
        "harness used during a cell's measurements; a cell where it is high is less trustworthy, "
        "and its range shows it. Compare ratios from one run, not absolute numbers across runs.",
    ]


def render(results: Results, command: str) -> str:
    """The whole report as markdown."""
    verdicts = [t.verdict(t.measure(results)) for t in TARGETS]
    lines = [
        "# scoreserver performance",
        "",
        f"Measured {results.machine.get('date', '?')} with `{command}`. "
        f"Targets: {verdicts.count('PASS')} pass, {verdicts.count('FAIL')} fail, "
        f"{verdicts.count('n/a')} not measured.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in {**results.machine, **results.setup}.items()],
        "",
        "## Targets",
        "",
        "worker_count 1 unless said; ratios are scoreserver / other, from this run.",
        "",
        *_targets(results),
        "",
        "## Throughput and latency",
        *_load_tables(results),
        "",
        *_start_up(results),
        "",
        "## Liveness while busy",
        "",
        *_liveness(results),
        "",
        *_method(results),
    ]
    if results.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in results.notes]]
    if COSTS.is_file():
        # Hand-made A/B measurements of single guarantees: kept in their own file so that a new
        # run of the benchmark does not drop them.
        lines += ["", COSTS.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"

"""The benchmark harness runs end to end and writes its report (not a performance test).

It runs `bench/run.py --quick` against scoreserver alone with the python load generator: the
full run needs two venvs from the package registry and wrk from apt-get, which a fresh CI clone
does not have and could not set up inside this test's minute. Everything else is the same code
path: starting, readiness, load, cold start, memory, liveness, the report, stopping.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The benchmark measures CPU and memory from /proc.
pytestmark = pytest.mark.linux
SECTIONS = (
    "## Machine",
    "## Targets",
    "## Throughput and latency",
    "### W1 hello",
    "### W2 10x10 float matrix",
    "### W3 run() sleeps 50 ms",
    "### V2 infer: the W2 matrix as an Open Inference Protocol tensor",
    "## Cold start",
    "## Idle memory",
    "## Liveness while busy",
    "## Method",
)


def test_quick_benchmark_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "performance.md"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--only",
            "scoreserver",
            "--loadgen",
            "python",
            "--out",
            str(out),
            "--results",
            str(tmp_path / "results"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text()
    for section in SECTIONS:
        assert section in report, f"{section!r} missing from:\n{report}"
    assert "scoreserver, concurrency 64" in report
    assert "V2 infer, 16 conns: cost per request" in report
    assert report.strip() in done.stdout
    assert list((tmp_path / "results").glob("*.json"))


def test_quick_batching_benchmark_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "performance-batching.md"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "batching.py"),
            *("--quick", "--no-mlserver", "--loadgen", "python", "--out", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text()
    for line in ("## Goals", "## 1 connection", "## 64 connections", "@scoreserver.batch, V2"):
        assert line in report, f"{line!r} missing from:\n{report}"
    assert "answered" not in report  # every server predicted the row's label

"""Hostile and broken clients cannot hurt anyone else: the attacks of bench/harness/attacks.py.

One server (two workers, a 2-second header timeout, a limit of 1024 open files through prlimit)
takes every attack in turn, on loopback only, each bounded in time and count; the attacks that
kill a worker come last. Each outcome says what was seen, so a failure explains itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.harness.attacks import ATTACKS, SERVER_ARGS, SERVER_ENV, Target, server_command

from tests.integration.cli_support import scrubbed_environ
from tests.integration.server import serving

REPO = Path(__file__).resolve().parents[2]
# prlimit, /proc's descriptor counts, signals: the attacks are measured the Linux way.
pytestmark = pytest.mark.linux


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The server under attack, as the benchmark starts it."""
    args = [*SERVER_ARGS, "--host", "127.0.0.1"]
    cwd = tmp_path_factory.mktemp("adversarial")
    command = server_command(sys.executable)
    with scrubbed_environ(), serving(args, env=SERVER_ENV, cwd=cwd, command=command) as server:
        yield Target(server.port, server.process.pid, server.output)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_server_holds(target: Target, attack: str) -> None:
    """Each attack in turn (in ATTACKS order: those that kill a worker come last).

    upgrade-*: a request with Upgrade headers (curl --http2) keeps its body, split across
    packets too, and a request pipelined behind it or hidden in its body is answered once;
    endless-*: 414/431 at once; silent, trickle, slowloris: closed (408 if something came) at
    the header timeout while others are served; leaks: descriptors and memory come back;
    descriptors: 3000 idle connections against 1024 files, a client answered, one warning, a
    killed worker replaced; crash: a replacement gets its share of keep-alive clients in 10 s.
    """
    outcome = ATTACKS[attack](target)
    assert outcome.defended, outcome.detail


def test_the_benchmark_script_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "adversarial.py"), "--attacks", "upgrade-h2c"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| attack | held | what was seen |" in done.stdout
    assert "| Upgrade: h2c POST | yes |" in done.stdout

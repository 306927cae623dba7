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
from bench.harness.attacks import (
    SERVER_ARGS,
    SERVER_ENV,
    Target,
    crash_under_keep_alive,
    descriptor_pressure,
    endless_header,
    endless_request_line,
    leak_check,
    server_command,
    silent_connection,
    slowloris,
    trickled_head,
    upgrade_h2c,
    upgrade_smuggling,
    upgrade_split_and_pipelined,
)

from tests.integration.cli_support import scrubbed_environ
from tests.integration.server import serving

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The server under attack, as the benchmark starts it."""
    args = [*SERVER_ARGS, "--host", "127.0.0.1"]
    cwd = tmp_path_factory.mktemp("adversarial")
    command = server_command(sys.executable)
    with (
        scrubbed_environ(),
        serving(args, env=SERVER_ENV, cwd=cwd, command=command) as server,
    ):
        yield Target(server.port, server.process.pid, server.output)


def test_a_post_with_upgrade_h2c_is_scored_with_its_body(target: Target) -> None:
    """What `curl --http2 -d ...` and several Java clients send."""
    outcome = upgrade_h2c(target)
    assert outcome.defended, outcome.detail


def test_an_upgrade_body_split_across_packets_arrives_whole_and_the_next_request_once(
    target: Target,
) -> None:
    outcome = upgrade_split_and_pipelined(target)
    assert outcome.defended, outcome.detail


def test_a_request_in_an_upgrade_body_is_not_scored_as_a_request(target: Target) -> None:
    outcome = upgrade_smuggling(target)
    assert outcome.defended, outcome.detail


def test_a_request_line_that_never_ends_is_cut_off_with_414(target: Target) -> None:
    outcome = endless_request_line(target)
    assert outcome.defended, outcome.detail


def test_a_header_that_never_ends_is_cut_off_with_431(target: Target) -> None:
    outcome = endless_header(target)
    assert outcome.defended, outcome.detail


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(target: Target) -> None:
    outcome = silent_connection(target)
    assert outcome.defended, outcome.detail


def test_a_trickled_head_gets_408_at_the_header_timeout(target: Target) -> None:
    outcome = trickled_head(target)
    assert outcome.defended, outcome.detail


def test_slowloris_is_cut_off_and_others_are_served_meanwhile(target: Target) -> None:
    outcome = slowloris(target)
    assert outcome.defended, outcome.detail


def test_good_and_bad_requests_leak_no_descriptors_or_memory(target: Target) -> None:
    outcome = leak_check(target)
    assert outcome.defended, outcome.detail


def test_idle_connections_beyond_the_files_limit_do_not_silence_the_server(
    target: Target,
) -> None:
    """3000 idle connections against 1024 files: a client is answered, a crash is handled."""
    outcome = descriptor_pressure(target)
    assert outcome.defended, outcome.detail


def test_a_replacement_worker_gets_its_share_of_keep_alive_clients(target: Target) -> None:
    outcome = crash_under_keep_alive(target)
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

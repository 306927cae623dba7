"""The process paths of macOS, on Linux: workers started by spawn, custody over a framed stream.

SCORESERVER_PORTABLE_PROCESSES makes the real CLI take them here, so they cannot rot. The tests
below are the worker, crash-answer, shutdown and reload tests that matter most, collected again
under that setting (.ci/run runs those four files whole on it too); the last one is the one
place where the behaviour differs on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_support import printed_pids, records, wait_until
from tests.integration.server import serving
from tests.integration.test_crash_answers import (
    test_requests_waiting_behind_a_killed_run_all_get_a_json_500,
    test_run_that_exits_the_process_gets_a_json_500_and_the_server_recovers,
)
from tests.integration.test_reload import test_edits_are_served_without_a_failed_request
from tests.integration.test_shutdown import (
    test_sigterm_answers_every_request_in_flight_then_exits_0,
)
from tests.integration.test_workers import (
    SLEEP,
    test_killed_worker_is_replaced_and_the_server_keeps_serving,
    test_two_workers_score_two_slow_requests_in_parallel,
)

__all__ = [
    "test_edits_are_served_without_a_failed_request",
    "test_killed_worker_is_replaced_and_the_server_keeps_serving",
    "test_requests_waiting_behind_a_killed_run_all_get_a_json_500",
    "test_run_that_exits_the_process_gets_a_json_500_and_the_server_recovers",
    "test_sigterm_answers_every_request_in_flight_then_exits_0",
    "test_two_workers_score_two_slow_requests_in_parallel",
]

# macOS's paths taken on Linux; on a Mac the whole suite takes them anyway.
pytestmark = pytest.mark.linux


@pytest.fixture(autouse=True)
def portable_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every server these tests start spawns its workers and frames its custody channel."""
    monkeypatch.setenv("SCORESERVER_PORTABLE_PROCESSES", "true")
    yield


def test_worker_preload_says_spawned_workers_each_run_init(tmp_path: Path) -> None:
    args = ["--entry_script", str(SLEEP), "--worker_count", "2"]
    with serving(args, env={"WORKER_PRELOAD": "true"}, cwd=tmp_path) as server:
        wait_until(lambda: len(printed_pids(server.output(), "init in pid ")) >= 2)
        pids = printed_pids(server.output(), "init in pid ")
        supervisor = server.process.pid
        output = server.output()
    warnings = [r.text for r in records(output) if r.level == "W"]
    assert any(w.startswith("WORKER_PRELOAD needs workers started by fork") for w in warnings)
    assert len(set(pids)) == 2
    assert supervisor not in pids

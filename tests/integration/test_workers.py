"""Worker processes: one init() each, parallel scoring, replacement of a dead worker; health port."""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import (
    SCRIPTS,
    port_is_listening,
    printed_pids,
    records,
    wait_until,
)
from tests.integration.server import RunningServer, free_port, serving

SLEEP = SCRIPTS / "cli_sleep.py"
HELLO = SCRIPTS / "hello.py"


def _init_pids(server: RunningServer) -> list[int]:
    """The pids that ran init(), in the order they did."""
    return printed_pids(server.output(), "init in pid ")


def _serving_pids(server: RunningServer) -> list[int]:
    """The workers that have said they accept connections."""
    pattern = re.compile(r"Worker with pid (\d+) ready for serving traffic")
    return [
        int(match.group(1))
        for r in records(server.output())
        if (match := pattern.fullmatch(r.text)) is not None
    ]


def _score_together(server: RunningServer, bodies: list[bytes]) -> list[httpx.Response]:
    """Send the requests at the same time, each on its own connection."""

    def post(body: bytes) -> httpx.Response:
        return httpx.post(server.url + "/score", content=body, timeout=30)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_each_worker_runs_init_in_its_own_process(tmp_path: Path) -> None:
    with serving(["--entry_script", str(SLEEP), "--worker_count", "2"], cwd=tmp_path) as server:
        wait_until(lambda: len(_init_pids(server)) >= 2)
        pids = _init_pids(server)
        supervisor = server.process.pid
        output = server.output()
    assert len(pids) == 2
    assert len(set(pids)) == 2
    assert supervisor not in pids
    assert "\nWorker Count: 2\n" in output
    assert output.count("Azure ML Inferencing HTTP server v") == 1


def test_two_workers_score_two_slow_requests_in_parallel(tmp_path: Path) -> None:
    with serving(["--entry_script", str(SLEEP), "--worker_count", "2"], cwd=tmp_path) as server:
        # The first worker may answer the readiness probe while the second is still starting.
        wait_until(lambda: len(_serving_pids(server)) >= 2)
        rounds = [_score_together(server, [b"0.6", b"0.6"]) for _ in range(3)]
    for responses in rounds:
        assert [r.status_code for r in responses] == [200, 200]
        runs = [r.json() for r in responses]
        # Each run() sleeps 0.6 s; the two ran at the same time, one in each worker (a wall-time
        # bound on the pair would also measure the machine's load).
        assert max(r["began"] for r in runs) < min(r["ended"] for r in runs), runs
        assert len({r["pid"] for r in runs}) == 2


def test_worker_count_from_the_environment_starts_that_many(tmp_path: Path) -> None:
    env = {"WORKER_COUNT": "2"}
    with serving(["--entry_script", str(SLEEP)], env=env, cwd=tmp_path) as server:
        wait_until(lambda: len(_init_pids(server)) >= 2)
        pids = _init_pids(server)
    assert len(set(pids)) == 2


@pytest.mark.posix  # SIGKILL
def test_killed_worker_is_replaced_and_the_server_keeps_serving(tmp_path: Path) -> None:
    with serving(["--entry_script", str(SLEEP), "--worker_count", "2"], cwd=tmp_path) as server:
        # Both serving: a worker killed before it said so is a failed start, which ends the server.
        wait_until(lambda: len(_serving_pids(server)) >= 2)
        victim, survivor = _init_pids(server)
        os.kill(victim, signal.SIGKILL)
        # The other worker answers while the dead one is being replaced.
        during = [server.client().post("/score", content=b"0").status_code for _ in range(5)]
        wait_until(lambda: len(_init_pids(server)) >= 3, timeout=15)
        replacement = _init_pids(server)[2]
        answered_by = {
            server.client().post("/score", content=b"0").json()["pid"] for _ in range(20)
        }
        alive = server.process.poll() is None
        output = server.output()
    assert during == [200] * 5
    assert replacement not in (victim, survivor)
    assert alive
    assert victim not in answered_by
    assert answered_by <= {survivor, replacement}
    assert str(victim) in output


@pytest.mark.posix  # SIGKILL
def test_the_only_worker_killed_is_replaced(tmp_path: Path) -> None:
    with serving(["--entry_script", str(SLEEP)], cwd=tmp_path) as server:
        wait_until(lambda: len(_init_pids(server)) >= 1)
        (victim,) = _init_pids(server)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(_init_pids(server)) >= 2, timeout=15)
        replacement = _init_pids(server)[1]

        def serves_again() -> bool:
            try:
                return server.client().post("/score", content=b"0").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(serves_again, timeout=15)
        answered_by = server.client().post("/score", content=b"0").json()["pid"]
        alive = server.process.poll() is None
    assert alive
    assert replacement != victim
    assert answered_by == replacement


# ---------------------------------------------------------------------------------------------
# The health port


def test_separate_health_endpoint_serves_the_probe_on_the_health_port(tmp_path: Path) -> None:
    health_port = free_port()
    args = ["--entry_script", str(HELLO), "--health_port", str(health_port)]
    env = {"SEPERATE_HEALTH_ENDPOINT": "true"}
    with serving(args, env=env, cwd=tmp_path) as server:
        probe = httpx.get(f"http://127.0.0.1:{health_port}/", timeout=5)
        main_probe = server.client().get("/")
        score = server.client().post("/score", content=b"{}")
        output = server.output()
    assert probe.status_code == 200
    assert probe.text == "Healthy"
    assert main_probe.status_code == 200
    assert score.status_code == 200
    assert f"\nHealth Port: {health_port}\n" in output
    assert "\nCreate dedicated endpoint for health: true\n" in output


def test_health_port_is_ignored_without_the_separate_endpoint(tmp_path: Path) -> None:
    health_port = free_port()
    args = ["--entry_script", str(HELLO), "--health_port", str(health_port)]
    with serving(args, cwd=tmp_path) as server:
        listening = port_is_listening(health_port)
        output = server.output()
        port = server.port
    assert not listening
    assert f"\nHealth Port: {port}\n" in output
    assert "\nCreate dedicated endpoint for health: None\n" in output

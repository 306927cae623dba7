"""Supervision: a worker that dies or whose event loop stops is replaced (its init() runs again) and
the server keeps serving; WORKER_PRELOAD runs init() once for all workers."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import SCRIPTS, printed_pids, records, wait_until
from tests.integration.server import RunningServer, serving

# Workers killed with signals.
pytestmark = pytest.mark.posix

SLEEP = SCRIPTS / "ops_sleep.py"
BLOCKING = SCRIPTS / "ops_blocking_async.py"


def _init_pids(server: RunningServer) -> list[int]:
    """The pids whose init() ran, in order, from the script's own print."""
    return _init_pids_in(server.output())


def _init_pids_in(output: str) -> list[int]:
    return printed_pids(output, "ops init in pid ")


def _answering_pid(server: RunningServer, body: bytes = b"0") -> int | None:
    """The pid of the worker that scored a request, or None if none could."""
    try:
        response = httpx.post(server.url + "/score", content=body, timeout=10)
    except httpx.HTTPError:
        return None
    return int(response.json()["pid"]) if response.status_code == 200 else None


def _serves_from_a_new_worker(server: RunningServer, old: int, timeout: float = 15) -> int:
    """Poll /score until a worker other than old answers; return its pid."""
    answered: list[int] = []

    def new_worker_answers() -> bool:
        pid = _answering_pid(server)
        if pid is not None and pid != old:
            answered.append(pid)
            return True
        return False

    wait_until(new_worker_answers, timeout=timeout)
    return answered[0]


def test_killed_worker_is_replaced_and_its_init_runs_again(tmp_path: Path) -> None:
    with serving(["--entry_script", str(SLEEP)], cwd=tmp_path) as server:
        victim = _answering_pid(server)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        replacement = _serves_from_a_new_worker(server, victim)
        inits = _init_pids(server)
        again = [_answering_pid(server) for _ in range(3)]
        alive = server.process.poll() is None
    assert inits == [victim, replacement]
    assert again == [replacement] * 3
    assert alive


def test_worker_with_a_blocked_event_loop_is_replaced(tmp_path: Path) -> None:
    env = {"WORKER_TIMEOUT": "2"}
    with serving(["--entry_script", str(BLOCKING)], env=env, cwd=tmp_path) as server:
        stuck = _answering_pid(server)
        assert stuck is not None
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            # async run() calling time.sleep(10): the worker's event loop stops for 10 s.
            blocked = pool.submit(httpx.post, server.url + "/score", content=b"block", timeout=30)
            replacement = _serves_from_a_new_worker(server, stuck, timeout=15)
            served_again_after = time.monotonic() - started
            blocked_answer = blocked.result(timeout=15)
        output = server.output()
        inits = _init_pids(server)
    complaints = [r for r in records(output) if "has not responded" in r.text]
    assert complaints, output
    assert all(f"pid:{stuck}" in r.text and r.level == "E" for r in complaints), output
    assert inits == [stuck, replacement]
    # Replaced within a few seconds of the 2 s timeout, well before the 10 s sleep ends.
    assert served_again_after < 8, output
    # The blocked request is answered for the worker that was killed under it.
    assert blocked_answer.status_code == 500
    assert "ended unexpectedly (killed by SIGKILL)" in blocked_answer.json()["message"]


def test_preload_runs_init_once_and_both_workers_serve(tmp_path: Path) -> None:
    args = ["--entry_script", str(SLEEP), "--worker_count", "2"]
    with serving(args, env={"WORKER_PRELOAD": "true"}, cwd=tmp_path) as server:
        seen: set[int] = set()

        def two_workers_answered() -> bool:
            # Two slow requests at once go to two workers once both are serving.
            with ThreadPoolExecutor(2) as pool:
                seen.update(p for p in pool.map(_answering_pid, [server] * 2, [b"0.3"] * 2) if p)
            return len(seen) >= 2

        wait_until(two_workers_answered, timeout=15)
        workers = set(seen)
        # A replacement inherits the preloaded script: init() does not run again.
        os.kill(min(workers), signal.SIGKILL)
        wait_until(lambda: _new_pid_answers(server, workers), timeout=15)
        output = server.output()
        supervisor = server.process.pid
    invoked = [r for r in records(output) if r.text == "Invoking user's init function"]
    assert len(invoked) == 1, output
    assert _init_pids_in(output) == [supervisor]
    assert len(workers) == 2
    assert supervisor not in workers


def _new_pid_answers(server: RunningServer, known: set[int]) -> bool:
    """Whether a worker not in known answers one of two slow requests sent together."""
    with ThreadPoolExecutor(2) as pool:
        answered = set(pool.map(_answering_pid, [server] * 2, [b"0.3"] * 2))
    return bool(answered - known - {None})

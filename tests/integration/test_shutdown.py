"""Graceful shutdown: on SIGTERM the listening socket closes first, requests already received are
answered, and a run() that outlasts SCORESERVER_GRACEFUL_TIMEOUT does not keep the server alive."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import SCRIPTS, child_processes, process_ended, wait_until
from tests.integration.server import RunningServer, start_server, wait_until_ready

# SIGTERM and SIGKILL.
pytestmark = pytest.mark.posix

SLEEP = SCRIPTS / "ops_sleep.py"
SLOW_FORK = SCRIPTS / "ops_slow_fork.py"
SLOW_PRELOAD = SCRIPTS / "ops_slow_preload.py"


@contextmanager
def _started(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[RunningServer]:
    """A ready server the test stops itself; killed afterwards if the test did not get that far."""
    server = start_server(args, env=env, cwd=cwd)
    try:
        wait_until_ready(server)
        yield server
    finally:
        _kill_leftovers(server)


def _kill_leftovers(server: RunningServer) -> None:
    """SIGKILL a server the test did not stop, workers included (they would outlive it)."""
    if server.process.poll() is None:
        pid = server.process.pid
        workers = child_processes(pid)
        server.process.kill()
        server.process.wait()
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
    server.remove_log()


def _send_score(port: int, body: bytes) -> socket.socket:
    """A connection carrying one complete POST /score; the answer is read later."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock.sendall(head + body)
    return sock


def _read_answer(sock: socket.socket, timeout: float) -> tuple[int | None, bytes]:
    """The status and body of the answer on a Connection: close socket (None: no answer)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(65536):
            data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return None, data
    return int(head.split(b" ", 2)[1]), body


def _all_sent_requests_read(server: RunningServer) -> None:
    """Return once the server has read every request sent before this call.

    A probe on a new connection is accepted and read after the connections already waiting in
    the backlog, so its answer means the earlier requests are in the server's hands.
    """
    assert httpx.get(server.url + "/", timeout=10).status_code == 200


def _connection_refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


def test_sigterm_answers_every_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    with _started(["--entry_script", str(SLEEP)], {}, tmp_path) as server:
        # One worker, run() sleeping 1 s: one request runs, seven wait their turn.
        connections = [_send_score(server.port, b"1") for _ in range(8)]
        _all_sent_requests_read(server)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        wait_until(lambda: _connection_refused(server.port), timeout=5)
        refused_after = time.monotonic() - signalled
        still_draining = server.process.poll() is None

        code = server.process.wait(timeout=30)
        answers = [_read_answer(sock, timeout=5) for sock in connections]
        output = server.output()
    assert [status for status, _ in answers] == [200] * 8, answers
    assert code == 0, output
    # New connections are refused while the eight requests (8 s of work) are still being answered.
    assert still_draining
    assert refused_after < 5


def test_run_longer_than_the_grace_period_is_cut_off(tmp_path: Path) -> None:
    grace = 2
    env = {"SCORESERVER_GRACEFUL_TIMEOUT": str(grace)}
    with _started(["--entry_script", str(SLEEP)], env, tmp_path) as server:
        connection = _send_score(server.port, b"60")
        _all_sent_requests_read(server)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        try:
            code: int | None = server.process.wait(timeout=grace + 10)
        except subprocess.TimeoutExpired:
            code = None
        exited_after = time.monotonic() - signalled
        status, _ = _read_answer(connection, timeout=5)
        output = server.output()
    assert code == 0, f"exit code {code} after {exited_after:.1f}s:\n{output}"
    assert exited_after < grace + 5
    # The grace period was given (the run() was not cut off at once) ...
    assert exited_after > grace - 0.5
    # ... and the 60 s run() did not produce an answer.
    assert status != 200


def test_sigterm_while_a_worker_is_starting_stops_promptly(tmp_path: Path) -> None:
    """SIGTERM that reaches a worker just after its fork is not lost.

    Every fork has a moment before the new worker sets up its own signal handling; the fixture's
    after-fork hook (run in each worker because WORKER_PRELOAD imports the script in the
    supervisor) stretches that moment to a second so the signal lands in it every time.
    """
    grace = 3
    env = {"WORKER_PRELOAD": "true", "SCORESERVER_GRACEFUL_TIMEOUT": str(grace)}
    server = start_server(["--entry_script", str(SLOW_FORK)], env=env, cwd=tmp_path)
    try:
        # init() ran in the supervisor; the worker is forked right after it.
        server.wait_for_output("ops init in pid", timeout=30)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        try:
            code: int | None = server.process.wait(timeout=grace + 15)
        except subprocess.TimeoutExpired:
            code = None
        stopped_after = time.monotonic() - signalled
        output = server.output()
    finally:
        _kill_leftovers(server)
    assert code == 0, output
    # The worker needs about a second to leave the hook; waiting out the grace period and the
    # kill margin (grace + 5 s) means the SIGTERM sent to it was ignored.
    assert stopped_after < grace, f"stopped {stopped_after:.1f}s after SIGTERM:\n{output}"


def test_sigterm_while_the_preloaded_init_runs_is_a_clean_stop(tmp_path: Path) -> None:
    """A stop signal during start-up, before any worker exists, ends the server with 0."""
    env = {"WORKER_PRELOAD": "true"}
    server = start_server(["--entry_script", str(SLOW_PRELOAD)], env=env, cwd=tmp_path)
    try:
        server.wait_for_output("ops init started in pid", timeout=30)
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=15)
        output = server.output()
    finally:
        _kill_leftovers(server)
    assert code == 0, output
    assert "ready for serving traffic" not in output


@pytest.mark.linux  # a process's state, from /proc
def test_workers_of_a_killed_supervisor_answer_what_they_have_then_exit(tmp_path: Path) -> None:
    args = ["--entry_script", str(SCRIPTS / "cli_sleep.py"), "--worker_count", "2"]
    with _started(args, {}, tmp_path) as server:
        output = server.output
        wait_until(lambda: output().count("ready for serving traffic") >= 2, timeout=30)
        workers = [int(p) for p in re.findall(r"Worker with pid (\d+) ready", output())]
        try:
            connection = _send_score(server.port, b"2")
            server.wait_for_output("run sleeping 2.0")
            server.process.kill()  # SIGKILL: the supervisor cannot stop its workers itself
            server.process.wait()
            answer = _read_answer(connection, timeout=10)
            wait_until(lambda: _connection_refused(server.port), timeout=10)
            wait_until(lambda: all(process_ended(pid) for pid in workers), timeout=10)
            text = output()
        finally:
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    # The request in hand was answered; then both workers left the port, each saying why.
    assert answer[0] == 200, answer
    for pid in workers:
        assert (
            f"The supervisor has ended: worker (pid:{pid}) stops after the requests it has." in text
        )


@pytest.mark.linux  # a process's state, from /proc
def test_a_worker_whose_supervisor_ended_during_init_stops_at_once(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(
        "import os, time\n"
        "def init():\n"
        "    print(f'init started in pid {os.getpid()}')\n"
        "    time.sleep(60)\n"
        "def run(data):\n"
        "    return data\n"
    )
    server = start_server(["--entry_script", str(script)], cwd=tmp_path)
    workers: list[int] = []
    try:
        output = server.wait_for_output("init started in pid", timeout=30)
        workers += [int(p) for p in re.findall(r"init started in pid (\d+)", output)]
        server.process.kill()
        server.process.wait()
        wait_until(lambda: process_ended(workers[0]), timeout=5)
        text = server.output()
    finally:
        server.process.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.remove_log()
    assert f"The supervisor has ended: worker (pid:{workers[0]}) stops before serving." in text

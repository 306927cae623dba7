"""A worker that dies in the middle of run(): its requests get a JSON 500, never a hang or a reset.

The supervisor keeps a copy of every connection (see scoreserver.processes.custody); these tests check what
a client sees: the answer for the requests the dead worker had, connections closed promptly, and
no connection held open by the copies.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.cli_support import SCRIPTS, printed_pids, records, wait_until
from tests.integration.server import RunningServer, serving

# Descriptor passing, signals, /proc's sockets.
pytestmark = pytest.mark.linux

CRASH = SCRIPTS / "ops_crash.py"
FRAGILE = SCRIPTS / "ops_fragile.py"
PROTO_EXIT = SCRIPTS / "proto_exit.py"


def _init_pids(server: RunningServer) -> list[int]:
    return printed_pids(server.output(), "ops init in pid ")


def _post(
    server: RunningServer, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(server.url + "/score", content=body, headers=headers, timeout=30)


def _raw_request(body: bytes, close: bool = False) -> bytes:
    connection = b"connection: close\r\n" if close else b""
    return (
        b"POST /score HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\n"
        + connection
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


def _read_until_eof(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes; fails if it does not close within timeout."""
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a content-length body, from a keep-alive connection."""
    sock.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _closing_request(server: RunningServer) -> tuple[bytes, float]:
    """A request on a new connection that asks to close it: the response, and when it ended."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        sock.sendall(_raw_request(b"0", close=True))
        response = _read_until_eof(sock, timeout=5)
        return response, time.monotonic() - started


def _assert_worker_died_answer(response: httpx.Response, how: str) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert response.json() == {
        "message": f"The worker process scoring this request ended unexpectedly ({how}) and "
        "is being replaced. Check the logs for more info."
    }


def test_run_that_exits_the_process_gets_a_json_500_and_the_server_recovers(
    tmp_path: Path,
) -> None:
    with serving(["--entry_script", str(CRASH)], cwd=tmp_path) as server:
        victim = _post(server, b"0").json()["pid"]
        started = time.monotonic()
        client_ids = {"x-request-id": "crash-1", "x-ms-client-request-id": "client-7"}
        answer = _post(server, b"exit", client_ids)
        answered_after = time.monotonic() - started
        # Read at once: a worker that dies loses none of the lines it logged.
        said_before_dying = server.output()
        wait_until(lambda: len(_init_pids(server)) >= 2, timeout=15)
        wait_until(lambda: _post(server, b"0").status_code == 200, timeout=15)
        after = _post(server, b"0").json()["pid"]
        alive = server.process.poll() is None
        output = server.output()
    _assert_worker_died_answer(answer, "exit code 1")
    # The ids come back as on any other answer: the client's request id, echoed.
    assert answer.headers.get_list("x-request-id") == ["crash-1"]
    assert answer.headers["x-ms-request-id"] == "client-7"
    assert answer.headers["x-ms-client-request-id"] == "client-7"
    assert f"azmlinfsrv.print - ops exiting from pid {victim}" in said_before_dying
    assert answered_after < 2
    assert after not in (victim, None)
    assert alive
    logged = [r for r in records(output) if r.text.startswith("Answered 1 request(s)")]
    assert [(r.level, r.text) for r in logged] == [
        ("E", f"Answered 1 request(s) that worker (pid:{victim}) was scoring with 500.")
    ]


def test_segfault_in_run_gets_a_json_500(tmp_path: Path) -> None:
    with serving(["--entry_script", str(CRASH)], cwd=tmp_path) as server:
        answer = _post(server, b"segfault")
        wait_until(lambda: len(_init_pids(server)) >= 2, timeout=15)
        wait_until(lambda: _post(server, b"0").status_code == 200, timeout=15)
    _assert_worker_died_answer(answer, "killed by SIGSEGV")


def test_a_dead_workers_answer_is_in_its_routes_format_with_its_cors_headers(
    tmp_path: Path,
) -> None:
    origin = {"Origin": "https://app.example"}
    died = "The worker process scoring this request ended unexpectedly (exit code 1)"
    argv = ["--entry_script", str(PROTO_EXIT), "--access_control_allow_origins", origin["Origin"]]
    with serving(argv, cwd=tmp_path) as server:

        def replaced() -> None:
            wait_until(lambda: _post(server, b"ok").status_code == 200, timeout=15)

        # The Triton client reads V2's {"error": ...}; /score's {"message": ...} it cannot.
        client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
        item = triton.InferInput("data", [1], "BYTES")
        item.set_data_from_numpy(np.array([b"exit"], dtype=np.object_), binary_data=False)
        with pytest.raises(InferenceServerException) as caught:
            client.infer("model", [item])
        replaced()
        v1 = httpx.post(
            server.url + "/v1/models/model:predict",
            json={"instances": ["exit"]},
            headers=origin,
            timeout=30,
        )
        replaced()
        score = _post(server, b"exit", origin)
        replaced()
    assert caught.value.status() == "500"
    assert died in caught.value.message()
    assert v1.status_code == score.status_code == 500
    assert v1.json()["error"].startswith(died)
    assert score.json()["message"].startswith(died)
    # A browser sees the 500 itself, not a CORS failure in its place.
    for answer in (v1, score):
        assert answer.headers["access-control-allow-origin"] == origin["Origin"]
        assert answer.headers["x-ms-run-function-failed"] == "True"


def test_requests_waiting_behind_a_killed_run_all_get_a_json_500(tmp_path: Path) -> None:
    # One run() at a time: the second and third wait in the worker's queue when it is killed,
    # as the out-of-memory killer would.
    with serving(["--entry_script", str(CRASH)], cwd=tmp_path) as server:
        with ThreadPoolExecutor(3) as pool:
            first = pool.submit(_post, server, b"oom:1")
            time.sleep(0.3)
            waiting = [pool.submit(_post, server, b"0") for _ in range(2)]
            answers = [first.result(timeout=15)] + [f.result(timeout=15) for f in waiting]
        wait_until(lambda: len(_init_pids(server)) >= 2, timeout=15)
        output = server.output()
    for answer in answers:
        _assert_worker_died_answer(answer, "killed by SIGKILL")
    # Each its own request's id (the server's, as the client sent none).
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == 3 and all(str(uuid.UUID(i)) == i for i in ids), ids
    assert any(r.text.startswith("Answered 3 request(s)") for r in records(output)), output


def test_idle_connections_of_a_dead_worker_are_closed_not_left_hanging(tmp_path: Path) -> None:
    with (
        serving(["--entry_script", str(CRASH)], cwd=tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port)) as idle,
    ):
        idle.sendall(_raw_request(b"0"))
        first = _read_response(idle)
        _post(server, b"exit")
        # The idle keep-alive connection ends with no stray bytes: nothing was in flight.
        rest = _read_until_eof(idle, timeout=5)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest == b""


def test_a_connection_the_worker_closes_is_closed_for_the_client_at_once(
    tmp_path: Path,
) -> None:
    with serving(["--entry_script", str(CRASH)], cwd=tmp_path) as server:
        timings = []
        for _ in range(5):
            response, seconds = _closing_request(server)
            timings.append(seconds)
            assert response.startswith(b"HTTP/1.1 200 ")
            assert response.endswith(b"}")
    assert max(timings) < 1, timings


def _accepted_socket_inode(server_port: int, client_port: int) -> int:
    """The kernel's inode of the server's side of a loopback connection (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            return int(fields[9])
    raise AssertionError(f"no server-side socket for client port {client_port}")


def _socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets a process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(int(target.removeprefix("socket:[").rstrip("]")))
    return inodes


def test_a_new_worker_holds_no_copy_of_the_other_workers_connections(tmp_path: Path) -> None:
    args = ["--entry_script", str(CRASH), "--worker_count", "2"]
    with serving(args, cwd=tmp_path) as server:
        # Both serving: a worker that dies before it is ready stops the start altogether.
        wait_until(lambda: server.output().count("ready for serving traffic") >= 2)
        with socket.create_connection(("127.0.0.1", server.port)) as kept:
            kept.sendall(_raw_request(b"0"))
            owner = int(_read_response(kept).rpartition(b'"pid": ')[2].rstrip(b"}"))
            connection = _accepted_socket_inode(server.port, kept.getsockname()[1])
            other = next(pid for pid in _init_pids(server) if pid != owner)
            # The supervisor holds a copy of `kept` (it gathers copies for up to 20 ms) ...
            wait_until(lambda: connection in _socket_inodes(server.process.pid))
            # ... when the replacement is forked from it.
            os.kill(other, signal.SIGKILL)
            wait_until(lambda: len(_init_pids(server)) >= 3, timeout=15)
            wait_until(lambda: server.output().count("ready for serving traffic") >= 3)
            replacement = _init_pids(server)[2]
            in_replacement = connection in _socket_inodes(replacement)
            in_owner = connection in _socket_inodes(owner)
            started = time.monotonic()
            kept.sendall(_raw_request(b"0", close=True))
            response = _read_until_eof(kept, timeout=5)
            closed_after = time.monotonic() - started
    assert in_owner
    assert not in_replacement
    assert response.startswith(b"HTTP/1.1 200 ")
    assert closed_after < 1


def test_closes_are_not_held_up_while_a_failing_replacement_is_retried(tmp_path: Path) -> None:
    marker = tmp_path / "refuse-init"
    args = ["--entry_script", str(FRAGILE), "--worker_count", "2"]
    with serving(args, env={"FRAGILE_MARKER": str(marker)}, cwd=tmp_path) as server:
        wait_until(lambda: server.output().count("ready for serving traffic") >= 2)
        broken = _post(server, b"break")
        wait_until(lambda: server.output().count("init refused") >= 2, timeout=15)
        # The supervisor waits a second between attempts to start the replacement; the
        # connections the surviving worker closes meanwhile must end for their clients at once.
        closing_times = []
        for _ in range(6):
            response, seconds = _closing_request(server)
            closing_times.append(seconds)
            assert response.startswith(b"HTTP/1.1 200 ")
            time.sleep(0.15)
        marker.unlink()
        wait_until(lambda: len(_init_pids(server)) >= 3, timeout=15)
        alive = server.process.poll() is None
        output = server.output()
    _assert_worker_died_answer(broken, "exit code 1")
    assert alive
    assert "exited with code 3" in output
    assert max(closing_times) < 0.5, closing_times

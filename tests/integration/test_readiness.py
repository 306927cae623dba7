"""Readiness is not liveness: not ready before init() completes, nor once a stop has begun."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
import tritonclient.http as triton

from tests.conftest import SCRIPTS
from tests.integration.cli_support import wait_until
from tests.integration.server import RunningServer, start_server, wait_until_ready

VERTEX_HEALTH = "/healthz"
READY_ROUTES = {
    "/v2/health/ready": 400,
    "/v2/models/model/ready": 400,
    "/v1/models/model": 503,
    "/ping": 503,
    VERTEX_HEALTH: 503,
}
"""Each protocol's readiness probe and its "not ready" status."""

NOT_READY_BODIES = {
    "/v2/health/ready": {"ready": False},
    "/v2/models/model/ready": {"name": "model", "ready": False},
    "/v1/models/model": {"name": "model", "ready": False},
    "/ping": {"message": "Not ready: init() has not completed."},
    VERTEX_HEALTH: {"ready": False},
}
"""What each says while init() runs."""

VERTEX_ENV = {"AIP_HEALTH_ROUTE": VERTEX_HEALTH, "AIP_PREDICT_ROUTE": "/predict"}


def gated_server(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[RunningServer, Path]:
    """A server whose init() waits for the go file returned; started, init() has begun."""
    begun, go = tmp_path / "init-begun", tmp_path / "init-go"
    server = start_server(
        ["--entry_script", str(SCRIPTS / "proto_gated_init.py"), *args],
        env={
            "SCORESERVER_TEST_INIT_BEGUN": str(begun),
            "SCORESERVER_TEST_INIT_GO": str(go),
            **VERTEX_ENV,
            **(env or {}),
        },
    )
    wait_until(lambda: begun.exists() or server.process.poll() is not None, timeout=30)
    assert server.process.poll() is None, server.output()
    return server, go


@pytest.mark.parametrize("workers", ["1", "2"])
def test_while_init_runs_probes_say_not_ready_and_other_requests_wait_for_it(
    tmp_path: Path, workers: str
) -> None:
    server, go = gated_server(tmp_path, "--worker_count", workers)
    try:
        # Liveness answers while init() runs, readiness answers "not ready": none of them waits.
        wait_until(lambda: _answers(server.url + "/v2/health/live"), timeout=10)
        for path, status in READY_ROUTES.items():
            response = httpx.get(server.url + path, timeout=5)
            assert (response.status_code, response.json()) == (status, NOT_READY_BODIES[path])
            assert response.headers["connection"] == "close", path
            assert response.headers["x-ms-request-id"], path
        live = httpx.get(server.url + "/v2/health/live", timeout=5)
        assert (live.status_code, live.json()) == (200, {"live": True})
        assert httpx.head(server.url + "/v2/health/ready", timeout=5).status_code == 400
        assert httpx.post(server.url + "/v2/health/ready", timeout=5).status_code == 405
        triton_client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
        assert triton_client.is_server_live()
        assert not triton_client.is_server_ready()
        assert not triton_client.is_model_ready("model")
        # Everything else is kept until init() is done, then served: not refused, not lost.
        with ThreadPoolExecutor(3) as pool:
            send = partial(httpx.request, timeout=60)
            scored = pool.submit(send, "POST", server.url + "/score", content='{"data": [1, 2, 3]}')
            healthy = pool.submit(send, "GET", server.url + "/")
            metadata = pool.submit(send, "GET", server.url + "/v2/models/model")
            time.sleep(0.5)
            assert not any(f.done() for f in (scored, healthy, metadata))
            assert "Users's init has completed" not in server.output()
            go.write_text("go")
            assert scored.result(timeout=30).json() == {"sum": 6}
            assert healthy.result(timeout=30).text == "Healthy"
            assert metadata.result(timeout=30).status_code == 200
        wait_until_ready(server)
        for path in READY_ROUTES:
            assert httpx.get(server.url + path, timeout=5).status_code == 200, path
        assert triton_client.is_server_ready()
        # Served as usual now: the connection stays open for the next request.
        with server.client() as client:
            assert "connection" not in client.get("/v2/health/ready").headers
    finally:
        go.write_text("go")
        server.stop()
        server.remove_log()


def test_readiness_waits_for_every_worker_while_the_first_ready_one_serves(
    tmp_path: Path,
) -> None:
    first_free = {"SCORESERVER_TEST_INIT_FIRST_FREE": str(tmp_path / "first")}
    server, go = gated_server(tmp_path, "--worker_count", "2", env=first_free)
    try:
        server.wait_for_output("ready for serving traffic", timeout=30)
        with server.client() as client:
            # One worker serves: requests are answered, but the server is not whole yet.
            assert client.post("/score", content='{"data": [2, 3]}').json() == {"sum": 5}
            for path, status in READY_ROUTES.items():
                response = client.get(path)
                assert (response.status_code, response.json()) == (
                    status,
                    NOT_READY_BODIES[path],
                ), path
            assert client.get("/v2/health/live").status_code == 200
            go.write_text("go")
            wait_until(lambda: client.get("/v2/health/ready").status_code == 200, timeout=30)
            for path in READY_ROUTES:
                assert client.get(path).status_code == 200, path
    finally:
        go.write_text("go")
        server.stop()
        server.remove_log()


def test_a_probe_in_pieces_and_a_request_cut_short_while_init_runs(tmp_path: Path) -> None:
    server, go = gated_server(tmp_path)
    try:
        wait_until(lambda: _answers(server.url + "/v2/health/live"), timeout=10)
        # A head sent in two parts is answered once it has all arrived.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as probe:
            probe.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.2)
            probe.sendall(b"\r\n")
            assert _read_all(probe).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        # A connection closed before its request, and half a request, do no harm.
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        half = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        half.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{")
        go.write_text("go")
        wait_until_ready(server)
        half.close()
        with server.client() as client:
            assert client.post("/score", content='{"data": [4]}').json() == {"sum": 4}
        assert server.process.poll() is None
    finally:
        go.write_text("go")
        server.stop()
        server.remove_log()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_readiness_says_ready_only_once_init_has_completed(tmp_path: Path) -> None:
    marker = tmp_path / "init-done"
    server = start_server(
        ["--entry_script", str(SCRIPTS / "http_slow_init.py")],
        env={"HTTP_TEST_INIT_MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 30
        statuses: list[int] = []
        while 200 not in statuses and time.monotonic() < deadline:
            try:
                status = httpx.get(server.url + "/v2/health/ready", timeout=0.5).status_code
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            # "Ready" comes after init() has completed, never before; "not ready" until then.
            assert status in (200, 400), status
            if status == 200:
                assert marker.exists()
            statuses.append(status)
        assert statuses[-1] == 200
        assert 400 in statuses, "no probe was answered while init() ran"
    finally:
        server.stop()


@pytest.mark.posix  # SIGTERM
def test_a_stop_turns_readiness_off_while_liveness_and_scoring_stay_up() -> None:
    server = start_server(
        ["--entry_script", str(SCRIPTS / "proto_plain.py")],
        env={
            "SCORESERVER_READINESS_DRAIN_S": "3",
            "AIP_HEALTH_ROUTE": VERTEX_HEALTH,
            "AIP_PREDICT_ROUTE": "/predict",
        },
    )
    try:
        wait_until_ready(server)
        with server.client() as client:
            for path in READY_ROUTES:
                assert client.get(path).status_code == 200, path
            stopped_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 2
            while client.get("/v2/health/ready").status_code == 200:
                assert time.monotonic() < deadline, "readiness never turned off"
                time.sleep(0.02)
            for path, status in READY_ROUTES.items():
                assert client.get(path).status_code == status, path
            assert client.get("/v1/models/model").json() == {"name": "model", "ready": False}
            assert client.get("/v2/health/ready").json() == {"ready": False}
            model_ready = client.get("/v2/models/model/ready").json()
            assert model_ready == {"name": "model", "ready": False}
            assert client.get("/v2/health/live").status_code == 200
            assert client.get("/").text == "Healthy"
            assert client.post("/score", content='{"data": [[1, 2]]}').json() == [3]
            infer = {
                "inputs": [{"name": "data", "shape": [1, 1], "datatype": "INT64", "data": [5]}]
            }
            assert client.post("/v2/models/model/infer", json=infer).status_code == 200
        assert server.process.wait(timeout=30) == 0
        assert time.monotonic() - stopped_at >= 3
    finally:
        server.stop()

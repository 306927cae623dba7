"""Readiness is not liveness: not ready before init() completes, nor once a stop has begun."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPTS
from tests.integration.server import start_server, wait_until_ready

VERTEX_HEALTH = "/healthz"
READY_ROUTES = {
    "/v2/health/ready": 400,
    "/v2/models/model/ready": 400,
    "/v1/models/model": 503,
    "/ping": 503,
    VERTEX_HEALTH: 503,
}
"""Each protocol's readiness probe and its "not ready" status."""


def test_readiness_answers_only_once_init_has_completed(tmp_path: Path) -> None:
    marker = tmp_path / "init-done"
    server = start_server(
        ["--entry_script", str(SCRIPTS / "http_slow_init.py")],
        env={"HTTP_TEST_INIT_MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 30
        answered = None
        while answered is None and time.monotonic() < deadline:
            try:
                answered = httpx.get(server.url + "/v2/health/ready", timeout=0.2)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            # Whatever answers "ready" answers after init() has completed, never before.
            assert marker.exists()
        assert answered is not None and answered.status_code == 200
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

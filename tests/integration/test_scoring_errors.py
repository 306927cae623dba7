"""CONTRACT "Responses", failures: run() raising, timing out, exiting; the worker keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    RUN_FAILED_BODY,
    SERVER_VERSION,
    UUID4,
    assert_json_error,
    script_server,
)
from tests.integration.server import RunningServer

TIMEOUT_MS = 500
TIMEOUT_BODY = b'{"message": "Scoring timeout after 500 ms"}'


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """http_outcomes.py with SCORING_TIMEOUT_MS=500."""
    with script_server("http_outcomes.py", env={"SCORING_TIMEOUT_MS": str(TIMEOUT_MS)}) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's server."""
    with server.client() as http:
        yield http


def worker_pid(client: httpx.Client) -> int:
    """The pid of the process that runs run(), read through a successful request."""
    response = client.post("/score", json={"kind": "pid"})
    assert response.status_code == 200
    return int(response.json()["pid"])


def test_run_raising_is_a_json_500(client: httpx.Client) -> None:
    response = client.post("/score", json={"kind": "raise"})
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert "x-ms-run-fn-exec-ms" not in response.headers
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])


def test_run_raising_logs_the_traceback_but_never_sends_it(
    server: RunningServer, client: httpx.Client
) -> None:
    response = client.post("/score", json={"kind": "raise"})
    assert b"Traceback" not in response.content
    assert b"bad value here" not in response.content
    output = server.wait_for_output("ValueError: bad value here")
    assert "Traceback (most recent call last):" in output
    assert 'http_outcomes.py", line' in output


def test_worker_keeps_serving_after_run_raised(client: httpx.Client) -> None:
    pid = worker_pid(client)
    for _ in range(3):
        assert client.post("/score", json={"kind": "raise"}).status_code == 500
    assert client.post("/score", json={"kind": "int"}).content == b"42"
    assert worker_pid(client) == pid


def test_system_exit_in_run_is_a_json_500_and_the_worker_keeps_serving(
    client: httpx.Client,
) -> None:
    pid = worker_pid(client)
    response = client.post("/score", json={"kind": "exit"})
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert client.post("/score", json={"kind": "int"}).content == b"42"
    assert client.get("/").status_code == 200
    assert worker_pid(client) == pid


def test_timeout_is_a_json_500_after_about_the_timeout(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post("/score", json={"kind": "sleep", "seconds": 1.5})
    elapsed = time.monotonic() - started
    assert_json_error(response, 500, TIMEOUT_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert "x-ms-run-fn-exec-ms" not in response.headers
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    # cut off at the timeout, not when run() finally returns
    assert TIMEOUT_MS / 1000 - 0.05 <= elapsed < TIMEOUT_MS / 1000 + 0.5, elapsed


def test_worker_is_free_at_once_after_a_timeout(client: httpx.Client) -> None:
    pid = worker_pid(client)
    response = client.post("/score", json={"kind": "sleep", "seconds": 1.5})
    assert response.content == TIMEOUT_BODY
    started = time.monotonic()
    after = client.post("/score", json={"kind": "int"})
    assert time.monotonic() - started < 0.3
    assert after.status_code == 200
    assert after.content == b"42"
    assert worker_pid(client) == pid


def test_run_within_the_timeout_succeeds(client: httpx.Client) -> None:
    response = client.post("/score", json={"kind": "sleep", "seconds": 0.1})
    assert response.status_code == 200
    assert response.json() == {"slept": 0.1}


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_timeout_of_zero_or_less_is_no_limit_as_in_the_reference(value: str) -> None:
    # The reference starts and serves with such a value; refusing to start broke deployments.
    with script_server("http_outcomes.py", env={"SCORING_TIMEOUT_MS": value}) as server:
        response = httpx.post(
            server.url + "/score", json={"kind": "sleep", "seconds": 0.3}, timeout=30
        )
        output = server.output()
    assert response.status_code == 200, response.text
    assert f"Scoring timeout is set to {value}" in output

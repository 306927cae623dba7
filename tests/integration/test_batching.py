"""@scoreserver.batch through the real CLI: grouped calls, each client answered as if alone."""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.cli_support import access_lines, run_cli, wait_until
from tests.integration.http_contract import (
    EXEC_MS,
    RUN_FAILED_BODY,
    assert_json_error,
    script,
    script_server,
)
from tests.integration.server import RunningServer

TIMEOUT_MS = 2000


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """batch_outcomes.py: batches of up to 8, a lone request waiting at most 300 ms."""
    with script_server("batch_outcomes.py", env={"SCORING_TIMEOUT_MS": str(TIMEOUT_MS)}) as running:
        yield running


def together(server: RunningServer, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at the same moment, each on its own connection; responses in order."""
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> httpx.Response:
        with server.client() as client:
            client.get("/")  # connected before the barrier, so the posts really overlap
            start.wait(timeout=30)
            return client.post("/score", json=body, headers={"x-request-id": f"id-{body['n']}"})

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def batch_size_seen(responses: list[httpx.Response]) -> int:
    """The largest batch any of the successful responses was scored in."""
    return max(r.json()["size"] for r in responses if r.status_code == 200)


def test_concurrent_requests_share_one_call_and_each_gets_its_own_answer(
    server: RunningServer,
) -> None:
    responses = together(server, [{"n": n} for n in range(8)])
    for n, response in enumerate(responses):
        assert response.status_code == 200
        assert response.json()["n"] == n
        assert response.headers["x-request-id"] == f"id-{n}"
        assert response.headers["x-ms-run-function-failed"] == "False"
        assert EXEC_MS.match(response.headers["x-ms-run-fn-exec-ms"])
    # 8 requests released together within the 300 ms wait: fewer calls than requests.
    assert len({r.json()["call"] for r in responses}) < 8
    assert batch_size_seen(responses) > 1


def test_a_lone_request_is_answered_alone(server: RunningServer) -> None:
    with server.client() as client:
        response = client.post("/score", json={"n": 41})
    assert response.status_code == 200
    assert response.json()["n"] == 41
    assert response.json()["size"] == 1


def test_one_access_line_per_request(server: RunningServer) -> None:
    before = len(access_lines(server.output()))
    together(server, [{"n": n} for n in range(4)])
    wait_until(lambda: len(access_lines(server.output())) >= before + 4)
    assert len(access_lines(server.output())) == before + 4


def test_an_exception_in_the_list_fails_only_its_own_request(server: RunningServer) -> None:
    bodies = [{"n": n} for n in range(5)] + [{"n": 5, "kind": "item_error"}]
    responses = together(server, bodies)
    assert_json_error(responses[5], 500, RUN_FAILED_BODY)
    assert responses[5].headers["x-ms-run-function-failed"] == "True"
    for n in range(5):
        assert responses[n].status_code == 200
        assert responses[n].json()["n"] == n
    assert "ValueError: this one input is bad" in server.output()


def test_an_aml_response_in_the_list_is_that_request_s_answer(server: RunningServer) -> None:
    responses = together(server, [{"n": 1, "kind": "response"}, {"n": 2}])
    assert responses[0].status_code == 202
    assert responses[0].json() == {"custom": 1}
    assert responses[0].headers["x-custom"] == "1"
    assert responses[0].headers["x-request-id"] == "id-1"
    assert responses[1].json()["n"] == 2


@pytest.mark.parametrize(
    ("kind", "logged"),
    [
        ("raise", r"RuntimeError: the whole batch failed"),
        # 1 for 2 when the two share a call, as they do unless the machine stalls them apart.
        ("short", r"BatchResultError: .* returned (1 results for 2|0 results for 1) inputs"),
    ],
)
def test_a_failed_batch_fails_each_of_its_requests(
    server: RunningServer, kind: str, logged: str
) -> None:
    # Alone in their batch: a batch of exactly these two (the fixture's wait is 300 ms).
    responses = together(server, [{"n": 0, "kind": kind}, {"n": 1, "kind": kind}])
    for response in responses:
        assert_json_error(response, 500, RUN_FAILED_BODY)
        assert response.headers["x-ms-run-function-failed"] == "True"
    assert re.search(logged, server.output())
    with server.client() as client:
        assert client.post("/score", json={"n": 9}).json()["n"] == 9


def test_the_scoring_timeout_applies_to_the_batch_call(server: RunningServer) -> None:
    responses = together(server, [{"n": n, "kind": "sleep", "seconds": 4} for n in range(3)])
    for response in responses:
        assert_json_error(
            response, 500, f'{{"message": "Scoring timeout after {TIMEOUT_MS} ms"}}'.encode()
        )
    # The worker is free at once, although the batch still sleeps.
    with server.client() as client:
        response = client.post("/score", json={"n": 7}, timeout=1.5)
    assert response.json()["n"] == 7


def test_protocols_batch_too(server: RunningServer) -> None:
    def infer(rows: list[list[int]]) -> httpx.Response:
        body = {
            "inputs": [
                {
                    "name": "data",
                    "shape": [len(rows), 2],
                    "datatype": "INT64",
                    "data": [v for row in rows for v in row],
                }
            ]
        }
        with server.client() as client:
            return client.post("/v2/models/model/infer", json=body)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(infer, [[[n, 1], [n, 2]] for n in range(4)]))
    for n, response in enumerate(responses):
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == [n + 1, n + 2]
        assert "x-ms-run-fn-exec-ms" in response.headers


@pytest.mark.posix  # crash answers need descriptor passing
def test_a_worker_dying_in_a_batch_answers_every_request_of_it() -> None:
    with script_server("batch_outcomes.py") as running:
        responses = together(running, [{"n": n, "kind": "exit"} for n in range(3)])
        for response in responses:
            assert response.status_code == 500
            assert "ended unexpectedly" in response.json()["message"]
            assert response.headers["x-ms-run-function-failed"] == "True"
        wait_until(lambda: _healthy(running), timeout=30)


def _healthy(server: RunningServer) -> bool:
    try:
        return httpx.get(server.url + "/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.posix  # SIGTERM
def test_graceful_stop_answers_queued_batches() -> None:
    # One request per batch: while the first sleeps in run(), the other two wait their turn.
    with script_server("batch_outcomes.py", env={"SCORESERVER_MAX_BATCH_SIZE": "1"}) as running:
        answers: list[httpx.Response] = []
        sent = threading.Thread(
            target=lambda: answers.extend(
                together(running, [{"n": n, "kind": "sleep", "seconds": 1} for n in range(3)])
            )
        )
        sent.start()
        running.wait_for_output("batch of 1", timeout=10)
        running.process.send_signal(signal.SIGTERM)
        sent.join(timeout=30)
        assert running.process.wait(timeout=30) == 0
    assert [r.json()["n"] for r in answers] == [0, 1, 2]
    # Three calls, one after another: two of them began after SIGTERM, from the queue.
    assert len({r.json()["call"] for r in answers}) == 3


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("batch_schema.py", "schema"),
        ("batch_raw.py", "raw"),
    ],
)
def test_batched_run_composes_with_schema_and_rawhttp(name: str, check: str) -> None:
    with script_server(name) as running:
        checks: dict[str, Callable[[int], None]] = {
            "schema": lambda n: _schema_answer(running, n),
            "raw": lambda n: _raw_answer(running, n),
        }
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(checks[check], range(4)))


def _schema_answer(server: RunningServer, n: int) -> None:
    with server.client() as client:
        if n == 3:  # rejected by the schema: fails alone, as it would unbatched
            response = client.post("/score", json={"data": "not rows"})
            assert_json_error(response, 500, RUN_FAILED_BODY)
            return
        response = client.post("/score", json={"data": [[n, 1.0, 1.0]], "scale": n + 1})
    assert response.status_code == 200, response.text
    assert response.json()["sums"] == [(n + 2.0) * (n + 1)]
    assert response.json()["type"] == "ndarray"


def _raw_answer(server: RunningServer, n: int) -> None:
    with server.client() as client:
        response = client.get("/score", params={"n": n})
    assert response.status_code == 200
    assert response.text.startswith(f"GET {n} of ")


def test_async_batched_run_and_settings_override_the_script_s_numbers() -> None:
    env = {"SCORESERVER_MAX_BATCH_SIZE": "4", "SCORESERVER_MAX_BATCH_LATENCY_MS": "300"}
    with script_server("batch_async.py", env=env) as running:
        running.wait_for_output("up to 4 requests per call; a request waits at most 300 ms")
        responses = together(running, [{"n": n} for n in range(4)])
        sizes = [r.json()["size"] for r in responses]
        assert [r.json()["n"] for r in responses] == [0, 1, 2, 3]
        assert max(sizes) > 2  # the script's own limit of 2 was overridden
        with running.client() as client:
            alone = client.post("/score", json={"n": 5}, headers={"TraceId": "t-5"})
        assert json.loads(alone.text) == {"n": 5, "size": 1, "trace": "t-5"}


def test_scoreserver_check_calls_a_batched_run_with_lists() -> None:
    result, _took = run_cli(["check", "--entry_script", script("batch_schema.py")], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    schema sample: POST /score" in result.stdout

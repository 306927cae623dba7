"""CONTRACT "How run() is called", @input_schema: parameters by name from a JSON object or the query."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    RUN_FAILED_BODY,
    SERVER_VERSION,
    UUID4,
    assert_json_error,
    raw_exchange,
    script_server,
)
from tests.integration.server import RunningServer

JSON = {"content-type": "application/json"}
NOT_JSON_TYPE = b'{"message": "Expects Content-Type to be application/json"}'
EMPTY_BODY = b'{"message": "POST body is empty. Expecting a JSON dictionary."}'
NOT_A_DICT = b'{"message": "POST body should be a JSON dictionary."}'


def missing(name: str) -> bytes:
    """The 400 body for a required parameter the request does not give."""
    return json.dumps({"message": f"A value is not provided for the '{name}' parameter."}).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """http_schema.py: run(data: numpy array, scale=10.0)."""
    with script_server("http_schema.py") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's server."""
    with server.client() as http:
        yield http


def test_parameters_are_taken_by_name(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"data": [[1, 2, 3]], "scale": 3}', headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # "type" shows that inference-schema turned the list into a numpy array
    assert response.content == b'{"result": [[3.0, 6.0, 9.0]], "type": "ndarray", "scale": 3}'


def test_python_default_is_used_for_a_missing_optional_parameter(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"data": [[1, 2, 3]]}', headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"result": [[10.0, 20.0, 30.0]], "type": "ndarray", "scale": 10.0}


def test_extra_keys_are_ignored(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"data": [[1, 2, 3]], "zzz": 1}', headers=JSON)
    assert response.status_code == 200
    assert response.json()["scale"] == 10.0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
def test_json_content_types_are_accepted(client: httpx.Client, content_type: str) -> None:
    response = client.post(
        "/score", content=b'{"data": [[1, 2, 3]]}', headers={"content-type": content_type}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_other_content_types_are_a_415(server: RunningServer, content_type: str | None) -> None:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    response = raw_exchange(server.port, "POST", "/score", headers=headers, body=b'{"data": 1}')
    assert response.status == 415
    assert response.values("content-type") == [b"application/json"]
    assert response.body == NOT_JSON_TYPE
    assert response.values("x-ms-run-function-failed") == [b"False"]
    assert response.values("x-ms-server-version") == [SERVER_VERSION.encode()]
    assert UUID4.match(response.values("x-request-id")[0].decode())
    assert response.values("x-ms-run-fn-exec-ms") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", EMPTY_BODY),
        (
            b'{"data": [1,',
            b'{"message": "POST body could not be decoded as JSON: Expecting value: '
            b'line 1 column 13 (char 12)"}',
        ),
        (b"[1, 2]", NOT_A_DICT),
        (b'"x"', NOT_A_DICT),
        (b"null", NOT_A_DICT),
        (b"{}", missing("data")),
        (b'{"scale": 2}', missing("data")),
    ],
    ids=["empty", "malformed", "list", "string", "null", "no-data", "only-scale"],
)
def test_bad_bodies_are_a_400(client: httpx.Client, body: bytes, expected: bytes) -> None:
    response = client.post("/score", content=body, headers=JSON)
    assert_json_error(response, 400, expected)
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert "x-ms-run-fn-exec-ms" not in response.headers


def test_content_type_is_checked_before_the_body(client: httpx.Client) -> None:
    response = client.post("/score", content=b"", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_a_value_the_schema_rejects_is_a_run_failure(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"data": "abc"}', headers=JSON)
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_a_wrong_shape_is_a_run_failure(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"data": [[1, 2]]}', headers=JSON)
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_get_takes_parameters_from_the_query(client: httpx.Client) -> None:
    response = client.get("/score?data=[[1,2,3]]&scale=2")
    assert response.status_code == 200
    assert response.content == b'{"result": [[2.0, 4.0, 6.0]], "type": "ndarray", "scale": 2}'


def test_get_without_the_required_parameter_is_a_400(client: httpx.Client) -> None:
    response = client.get("/score")
    assert_json_error(response, 400, missing("data"))


def test_options_is_still_an_empty_200(client: httpx.Client) -> None:
    response = client.options("/score")
    assert response.status_code == 200
    assert response.content == b""


# --- standard parameters, no defaults, and request_headers --------------------------------------


@pytest.fixture(scope="module")
def std_server() -> Iterator[RunningServer]:
    """http_schema_std.py: run(text, count, request_headers)."""
    with script_server("http_schema_std.py") as running:
        yield running


def test_required_standard_parameters(std_server: RunningServer) -> None:
    response = httpx.post(
        std_server.url + "/score",
        content=b'{"text": "hi", "count": 2}',
        headers={**JSON, "x-agent": "tester"},
    )
    assert response.status_code == 200
    assert response.json() == {"texts": ["hi", "hi"], "agent": "tester"}


def test_missing_second_parameter_is_named(std_server: RunningServer) -> None:
    response = httpx.post(std_server.url + "/score", content=b'{"text": "hi"}', headers=JSON)
    assert_json_error(response, 400, missing("count"))


def test_request_headers_is_not_taken_from_the_body(std_server: RunningServer) -> None:
    response = httpx.post(
        std_server.url + "/score",
        content=b'{"text": "a", "count": 1, "request_headers": {"X-Agent": "forged"}}',
        headers={**JSON, "x-agent": "real"},
    )
    assert response.status_code == 200
    assert response.json() == {"texts": ["a"], "agent": "real"}


def test_wrong_type_for_a_standard_parameter_is_a_run_failure(std_server: RunningServer) -> None:
    response = httpx.post(
        std_server.url + "/score", content=b'{"text": "hi", "count": "2"}', headers=JSON
    )
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_get_with_standard_parameters(std_server: RunningServer) -> None:
    response = httpx.get(std_server.url + "/score?text=a&count=3")
    assert response.status_code == 200
    assert response.json() == {"texts": ["a", "a", "a"], "agent": None}

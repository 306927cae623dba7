"""CONTRACT "How run() is called": undecorated run(data), request_headers, driver modules, async."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    SERVER_VERSION,
    UUID4,
    raw_exchange,
    script,
    script_server,
)
from tests.integration.server import RunningServer, free_port, run_to_exit


@pytest.fixture(scope="module")
def echo() -> Iterator[RunningServer]:
    """echo.py: run(data) returns data, so the body shows exactly what run() received."""
    with script_server("echo.py") as running:
        yield running


@pytest.fixture
def client(echo: RunningServer) -> Iterator[httpx.Client]:
    """A client of the echo server."""
    with echo.client() as http:
        yield http


def received(response: httpx.Response) -> object:
    """What run() was given, read back from echo.py's JSON answer."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# --- GET: the query as a JSON string -----------------------------------------------------------


def test_get_without_query_gives_an_empty_json_object_string(client: httpx.Client) -> None:
    response = client.get("/score")
    assert received(response) == "{}"
    assert response.content == b'"{}"'


def test_get_query_values_are_parsed_as_json_and_repeats_become_lists(
    client: httpx.Client,
) -> None:
    response = client.get("/score?a=1&b=x&a=2")
    assert received(response) == '{"a": [1, 2], "b": "x"}'
    assert response.content == b'"{\\"a\\": [1, 2], \\"b\\": \\"x\\"}"'


def test_get_query_json_values_and_blanks(client: httpx.Client) -> None:
    response = client.get("/score?a=[1,2]&c=null&d=%7B%22k%22%3A1%7D&e=&f")
    assert received(response) == '{"a": [1, 2], "c": null, "d": {"k": 1}, "e": "", "f": ""}'


def test_get_query_keeps_first_appearance_order(client: httpx.Client) -> None:
    assert received(client.get("/score?z=1&a=2&z=3")) == '{"z": [1, 3], "a": 2}'


# --- POST: the body as UTF-8 text ---------------------------------------------------------------


def test_post_json_body_reaches_run_as_text(client: httpx.Client) -> None:
    body = b'{"data": [1, 2, 3]}'
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert received(response) == body.decode()
    assert response.content == b'"{\\"data\\": [1, 2, 3]}"'


def test_post_ignores_the_query_string(client: httpx.Client) -> None:
    assert received(client.post("/score?a=1", content=b"body")) == "body"


def test_post_plain_text(client: httpx.Client) -> None:
    response = client.post("/score", content=b"hello world", headers={"content-type": "text/plain"})
    assert received(response) == "hello world"


def test_post_utf8_text_reaches_run_decoded(client: httpx.Client) -> None:
    response = client.post("/score", content="héllo ✓".encode())
    assert received(response) == "héllo ✓"
    assert response.content == b'"h\\u00e9llo \\u2713"'


def test_post_form_body_reaches_run_unchanged(client: httpx.Client) -> None:
    """better: the reference hands run() an empty string here."""
    response = client.post(
        "/score",
        content=b"a=1&b=2",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert received(response) == "a=1&b=2"


@pytest.mark.parametrize("body", [b"", None])
def test_post_without_body_gives_an_empty_string(echo: RunningServer, body: bytes | None) -> None:
    response = raw_exchange(echo.port, "POST", "/score", body=body)
    assert response.status == 200
    assert response.body == b'""'


def test_post_chunked_body(echo: RunningServer) -> None:
    response = raw_exchange(
        echo.port,
        "POST",
        "/score",
        headers=[("Transfer-Encoding", "chunked")],
        body=b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
        content_length=False,
    )
    assert response.status == 200
    assert response.body == b'"hello"'


def test_post_invalid_utf8_is_a_400(client: httpx.Client) -> None:
    response = client.post("/score", content=b"\xff\xfe\x00abc")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.content == (
        b"{\"message\": \"Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff "
        b'in position 0: invalid start byte"}'
    )
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert "x-ms-run-fn-exec-ms" not in response.headers


# --- run(data, request_headers) --------------------------------------------------------------


@pytest.fixture(scope="module")
def headers_server() -> Iterator[RunningServer]:
    """http_headers.py: run(data, request_headers) returns both."""
    with script_server("http_headers.py") as running:
        yield running


def test_request_headers_are_a_title_case_dict(headers_server: RunningServer) -> None:
    response = raw_exchange(
        headers_server.port,
        "POST",
        "/score?q=1",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Custom-Header", "Val"),
            ("x-lower", "l"),
            ("x-ms-client-request-id", "cc"),
        ],
        body=b'{"a": 1}',
    )
    assert response.status == 200
    result = json.loads(response.body)
    assert result["data"] == '{"a": 1}'
    assert result["request_headers"] == {
        "Host": f"127.0.0.1:{headers_server.port}",
        "Content-Type": "application/json",
        "X-Custom-Header": "Val",
        "X-Lower": "l",
        "X-Ms-Client-Request-Id": "cc",
        "Connection": "close",
        "Content-Length": "8",
    }


def test_request_headers_on_get(headers_server: RunningServer) -> None:
    response = raw_exchange(headers_server.port, "GET", "/score?a=1")
    result = json.loads(response.body)
    assert result == {
        "data": '{"a": 1}',
        "request_headers": {"Host": f"127.0.0.1:{headers_server.port}", "Connection": "close"},
    }


def test_repeated_request_headers_are_joined_with_a_comma(headers_server: RunningServer) -> None:
    response = raw_exchange(
        headers_server.port,
        "POST",
        "/score",
        headers=[("X-Dup", "a"), ("X-Dup", "b")],
        body=b"{}",
    )
    assert json.loads(response.body)["request_headers"]["X-Dup"] == "a,b"


# --- driver modules ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver_server() -> Iterator[RunningServer]:
    """http_driver.py: exposes driver_module, whose run() is the one to call."""
    with script_server("http_driver.py") as running:
        yield running


@pytest.mark.parametrize(("method", "path"), [("POST", "/score"), ("GET", "/score?a=1")])
def test_driver_module_run_is_called_directly(
    driver_server: RunningServer, method: str, path: str
) -> None:
    response = httpx.request(method, driver_server.url + path, content=b'{"a": 1}')
    assert response.status_code == 200
    assert response.json() == {
        "called": "driver_module.run",
        "data": '{"a": 1}',
        "init": "done by the driver",  # the driver script's own init() ran
    }


# --- async def run() ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def async_server() -> Iterator[RunningServer]:
    """http_async.py: async def run(data)."""
    with script_server("http_async.py") as running:
        yield running


def test_async_run_is_awaited(async_server: RunningServer) -> None:
    response = httpx.post(async_server.url + "/score", content=b"payload")
    assert response.status_code == 200
    assert response.json() == {"async": True, "data": "payload"}
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_async_run_gets_the_query_on_get(async_server: RunningServer) -> None:
    response = httpx.get(async_server.url + "/score?x=1")
    assert response.status_code == 200
    assert response.json() == {"async": True, "data": '{"x": 1}'}


# --- run() signatures the server refuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("script_name", "message"),
    [
        ("http_run_no_args.py", "run() needs to accept an argument for input data."),
        (
            "http_run_only_headers.py",
            'run() needs to accept an argument other than "request_headers".',
        ),
        (
            "http_run_var_args.py",
            "run() cannot accept positional-only arguments, *args, or **kwargs.",
        ),
        (
            "http_run_var_kwargs.py",
            "run() cannot accept positional-only arguments, *args, or **kwargs.",
        ),
        (
            "http_run_positional_only.py",
            "run() cannot accept positional-only arguments, *args, or **kwargs.",
        ),
    ],
)
def test_unusable_run_signature_stops_the_server(script_name: str, message: str) -> None:
    result = run_to_exit(["--entry_script", script(script_name), "--port", str(free_port())])
    assert result.returncode != 0
    assert message in result.stdout + result.stderr

"""CONTRACT "How run() is called", @rawhttp: run(request) gets a Flask-compatible request object."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    ROUTER_405_BODY,
    RUN_FAILED_BODY,
    SERVER_VERSION,
    assert_bare,
    assert_json_error,
    raw_exchange,
    script,
    script_server,
)
from tests.integration.server import RunningServer, free_port, run_to_exit


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """http_raw.py: reports what the request object offers."""
    with script_server("http_raw.py") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's server."""
    with server.client() as http:
        yield http


def info(server: RunningServer, method: str, path: str, **kwargs: object) -> dict[str, object]:
    """The request as run() saw it (mode=info), sent byte for byte."""
    response = raw_exchange(server.port, method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status == 200, response
    assert response.values("content-type") == [b"application/json"]
    result: dict[str, object] = json.loads(response.body)
    return result


def test_post_request_attributes(server: RunningServer) -> None:
    seen = info(
        server,
        "POST",
        "/score?mode=info&x=1&x=2",
        headers=[("Content-Type", "text/plain; charset=utf-8"), ("X-Custom-Header", "Val")],
        body=b"hello",
    )
    base = f"http://127.0.0.1:{server.port}"
    assert seen == {
        "method": "POST",
        "path": "/score",
        "full_path": "/score?mode=info&x=1&x=2",
        "url": f"{base}/score?mode=info&x=1&x=2",
        "args": {"mode": ["info"], "x": ["1", "2"]},
        "headers": {
            "Host": f"127.0.0.1:{server.port}",
            "Connection": "close",
            "Content-Type": "text/plain; charset=utf-8",
            "X-Custom-Header": "Val",
            "Content-Length": "5",
        },
        "custom_lower": "Val",
        "custom_upper": "Val",
        "custom_in": True,
        "data": "hello",
        "get_data": "hello",
        "content_type": "text/plain; charset=utf-8",
        "mimetype": "text/plain",
    }


def test_get_request_attributes(server: RunningServer) -> None:
    seen = info(server, "GET", "/score?mode=info&x=1", headers=[("X-Custom-Header", "Val")])
    assert seen["method"] == "GET"
    assert seen["full_path"] == "/score?mode=info&x=1"
    assert seen["args"] == {"mode": ["info"], "x": ["1"]}
    # exactly the headers the client sent: nothing invented, such as a Content-Length
    assert seen["headers"] == {
        "Host": f"127.0.0.1:{server.port}",
        "Connection": "close",
        "X-Custom-Header": "Val",
    }
    assert seen["data"] == ""
    assert seen["get_data"] == ""
    assert seen["content_type"] is None
    assert seen["mimetype"] == ""


def test_options_reaches_run(server: RunningServer) -> None:
    seen = info(server, "OPTIONS", "/score?mode=info", headers=[("X-Custom-Header", "Val")])
    assert seen["method"] == "OPTIONS"


def test_head_reaches_run_and_sends_no_body(server: RunningServer) -> None:
    full = raw_exchange(server.port, "GET", "/score?mode=info", headers=[("X-Custom-Header", "V")])
    head = raw_exchange(server.port, "HEAD", "/score?mode=info", headers=[("X-Custom-Header", "V")])
    assert head.status == 200
    assert head.body == b""
    assert head.values("x-ms-run-function-failed") == [b"False"]
    # run() saw method HEAD, so its JSON (the would-be body) is one character shorter than GET's
    assert int(head.values("content-length")[0]) == len(full.body) + 1


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_do_not_reach_run(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/score?mode=info")
    assert_json_error(response, 405, ROUTER_405_BODY)
    assert_bare(response)


def test_get_json_and_json(client: httpx.Client) -> None:
    response = client.post(
        "/score?mode=json", content=b'{"a": [1, 2]}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"get_json": {"a": [1, 2]}, "json": {"a": [1, 2]}}


def test_form_is_parsed_and_raw_body_still_readable(client: httpx.Client) -> None:
    response = client.post(
        "/score?mode=form",
        content=b"a=1&b=2&a=3",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json() == {"form": {"a": ["1", "3"], "b": ["2"]}, "get_data": "a=1&b=2&a=3"}


def test_files(client: httpx.Client) -> None:
    response = client.post(
        "/score?mode=files",
        data={"field": "fv"},
        files={"upload": ("u.txt", b"file body", "text/plain")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "u.txt",
        "content": "file body",
        "file_content_type": "text/plain",
        "form": {"field": ["fv"]},
        "mimetype": "multipart/form-data",
    }


def test_stream(client: httpx.Client) -> None:
    response = client.post(
        "/score?mode=stream",
        content=b"streamed bytes",
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert response.json() == {"stream": "streamed bytes"}


def test_invalid_utf8_reaches_run(client: httpx.Client) -> None:
    response = client.post("/score?mode=text", content=b"ok \xff")
    assert response.status_code == 200
    assert response.json() == {"text": "ok \ufffd"}


def test_aml_response_from_a_raw_run(client: httpx.Client) -> None:
    response = client.post("/score?mode=response")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"created": true}'
    assert response.headers["x-raw"] == "yes"
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION


def test_raw_run_raising_is_a_500(client: httpx.Client) -> None:
    response = client.post("/score?mode=raise")
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_rawhttp_with_input_schema_does_not_start() -> None:
    result = run_to_exit(
        ["--entry_script", script("http_raw_schema.py"), "--port", str(free_port())]
    )
    assert result.returncode != 0
    assert "run() cannot be decorated with both @rawhttp and @input_schema" in (
        result.stdout + result.stderr
    )


@pytest.fixture(scope="module")
def contrib_server() -> Iterator[RunningServer]:
    """http_contrib.py: imports rawhttp, AMLRequest and AMLResponse from azureml.contrib.services."""
    with script_server("http_contrib.py") as running:
        yield running


def test_azureml_contrib_services_imports_work(contrib_server: RunningServer) -> None:
    response = httpx.post(contrib_server.url + "/score", content=b"old style")
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"method": "POST", "data": "old style"}
    assert response.headers["x-contrib"] == "AMLRequest"

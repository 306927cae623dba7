"""Turning a request into run()'s arguments, for each input mode, on real request objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import Headers
from werkzeug.exceptions import BadRequest

from scoreserver.errors import BadRequestError, UnsupportedMediaTypeError
from scoreserver.http.request_ids import RequestIds
from scoreserver.script.aml_request import AMLRequest
from scoreserver.script.entry_script import EntryScript, load_entry_script
from scoreserver.script.inputs import (
    IncomingRequest,
    RunArguments,
    argument_builder,
    decode_text,
    headers_as_dict,
    is_json_content_type,
    query_as_dict,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


pytestmark = pytest.mark.usefixtures("fresh_schema_registry")


def make_request(
    method: str = "POST",
    body: bytes = b"",
    query: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    path: str = "/score",
) -> IncomingRequest:
    """A request as the routes see it: an ASGI scope, the body read, starlette Headers, ids.

    As an HTTP client would, it sends Content-Length with a body unless the headers say chunked.
    """
    names = {k.lower() for k, _ in headers}
    if body and not names & {"content-length", "transfer-encoding"}:
        headers = [*headers, ("Content-Length", str(len(body)))]
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "server": ("127.0.0.1", 5001),
        "client": ("127.0.0.1", 40000),
    }
    headers_ = Headers(scope=scope)
    return IncomingRequest(scope, method, body, headers_, RequestIds.from_headers(headers_))


def arguments(script: str, request: IncomingRequest) -> RunArguments:
    return argument_builder(load_script(script))(request)


def load_script(name: str) -> EntryScript:
    return load_entry_script(SCRIPTS / name)


JSON = [("Content-Type", "application/json")]


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {}),
        (b"a=1&b=x&a=2", {"a": [1, 2], "b": "x"}),
        (
            b"a=[1,2]&c=null&d=%7B%22k%22%3A1%7D&e=&f",
            {"a": [1, 2], "c": None, "d": {"k": 1}, "e": "", "f": ""},
        ),
        (b"t=true&n=1.5&s=hello%20world", {"t": True, "n": 1.5, "s": "hello world"}),
    ],
)
def test_query_values_are_parsed_as_json_when_they_can_be(
    query: bytes, expected: dict[str, Any]
) -> None:
    assert query_as_dict(query) == expected


def test_query_keys_keep_the_order_they_first_appear_in() -> None:
    assert list(query_as_dict(b"z=1&a=2&z=3&m=4")) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_json_content_types(content_type: str | None, expected: bool) -> None:
    assert is_json_content_type(content_type) is expected


def test_text_is_decoded_as_utf8() -> None:
    assert decode_text("héllo ✓".encode()) == "héllo ✓"


def test_invalid_utf8_is_the_clients_mistake_with_pythons_reason() -> None:
    with pytest.raises(BadRequestError) as caught:
        decode_text(b"\xff\xfe\x00abc")
    assert caught.value.status_code == 400
    assert caught.value.message == (
        "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: "
        "invalid start byte"
    )


# ---------------------------------------------------------------------------------------------
# run(data)


def test_plain_post_passes_the_body_as_text() -> None:
    got = arguments("echo.py", make_request(body=b'{"data": [1, 2, 3]}', headers=JSON))
    assert got.args == ('{"data": [1, 2, 3]}',)
    assert got.kwargs == {}


def test_plain_post_ignores_the_query() -> None:
    got = arguments("echo.py", make_request(body=b"hello", query=b"a=1"))
    assert got.args == ("hello",)


def test_plain_post_of_a_form_reaches_run_unchanged() -> None:
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    got = arguments("echo.py", make_request(body=b"a=1&b=2", headers=form))
    assert got.args == ("a=1&b=2",)


def test_plain_post_without_body_passes_an_empty_string() -> None:
    assert arguments("echo.py", make_request(body=b"")).args == ("",)


def test_plain_get_passes_the_query_as_a_json_string() -> None:
    got = arguments("echo.py", make_request("GET", query=b"a=1&b=x&a=2"))
    assert got.args == ('{"a": [1, 2], "b": "x"}',)


def test_plain_get_without_query_passes_an_empty_json_object() -> None:
    assert arguments("echo.py", make_request("GET")).args == ("{}",)


def test_plain_post_with_invalid_utf8_is_a_400() -> None:
    with pytest.raises(BadRequestError):
        arguments("echo.py", make_request(body=b"\xff\xfe\x00abc"))


# ---------------------------------------------------------------------------------------------
# @input_schema run(text, count=2, request_headers=None)


def test_schema_post_takes_each_parameter_by_name_and_ignores_other_keys() -> None:
    body = json.dumps({"text": "hi", "count": 3, "zzz": 1}).encode()
    got = arguments("cli_schema.py", make_request(body=body, headers=JSON))
    assert got.args == ()
    assert got.kwargs["text"] == "hi"
    assert got.kwargs["count"] == 3
    assert "zzz" not in got.kwargs


def test_schema_post_missing_optional_parameter_gets_the_python_default() -> None:
    # The reference calls run() with the parameter's default (count=2) when the body omits it.
    script = load_script("cli_schema.py")
    got = argument_builder(script)(make_request(body=b'{"text": "hi"}', headers=JSON))
    assert script.run(*got.args, **got.kwargs) == ["hi", "hi"]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
def test_schema_post_accepts_json_content_types(content_type: str) -> None:
    request = make_request(body=b'{"text": "hi"}', headers=[("Content-Type", content_type)])
    assert arguments("cli_schema.py", request).kwargs["text"] == "hi"


@pytest.mark.parametrize("headers", [[("Content-Type", "text/plain")], []])
def test_schema_post_without_json_content_type_is_a_415(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        arguments("cli_schema.py", make_request(body=b'{"text": "hi"}', headers=headers))
    assert caught.value.status_code == 415
    assert caught.value.message == "Expects Content-Type to be application/json"


def test_schema_content_type_is_checked_before_the_body() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        arguments("cli_schema.py", make_request(body=b"", headers=[("Content-Type", "text/plain")]))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "POST body is empty. Expecting a JSON dictionary."),
        (
            b'{"data": [1,',
            "POST body could not be decoded as JSON: Expecting value: line 1 column 13 (char 12)",
        ),
        (
            b"\xff\xfe",
            "POST body could not be decoded as JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (b"[1, 2]", "POST body should be a JSON dictionary."),
        (b'"x"', "POST body should be a JSON dictionary."),
        (b"null", "POST body should be a JSON dictionary."),
        (b"{}", "A value is not provided for the 'text' parameter."),
    ],
)
def test_schema_post_bad_bodies_are_400s_with_the_reference_messages(
    body: bytes, message: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        arguments("cli_schema.py", make_request(body=body, headers=JSON))
    assert caught.value.status_code == 400
    assert caught.value.message == message


def test_schema_get_takes_parameters_from_the_query() -> None:
    got = arguments("cli_schema.py", make_request("GET", query=b"text=a&count=3"))
    assert got.kwargs["text"] == "a"
    assert got.kwargs["count"] == 3


def test_schema_get_without_a_required_parameter_is_a_400() -> None:
    with pytest.raises(BadRequestError) as caught:
        arguments("cli_schema.py", make_request("GET"))
    assert caught.value.message == "A value is not provided for the 'text' parameter."


# ---------------------------------------------------------------------------------------------
# request_headers


def test_request_headers_are_passed_with_title_case_names() -> None:
    request = make_request(
        body=b"x",
        headers=[("content-type", "text/plain"), ("x-lower", "l"), ("X-Custom-Header", "Val")],
    )
    got = arguments("cli_headers.py", request)
    assert got.args == ("x",)
    assert got.kwargs == {
        "request_headers": {
            "Content-Type": "text/plain",
            "X-Lower": "l",
            "X-Custom-Header": "Val",
            "Content-Length": "1",
        }
    }


def test_schema_script_gets_request_headers_too() -> None:
    request = make_request(body=b'{"text": "hi"}', headers=[*JSON, ("x-a", "1")])
    got = arguments("cli_schema.py", request)
    assert got.kwargs["request_headers"] == {
        "Content-Type": "application/json",
        "X-A": "1",
        "Content-Length": "14",
    }


def test_repeated_request_headers_are_joined_with_a_comma() -> None:
    # The reference hands run() {"X-Dup": "a,b"} for two X-Dup lines.
    headers = make_request(headers=[("X-Dup", "a"), ("X-Dup", "b")]).headers
    assert headers_as_dict(headers) == {"X-Dup": "a,b"}


def test_scripts_without_request_headers_do_not_get_them() -> None:
    got = arguments("echo.py", make_request(body=b"x", headers=[("x-a", "1")]))
    assert got.kwargs == {}


# ---------------------------------------------------------------------------------------------
# @rawhttp run(request)


def _raw_request(**kwargs: Any) -> AMLRequest:
    got = arguments("cli_raw.py", make_request(**kwargs))
    assert got.kwargs == {}
    (request,) = got.args
    assert isinstance(request, AMLRequest)
    return request


def test_raw_request_exposes_the_flask_request_api() -> None:
    request = _raw_request(
        body=b'{"a": 1}',
        query=b"mode=info&x=1&x=2",
        headers=[("Host", "127.0.0.1:5351"), ("Content-Type", "application/json"), ("X-Y", "z")],
    )
    assert request.method == "POST"
    assert request.path == "/score"
    assert request.full_path == "/score?mode=info&x=1&x=2"
    assert request.url == "http://127.0.0.1:5351/score?mode=info&x=1&x=2"
    assert request.args.getlist("x") == ["1", "2"]
    assert request.args["mode"] == "info"
    assert request.headers["x-y"] == "z"
    assert request.headers["X-Y"] == "z"
    assert request.content_type == "application/json"
    assert request.mimetype == "application/json"
    assert request.get_data() == b'{"a": 1}'
    assert request.data == b'{"a": 1}'
    assert request.get_json() == {"a": 1}
    assert request.json == {"a": 1}


def test_get_json_of_a_body_that_is_not_json_is_flasks_plain_400() -> None:
    request = _raw_request(body=b"{bad", headers=[("Content-Type", "application/json")])
    with pytest.raises(BadRequest) as refused:
        request.get_json()
    # Flask's words, as a script on the reference sees them: not the parser's.
    assert refused.value.description == BadRequest.description
    assert request.get_json(silent=True) is None


def test_raw_request_body_can_be_streamed() -> None:
    request = _raw_request(body=b"streamed bytes", headers=[("Content-Type", "text/plain")])
    assert request.stream.read() == b"streamed bytes"


def test_raw_request_parses_forms_and_keeps_the_raw_body() -> None:
    request = _raw_request(
        body=b"a=1&b=2", headers=[("Content-Type", "application/x-www-form-urlencoded")]
    )
    # As in Flask: get_data() caches the body, so form parsing still finds it afterwards.
    assert request.get_data() == b"a=1&b=2"
    assert request.form.to_dict(flat=False) == {"a": ["1"], "b": ["2"]}


def test_raw_request_parses_uploaded_files() -> None:
    body = (
        b"--XX\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="f.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"file content\r\n"
        b"--XX--\r\n"
    )
    request = _raw_request(
        body=body, headers=[("Content-Type", "multipart/form-data; boundary=XX")]
    )
    assert request.files["upload"].filename == "f.txt"
    assert request.files["upload"].read() == b"file content"


def test_raw_request_reads_a_chunked_body() -> None:
    # Transfer-Encoding: chunked has no Content-Length; the reference still hands run() the body.
    request = _raw_request(
        body=b"hello chunked",
        headers=[("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
    )
    assert request.get_data() == b"hello chunked"


def test_raw_get_request_has_no_body() -> None:
    request = _raw_request(method="GET", query=b"q=1", headers=[("Host", "h")])
    assert request.method == "GET"
    assert request.args["q"] == "1"
    assert request.get_data() == b""


def test_raw_request_keeps_non_ascii_header_bytes() -> None:
    request = _raw_request(headers=[("X-Name", "h\xc3\xa9llo")])
    assert request.headers["X-Name"].encode("latin-1") == "héllo".encode()

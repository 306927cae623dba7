"""Turning run()'s result into a response: json.dumps formatting, AMLResponse, werkzeug, streams."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from starlette.responses import Response, StreamingResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from scoreserver.errors import ResponseEncodingError
from scoreserver.script.aml_response import AMLResponse
from scoreserver.script.outputs import encode_json, error_response, to_response


def header_list(response: Response, name: str) -> list[str]:
    """Every value of one header, in order."""
    wanted = name.lower().encode("latin-1")
    return [v.decode("latin-1") for k, v in response.raw_headers if k == wanted]


def streamed_chunks(response: Response) -> list[bytes]:
    """The chunks a streaming response sends, in order."""
    assert isinstance(response, StreamingResponse)

    async def collect() -> list[bytes]:
        chunks = []
        async for chunk in response.body_iterator:
            chunks.append(chunk if isinstance(chunk, bytes) else chunk.encode())
        return chunks

    return asyncio.run(collect())


# ---------------------------------------------------------------------------------------------
# encode_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"{}"),
        ({"a": 1, "b": [1, 2]}, b'{"a": 1, "b": [1, 2]}'),
        (
            {"msg": "héllo ✓ 😀", "n": [1, 2.5, None, True], "nested": {"a": "b"}},
            b'{"msg": "h\\u00e9llo \\u2713 \\ud83d\\ude00", "n": [1, 2.5, null, true], '
            b'"nested": {"a": "b"}}',
        ),
        ("just a string", b'"just a string"'),
        ([1, "two", 3.0], b'[1, "two", 3.0]'),
        (42, b"42"),
        (1.5, b"1.5"),
        (True, b"true"),
        (math.nan, b"NaN"),
        (("x", 201), b'["x", 201]'),
    ],
)
def test_results_are_encoded_as_json_dumps_does(value: object, expected: bytes) -> None:
    assert encode_json(value) == expected


@pytest.mark.parametrize("value", [object(), b"abc", {1j: 2}, {"s": {1, 2}}])
def test_unencodable_results_are_a_response_encoding_error(value: object) -> None:
    with pytest.raises(ResponseEncodingError) as caught:
        encode_json(value)
    assert caught.value.status_code == 500
    assert caught.value.message == (
        "An unexpected internal error occurred. Check the logs for more info."
    )


def test_numpy_values_are_encoded() -> None:
    value = {
        "array": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "int": np.int64(3),
        "float": np.float32(0.5),
        "bool": np.bool_(True),
    }
    assert encode_json(value) == (
        b'{"array": [[1.0, 2.0], [3.0, 4.0]], "int": 3, "float": 0.5, "bool": true}'
    )


def test_pandas_values_are_encoded() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    series = pd.Series([1.5, 2.5])
    assert encode_json({"frame": frame, "series": series}) == (
        b'{"frame": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "series": [1.5, 2.5]}'
    )


# ---------------------------------------------------------------------------------------------
# to_response: plain values


def test_plain_result_is_an_application_json_200() -> None:
    response = to_response({"a": 1})
    assert response.status_code == 200
    assert response.body == b'{"a": 1}'
    assert header_list(response, "content-type") == ["application/json"]
    assert header_list(response, "content-length") == ["8"]


def test_none_result_is_an_empty_json_object() -> None:
    assert to_response(None).body == b"{}"


def test_unencodable_result_raises_for_the_route_to_answer() -> None:
    with pytest.raises(ResponseEncodingError):
        to_response(object())


def test_error_response_is_json_with_a_message() -> None:
    response = error_response(404, "nope", {"x-ms-run-function-failed": "False"})
    assert response.status_code == 404
    assert response.body == b'{"message": "nope"}'
    assert header_list(response, "content-type") == ["application/json"]
    assert header_list(response, "x-ms-run-function-failed") == ["False"]


# ---------------------------------------------------------------------------------------------
# AMLResponse and werkzeug responses


def test_aml_response_json_str_encodes_the_message() -> None:
    response = to_response(AMLResponse({"a": 1, "u": "é"}, 201, json_str=True))
    assert response.status_code == 201
    assert response.body == b'{"a": 1, "u": "\\u00e9"}'
    assert header_list(response, "content-type") == ["application/json"]


def test_aml_response_json_str_with_a_string() -> None:
    assert to_response(AMLResponse("a string", 200, json_str=True)).body == b'"a string"'


def test_aml_response_text_is_utf8_html_by_default() -> None:
    response = to_response(AMLResponse("plain text é", 200))
    assert response.body == "plain text é".encode()
    assert header_list(response, "content-type") == ["text/html; charset=utf-8"]
    assert header_list(response, "content-length") == ["13"]


def test_aml_response_bytes_with_their_own_content_type() -> None:
    message = AMLResponse(b"\x00\x01\xff", 200, {"Content-Type": "application/octet-stream"})
    response = to_response(message)
    assert response.body == b"\x00\x01\xff"
    assert header_list(response, "content-type") == ["application/octet-stream"]


def test_aml_response_none_is_an_empty_json_object() -> None:
    response = to_response(AMLResponse(None, 200))
    assert response.body == b"{}"
    assert header_list(response, "content-type") == ["application/json"]


def test_aml_response_status_codes_pass_through() -> None:
    assert to_response(AMLResponse("teapot", 418)).status_code == 418
    assert to_response(AMLResponse("fail", 503)).status_code == 503


def test_aml_response_header_values_are_split_on_commas() -> None:
    message = AMLResponse(
        "x", 200, {"X-Multi": "a, b,c", "Content-Type": "text/plain", "X-Single": "one"}
    )
    response = to_response(message)
    assert header_list(response, "x-multi") == ["a", "b", "c"]
    assert header_list(response, "x-single") == ["one"]
    assert header_list(response, "content-type") == ["text/plain"]


def test_aml_response_generator_is_streamed_chunk_by_chunk() -> None:
    produced: list[str] = []

    def chunks() -> Iterator[str]:
        for i in range(3):
            produced.append(f"chunk{i}")
            yield f"chunk{i}\n"

    response = to_response(AMLResponse(chunks(), 200))
    assert isinstance(response, StreamingResponse)
    # Nothing is produced before the response is sent.
    assert produced == []
    assert header_list(response, "content-length") == []
    assert streamed_chunks(response) == [b"chunk0\n", b"chunk1\n", b"chunk2\n"]


def test_werkzeug_response_passes_through() -> None:
    response = to_response(WerkzeugResponse("flask body", status=202, headers={"X-F": "1"}))
    assert response.status_code == 202
    assert response.body == b"flask body"
    assert header_list(response, "x-f") == ["1"]
    assert header_list(response, "content-type") == ["text/plain; charset=utf-8"]


def test_werkzeug_response_with_a_generator_is_streamed() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"f0\n"
        yield b"f1\n"

    response = to_response(WerkzeugResponse(chunks(), mimetype="text/plain"))
    assert streamed_chunks(response) == [b"f0\n", b"f1\n"]

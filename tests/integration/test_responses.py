"""CONTRACT "Responses": JSON results, numpy/pandas, AMLResponse, werkzeug responses, streaming."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    EXEC_MS,
    INTERNAL_ERROR_BODY,
    RUN_FAILED_BODY,
    SERVER_VERSION,
    UUID4,
    assert_json_error,
    raw_exchange,
    script_server,
)
from tests.integration.server import RunningServer


@pytest.fixture(scope="module")
def outcomes() -> Iterator[RunningServer]:
    """http_outcomes.py: the request's "kind" picks what run() returns."""
    with script_server("http_outcomes.py") as running:
        yield running


def score(server: RunningServer, kind: str) -> httpx.Response:
    """POST /score asking the outcomes script for one kind of result."""
    return httpx.post(
        server.url + "/score",
        content=f'{{"kind": "{kind}"}}'.encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )


# --- plain results ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("none", b"{}"),
        (
            "unicode",
            b'{"msg": "h\\u00e9llo \\u2713 \\ud83d\\ude00", "n": [1, 2.5, null, true], '
            b'"nested": {"a": "b"}}',
        ),
        ("str", b'"just a string"'),
        ("list", b'[1, "two", 3.0]'),
        ("int", b"42"),
        ("float", b"1.5"),
        ("bool", b"true"),
        ("nan", b"NaN"),
    ],
)
def test_plain_results_are_json_dumps_output(
    outcomes: RunningServer, kind: str, body: bytes
) -> None:
    response = score(outcomes, kind)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))


def test_successful_score_headers(outcomes: RunningServer) -> None:
    response = score(outcomes, "int")
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert EXEC_MS.match(response.headers["x-ms-run-fn-exec-ms"])
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert response.headers["x-ms-request-id"] == response.headers["x-request-id"]
    assert "x-ms-client-request-id" not in response.headers


def test_exec_time_measures_run(outcomes: RunningServer) -> None:
    response = httpx.post(outcomes.url + "/score", json={"kind": "sleep", "seconds": 0.2})
    assert response.status_code == 200
    assert 200 <= float(response.headers["x-ms-run-fn-exec-ms"]) < 1500


@pytest.mark.parametrize("kind", ["object", "bytes"])
def test_result_that_cannot_be_encoded_is_an_internal_error(
    outcomes: RunningServer, kind: str
) -> None:
    response = score(outcomes, kind)
    assert_json_error(response, 500, INTERNAL_ERROR_BODY)
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert "x-ms-run-fn-exec-ms" not in response.headers
    assert response.headers["x-ms-server-version"] == SERVER_VERSION


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("numpy_array", b"[[1, 2], [3, 4]]"),
        ("numpy_scalars", b'{"i": 7, "f": 0.5, "b": true}'),
        ("dataframe", b'[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]'),
        ("series", b"[1.5, 2.5]"),
    ],
)
def test_numpy_and_pandas_results_are_encoded(
    outcomes: RunningServer, kind: str, body: bytes
) -> None:
    """better: the reference answers these with a 500."""
    response = score(outcomes, kind)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == body


# --- AMLResponse and werkzeug responses --------------------------------------------------------


@pytest.fixture(scope="module")
def responses() -> Iterator[RunningServer]:
    """http_responses.py: the POST body names the response run() returns."""
    with script_server("http_responses.py") as running:
        yield running


def answer(server: RunningServer, case: str) -> httpx.Response:
    """POST /score naming one of http_responses.py's cases."""
    return httpx.post(server.url + "/score", content=case.encode(), timeout=30)


def test_aml_response_json_str(responses: RunningServer) -> None:
    response = answer(responses, "json_true")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"a": 1, "u": "\\u00e9"}'
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert EXEC_MS.match(response.headers["x-ms-run-fn-exec-ms"])
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])


def test_aml_response_json_str_of_a_string(responses: RunningServer) -> None:
    response = answer(responses, "json_true_str")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'"a string"'


def test_aml_response_text(responses: RunningServer) -> None:
    response = answer(responses, "text")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == "plain text é".encode()
    assert response.headers["content-length"] == "13"


def test_aml_response_bytes_with_its_content_type(responses: RunningServer) -> None:
    response = raw_exchange(responses.port, "POST", "/score", body=b"bytes")
    assert response.status == 200
    assert response.body == b"\x00\x01\xff"
    assert response.values("content-type") == [b"application/octet-stream"]
    assert response.values("content-length") == [b"3"]


def test_aml_response_none_is_an_empty_json_object(responses: RunningServer) -> None:
    response = answer(responses, "none")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b"{}"


def test_aml_response_204_has_no_body(responses: RunningServer) -> None:
    response = raw_exchange(responses.port, "POST", "/score", body=b"none204")
    assert response.status == 204
    assert response.body == b""
    assert response.values("content-length") in ([], [b"0"])
    assert response.values("x-ms-run-function-failed") == [b"False"]


def test_aml_response_header_values_are_split_on_commas(responses: RunningServer) -> None:
    response = raw_exchange(responses.port, "POST", "/score", body=b"headers")
    assert response.status == 200
    assert response.body == b"x"
    assert response.values("x-multi") == [b"a", b"b", b"c"]
    assert response.values("x-single") == [b"one"]
    assert response.values("content-type") == [b"text/plain"]


def test_aml_response_header_values_that_are_not_text_fail_in_run_as_on_the_reference(
    responses: RunningServer,
) -> None:
    # The reference's AMLResponse cannot split them: run() fails there, so it fails here, and a
    # script that passes a local check does not break in Azure ML.
    response = answer(responses, "int_header")
    assert_json_error(response, 500, RUN_FAILED_BODY)
    assert response.headers["x-ms-run-function-failed"] == "True"


@pytest.mark.parametrize("case", ["s500", "s503_header"])
def test_aml_response_5xx_marks_the_run_as_failed(responses: RunningServer, case: str) -> None:
    response = raw_exchange(responses.port, "POST", "/score", body=case.encode())
    assert response.status == (500 if case == "s500" else 503)
    assert response.body == b"fail"
    assert response.values("content-type") == [b"text/html; charset=utf-8"]
    # exactly one x-ms-run-function-failed, True, whatever run() put in its headers
    assert response.values("x-ms-run-function-failed") == [b"True"]


def test_aml_response_other_status_codes(responses: RunningServer) -> None:
    teapot = answer(responses, "s418")
    assert teapot.status_code == 418
    assert teapot.content == b"teapot"
    assert teapot.headers["x-ms-run-function-failed"] == "False"

    not_found = answer(responses, "s404_json")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"] == "application/json"
    assert not_found.content == b'{"message": "custom"}'
    assert not_found.headers["x-ms-run-function-failed"] == "False"


def test_aml_response_of_a_list_has_its_length(responses: RunningServer) -> None:
    response = answer(responses, "list_body")
    assert response.content == b"ab"
    assert response.headers["content-length"] == "2"
    assert "transfer-encoding" not in response.headers


@pytest.mark.parametrize("case", ["s999", "s0", "int_body"])
def test_aml_response_http_cannot_carry_is_a_json_500_not_a_cut_connection(
    responses: RunningServer, case: str
) -> None:
    # A status uvicorn has no status line for, or a body that is no iterable, used to end the
    # connection without an answer (or halfway through one).
    response = answer(responses, case)
    assert response.status_code == 500
    assert response.content == INTERNAL_ERROR_BODY
    assert answer(responses, "text").status_code == 200


def test_werkzeug_response_is_passed_through(responses: RunningServer) -> None:
    response = answer(responses, "werkzeug")
    assert response.status_code == 202
    assert response.content == b"werkzeug body"
    assert response.headers["x-f"] == "1"
    assert response.headers["content-type"].startswith("text/plain")
    assert EXEC_MS.match(response.headers["x-ms-run-fn-exec-ms"])
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])


def test_werkzeug_500_marks_the_run_as_failed(responses: RunningServer) -> None:
    response = answer(responses, "werkzeug500")
    assert response.status_code == 500
    assert response.content == b"werkzeug fail"
    assert response.headers["x-ms-run-function-failed"] == "True"


@pytest.mark.parametrize(
    ("case", "chunks", "content_type"),
    [
        ("generator", [b"chunk0\n", b"chunk1\n", b"chunk2\n"], "text/html; charset=utf-8"),
        ("werkzeug_generator", [b"w0\n", b"w1\n", b"w2\n"], "text/plain; charset=utf-8"),
    ],
)
def test_generator_is_streamed_as_produced(
    responses: RunningServer, case: str, chunks: list[bytes], content_type: str
) -> None:
    # run()'s generator yields a chunk, then sleeps 0.4 s, three times.
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", responses.url + "/score", content=case.encode()) as response,
    ):
        headers_at = time.monotonic() - started
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.headers["x-ms-run-function-failed"] == "False"
        arrivals.extend((time.monotonic() - started, piece) for piece in response.iter_raw())
    assert b"".join(piece for _, piece in arrivals) == b"".join(chunks)
    # The headers and the first chunk come as soon as it is yielded, the last one only after the
    # sleeps (0.8 s later): measured between arrivals, so that a slow machine's start-up latency
    # does not count, while a buffered response (everything at the end) still fails.
    first_chunk_at = next(t for t, piece in arrivals if piece)
    assert arrivals[-1][0] - first_chunk_at >= 0.7, (headers_at, arrivals)
    assert len([piece for _, piece in arrivals if piece]) >= 2, arrivals

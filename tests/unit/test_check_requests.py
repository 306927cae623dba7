"""check_requests: the request-file format, the schema sample, and the output type check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scoreserver.check_requests import (
    NOTHING,
    load_request_file,
    sample_request,
    type_mismatch,
)
from scoreserver.errors import ConfigurationError

OUTPUT = {"type": "array", "items": {"type": "string"}}


def _file(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(content))
    return path


def test_defaults_are_a_post_to_score_expecting_200(tmp_path: Path) -> None:
    (request,) = load_request_file(_file(tmp_path, {}), OUTPUT)
    assert (request.method, request.path, request.body) == ("POST", "/score", b"")
    assert (request.expect_status, request.expect_body) == (200, NOTHING)
    assert request.output_schema == OUTPUT


def test_a_json_body_is_sent_as_json_and_a_string_as_is(tmp_path: Path) -> None:
    path = _file(tmp_path, [{"body": {"a": 1}}, {"body": "a=1", "headers": {"X": "y"}}])
    as_json, as_text = load_request_file(path, None)
    assert as_json.body == b'{"a": 1}'
    assert as_json.headers == {"Content-Type": "application/json"}
    assert (as_text.body, as_text.headers) == (b"a=1", {"X": "y"})
    assert as_text.name == f"{path} (request 2)"


def test_a_declared_content_type_is_kept(tmp_path: Path) -> None:
    path = _file(tmp_path, {"body": [1], "headers": {"content-type": "application/x+json"}})
    (request,) = load_request_file(path, None)
    assert request.headers == {"content-type": "application/x+json"}


def test_only_score_requests_are_held_to_the_output_schema(tmp_path: Path) -> None:
    path = _file(tmp_path, [{"method": "get", "path": "/swagger.json?version=3"}])
    (request,) = load_request_file(path, OUTPUT)
    assert (request.method, request.output_schema) == ("GET", None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"bdy": 1}, "unknown key(s) bdy"),
        ({"expect": {"code": 1}}, "unknown key(s) expect.code"),
        ({"expect": {"status": "200"}}, "'expect.status' must be a number"),
        ({"headers": {"A": 1}}, "'headers' must map names to strings"),
        ({"path": "score"}, "'path' start with '/'"),
        ([1], "a request must be a JSON object"),
    ],
)
def test_a_file_off_the_format_is_a_configuration_error(
    tmp_path: Path, content: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_request_file(_file(tmp_path, content), None)


def test_a_file_that_is_not_json_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ConfigurationError, match=r"broken\.json is not valid JSON"):
        load_request_file(path, None)


def test_the_sample_is_the_schema_example() -> None:
    schema = {"type": "object", "example": {"text": "hello", "count": 1}}
    request = sample_request(schema, OUTPUT)
    assert json.loads(request.body) == {"text": "hello", "count": 1}
    assert request.headers == {"Content-Type": "application/json"}


def test_without_a_whole_example_the_properties_examples_make_the_sample() -> None:
    schema = {"properties": {"a": {"example": [1]}, "b": {"type": "string"}}}
    assert json.loads(sample_request(schema, None).body) == {"a": [1]}


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        (["a"], OUTPUT, None),
        ({"a": 1}, OUTPUT, "the result is object, the output schema says array"),
        (["a", 2], OUTPUT, "the result[1] is integer, the output schema says string"),
        (1, {"type": "number"}, None),
        (True, {"type": "integer"}, "the result is boolean, the output schema says integer"),
        (1.5, {"type": "integer"}, "the result is number, the output schema says integer"),
        (None, {"type": "string", "nullable": True}, None),
        ({"x": 1}, {"type": "object", "required": ["y"]}, "the result lacks y"),
        (
            {"r": [[1, "2"]]},
            {"properties": {"r": {"items": {"items": {"type": "number"}}}}},
            "the result['r'][0][1] is string, the output schema says number",
        ),
    ],
)
def test_type_mismatch(value: object, schema: dict[str, object], problem: str | None) -> None:
    found = type_mismatch(value, schema)
    assert found == problem if problem is None else found is not None and problem in found

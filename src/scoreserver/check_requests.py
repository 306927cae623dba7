"""What `scoreserver check` sends and expects: request files, the schema sample, the output type.

A request file holds one JSON object, or a list of them:

    {"name": "two flowers",                      optional; shown in the report
     "method": "POST", "path": "/score",         the defaults
     "headers": {"Content-Type": "application/json"},
     "body": {"data": [[5.1, 3.5, 1.4, 0.2]]},   a string is sent as is, anything else as JSON
     "expect": {"status": 200, "body": [0]}}     optional; without it the status must be 200
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoreserver.errors import ConfigurationError

__all__ = [
    "NOTHING",
    "CheckRequest",
    "load_request_file",
    "sample_request",
    "type_mismatch",
]

NOTHING: Any = object()
"""No expected body was given."""

_KEYS = {"name", "method", "path", "headers", "body", "expect"}
_EXPECT_KEYS = {"status", "body"}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class CheckRequest:
    """One request to send through the scoring path, and what its answer must be."""

    name: str
    method: str = "POST"
    path: str = "/score"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect_status: int = 200
    expect_body: Any = NOTHING
    output_schema: dict[str, Any] | None = None
    """run()'s output schema: a 200 answer from /score must have the type it describes."""


def sample_request(
    input_schema: dict[str, Any], output_schema: dict[str, Any] | None
) -> CheckRequest:
    """POST /score with the samples of run()'s @input_schema decorators, as a client sends them."""
    sample = input_schema.get("example")
    if sample is None:
        sample = {
            name: prop["example"]
            for name, prop in input_schema.get("properties", {}).items()
            if "example" in prop
        }
    return CheckRequest(
        name="schema sample",
        headers={"Content-Type": "application/json"},
        body=json.dumps(sample).encode(),
        output_schema=output_schema or None,
    )


def load_request_file(path: Path, output_schema: dict[str, Any] | None) -> list[CheckRequest]:
    """The requests in a request file; a file that does not follow the format is a usage error."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the request file {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise ConfigurationError(f"The request file {path} is not valid JSON: {exc}") from exc
    entries = document if isinstance(document, list) else [document]
    requests = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}" if len(entries) == 1 else f"{path} (request {number})"
        requests.append(_parse(entry, where, output_schema))
    return requests


def _parse(entry: Any, where: str, output_schema: dict[str, Any] | None) -> CheckRequest:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: a request must be a JSON object.")
    unknown = sorted(set(entry) - _KEYS)
    expect = entry.get("expect", {})
    if not isinstance(expect, dict):
        raise ConfigurationError(f"{where}: 'expect' must be an object with status and body.")
    unknown += sorted(f"expect.{k}" for k in set(expect) - _EXPECT_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}."
        )
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigurationError(f"{where}: 'headers' must map names to strings.")
    status = expect.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool):
        raise ConfigurationError(f"{where}: 'expect.status' must be a number.")
    method, path = entry.get("method", "POST"), entry.get("path", "/score")
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"{where}: 'method' must be a string, 'path' start with '/'.")
    body = entry.get("body", NOTHING)
    if body is NOTHING:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "application/json"}
    return CheckRequest(
        name=str(entry.get("name", where)),
        method=method.upper(),
        path=path,
        headers=headers,
        body=data,
        expect_status=status,
        expect_body=expect.get("body", NOTHING),
        output_schema=output_schema if path.split("?")[0] == "/score" else None,
    )


def type_mismatch(value: Any, schema: dict[str, Any], where: str = "the result") -> str | None:
    """How value differs from the type the (OpenAPI) schema describes, or None if it fits.

    Only the shape is compared: types, array items, object properties and required keys,
    which is what inference-schema's sample types say. Formats and OpenAPI's own keywords are
    left alone, so a JSON Schema validator would report false failures here.
    """
    expected = schema.get("type")
    if value is None and schema.get("nullable"):
        return None
    if isinstance(expected, str) and expected in _JSON_TYPES:
        allowed = _JSON_TYPES[expected]
        boolean_as_number = isinstance(value, bool) and expected != "boolean"
        if not isinstance(value, allowed) or boolean_as_number:
            return f"{where} is {_json_type(value)}, the output schema says {expected}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = type_mismatch(item, schema["items"], f"{where}[{index}]")
            if problem:
                return problem
    if isinstance(value, dict):
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return f"{where} lacks {', '.join(missing)}, which the output schema requires"
        for key, sub in schema.get("properties", {}).items():
            if key in value and isinstance(sub, dict):
                problem = type_mismatch(value[key], sub, f"{where}[{key!r}]")
                if problem:
                    return problem
    return None


def _json_type(value: Any) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return "null" if value is None else type(value).__name__

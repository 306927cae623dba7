"""V2 inference requests: the quick reading of common requests answers exactly as the full one."""

from __future__ import annotations

import json
import random
from functools import partial
from typing import Any

from starlette.datastructures import Headers

from scoreserver.errors import BadRequestError
from scoreserver.http.request_ids import RequestIds
from scoreserver.protocols.v2 import _InferRequest
from scoreserver.script.inputs import IncomingRequest

_DATATYPES = ["FP64", "FP32", "INT64", "INT8", "BOOL", "BYTES", "FLOAT", 7, None]


def _request(body: bytes) -> IncomingRequest:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {"type": "http", "method": "POST", "path": "/v2/models/model/infer", "headers": headers}
    return IncomingRequest(scope, "POST", body, Headers(raw=headers), RequestIds.from_raw(headers))


def _outcome(read: Any) -> tuple[Any, ...]:
    """What a client would learn from a request: the inputs run() gets, or the 400's message."""
    try:
        parsed = read()
    except BadRequestError as exc:
        return ("400", exc.message)
    return ("ok", parsed.values, parsed.id, parsed.binary_outputs, parsed.requested)


def _fully_read(body: bytes) -> _InferRequest:
    parsed = _InferRequest.__new__(_InferRequest)
    parsed._read(body, None)
    return parsed


def _random_input(rng: random.Random, index: int) -> Any:
    if rng.random() < 0.03:
        return rng.choice(["x", 3, None, []])
    raw: dict[str, Any] = {}
    if rng.random() < 0.95:
        raw["name"] = rng.choice([f"in{index}", "in0", 5, None])
    shape = [rng.randrange(4) for _ in range(rng.randrange(4))]
    if rng.random() < 0.1:
        shape = rng.choice([[-1], [True], [2.0], "2", [[2]], None, [2**70]])
    if rng.random() < 0.97:
        raw["shape"] = shape
    if rng.random() < 0.97:
        raw["datatype"] = rng.choice(_DATATYPES) if rng.random() < 0.3 else "FP64"
    count = 1
    for dim in shape if isinstance(shape, list) else []:
        count *= dim if isinstance(dim, int) and dim < 10 else 1
    count += rng.choice([0, 0, 0, 0, 1, -1])
    values: Any = [
        rng.choice([rng.uniform(-9, 9), rng.randrange(-9, 9), True, "s", None, [1]])
        if rng.random() < 0.1
        else rng.uniform(-9, 9)
        for _ in range(max(count, 0))
    ]
    if rng.random() < 0.2 and isinstance(shape, list) and len(shape) > 1 and shape[1]:
        values = [values[i : i + shape[1]] for i in range(0, len(values), shape[1])]
    if rng.random() < 0.05:
        values = rng.choice([5, "text", None, {"a": 1}])
    if rng.random() < 0.95:
        raw["data"] = values
    if rng.random() < 0.15:
        raw["parameters"] = rng.choice([None, {}, [], "p", {"x": 1}, {"binary_data_size": 8}])
    if rng.random() < 0.05:
        raw["extra"] = {"ignored": True}
    return raw


def _random_body(rng: random.Random) -> bytes:
    if rng.random() < 0.03:
        return rng.choice([b"", b"[]", b"{", b"null", b'{"inputs": 3}', b'{"inputs": [{}]}'])
    request: dict[str, Any] = {"inputs": [_random_input(rng, i) for i in range(rng.randrange(4))]}
    if rng.random() < 0.2:
        request["id"] = rng.choice(["req-1", 7, None, ["x"]])
    if rng.random() < 0.2:
        request["parameters"] = rng.choice(
            [None, {}, [], 1, {"binary_data_output": True}, {"binary_data_output": False}]
        )
    if rng.random() < 0.2:
        request["outputs"] = rng.choice(
            [None, [], [{"name": "a"}], [{"name": 1}], "all", [{"name": "a", "parameters": 3}]]
        )
    text = json.dumps(request)
    if rng.random() < 0.03:
        text = text.replace("1", "NaN", 1)  # literals only the json module reads
    return text.encode()


def test_the_quick_reading_answers_as_the_full_one() -> None:
    rng = random.Random(10)
    quick_reads = 0
    for _ in range(4000):
        body = _random_body(rng)
        expected = _outcome(partial(_fully_read, body))
        assert _outcome(partial(_InferRequest, _request(body))) == expected, body
        quick_reads += expected[0] == "ok"
    assert quick_reads > 500  # the generator reaches the common case, not only errors


def test_a_common_request_is_read_by_name_in_row_major_rows() -> None:
    body = {
        "id": "r1",
        "inputs": [
            {"name": "a", "shape": [2, 2], "datatype": "FP64", "data": [1.5, 2, 3, 4]},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["x"]},
        ],
    }
    parsed = _InferRequest(_request(json.dumps(body).encode()))
    assert parsed.values == {"a": [[1.5, 2], [3, 4]], "b": ["x"]}
    assert parsed.id == "r1"
    assert json.loads(parsed.json_text()) == {"a": [[1.5, 2], [3, 4]], "b": ["x"]}


def test_a_shape_of_too_many_dimensions_is_the_same_400_either_way() -> None:
    # msgspec refuses it while reading, so the full reading says what is wrong.
    for dims in (65, 5000):
        raw = {"name": "d", "shape": [1] * dims, "datatype": "INT64", "data": [1]}
        body = json.dumps({"inputs": [raw]}).encode()
        expected = _outcome(partial(_fully_read, body))
        assert expected[0] == "400" and "at most 64" in expected[1]
        assert _outcome(partial(_InferRequest, _request(body))) == expected
    body = json.dumps(
        {"inputs": [{"name": "d", "shape": [1] * 64, "datatype": "INT64", "data": [1]}]}
    )
    assert _outcome(partial(_InferRequest, _request(body.encode())))[0] == "ok"


def test_parameters_that_are_no_object_and_flags_that_are_no_boolean_are_400s() -> None:
    row = {"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}
    cases = [
        ({"parameters": ["scale", 3]}, '"parameters" must be a JSON object'),
        ({"parameters": []}, '"parameters" must be a JSON object'),
        ({"parameters": {"binary_data_output": "false"}}, '"binary_data_output" must be true or'),
        ({"parameters": {"binary_data_output": 1}}, '"binary_data_output" must be true or false'),
        ({"outputs": [{"name": "o", "parameters": "x"}]}, "Output 'o': \"parameters\" must be"),
        ({"outputs": [{"name": "o", "parameters": {"binary_data": "true"}}]}, '"binary_data" must'),
    ]
    for extra, words in cases:
        body = json.dumps({"inputs": [row], **extra}).encode()
        expected = _outcome(partial(_fully_read, body))
        assert expected[0] == "400" and words in expected[1], (extra, expected)
        assert _outcome(partial(_InferRequest, _request(body))) == expected
    for extra, binary in [({"parameters": None}, False), ({}, False)]:
        body = json.dumps({"inputs": [row], **extra}).encode()
        outcome = _outcome(partial(_InferRequest, _request(body)))
        assert outcome[0] == "ok" and outcome[3] is binary
    flagged = {"inputs": [row], "parameters": {"binary_data_output": True}}
    outcome = _outcome(partial(_InferRequest, _request(json.dumps(flagged).encode())))
    assert outcome[0] == "ok" and outcome[3] is True

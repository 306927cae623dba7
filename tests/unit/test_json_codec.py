"""json_codec: msgspec's JSON where it means what the json module's does, the json module's elsewhere."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from scoreserver.protocols.json_codec import dumps_strict, dumps_text, loads


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    """Nested JSON values with the numbers, text and nesting a request body holds."""
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-12, 12)
    if kind == 1:
        return rng.randint(-(2**63), 2**64 - 1)
    if kind == 2:
        return rng.choice([True, False, "null", "text é ✓", ""])
    if kind == 3:
        return rng.choice([0.1, 1e22, 1e-7, -0.0, 5e-324])
    if kind in (4, 5):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randrange(4))}


def test_what_is_written_reads_back_as_json_would_have_written_it() -> None:
    rng = random.Random(8)
    for _ in range(3000):
        value = _random_value(rng)
        assert json.loads(dumps_text(value)) == json.loads(json.dumps(value))
        assert json.loads(dumps_strict(value)) == value
        assert loads(json.dumps(value).encode()) == value


def test_non_finite_numbers_are_written_as_json_writes_them_or_refused_when_strict() -> None:
    value = {"data": [[1.0, math.nan], [math.inf, -math.inf]]}
    assert dumps_text(value) == json.dumps(value)
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps_strict(value)


def test_nan_and_infinity_literals_are_read_as_json_reads_them() -> None:
    read = loads(b'{"data": [NaN, Infinity, -Infinity, 1]}')
    assert math.isnan(read["data"][0]) and read["data"][1:] == [math.inf, -math.inf, 1]


def test_a_body_that_is_not_json_raises_jsons_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        loads(b"not json")
    with pytest.raises(ValueError, match="Extra data"):
        loads(b'{"a": 1} x')


def test_values_msgspec_refuses_are_written_by_json() -> None:
    assert dumps_strict([np.float64(1.5), 2]) == b"[1.5, 2]"
    assert dumps_text({"a": None}) == '{"a": null}'
    assert dumps_text(["\ud800"]) == '["\\ud800"]'
    assert loads(b'["\\ud800"]') == ["\ud800"]


@pytest.mark.parametrize(
    "text",
    # msgspec's reader, then json's (which alone reads NaN)
    ["[" * 100_000 + "]" * 100_000, "[NaN, " + "[" * 100_000 + "]" * 100_000 + "]"],
)
def test_json_nested_too_deeply_is_a_value_error(text: str) -> None:
    # Both readers recurse per level; the callers answer a ValueError with the client's 400.
    with pytest.raises(ValueError, match="nested too deeply"):
        loads(text)

"""model_schema: tensors converted for run()'s standard-type @input_schema parameters."""

from __future__ import annotations

from typing import Any

import pytest
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema

from scoreserver.errors import BadRequestError
from scoreserver.protocols.model_schema import ModelSchema, read_model_schema


@pytest.fixture(scope="module")
def schema() -> ModelSchema:
    """run(text: str, count: int, texts: list of str, options: dict)."""

    @input_schema("text", StandardPythonParameterType("hello"))
    @input_schema("count", StandardPythonParameterType(1))
    @input_schema("texts", StandardPythonParameterType(["some text", "more"]))
    @input_schema("options", StandardPythonParameterType({"k": 1}))
    def run(text: str, count: int, texts: list[str], options: dict[str, Any]) -> None:
        """Never called: only its decorators are read."""

    return read_model_schema(run)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("text", ["Hi"], "Hi"),
        ("text", [["Hi"]], "Hi"),  # Triton's usual [1, 1] tensor
        ("text", [[["Hi"]]], "Hi"),
        ("count", [5], 5),
        ("count", [[5]], 5),
        ("count", [[[[5]]]], 5),
        ("count", 5, 5),
    ],
)
def test_a_one_element_tensor_of_any_rank_is_a_scalar_parameter(
    schema: ModelSchema, name: str, value: Any, expected: Any
) -> None:
    assert schema.convert(name, value) == expected


@pytest.mark.parametrize("value", [[[5, 6]], [[]], [[5], [6]]])
def test_a_tensor_of_several_or_no_values_is_no_scalar(schema: ModelSchema, value: Any) -> None:
    with pytest.raises(BadRequestError, match="Expected: <class 'int'>"):
        schema.convert("count", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["42"], ["42"]),
        (["true"], ["true"]),
        (["null"], ["null"]),
        (['{"k": 1}'], ['{"k": 1}']),
        (["not json"], ["not json"]),
        (["a", "b"], ["a", "b"]),
        # JSON text of a list, in a one-element tensor of any rank, is that list.
        (['["a", "b"]'], ["a", "b"]),
        ([['["a", "b"]']], ["a", "b"]),
    ],
)
def test_text_in_a_list_parameter_is_parsed_only_as_a_list(
    schema: ModelSchema, value: list[Any], expected: list[Any]
) -> None:
    assert schema.convert("texts", value) == expected


def test_text_in_a_dict_parameter_is_parsed_only_as_a_dict(schema: ModelSchema) -> None:
    assert schema.convert("options", ['{"k": 2}']) == {"k": 2}
    assert schema.convert("options", [['{"k": 2}']]) == {"k": 2}
    # A list is not the object the sample is: the schema judges the tensor as it was sent.
    with pytest.raises(BadRequestError, match="Expected: <class 'dict'>"):
        schema.convert("options", ["[1, 2]"])

"""Inputs declared out of order plus request_headers, which inference-schema lists too."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


def init() -> None:
    """Nothing to load."""


@input_schema("text", StandardPythonParameterType("hello"))
@input_schema("n", StandardPythonParameterType(3))
def run(n: int, text: str, request_headers: dict[str, str]) -> str:
    """Echo the text."""
    return text

"""Two standard inputs and a list output (the reference's schema_std.py)."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init() -> None:
    """Nothing to load."""


@input_schema("text", StandardPythonParameterType("hello"))
@input_schema("count", StandardPythonParameterType(1))
@output_schema(StandardPythonParameterType(["hello"]))
def run(text: str, count: int) -> list[str]:
    """Repeat the text."""
    return [text] * count

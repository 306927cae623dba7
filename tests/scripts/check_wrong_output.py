"""@input_schema run() whose result has another type than its @output_schema sample."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init() -> None:
    """Nothing to load."""


@input_schema("text", StandardPythonParameterType("hello"))
@output_schema(StandardPythonParameterType(["hello"]))
def run(text: str) -> dict[str, str]:
    """Says it returns a list of strings; returns an object."""
    return {"text": text}

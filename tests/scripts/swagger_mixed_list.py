"""A list sample of mixed types: Swagger 2 cannot describe it, so only 3 and 3.1 are served."""

from typing import Any

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init() -> None:
    """Nothing to load."""


@input_schema("items", StandardPythonParameterType([1, "a"]))
@output_schema(StandardPythonParameterType("x"))
def run(items: Any) -> str:
    """Answer a constant."""
    return "x"

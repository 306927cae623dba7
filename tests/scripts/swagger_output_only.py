"""Only an output schema: the input is described as a bare object."""

from typing import Any

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import output_schema


def init() -> None:
    """Nothing to load."""


@output_schema(StandardPythonParameterType({"a": 1}))
def run(data: Any) -> dict[str, int]:
    """Answer a constant."""
    return {"a": 1}

"""Only an input schema: the output is described as a bare object."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


def init() -> None:
    """Nothing to load."""


@input_schema("text", StandardPythonParameterType("hello"))
def run(text: str) -> str:
    """Echo the text."""
    return text

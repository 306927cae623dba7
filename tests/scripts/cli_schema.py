"""@input_schema run(text, count=2, request_headers=None): inputs taken by name."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("text", StandardPythonParameterType("hello"))
@input_schema("count", StandardPythonParameterType(1))
@output_schema(StandardPythonParameterType(["hello"]))
def run(text, count=2, request_headers=None):
    return [text] * count

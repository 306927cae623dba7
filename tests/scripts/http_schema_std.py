"""@input_schema run(text, count, request_headers): two required standard parameters."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


def init():
    pass


@input_schema("text", StandardPythonParameterType("hello"))
@input_schema("count", StandardPythonParameterType(1))
def run(text, count, request_headers):
    return {"texts": [text] * count, "agent": request_headers.get("X-Agent")}

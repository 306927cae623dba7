"""Only @output_schema: run() still takes the body as text."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import output_schema


def init():
    pass


@output_schema(StandardPythonParameterType({"echo": "x"}))
def run(data):
    return {"echo": data}

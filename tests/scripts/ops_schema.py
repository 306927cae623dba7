"""@input_schema run(text, count=2): lenient parameter types, so any JSON value is scored.

The fuzz tests send arbitrary values; a strict type would turn them into the documented
run()-failed 500, which would hide a real 500 from the server itself.
"""

import os

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


class AnyValue(StandardPythonParameterType):
    """Documents a sample like StandardPythonParameterType, but accepts any value."""

    def deserialize_input(self, input_data):
        return input_data


def init():
    print(f"ops init in pid {os.getpid()}")


@input_schema("text", AnyValue("hello"))
@input_schema("count", AnyValue(1))
def run(text, count=2):
    return {"pid": os.getpid(), "text": text, "count": count}

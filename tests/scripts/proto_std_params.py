"""@input_schema with standard-type parameters: a string, an int, a list of strings; each comes back as run() got it."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


def init():
    pass


@input_schema("text", StandardPythonParameterType("hello"))
@input_schema("count", StandardPythonParameterType(1))
@input_schema("texts", StandardPythonParameterType(["some text", "more"]))
def run(text="none", count=0, texts=["none"]):  # noqa: B006 - the decorator converts a copy
    return {
        "text": text,
        "text_type": type(text).__name__,
        "count": count,
        "count_type": type(count).__name__,
        "texts": texts,
    }

"""Non-ASCII keys and values, a null and a boolean in the samples."""

from typing import Any

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init() -> None:
    """Nothing to load."""


@input_schema("d", StandardPythonParameterType({"k\u00e9": [1.5, 2.5], "n": None, "b": True}))
@output_schema(StandardPythonParameterType({"ok": True, "u": "h\u00e9 \U0001f600"}))
def run(d: Any) -> dict[str, bool]:
    """Say yes."""
    return {"ok": True}

"""A parameter type that can only be described in OpenAPI 3.1."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema


class Only31(StandardPythonParameterType):  # type: ignore[misc]
    """A standard type restricted to OpenAPI 3.1."""

    def supported_versions(self) -> list[str]:
        """Only 3.1 (and a version inference-schema does not know yet)."""
        return ["3.1", "4.0"]


def init() -> None:
    """Nothing to load."""


@input_schema("text", Only31("hello"))
def run(text: str) -> str:
    """Echo the text."""
    return text

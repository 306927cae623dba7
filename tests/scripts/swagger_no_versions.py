"""Input and output types with no version in common: no document can be generated."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


class Restricted(StandardPythonParameterType):  # type: ignore[misc]
    """A standard type that claims support for the given versions only."""

    def __init__(self, sample: object, versions: list[str]) -> None:
        super().__init__(sample)
        self._versions = versions

    def supported_versions(self) -> list[str]:
        """The versions given."""
        return self._versions


def init() -> None:
    """Nothing to load."""


@input_schema("text", Restricted("hello", ["2.0"]))
@output_schema(Restricted("x", ["3.0"]))
def run(text: str) -> str:
    """Answer a constant."""
    return "x"

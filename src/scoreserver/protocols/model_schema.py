"""What a script's inference-schema decorators say: each input's type, the output's, as tensors.

inference-schema keeps each decorator's parameter type only in the closure of the wrapper it
installs (its public schema_util gives the JSON schema, not the type that converts input). That
closure is read here, guarded: if a future inference-schema stores it differently, the types
come back empty, the protocols pass plain JSON values on, and the decorator converts them as it
does for /score (a value it rejects is then run()'s 500, as on /score, not a 400).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scoreserver.errors import BadRequestError
from scoreserver.protocols.json_codec import loads
from scoreserver.protocols.tensors import datatype_of_dtype, output_tensors, shape_of

__all__ = ["ModelSchema", "read_model_schema"]


def _closure_values(function: Any) -> dict[str, Any]:
    code = getattr(function, "__code__", None)
    cells = getattr(function, "__closure__", None) or ()
    if code is None:
        return {}
    return {
        name: cell.cell_contents
        for name, cell in zip(code.co_freevars, cells)
        if _has_contents(cell)
    }


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _decorator_closures(run: Callable[..., Any]) -> list[dict[str, Any]]:
    """The closure of each inference-schema wrapper around run(), outermost first (bounded)."""
    closures = []
    current: Any = run
    for _ in range(32):
        wrapper = getattr(current, "_self_wrapper", None)
        if wrapper is None:
            break
        closures.append(_closure_values(wrapper))
        current = getattr(current, "__wrapped__", None)
    return closures


@dataclass(frozen=True)
class ModelSchema:
    """The declared types of run()'s inputs and of its output, where the script declares them."""

    inputs: dict[str, Any] = field(default_factory=dict)
    """Parameter name → inference-schema parameter type."""
    output_schema: Mapping[str, Any] | None = None
    """run()'s @output_schema as inference-schema describes it (OpenAPI with an example): the
    output's type itself is not kept by its decorator."""

    def convert(self, name: str, value: Any) -> Any:
        """The value as the parameter's type converts it; a value it rejects is the client's 400."""
        param_type = self.inputs.get(name)
        if param_type is None:
            return value
        value = _as_records(param_type, _unwrapped(param_type, value))
        try:
            converted = param_type.deserialize_input(copy.deepcopy(value))
        except Exception as exc:
            raise BadRequestError(
                f"Input {name!r} does not fit run()'s schema ({type(param_type).__name__}, as "
                f"{_example(param_type)}): {exc}"
            ) from exc
        # numpy and pandas values pass through the decorator as they are; standard types are
        # converted again there, so they go in as the client sent them.
        return value if _is_standard(param_type) else converted

    def input_metadata(self) -> list[dict[str, Any]]:
        """The inputs as V2 metadata tensors (name, datatype, shape; -1 is any size)."""
        return [_metadata(name, t) for name, t in self.inputs.items()]

    def output_metadata(self) -> list[dict[str, Any]]:
        """The outputs as V2 metadata tensors, named and typed as infer answers with them."""
        schema = self.output_schema
        if not schema or "example" not in schema:
            return []
        example, form = schema["example"], schema.get("format", "")
        if form == "numpy.ndarray":
            shape = shape_of(example) if isinstance(example, list) else [1]
            return [_tensor_metadata("output-0", _leaf_datatype(schema), shape)]
        if isinstance(form, str) and form.startswith("pandas.DataFrame:"):
            # infer answers a DataFrame with one output per column, whatever the orient.
            try:
                columns = _frame_columns(form.partition(":")[2], schema, example)
            except (AttributeError, TypeError, IndexError, KeyError, ValueError):  # unforeseen
                return []
            return [_tensor_metadata(name, datatype, [1]) for name, datatype in columns]
        try:
            tensors = output_tensors(example)
        except (TypeError, ValueError):
            return []
        return [_tensor_metadata(t.name, t.datatype, t.shape) for t in tensors]


def _tensor_metadata(name: str, datatype: str, shape: list[int]) -> dict[str, Any]:
    """A metadata tensor; the first dimension is the batch, any size (-1)."""
    return {"name": name, "datatype": datatype, "shape": [-1, *shape[1:]]}


_SIZED_INTEGERS = {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}


def _leaf_datatype(schema: Any) -> str:
    """The V2 datatype of an OpenAPI schema's elements (the items of its innermost array)."""
    while isinstance(schema, Mapping) and schema.get("type") == "array":
        schema = schema.get("items")
    if not isinstance(schema, Mapping):
        return "BYTES"
    kind, form = schema.get("type"), schema.get("format")
    if kind == "integer":
        return form.upper() if form in _SIZED_INTEGERS else "INT64"
    if kind == "number":
        return "FP32" if form == "float" else "FP64"
    return "BOOL" if kind == "boolean" else "BYTES"


_TABLE_DATATYPES = {"integer": "INT64", "number": "FP64", "boolean": "BOOL"}
"""pandas' table-schema field types that are not text."""


def _frame_columns(orient: str, schema: Mapping[str, Any], example: Any) -> list[tuple[str, str]]:
    """Each column of a DataFrame output and its datatype, read from its orient's schema or
    example; none when the orient does not name the columns (values)."""
    properties: Any = schema.get("properties") or {}
    if orient == "records":  # rows, each an object of its cells
        row = (schema.get("items") or {}).get("properties") or {}
        return [(str(n), _leaf_datatype(s)) for n, s in row.items()]
    if orient == "index":  # an object of rows by index, each an object of its cells
        row = _first(properties).get("properties") or {}
        return [(str(n), _leaf_datatype(s)) for n, s in row.items()]
    if orient == "columns":  # an object of columns, each an object of its cells by index
        return [
            (str(n), _leaf_datatype(_first(s.get("properties")))) for n, s in properties.items()
        ]
    if orient == "split" and isinstance(example, Mapping):
        rows = example.get("data") or []
        values = {
            str(n): [row[j] for row in rows] for j, n in enumerate(example.get("columns", []))
        }
        return [(t.name, t.datatype) for t in output_tensors(values)]
    if orient == "table" and isinstance(example, Mapping):
        table = example.get("schema") or {}
        index = set(table.get("primaryKey") or [])
        return [
            (str(f["name"]), _TABLE_DATATYPES.get(f.get("type"), "BYTES"))
            for f in table.get("fields") or []
            if f.get("name") not in index
        ]
    return []


def _first(schemas: Any) -> Any:
    """The first schema of an object's properties (all alike here); {} when there is none."""
    return next(iter(schemas.values()), {}) if schemas else {}


def _unwrapped(param_type: Any, value: Any) -> Any:
    """A one-element tensor (of any rank, every dimension 1) for a scalar parameter is that
    scalar; JSON text in one for an object or list parameter (a BYTES tensor) is that object or
    list, when it parses as one."""
    sample = getattr(param_type, "sample_input", None)
    if not _is_standard(param_type) or not isinstance(value, list) or len(value) != 1:
        return value
    element = _only_element(value)
    if isinstance(element, list):  # rows of no or several values: not one element
        return value
    if isinstance(sample, (bool, int, float, str)):
        return element
    if isinstance(sample, (dict, list)) and isinstance(element, str):
        try:
            parsed = loads(element)
        except ValueError:  # not JSON (or nested too deeply): the schema judges the text
            return value
        # Text such as "42" or "null" in a list of strings is a string, as /score passes it.
        return parsed if isinstance(parsed, dict if isinstance(sample, dict) else list) else value
    return value


def _only_element(value: list[Any]) -> Any:
    """The innermost value of nested one-element lists ([[5]] is 5); a list when one level has
    no or several values."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _as_records(param_type: Any, value: Any) -> Any:
    """Rows of values for a DataFrame parameter become records named by the sample's columns."""
    columns = getattr(getattr(param_type, "sample_input", None), "columns", None)
    if columns is None or getattr(param_type, "orient", "records") != "records":
        return value
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        names = [str(c) for c in columns]
        return [dict(zip(names, row)) for row in value]
    return value


def _is_standard(param_type: Any) -> bool:
    return type(param_type).__name__ == "StandardPythonParameterType"


def _example(param_type: Any) -> str:
    sample: Any = getattr(param_type, "sample_input", None)
    if hasattr(sample, "columns") and hasattr(sample, "to_dict"):  # a DataFrame: its records
        sample = sample.to_dict(orient="records")
    try:
        text = json.dumps(sample.tolist() if hasattr(sample, "tolist") else sample, default=str)
    except (TypeError, ValueError):
        text = repr(sample)
    return text if len(text) <= 120 else text[:117] + "..."


def _metadata(name: str, param_type: Any) -> dict[str, Any]:
    sample: Any = getattr(param_type, "sample_input", None)
    if hasattr(sample, "columns"):  # a DataFrame: rows of its columns
        kinds = {datatype_of_dtype(d) for d in sample.dtypes}
        datatype = kinds.pop() if len(kinds) == 1 else "BYTES"
        return _tensor_metadata(name, datatype, [len(sample), len(sample.columns)])
    try:
        tensors = output_tensors(sample)
    except (TypeError, ValueError):
        tensors = []
    if len(tensors) != 1 or isinstance(sample, dict):
        return {"name": name, "datatype": "BYTES", "shape": [1]}
    (tensor,) = tensors
    if isinstance(sample, list) or hasattr(sample, "shape"):  # a batch of rows
        return _tensor_metadata(name, tensor.datatype, tensor.shape)
    return {"name": name, "datatype": tensor.datatype, "shape": tensor.shape}


def read_model_schema(run: Callable[..., Any]) -> ModelSchema:
    """The parameter types of run()'s decorators; empty when they cannot be read."""
    inputs: dict[str, Any] = {}
    try:
        from inference_schema import schema_util
        from inference_schema.parameter_types.abstract_parameter_type import (
            AbstractParameterType,
        )
    except ImportError:
        return ModelSchema()
    for closure in _decorator_closures(run):
        param_type = closure.get("param_type")
        name = closure.get("param_name")
        if isinstance(param_type, AbstractParameterType) and isinstance(name, str):
            inputs.setdefault(name, param_type)
    try:
        output = schema_util.get_output_schema(run)
    except Exception:  # an undecorated run(), or a schema this version cannot read
        output = None
    return ModelSchema(inputs, output if isinstance(output, Mapping) else None)

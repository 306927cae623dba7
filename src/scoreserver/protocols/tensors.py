"""Open Inference Protocol tensors: JSON and binary data to nested lists, and results back to tensors.

Plain Python on purpose: numpy is not a dependency of the server, and the struct module unpacks
and packs a whole tensor in one C call either way. numpy arrays and pandas objects that run()
returns are read through their own methods, without importing either library here.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from dataclasses import dataclass, field
from itertools import chain
from typing import Annotated, Any, NoReturn, Optional

import msgspec

from scoreserver.errors import BadRequestError

__all__ = [
    "DATATYPES",
    "InputTensor",
    "JsonInput",
    "OutputTensor",
    "datatype_of_dtype",
    "decode_input",
    "json_input",
    "output_tensors",
    "pack_binary",
    "shape_of",
]

DATATYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
    "BYTES": "",
}
"""Each V2 datatype and its struct format character (little-endian on the wire)."""

_DTYPE_KINDS = {"b": "BOOL", "u": "UINT", "i": "INT", "f": "FP"}

_LENGTH = struct.Struct("<I")

MOST_DIMENSIONS = 64
"""The most dimensions a shape may have: numpy 2's limit (numpy 1's is 32), and deeper nested
lists than run()'s JSON text could be written with."""

_Walked = tuple[list[Any], set[type]]
"""Values in row-major order and the set of their types."""


@dataclass
class InputTensor:
    """One request input: its name, shape, datatype and values as nested lists."""

    name: str
    shape: list[int]
    datatype: str
    value: list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputTensor:
    """One response output: shape, datatype and the values in row-major order."""

    name: str
    shape: list[int]
    datatype: str
    flat: list[Any]

    def as_json(self, binary_size: int | None = None) -> dict[str, Any]:
        """The output's JSON object, with its data or, for binary data, its size."""
        body: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": self.shape}
        if binary_size is None:
            if self.datatype == "BYTES" and bytes in set(map(type, self.flat)):
                raise ValueError(
                    f"output {self.name!r} holds bytes that are not UTF-8 text, which JSON "
                    "cannot carry; ask for it as binary data"
                )
            body["data"] = self.flat
        else:
            body["parameters"] = {"binary_data_size": binary_size}
        return body


def _checked_header(raw: Any) -> tuple[str, list[int], str, dict[str, Any]]:
    """The name, shape, datatype and parameters of an input object, or a 400 saying what is wrong."""
    if not isinstance(raw, dict):
        raise BadRequestError(
            "Each entry of 'inputs' must be an object with name, shape, datatype."
        )
    name, shape, datatype = raw.get("name"), raw.get("shape"), raw.get("datatype")
    if not isinstance(name, str):
        raise BadRequestError("An input has no 'name' (a string).")
    if not (
        isinstance(shape, list)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise BadRequestError(
            f"Input {name!r} needs a 'shape': a list of non-negative integers, as [2, 4]."
        )
    if len(shape) > MOST_DIMENSIONS:
        raise BadRequestError(
            f"Input {name!r} has a shape of {len(shape)} dimensions; at most "
            f"{MOST_DIMENSIONS} are allowed."
        )
    if datatype not in DATATYPES:
        raise BadRequestError(
            f"Input {name!r} has datatype {datatype!r}; expected one of {', '.join(DATATYPES)}."
        )
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequestError(f"The 'parameters' of input {name!r} must be an object.")
    return name, shape, datatype, parameters


def decode_input(raw: Any, binary: memoryview | None, offset: int) -> tuple[InputTensor, int]:
    """An input object, its data from JSON or from the binary part at offset; the next offset."""
    name, shape, datatype, parameters = _checked_header(raw)
    size = parameters.get("binary_data_size")
    if size is not None:
        if binary is None or not isinstance(size, int) or offset + size > len(binary):
            raise BadRequestError(
                f"Input {name!r} declares binary_data_size {size!r}, but the request does not "
                f"carry that many bytes after its JSON header (Inference-Header-Content-Length)."
            )
        flat = _unpack(name, datatype, math.prod(shape), binary[offset : offset + size])
        offset += size
        return InputTensor(name, shape, datatype, _reshape(flat, shape), parameters), offset
    region = parameters.get("shared_memory_region")
    if region is not None:
        raise BadRequestError(
            f"Input {name!r} refers to shared-memory region {region!r}; this server reads tensor "
            "data from the request (JSON or binary data), not from shared memory."
        )
    if "data" not in raw:
        raise BadRequestError(
            f"Input {name!r} has neither 'data' nor a 'binary_data_size' parameter."
        )
    return json_input(name, shape, datatype, parameters, raw["data"]), offset


def json_input(
    name: str, shape: list[int], datatype: str, parameters: dict[str, Any], data: Any
) -> InputTensor:
    """An input whose values are its JSON 'data', checked against its shape and datatype."""
    flat, kinds = _flat_values(data)
    count = math.prod(shape)
    if len(flat) != count:
        raise BadRequestError(
            f"Input {name!r} has {len(flat)} values, but its shape {shape} needs {count}."
        )
    if not kinds <= _KINDS_OF[datatype]:
        _refuse_kinds(name, datatype, kinds)
    bounds = _INTEGER_RANGES.get(datatype)
    if bounds is not None and flat and (min(flat) not in bounds or max(flat) not in bounds):
        raise BadRequestError(
            f"Input {name!r} holds integers beyond {datatype}'s range "
            f"({bounds.start} to {bounds.stop - 1})."
        )
    return InputTensor(name, shape, datatype, _reshape(flat, shape), parameters)


def _refuse_kinds(name: str, datatype: str, kinds: set[type]) -> NoReturn:
    """The 400 for JSON data whose values are not of the kinds the datatype holds."""
    if datatype == "BYTES":
        expected = "that are not strings"
    elif datatype == "BOOL":
        expected = "that are not true or false"
    elif not kinds <= _JSON_NUMBERS:
        raise BadRequestError(f"Input {name!r} of datatype {datatype} holds non-numbers.")
    elif datatype in _INTEGER_RANGES:
        expected = "that are not integers"
    else:
        expected = "that are booleans, not numbers"
    raise BadRequestError(f"Input {name!r} of datatype {datatype} holds values {expected}.")


_INTEGER_RANGES = {
    f"{kind}{bits}": range(-(2 ** (bits - 1)), 2 ** (bits - 1)) if kind == "INT" else range(2**bits)
    for kind in ("INT", "UINT")
    for bits in (8, 16, 32, 64)
}
"""The values each integer datatype holds."""

_NUMBERS = frozenset({int, float})

_KINDS_OF: dict[str, frozenset[type]] = {
    **{datatype: frozenset({int}) for datatype in _INTEGER_RANGES},
    "FP16": _NUMBERS,
    "FP32": _NUMBERS,
    "FP64": _NUMBERS,
    "BOOL": frozenset({bool}),  # Python's bool is an int, but not its type: true is no number
    "BYTES": frozenset({str}),
}
"""The types of JSON values each datatype holds, as Triton checks them."""


class JsonInput(msgspec.Struct):
    """An input object as most requests send it, checked while it is read (in C): a name, a
    shape of non-negative integers, a datatype and JSON data. Whatever does not fit is read
    again by decode_input, which says what is wrong."""

    name: str
    shape: Annotated[
        list[Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(max_length=MOST_DIMENSIONS)
    ]
    datatype: str
    data: Any = msgspec.UNSET
    parameters: Optional[dict[str, Any]] = None  # noqa: UP045 (msgspec reads it at run time)

    def tensor(self) -> InputTensor | None:
        """The input, or None when it needs decode_input (binary data, no data, a datatype
        that is not one); a 400 for data that does not fit the shape or datatype."""
        parameters = self.parameters or {}
        if (
            self.datatype not in DATATYPES
            or self.data is msgspec.UNSET
            or "binary_data_size" in parameters
        ):
            return None
        return json_input(self.name, self.shape, self.datatype, parameters, self.data)


_JSON_NUMBERS = frozenset({int, float, bool})
_ROWS = frozenset({list, tuple})


def _flat_values(data: Any) -> tuple[list[Any], set[type]]:
    """Request data in row-major order with the types of its values, the usual flat list in
    one pass in C."""
    if isinstance(data, list):
        kinds = set(map(type, data))
        if not kinds & _ROWS:
            return data, kinds
    flat = _flatten(data)
    return flat, set(map(type, flat))


def _flatten(data: Any) -> list[Any]:
    """Nested lists in row-major order (the protocol allows both flat and nested data)."""
    if not isinstance(data, (list, tuple)):
        return [data]
    kinds = {type(item) for item in data}  # one pass in C, rather than isinstance per item
    if list not in kinds and tuple not in kinds:
        return data if isinstance(data, list) else list(data)
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


_MOST_EMPTY_ROWS = 1 << 16
"""A zero-size input's most empty lists: the client picks its shape, and it costs no bytes."""


def _reshape(flat: list[Any], shape: list[int]) -> list[Any]:
    """Row-major flat values as nested lists of the shape ([] and [n] stay flat)."""
    if len(shape) <= 1:
        return flat
    if not flat:
        return _empty_rows(shape)
    nested: list[Any] = flat
    for dim in reversed(shape[1:]):
        nested = [nested[i : i + dim] for i in range(0, len(nested), dim)] if dim else []
    return nested


def _empty_rows(shape: list[int]) -> list[Any]:
    """The nested empty lists of a zero-size shape: [2, 0] is [[], []], as numpy's tolist()."""
    rows: list[Any] = []
    level = [rows]
    made = 0
    for dim in shape[: shape.index(0)]:
        made += len(level) * dim
        if made > _MOST_EMPTY_ROWS:
            raise BadRequestError(
                f"An input of shape {shape} holds no values but would be {made:,} or more empty "
                f"lists (at most {_MOST_EMPTY_ROWS:,}); send a shape with fewer rows."
            )
        below: list[list[Any]] = []
        for row in level:
            row.extend([] for _ in range(dim))
            below += row
        level = below
    return rows


def _unpack(name: str, datatype: str, count: int, chunk: memoryview) -> list[Any]:
    """Binary tensor data: little-endian values, or length-prefixed strings for BYTES."""
    if datatype == "BYTES":
        return _unpack_bytes(name, count, chunk)
    code = DATATYPES[datatype]
    # Counted before any struct format is built: a shape's count can be beyond what struct sizes.
    needed = count * struct.calcsize(f"<{code}")
    if needed != len(chunk):
        raise BadRequestError(
            f"Input {name!r} has {len(chunk)} bytes of binary data; {count} {datatype} values "
            f"need {needed}."
        )
    return list(struct.unpack(f"<{count}{code}", chunk))


def _unpack_bytes(name: str, count: int, chunk: memoryview) -> list[Any]:
    values: list[Any] = []
    at = 0
    while at < len(chunk):
        if at + 4 > len(chunk):
            raise BadRequestError(f"Input {name!r}: a BYTES element's 4-byte length is cut off.")
        (length,) = _LENGTH.unpack_from(chunk, at)
        at += 4
        if at + length > len(chunk):
            raise BadRequestError(f"Input {name!r}: a BYTES element is shorter than its length.")
        element = bytes(chunk[at : at + length])
        at += length
        try:
            values.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(element)
    if len(values) != count:
        raise BadRequestError(f"Input {name!r} has {len(values)} BYTES elements; expected {count}.")
    return values


def datatype_of_dtype(dtype: Any) -> str:
    """The V2 datatype of a numpy dtype (strings and objects are BYTES)."""
    prefix = _DTYPE_KINDS.get(getattr(dtype, "kind", ""))
    if prefix is None:
        return "BYTES"
    return "BOOL" if prefix == "BOOL" else f"{prefix}{dtype.itemsize * 8}"


def output_tensors(value: Any) -> list[OutputTensor]:
    """run()'s result as outputs: a dict or DataFrame gives one per key or column, else output-0."""
    if value is None:
        return []
    if _is_dataframe(value):
        return [_tensor(str(column), value[column]) for column in value.columns]
    if isinstance(value, dict):
        return [_tensor(str(key), item) for key, item in value.items()]
    return [_tensor("output-0", value)]


def _is_dataframe(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "columns")


def _tensor(name: str, value: Any) -> OutputTensor:
    """One output from a list, an array, a pandas Series or a scalar."""
    # Lists first: asking a list for an array's attributes costs an AttributeError each.
    if isinstance(value, (list, tuple)):
        shape = shape_of(value)
        walked = _row_major(value, shape)
        if walked is None:  # ragged, or rows of a list subclass: the general walk decides
            flat = _flatten(value)
            if len(flat) != math.prod(shape) or _ragged(value, shape):
                raise ValueError(f"run() returned ragged nested lists for output {name!r}")
            walked = flat, set(map(type, flat))
        if walked[1] <= _PLAIN or not any(k.__module__ == "numpy" for k in walked[1]):
            return _typed(name, shape, *walked)
        # numpy arrays or scalars in lists (`[model.predict(x)]`, `list(array)`): typed as
        # numpy types the whole, not as their text.
        value = _as_array(name, value)
    if hasattr(value, "to_numpy") and type(value).__module__.startswith("pandas"):
        value = value.to_numpy()
    if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tolist"):
        shape = [int(d) for d in value.shape] or [1]
        datatype = datatype_of_dtype(value.dtype)
        flat = value.reshape(-1).tolist() if value.shape else [value.tolist()]
        if datatype == "BYTES":
            flat = [_text(v) for v in flat]
        return OutputTensor(name, shape, datatype, flat)
    return _typed(name, [1], [value], {type(value)})


_PLAIN = frozenset({int, float, bool, str})


def _as_array(name: str, value: list[Any] | tuple[Any, ...]) -> Any:
    """Lists holding numpy values as one numpy array (numpy is imported: they came from it)."""
    numpy = sys.modules["numpy"]
    try:
        return numpy.asarray(value)
    except ValueError as exc:  # numpy refuses ragged rows
        raise ValueError(f"run() returned ragged nested lists for output {name!r}") from exc


def _row_major(value: list[Any] | tuple[Any, ...], shape: list[int]) -> _Walked | None:
    """Plain lists (or tuples) nested exactly to the shape: their values in row-major order and
    the values' types, level by level in C calls; None for anything else."""
    level: list[Any] = value if isinstance(value, list) else list(value)
    for dim in shape[1:]:
        if not set(map(type, level)) <= _ROWS or set(map(len, level)) != {dim}:
            return None
        level = list(chain.from_iterable(level))
    kinds = set(map(type, level))
    return None if kinds & _ROWS else (level, kinds)


def _typed(name: str, shape: list[int], flat: list[Any], kinds: set[type]) -> OutputTensor:
    """Plain values as a tensor of the datatype they all fit; anything else is text (BYTES)."""
    datatype = _datatype_of(kinds)
    if datatype == "INT64" and flat and kinds == {int}:
        datatype = _integer_datatype(name, min(flat), max(flat))
    return OutputTensor(
        name, shape, datatype, [_text(v) for v in flat] if datatype == "BYTES" else flat
    )


def _integer_datatype(name: str, lowest: int, highest: int) -> str:
    """INT64 for Python ints that fit it, UINT64 for larger ones that fit that; else no tensor."""
    for datatype in ("INT64", "UINT64"):
        bounds = _INTEGER_RANGES[datatype]
        if lowest in bounds and highest in bounds:
            return datatype
    raise ValueError(f"output {name!r} holds integers beyond INT64 and UINT64")


def shape_of(value: list[Any] | tuple[Any, ...]) -> list[int]:
    """The shape of nested lists, read along their first elements."""
    shape = []
    level: Any = value
    while isinstance(level, (list, tuple)):
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    return shape


def _ragged(value: Any, shape: list[int]) -> bool:
    """Whether some row's length differs from the shape (the element count can still match)."""
    if len(shape) == 1:
        kinds = {type(v) for v in value}
        return list in kinds or tuple in kinds
    return any(
        not isinstance(row, (list, tuple)) or len(row) != shape[1] or _ragged(row, shape[1:])
        for row in value
    )


def _datatype_of(kinds: set[type]) -> str:
    """The datatype of values of these types (no values at all are FP64)."""
    if not kinds <= _JSON_NUMBERS:  # numpy scalars, strings, objects: by their kind
        kinds = {_KINDS[k] for k in kinds}
    if not kinds or kinds == {float} or kinds == {int, float}:
        return "FP64"
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        return "INT64"
    return "BYTES"


class _Kinds(dict[type, type]):
    """Each element type's plain kind (bool, int, float, else str), worked out once per type."""

    def __missing__(self, kind: type) -> type:
        plain = next((base for base in (bool, int, float) if issubclass(kind, base)), str)
        self[kind] = plain
        return plain


_KINDS = _Kinds()


def _text(value: Any) -> str | bytes:
    """A BYTES element: text, or bytes that are not UTF-8 as they are (binary data sends them
    unchanged; JSON cannot)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)  # exactly bytes (not numpy's bytes_), as as_json looks for them
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def pack_binary(tensor: OutputTensor) -> bytes:
    """The output's data in the binary extension's layout."""
    if tensor.datatype == "BYTES":
        parts = []
        for element in tensor.flat:
            data = element.encode("utf-8") if isinstance(element, str) else bytes(element)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    try:
        return struct.pack(f"<{len(tensor.flat)}{DATATYPES[tensor.datatype]}", *tensor.flat)
    except struct.error as exc:  # e.g. an int beyond INT64
        raise ValueError(f"output {tensor.name!r} does not fit {tensor.datatype}: {exc}") from exc

"""tensors: V2 inputs from JSON and binary data, and run()'s results as typed outputs."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoreserver.errors import BadRequestError
from scoreserver.protocols.tensors import (
    OutputTensor,
    decode_input,
    output_tensors,
    pack_binary,
)


def decoded(raw: dict[str, Any], binary: bytes | None = None) -> Any:
    tensor, _ = decode_input(raw, None if binary is None else memoryview(binary), 0)
    return tensor.value


def test_integer_data_at_its_datatypes_bounds_is_read() -> None:
    for datatype, values in [("INT8", [-128, 127]), ("UINT64", [0, 2**64 - 1]), ("INT64", [])]:
        shape = [len(values)]
        raw = {"name": "x", "shape": shape, "datatype": datatype, "data": values}
        assert decoded(raw) == values


def test_flat_and_nested_json_data_take_the_shape() -> None:
    flat = {"name": "x", "shape": [2, 3], "datatype": "INT32", "data": [1, 2, 3, 4, 5, 6]}
    nested = {**flat, "data": [[1, 2, 3], [4, 5, 6]]}
    assert decoded(flat) == decoded(nested) == [[1, 2, 3], [4, 5, 6]]


def test_three_dimensions_and_empty_tensors() -> None:
    raw = {"name": "x", "shape": [2, 1, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}
    assert decoded(raw) == [[[1, 2]], [[3, 4]]]
    assert decoded({"name": "x", "shape": [0, 3], "datatype": "FP32", "data": []}) == []


@pytest.mark.parametrize("shape", [[1, 0], [2, 0, 3], [2, 3, 0], [0, 2], [3, 1, 0, 4]])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_zero_size_inputs_keep_their_empty_rows_as_numpy_does(
    shape: list[int], binary: bool
) -> None:
    raw: dict[str, Any] = {"name": "x", "shape": shape, "datatype": "FP64"}
    if binary:
        raw["parameters"] = {"binary_data_size": 0}
    else:
        raw["data"] = []
    value = decoded(raw, b"" if binary else None)
    assert value == np.zeros(shape).tolist()
    rows = value
    while len(rows) > 1 and isinstance(rows[0], list):
        assert rows[0] is not rows[1]  # rows a script may change one by one
        rows = rows[0]


def test_json_data_of_each_datatypes_kind_is_read() -> None:
    cases = [
        ("BOOL", [True, False]),
        ("FP64", [1, 2.5]),
        ("FP32", [[0.5], [-3]]),
        ("BYTES", ["a", "", "é"]),
        ("BYTES", []),
        ("BOOL", []),
    ]
    for datatype, values in cases:
        shape = [len(values), 1] if values and isinstance(values[0], list) else [len(values)]
        raw = {"name": "x", "shape": shape, "datatype": datatype, "data": values}
        assert decoded(raw) == values


def test_a_shape_of_as_many_dimensions_as_numpy_allows_is_read() -> None:
    # numpy 2's limit (numpy 1 allows 32, which a script's own np.asarray would then refuse).
    value = decoded({"name": "x", "shape": [1] * 64, "datatype": "INT64", "data": [7]})
    depth = 0
    while isinstance(value, list):
        (value,) = value
        depth += 1
    assert (depth, value) == (64, 7)


def test_a_zero_size_shape_cannot_ask_for_unbounded_empty_rows() -> None:
    raw = {"name": "x", "shape": [10**9, 10**9, 0], "datatype": "FP64", "data": []}
    with pytest.raises(BadRequestError, match=r"would be 1,000,000,000 or more empty lists"):
        decoded(raw)


@pytest.mark.parametrize(
    ("datatype", "array"),
    [
        ("FP32", np.array([[0.5, -1.0]], dtype="<f4")),
        ("FP64", np.array([1e300, 2.0], dtype="<f8")),
        ("FP16", np.array([0.5, 2.0], dtype="<f2")),
        ("INT8", np.array([-128, 127], dtype="i1")),
        ("UINT16", np.array([[1], [65535]], dtype="<u2")),
        ("INT64", np.array([-(2**62), 3], dtype="<i8")),
        ("BOOL", np.array([True, False])),
    ],
)
def test_binary_data_is_little_endian_row_major(datatype: str, array: np.ndarray) -> None:
    raw = {
        "name": "x",
        "shape": list(array.shape),
        "datatype": datatype,
        "parameters": {"binary_data_size": array.nbytes},
    }
    assert decoded(raw, array.tobytes()) == array.tolist()


def test_binary_bytes_are_length_prefixed_and_offsets_advance() -> None:
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"ab", b"", b"\xff"))
    first = {"name": "w", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": 15}}
    second = {"name": "n", "shape": [1], "datatype": "INT32", "parameters": {"binary_data_size": 4}}
    body = memoryview(words + struct.pack("<i", 9))
    tensor, offset = decode_input(first, body, 0)
    assert tensor.value == ["ab", "", b"\xff"]
    tensor, offset = decode_input(second, body, offset)
    assert (tensor.value, offset) == ([9], 19)


@pytest.mark.parametrize(
    ("raw", "binary", "words"),
    [
        ("x", None, "must be an object"),
        ({"shape": [1], "datatype": "FP32", "data": [1]}, None, "'name'"),
        ({"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}, None, "non-negative"),
        ({"name": "x", "shape": [1], "datatype": "FLOAT", "data": [1]}, None, "FP32"),
        ({"name": "x", "shape": [2], "datatype": "FP32"}, None, "neither 'data'"),
        ({"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}, None, "needs 2"),
        ({"name": "x", "shape": [1], "datatype": "INT8", "data": [None]}, None, "non-numbers"),
        ({"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 1.5]}, None, "not integers"),
        ({"name": "x", "shape": [1], "datatype": "INT64", "data": [True]}, None, "not integers"),
        ({"name": "x", "shape": [2], "datatype": "INT8", "data": [1, 128]}, None, "-128 to 127"),
        ({"name": "x", "shape": [1], "datatype": "UINT8", "data": [-1]}, None, "0 to 255"),
        ({"name": "x", "shape": [1], "datatype": "UINT64", "data": [2**64]}, None, "range"),
        ({"name": "x", "shape": [2], "datatype": "BOOL", "data": [1, 0]}, None, "true or false"),
        ({"name": "x", "shape": [1], "datatype": "BOOL", "data": [2.5]}, None, "true or false"),
        ({"name": "x", "shape": [1], "datatype": "BOOL", "data": ["true"]}, None, "true or"),
        ({"name": "x", "shape": [1], "datatype": "FP64", "data": [True]}, None, "booleans"),
        ({"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, False]}, None, "booleans"),
        ({"name": "x", "shape": [2], "datatype": "BYTES", "data": [1, None]}, None, "not strings"),
        ({"name": "x", "shape": [1], "datatype": "BYTES", "data": [{"a": 1}]}, None, "strings"),
        ({"name": "x", "shape": [1] * 65, "datatype": "FP64", "data": [1]}, None, "at most 64"),
        (
            {"name": "x", "shape": [1] * 5000, "datatype": "INT64", "data": [1]},
            None,
            "a shape of 5000 dimensions; at most 64",
        ),
        (
            {
                "name": "x",
                "shape": [2**62],
                "datatype": "FP64",
                "parameters": {"binary_data_size": 4},
            },
            b"\x00" * 4,
            f"need {2**62 * 8}",
        ),
        (
            {
                "name": "x",
                "shape": [2**62, 2**62],
                "datatype": "INT8",
                "parameters": {"binary_data_size": 1},
            },
            b"\x00",
            "1 bytes of binary data",
        ),
        (
            {
                "name": "x",
                "shape": [1] * 65,
                "datatype": "FP32",
                "parameters": {"binary_data_size": 4},
            },
            b"\x00" * 4,
            "at most 64",
        ),
        (
            {"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            b"\x00" * 4,
            "does not carry",
        ),
        (
            {"name": "x", "shape": [3], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            b"\x00" * 8,
            "need 12",
        ),
        (
            {"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}},
            struct.pack("<I", 9) + b"ab",
            "shorter than its length",
        ),
    ],
)
def test_malformed_inputs_are_400s_saying_what_is_expected(
    raw: Any, binary: bytes | None, words: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        decoded(raw, binary)
    assert words in caught.value.message


class _Row(list[Any]):
    """A list subclass, as some libraries return rows."""


def one(value: Any) -> OutputTensor:
    (tensor,) = output_tensors(value)
    return tensor


@pytest.mark.parametrize(
    ("value", "datatype", "shape", "flat"),
    [
        (np.zeros((2, 2), dtype=np.float32), "FP32", [2, 2], [0.0] * 4),
        (np.array([1, 2], dtype=np.uint64), "UINT64", [2], [1, 2]),
        (np.array([True]), "BOOL", [1], [True]),
        (np.array(["a", "bc"]), "BYTES", [2], ["a", "bc"]),
        (np.float64(2.5), "FP64", [1], [2.5]),
        ([[1, 2], [3, 4]], "INT64", [2, 2], [1, 2, 3, 4]),
        (([1, 2.5], (3, 4)), "FP64", [2, 2], [1, 2.5, 3, 4]),
        ([[[1], [2]], [[3], [4]]], "INT64", [2, 2, 1], [1, 2, 3, 4]),
        ([[], []], "FP64", [2, 0], []),
        ([[np.float64(0.5)], [np.float64(2)]], "FP64", [2, 1], [0.5, 2.0]),
        ([[np.float32(0.5)]], "FP32", [1, 1], [0.5]),
        ([np.int64(1), 2], "INT64", [2], [1, 2]),
        ([np.bool_(True), np.bool_(False)], "BOOL", [2], [True, False]),
        ([np.array([1, 2], np.int64), np.array([3, 4], np.int64)], "INT64", [2, 2], [1, 2, 3, 4]),
        ((np.array([0.5], dtype=np.float32),), "FP32", [1, 1], [0.5]),
        ([np.str_("a"), "b"], "BYTES", [2], ["a", "b"]),
        ([[1, 2], _Row([3, 4])], "INT64", [2, 2], [1, 2, 3, 4]),
        ([1, 2.5], "FP64", [2], [1, 2.5]),
        ([-(2**63), 2**63 - 1], "INT64", [2], [-(2**63), 2**63 - 1]),
        ([2**64 - 1, 0], "UINT64", [2], [2**64 - 1, 0]),
        ([True, False], "BOOL", [2], [True, False]),
        (["x", 1], "BYTES", [2], ["x", "1"]),
        ([{"a": 1}], "BYTES", [1], ['{"a": 1}']),
        ([], "FP64", [0], []),
        (3, "INT64", [1], [3]),
        ("hi", "BYTES", [1], ["hi"]),
        (pd.Series([1.5, 2.5]), "FP64", [2], [1.5, 2.5]),
    ],
)
def test_results_become_typed_tensors(
    value: Any, datatype: str, shape: list[int], flat: list[Any]
) -> None:
    tensor = one(value)
    assert (tensor.name, tensor.datatype, tensor.shape, tensor.flat) == (
        "output-0",
        datatype,
        shape,
        flat,
    )


def test_dicts_and_dataframes_give_one_output_per_key_or_column() -> None:
    outputs = output_tensors({"a": np.array([1], dtype=np.int8), "b": "x"})
    assert [(t.name, t.datatype) for t in outputs] == [("a", "INT8"), ("b", "BYTES")]
    frame = output_tensors(pd.DataFrame({"p": [1, 2], "q": [0.5, 1.0]}))
    assert [(t.name, t.datatype, t.shape) for t in frame] == [
        ("p", "INT64", [2]),
        ("q", "FP64", [2]),
    ]
    assert output_tensors(None) == []


def test_ragged_lists_are_not_tensors() -> None:
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([[1, 2], [3]])
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([1, [2]])
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([[[1, 2]], [[3]]])
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([[1, 2], 3])
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([[], [[]]])
    with pytest.raises(ValueError, match="ragged"):
        output_tensors([np.array([1, 2]), np.array([3])])


def test_binary_packing_round_trips_through_numpy() -> None:
    tensor = one(np.array([[1.5, -2.0]], dtype=np.float32))
    assert np.frombuffer(pack_binary(tensor), dtype="<f4").tolist() == [1.5, -2.0]
    words = pack_binary(one(["é", "ab"]))
    assert words == struct.pack("<I", 2) + "é".encode() + struct.pack("<I", 2) + b"ab"


@pytest.mark.parametrize(
    ("value", "flat"),
    [
        (b"\x89PNG\r\n\x1a\n\x00", [b"\x89PNG\r\n\x1a\n\x00"]),
        (np.array([[b"a", b"\xff"]]), ["a", b"\xff"]),
        (np.array([np.bytes_(b"\xfe"), "b"], dtype=object), [b"\xfe", "b"]),
        ([b"ok", b"\x80"], ["ok", b"\x80"]),
    ],
)
def test_bytes_that_are_not_utf8_go_as_binary_data_unchanged(value: Any, flat: list[Any]) -> None:
    tensor = one(value)
    assert (tensor.datatype, tensor.flat) == ("BYTES", flat)
    assert [type(v) for v in tensor.flat] == [type(v) for v in flat]
    packed = pack_binary(tensor)
    raw = [v.encode() if isinstance(v, str) else v for v in flat]
    assert packed == b"".join(struct.pack("<I", len(v)) + v for v in raw)
    # JSON has no bytes: the output cannot be expressed, rather than sent with U+FFFD in them.
    with pytest.raises(ValueError, match="not UTF-8 text"):
        tensor.as_json()
    assert tensor.as_json(len(packed))["parameters"] == {"binary_data_size": len(packed)}


def test_utf8_bytes_are_text_in_json() -> None:
    tensor = one(np.array([b"caf\xc3\xa9", b"x"]))
    assert tensor.as_json()["data"] == ["café", "x"]
    assert (
        pack_binary(tensor) == struct.pack("<I", 5) + "café".encode() + struct.pack("<I", 1) + b"x"
    )


def test_integers_beyond_64_bits_are_no_tensor() -> None:
    with pytest.raises(ValueError, match="beyond INT64 and UINT64"):
        one([2**70])
    with pytest.raises(ValueError, match="beyond INT64 and UINT64"):
        one([-1, 2**64 - 1])


def test_values_beyond_their_datatype_cannot_be_packed() -> None:
    with pytest.raises(ValueError, match="does not fit INT8"):
        pack_binary(OutputTensor("x", [1], "INT8", [300]))

"""run(data) returning each kind of result the protocols turn into tensors or predictions.

The input's "kind" picks the result: numpy arrays, pandas objects, lists, scalars, dicts, text.
"""

import json

import numpy as np
import pandas as pd

RESULTS = {
    "int32": lambda: np.arange(6, dtype=np.int32).reshape(2, 3),
    "float32": lambda: np.array([0.5, 1.5], dtype=np.float32),
    "bool": lambda: np.array([True, False, True]),
    "uint8": lambda: np.array([[1, 255]], dtype=np.uint8),
    "strings": lambda: ["cat", "dog"],
    "nested": lambda: [[1, 2], [3, 4]],
    "mixed": lambda: [1, 2.5],
    "big_ints": lambda: [2**64 - 1, 0],
    "array_rows": lambda: [np.array([1, 2], np.int64), np.array([3, 4], np.int64)],
    "numpy_scalars": lambda: list(np.array([0.5, 1.5], dtype=np.float32)),
    "huge_ints": lambda: [2**70],
    "scalar": lambda: 7,
    "float": lambda: 0.25,
    "text": lambda: "hello",
    "json_text": lambda: json.dumps({"scores": [0.1, 0.9]}),
    "dict": lambda: {"labels": np.array(["a", "b"]), "scores": np.array([0.1, 0.9])},
    "dataframe": lambda: pd.DataFrame({"x": [1, 2], "y": [0.5, 1.5]}),
    "series": lambda: pd.Series([3, 4], name="counts"),
    "none": lambda: None,
    "ragged": lambda: [[1, 2], [3]],
    "nan": lambda: float("nan"),
    "nan_array": lambda: np.array([1.0, np.nan]),
    "bytes": lambda: b"\x00\x01",
}


def init():
    pass


def run(data):
    kind = json.loads(data)["data"]
    kind = kind[0] if isinstance(kind, list) else kind
    return RESULTS[kind]()

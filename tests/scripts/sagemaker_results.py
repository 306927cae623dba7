"""run(data) returning what SageMaker scripts return besides tables: text, bytes, NaN, None.

The input's "data" picks the result.
"""

import json

import numpy as np
import pandas as pd

RESULTS = {
    "json_table": lambda: json.dumps([[1, 2], [3, 4]]),
    "json_dict": lambda: json.dumps({"scores": [0.1, 0.9]}),
    "csv_text": lambda: "1.5,2.5\n3.5,4.5\n",
    "bytes": lambda: b"\x00\x01",
    "nested": lambda: [[1, 2], [3, 4]],
    "records": lambda: [{"label": "cat"}, {"label": "dog"}],
    "with_nan": lambda: [1.0, float("nan"), None],
    "array": lambda: np.array([[1, 2], [3, 4]], dtype=np.int64),
    "dataframe": lambda: pd.DataFrame({"x": [1, 2], "y": [0.5, None]}),
    "series": lambda: pd.Series([3, 4], name="counts"),
    "dict": lambda: {"label": "cat", "score": 0.9},
    "scalar": lambda: 7,
    "none": lambda: None,
}


def init():
    pass


def run(data):
    return RESULTS[json.loads(data)["data"]]()

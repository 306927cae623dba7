"""@output_schema with a pandas DataFrame: run() answers one row per input row, three columns."""

import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0]], dtype=np.float32)))
@output_schema(PandasParameterType(pd.DataFrame({"score": [0.5], "label": ["a"], "rank": [1]})))
def run(data):
    total = data.sum(axis=1).astype(np.float64)
    labels = ["big" if t > 2 else "small" for t in total]
    return pd.DataFrame(
        {"score": total, "label": labels, "rank": np.arange(len(total), dtype=np.int64)}
    )

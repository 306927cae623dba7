"""@input_schema with a pandas DataFrame and a numpy parameter; returns per-row results."""

import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("frame", PandasParameterType(pd.DataFrame({"a": [1.0], "b": [2.0]})))
@input_schema("weights", NumpyParameterType(np.array([1.0, 1.0]), enforce_shape=False))
@output_schema(StandardPythonParameterType({"total": [3.0], "kind": "DataFrame"}))
def run(frame, weights=np.array([1.0, 1.0])):  # noqa: B008 - the schema's own sample type
    total = frame["a"] * weights[0] + frame["b"] * weights[1]
    return {"total": total.to_numpy(), "kind": type(frame).__name__}

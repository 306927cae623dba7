"""@input_schema over a batched run(data, scale): each argument a list, converted per request."""

import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema

import scoreserver


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0, 3.0]])))
@input_schema("scale", StandardPythonParameterType(2.0))
@scoreserver.batch(max_batch_size=16, max_latency_ms=300)
def run(data, scale=10.0):
    stacked = np.concatenate(data)  # one model call for the whole batch
    sums = stacked.sum(axis=1)
    results, start = [], 0
    for rows, factor in zip(data, scale):
        results.append(
            {
                "sums": (sums[start : start + len(rows)] * factor).tolist(),
                "type": type(rows).__name__,
                "size": len(data),
            }
        )
        start += len(rows)
    return results

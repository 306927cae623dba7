"""@input_schema run(data, scale=10.0): a numpy parameter and a standard one with a default."""

import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0, 3.0]])))
@input_schema("scale", StandardPythonParameterType(2.0))
@output_schema(StandardPythonParameterType({"result": [[2.0, 4.0, 6.0]], "type": "ndarray"}))
def run(data, scale=10.0):
    return {
        "result": (np.asarray(data) * scale).tolist(),
        "type": type(data).__name__,
        "scale": scale,
    }

"""Scores iris flowers with the model that train.py saved into AZUREML_MODEL_DIR."""

import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None

SAMPLE_INPUT = np.array([[5.1, 3.5, 1.4, 0.2]])
SAMPLE_OUTPUT = np.array([0])


def init():
    global model
    model_dir = os.environ.get(
        "AZUREML_MODEL_DIR", os.path.join(os.path.dirname(__file__), "model")
    )
    model = joblib.load(os.path.join(model_dir, "model.joblib"))


@input_schema("data", NumpyParameterType(SAMPLE_INPUT))
@output_schema(NumpyParameterType(SAMPLE_OUTPUT))
def run(data):
    # The server returns numpy arrays as JSON lists.
    return model.predict(data)

"""The sklearn example's iris model, batched: concurrent requests share one predict() call.

Train the model first (python examples/sklearn/train.py), then serve this script with
--model_dir examples/sklearn/model.
"""

import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

import scoreserver

model = None

SAMPLE_INPUT = np.array([[5.1, 3.5, 1.4, 0.2]])
SAMPLE_OUTPUT = np.array([0])


def init():
    global model
    model_dir = os.environ.get(
        "AZUREML_MODEL_DIR", os.path.join(os.path.dirname(__file__), "..", "sklearn", "model")
    )
    model = joblib.load(os.path.join(model_dir, "model.joblib"))


# The schema describes one request, as for an unbatched run(); each request's data is converted
# on its own, and run() gets them as a list.
@input_schema("data", NumpyParameterType(SAMPLE_INPUT))
@output_schema(NumpyParameterType(SAMPLE_OUTPUT))
@scoreserver.batch(max_batch_size=32, max_latency_ms=5)
def run(data):
    # One predict() for every row of every request, then each request's labels back, in order.
    labels = model.predict(np.concatenate(data))
    return np.split(labels, np.cumsum([len(rows) for rows in data])[:-1])

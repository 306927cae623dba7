"""B1 unbatched: the sklearn example's iris model, one predict() per request of one row."""

import json
import os
from pathlib import Path

import joblib
import numpy as np

model = None


def init():
    global model
    model = joblib.load(Path(os.environ["AZUREML_MODEL_DIR"]) / "model.joblib")


def run(data):
    rows = np.asarray(json.loads(data)["data"], dtype=np.float64)
    return model.predict(rows).tolist()

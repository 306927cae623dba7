"""B1 batched: the same model, one predict() for every request of a batch."""

import json
import os
from pathlib import Path

import joblib
import numpy as np

import scoreserver

model = None


def init():
    global model
    model = joblib.load(Path(os.environ["AZUREML_MODEL_DIR"]) / "model.joblib")


@scoreserver.batch(max_batch_size=64, max_latency_ms=5)
def run(data):
    requests = [np.asarray(json.loads(text)["data"], dtype=np.float64) for text in data]
    labels = model.predict(np.concatenate(requests)).tolist()
    results, start = [], 0
    for rows in requests:
        results.append(labels[start : start + len(rows)])
        start += len(rows)
    return results

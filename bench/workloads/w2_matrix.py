"""W2: a 10x10 float matrix parsed into numpy and multiplied by itself."""

import json

import numpy as np


def init():
    pass


def run(data):
    matrix = np.asarray(json.loads(data)["data"], dtype=np.float64)
    return {"result": (matrix @ matrix).tolist()}

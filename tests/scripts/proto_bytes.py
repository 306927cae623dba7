"""run(data) returning bytes results: raw bytes that are not UTF-8, or UTF-8 text as bytes."""

import json

import numpy as np

RESULTS = {
    "png": lambda: b"\x89PNG\r\n\x1a\n\x00",
    "array": lambda: np.array([[b"a", b"\xff"]]),
    "utf8": lambda: np.array([b"caf\xc3\xa9", b"x"]),
}


def init():
    pass


def run(data):
    return RESULTS[json.loads(data)["data"][0]]()

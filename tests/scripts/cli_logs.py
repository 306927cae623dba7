"""Prints to stdout and stderr from init() and run(); raises or streams on request."""

import sys

from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    print("init print", 1, {"a": 1}, sep=" | ")
    print("init to stderr", file=sys.stderr)


def _chunks():
    yield "chunk0\n"
    yield "chunk1\n"


def run(data):
    print("run print", data)
    print("run to stderr", data, file=sys.stderr)
    if data == "raise":
        raise KeyError("boom in run")
    if data == "stream":
        return AMLResponse(_chunks(), 200)
    return {"echo": data}

"""A typical Azure ML run(data): json.loads(data)["data"], rows in, one sum per row out."""

import json


def init():
    pass


def run(data):
    payload = json.loads(data)
    rows = payload["data"]
    return {"sums": [sum(row) for row in rows], "parameters": payload.get("parameters")}

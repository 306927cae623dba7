"""A typical Azure ML run(data): json.loads(data)["data"], rows in, one sum per row out (times the "scale" parameter, if any)."""

import json


def init():
    pass


def run(data):
    payload = json.loads(data)
    rows = payload["data"]
    scale = (payload.get("parameters") or {}).get("scale", 1)
    return [sum(row) * scale for row in rows]

"""A batched run(data): one result per request, or the failures a batched script can make."""

import json
import os
import time

import scoreserver
from scoreserver import AMLResponse

CALLS = 0


def init():
    pass


@scoreserver.batch(max_batch_size=8, max_latency_ms=300)
def run(data):
    global CALLS
    CALLS += 1
    requests = [json.loads(text) if text else {} for text in data]
    kinds = {request.get("kind") for request in requests}
    print(f"batch of {len(data)}: {sorted(str(k) for k in kinds)}")
    if "raise" in kinds:
        raise RuntimeError("the whole batch failed")
    if "short" in kinds:
        return [{}] * (len(data) - 1)
    if "exit" in kinds:
        os._exit(1)
    if "sleep" in kinds:
        time.sleep(max(request.get("seconds", 0) for request in requests))
    results = []
    for request in requests:
        kind = request.get("kind")
        if kind == "item_error":
            results.append(ValueError("this one input is bad"))
        elif kind == "response":
            n = request["n"]
            results.append(AMLResponse({"custom": n}, 202, {"x-custom": str(n)}, json_str=True))
        elif "data" in request:  # the protocols' text for run(data): rows in, one sum per row
            results.append([sum(row) for row in request["data"]])
        else:
            results.append({"n": request.get("n"), "size": len(data), "call": CALLS})
    return results

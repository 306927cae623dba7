"""run(data) whose result depends on the request: plain values, numpy/pandas, errors, sleeps."""

import json
import os
import time
from pathlib import Path

CALLS = 0


def init():
    pass


def run(data):
    global CALLS
    CALLS += 1
    request = json.loads(data) if data else {}
    kind = request.get("kind")
    if kind == "calls":
        return {"calls": CALLS}
    if kind == "none":
        return None
    if kind == "unicode":
        return {"msg": "héllo ✓ 😀", "n": [1, 2.5, None, True], "nested": {"a": "b"}}
    if kind == "str":
        return "just a string"
    if kind == "list":
        return [1, "two", 3.0]
    if kind == "int":
        return 42
    if kind == "float":
        return 1.5
    if kind == "bool":
        return True
    if kind == "nan":
        return float("nan")
    if kind == "object":
        return object()
    if kind == "bytes":
        return b"abc"
    if kind == "numpy_array":
        import numpy as np

        return np.array([[1, 2], [3, 4]])
    if kind == "numpy_scalars":
        import numpy as np

        return {"i": np.int64(7), "f": np.float32(0.5), "b": np.bool_(True)}
    if kind == "dataframe":
        import pandas as pd

        return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    if kind == "series":
        import pandas as pd

        return pd.Series([1.5, 2.5])
    if kind == "raise":
        raise ValueError("bad value here")
    if kind == "exit":
        raise SystemExit(1)
    if kind == "sleep":
        if "started" in request:  # tells a test that run() is now busy
            Path(request["started"]).touch()
        time.sleep(request["seconds"])
        return {"slept": request["seconds"]}
    if kind == "pid":
        return {"pid": os.getpid()}
    return {"echo": request}

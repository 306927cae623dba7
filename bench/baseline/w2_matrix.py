"""W2 on raw ASGI: parse the 10x10 matrix, multiply, encode, on the event loop."""

import json

import numpy as np
from rawasgi import score_app


async def _score(body: bytes) -> bytes:
    matrix = np.asarray(json.loads(body)["data"], dtype=np.float64)
    return json.dumps({"result": (matrix @ matrix).tolist()}).encode()


app = score_app(_score)

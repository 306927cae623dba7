"""W3 on raw ASGI: the 50 ms sleep in a 64-thread pool, as many in flight as connections."""

import json
import time

from rawasgi import in_thread, score_app

_REPLY = json.dumps({"message": "Hello, World!"}).encode()


def _run() -> bytes:
    time.sleep(0.05)
    return _REPLY


app = score_app(in_thread(_run))

"""The 2 s GIL-holding run() on raw ASGI, in a thread: the loop gets the GIL only at switches."""

import json
import time

from rawasgi import in_thread, score_app


def _run() -> bytes:
    deadline = time.perf_counter() + 2.0
    spins = 0
    while time.perf_counter() < deadline:
        spins += 1
    return json.dumps({"message": "done"}).encode()


app = score_app(in_thread(_run))

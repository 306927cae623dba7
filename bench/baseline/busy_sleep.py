"""The 2 s sleeping run() on raw ASGI, in a thread so the loop stays free."""

import json
import time

from rawasgi import in_thread, score_app


def _run() -> bytes:
    time.sleep(2.0)
    return json.dumps({"message": "done"}).encode()


app = score_app(in_thread(_run))

"""init() says it has begun (a file), then waits until the test lets it finish (another file).

SCORESERVER_TEST_INIT_BEGUN and SCORESERVER_TEST_INIT_GO name the two files. With
SCORESERVER_TEST_INIT_FIRST_FREE naming a third, the first worker to create it does not wait.
"""

import json
import os
import time
from pathlib import Path


def init():
    Path(os.environ["SCORESERVER_TEST_INIT_BEGUN"]).write_text(str(os.getpid()))
    first = os.environ.get("SCORESERVER_TEST_INIT_FIRST_FREE")
    if first:
        try:
            os.close(os.open(first, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return
        except FileExistsError:
            pass
    go = Path(os.environ["SCORESERVER_TEST_INIT_GO"])
    deadline = time.monotonic() + 60  # a test that never lets it go must not hang forever
    while not go.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the test never let init() finish")
        time.sleep(0.02)


def run(data):
    return {"sum": sum(json.loads(data)["data"])}

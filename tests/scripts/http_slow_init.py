"""init() takes a while, then leaves a marker file (path in HTTP_TEST_INIT_MARKER)."""

import os
import time
from pathlib import Path


def init():
    time.sleep(1.0)
    Path(os.environ["HTTP_TEST_INIT_MARKER"]).write_text("init done")


def run(data):
    return "ready"

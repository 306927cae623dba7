"""init() refuses while the file FRAGILE_MARKER names exists; run() "break" creates it and exits."""

import os
from pathlib import Path


def init():
    if Path(os.environ["FRAGILE_MARKER"]).exists():
        raise RuntimeError("init refused: the marker file exists")
    print(f"ops init in pid {os.getpid()}")


def run(data):
    if data == "break":
        Path(os.environ["FRAGILE_MARKER"]).touch()
        os._exit(1)
    return {"pid": os.getpid()}

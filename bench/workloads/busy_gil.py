"""A 2 s run() in pure Python: the worker is busy and holds the GIL (released only at switches)."""

import time


def init():
    pass


def run(data):
    deadline = time.perf_counter() + 2.0
    spins = 0
    while time.perf_counter() < deadline:
        spins += 1
    return {"message": "done"}

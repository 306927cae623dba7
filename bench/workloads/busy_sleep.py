"""A 2 s run() that sleeps: the worker is busy but the GIL is free."""

import time


def init():
    pass


def run(data):
    time.sleep(2.0)
    return {"message": "done"}

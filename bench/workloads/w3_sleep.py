"""W3: a model that releases the GIL for 50 ms (I/O, or native code that drops the GIL)."""

import time


def init():
    pass


def run(data):
    time.sleep(0.05)
    return {"message": "Hello, World!"}

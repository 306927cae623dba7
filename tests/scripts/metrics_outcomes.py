"""run(data) by the body: "fail" raises, "exit" ends the worker, a number is slept; says its pid."""

import os


def init():
    pass


def run(data):
    if data == "fail":
        raise ValueError("asked to fail")
    if data == "exit":
        os._exit(1)
    import time

    time.sleep(float(data or 0))
    return {"pid": os.getpid()}

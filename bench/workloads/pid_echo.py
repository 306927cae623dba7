"""For the adversarial run: answers with the worker's pid and exactly what run() received."""

import os


def init():
    pass


def run(data):
    return {"pid": os.getpid(), "data": data}

"""The hello example: init() pretends to load a model, run() greets."""

import time


def init():
    # Stands in for loading a model: a real init() often takes seconds.
    time.sleep(1)


def run(data):
    return {"message": "Hello, World!"}

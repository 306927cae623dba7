"""init() says it has started, then takes two seconds (a model loading)."""

import os
import time


def init():
    print(f"ops init started in pid {os.getpid()}")
    time.sleep(2.0)


def run(data):
    return {"pid": os.getpid()}

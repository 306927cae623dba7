"""Sleeps for the number of seconds in the body (a float) and says which worker answered."""

import os
import time


def init():
    print(f"ops init in pid {os.getpid()}")


def run(data):
    time.sleep(float(data or 0))
    return {"pid": os.getpid()}

"""Sleeps for the number of seconds in the body, and says which worker process answered."""

import os
import time


def init():
    print(f"init in pid {os.getpid()}")


def run(data):
    seconds = float(data or 0)
    print(f"run sleeping {seconds} in pid {os.getpid()}")
    time.sleep(seconds)
    return {"pid": os.getpid(), "slept": seconds}

"""Sleeps for the number of seconds in the body, and says which worker process answered, and
when (wall clock) its run() began and ended."""

import os
import time


def init():
    print(f"init in pid {os.getpid()}")


def run(data):
    seconds = float(data or 0)
    print(f"run sleeping {seconds} in pid {os.getpid()}")
    began = time.time()
    time.sleep(seconds)
    return {"pid": os.getpid(), "slept": seconds, "began": began, "ended": time.time()}

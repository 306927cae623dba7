"""The Windows smoke test's entry script: sleeps as asked, says which worker answered."""

import json
import os
import time


def init():
    print(f"init in pid {os.getpid()}")


def run(data):
    body = json.loads(data)
    if "exit" in body:
        os._exit(body["exit"])
    time.sleep(float(body.get("sleep", 0)))
    return {"pid": os.getpid()}

"""async def run() that blocks the event loop (time.sleep) when the body says "block"."""

import os
import time


def init():
    print(f"ops init in pid {os.getpid()}")


async def run(data):
    if data == "block":
        time.sleep(10)
    return {"pid": os.getpid()}

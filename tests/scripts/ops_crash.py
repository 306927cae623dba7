"""run() ends its own process in the way the body names; otherwise it says which worker answered.

"exit" calls os._exit(1); "segfault" reads address 0; "oom:S" sleeps S seconds and then is killed
with SIGKILL, as the out-of-memory killer does; a number is slept first.
"""

import ctypes
import os
import signal
import time


def init():
    print(f"ops init in pid {os.getpid()}")


def run(data):
    if data == "exit":
        print(f"ops exiting from pid {os.getpid()}")
        os._exit(1)
    if data == "segfault":
        ctypes.string_at(0)
    if data.startswith("oom:"):
        time.sleep(float(data.removeprefix("oom:")))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(data or 0))
    return {"pid": os.getpid()}

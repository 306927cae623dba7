"""A script whose import registers a slow after-fork hook, as some libraries do after a fork.

With WORKER_PRELOAD the supervisor imports it, so each worker it forks spends FORK_PAUSE_S in the
hook before it runs any server code: the moment between a worker's fork and its own signal
handling becomes long enough for a test to send SIGTERM into it.
"""

import os
import time

FORK_PAUSE_S = 1.0


def _pause_after_fork():
    time.sleep(FORK_PAUSE_S)


os.register_at_fork(after_in_child=_pause_after_fork)


def init():
    print(f"ops init in pid {os.getpid()}")


def run(data):
    return {"pid": os.getpid()}

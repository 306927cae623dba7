"""A run() to set a breakpoint in: the line marked BREAK is where the debugger should stop."""

import os


def init():
    pass


def run(data):
    answer = {"pid": os.getpid(), "data": data}  # BREAK
    return answer
